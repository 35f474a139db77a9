"""The CLI against a real service on a real port (uvicorn in a thread), and migrations."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from svc_helpers import ADMIN, GPU_ALIAS, host_body, make_settings

from pciplane.api.app import create_app
from pciplane.cli.main import main
from pciplane.client import Client
from pciplane.core.snapshot import host_from_json, load_fleet
from pciplane.store.db import create_engine, head_revision
from pciplane.store.tables import metadata


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def live_api(db_url: str) -> Iterator[str]:
    app = create_app(make_settings(db_url))
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="error"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)
    app.state.services.db.dispose()


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    status = main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


def test_operator_story(
    live_api: str,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PCIPLANE_API", live_api)
    monkeypatch.setenv("PCIPLANE_TOKEN", ADMIN)
    with Client(live_api, "tok-cmp1") as agent:
        agent.register_host(host_from_json(host_body("cmp1")))
    entry = json.dumps(GPU_ALIAS)
    assert _run(capsys, "alias", "create", "--entry", entry)[0] == 0
    assert "large_GPU" in _run(capsys, "alias", "list")[1]
    assert _run(capsys, "flavor", "create", "m1.large", "--vcpus", "4", "--ram", "8192")[0] == 0
    status, out, _ = _run(
        capsys, "flavor", "set", "m1.large", "--property", "pci_passthrough:alias=large_GPU:2"
    )
    assert status == 0 and "pci_passthrough:alias='large_GPU:2'" in out
    status, out, _ = _run(capsys, "server", "create", "--flavor", "m1.large", "vm1", "--json")
    server = json.loads(out)
    assert (status, server["state"], len(server["devices"])) == (0, "BUILD", 2)
    _, out, _ = _run(capsys, "host", "show", "cmp1")
    assert "10de:1db4" in out
    _, out, _ = _run(capsys, "host", "list", "--json")
    assert [sum(p["used"] for p in h["pools"]) for h in json.loads(out)] == [2]
    status, out, _ = _run(capsys, "server", "create", "--flavor", "m1.large", "vm2")
    assert status == 1 and "No valid host" in out
    assert "vm1" in _run(capsys, "server", "list")[1]
    snapshot = tmp_path / "fleet.json"
    assert _run(capsys, "export", "--out", str(snapshot))[0] == 0
    fleet = load_fleet(json.loads(snapshot.read_text()), source=str(snapshot))
    assert sorted(d.status for d in fleet.hosts[0].devices) == ["claimed", "claimed"]
    status, out, _ = _run(capsys, "server", "delete", "vm1", "--json")
    assert json.loads(out)["state"] == "DELETED"  # the agent had not taken the start yet


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        pytest.param(["flavor", "show", "nope"], "flavor 'nope' does not exist", id="not-found"),
        pytest.param(["--token", "bad"], "bearer token is not valid", id="bad-token"),
        pytest.param(
            ["flavor", "set", "nope", "--property", "novalue"], "KEY=VALUE", id="bad-property"
        ),
    ],
)
def test_errors_are_one_line(
    live_api: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    argv: list[str],
    message: str,
) -> None:
    monkeypatch.setenv("PCIPLANE_API", live_api)
    monkeypatch.setenv("PCIPLANE_TOKEN", ADMIN)
    if argv[0] == "--token":
        argv = ["host", "list", "--token", argv[1]]
    status, _, err = _run(capsys, *argv)
    assert status == 2
    assert message in err and "Traceback" not in err


def test_unreachable_service_is_a_clear_error(capsys: pytest.CaptureFixture[str]) -> None:
    status, _, err = _run(capsys, "host", "list", "--api", f"http://127.0.0.1:{_free_port()}")
    assert status == 2 and "cannot reach the pciplane API" in err


def test_db_upgrade_builds_the_schema_of_the_tables(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite:///{tmp_path / 'new.db'}"
    status, out, _ = _run(capsys, "db", "upgrade", "--db", url)
    assert (status, out.strip()) == (0, f"database at revision {head_revision()}")
    engine = create_engine(url)
    with engine.connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn), metadata) == []
    engine.dispose()
