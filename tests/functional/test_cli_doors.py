"""Bad command-line input is a clear one-line error (exit 2) that changes nothing.

Each case once ended in a traceback, or did something the operator did not ask for
(``db current`` created the database it was asked about).
"""

from __future__ import annotations

import secrets
from pathlib import Path

import pytest

from pciplane.cli.main import main
from pciplane.store.db import head_revision


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    try:
        code = main(list(argv))
    except SystemExit as exc:  # argparse's usage errors
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        pytest.param(["serve", "--port", "99999"],
                     "argument --port: 99999 is not a port number (1 to 65535)", id="serve-port"),
        pytest.param(["serve", "--port", "http"], "argument --port: 'http' is not a port number",
                     id="serve-port-word"),
        pytest.param(["serve", "--log-level", "bogus"], "argument --log-level: invalid choice",
                     id="serve-log-level"),
        pytest.param(["agent", "--device-spec", "s.json", "--libvirt", "test:///default",
                      "--log-level", "bogus"], "argument --log-level: invalid choice",
                     id="agent-log-level"),
        pytest.param(["agent", "--device-spec", "s.json", "--sysfs-root", "/"],
                     "--libvirt URI is required: the hypervisor the guests run on",
                     id="agent-without-hypervisor"),
        pytest.param(["server", "list", "--api", "http://[::1:bad"],
                     "argument --api: 'http://[::1:bad' is not a valid URL", id="api-url"),
        pytest.param(["host", "list", "--api", "ftp://example.org"],
                     "argument --api: 'ftp://example.org' is not an http(s) URL", id="api-scheme"),
        pytest.param(["sim", "fleet", "--out", ""], "argument --out: an empty path names no file",
                     id="sim-fleet-empty-out"),
        pytest.param(["sim", "fleet", "--out", "."], "argument --out: '.' is a directory",
                     id="sim-fleet-out-dir"),
        pytest.param(["db", "current", "--db", "mysql://x"],
                     "mysql is not supported (pciplane runs on sqlite or postgresql)",
                     id="db-mysql"),
        pytest.param(["db", "current", "--db", "postgresql+psycopg://postgres@127.0.0.1:5432/"
                      f"pciplane_absent_{secrets.token_hex(4)}"], "cannot read the database",
                     id="db-current-missing-postgresql"),
    ],
)  # fmt: skip
def test_bad_input_is_one_line_exit_2(
    capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    code, _, err = run(capsys, *argv)
    assert code == 2
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], err


def test_db_current_on_a_missing_file_creates_nothing(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    db = tmp_path / "nowhere" / "x.db"
    code, _, err = run(capsys, "db", "current", "--db", f"sqlite:///{db}")
    assert (code, err.strip()) == (2, f"pciplane db: error: no database at {db} "
                                      "(pciplane db upgrade creates it)")  # fmt: skip
    assert not (tmp_path / "nowhere").exists()


@pytest.mark.parametrize(
    "form", [pytest.param("url", id="sqlite-url"), pytest.param("path", id="plain-path")]
)
def test_db_upgrade_creates_the_missing_directory(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, form: str
) -> None:
    db = tmp_path / "a" / "b" / "pciplane.db"
    url = f"sqlite:///{db}" if form == "url" else str(db)
    assert run(capsys, "db", "upgrade", "--db", url)[:2] == (
        0,
        f"database at revision {head_revision()}\n",
    )
    assert db.is_file()
    assert run(capsys, "db", "current", "--db", url)[:2] == (0, f"{head_revision()}\n")


def test_agent_reads_its_device_spec_from_nova_conf(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """Checked before the agent connects anywhere: a bad value stops it, naming the file."""
    conf = tmp_path / "nova.conf"
    conf.write_text('[pci]\ndevice_spec = {"vendor_id": "8086"}\ndevice_spec = {"vendor_id": 8\n')
    code, _, err = run(capsys, "agent", "--device-spec", str(conf), "--libvirt", "test:///default",
                       "--api", "http://127.0.0.1:9", "--once")  # fmt: skip
    assert code == 2
    assert f"nova.conf file {conf}: [pci] device_spec value 1: not valid JSON" in err
