"""``pciplane openrc``: the variables for each way of authenticating, from the settings."""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest

from pciplane.cli.main import main

CONFIG = """
[pciplane]
port = 9774
admin_token = "adm in"
noauth = NOAUTH
[pciplane.project_tokens]
"tok-a" = "alpha"
[pciplane.keystone_users.admin]
password = "p'w"
roles = {admin = "admin"}
[pciplane.keystone_users.alice]
password = "alice-pw"
roles = {alpha = "member", gamma = "member"}
"""


def _run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], *args: str, noauth: bool = False
) -> tuple[int, dict[str, str], str]:
    config = tmp_path / "p.toml"
    config.write_text(CONFIG.replace("NOAUTH", "true" if noauth else "false"))
    status = main(["openrc", "--config", str(config), *args])
    out, err = capsys.readouterr()
    exported: dict[str, str] = {}
    for line in out.splitlines():
        if line.startswith("export "):
            name, _, value = line.removeprefix("export ").partition("=")
            exported[name] = shlex.split(value)[0]
    return status, exported, out + err


def test_keystone_is_the_default_and_the_admin_the_default_user(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status, rc, _ = _run(tmp_path, capsys)
    assert status == 0
    assert rc["OS_AUTH_URL"] == "http://127.0.0.1:9774/identity"
    assert (rc["OS_USERNAME"], rc["OS_PASSWORD"], rc["OS_PROJECT_NAME"]) == (
        "admin",
        "p'w",
        "admin",
    )
    assert rc["OS_REGION_NAME"] == "RegionOne" and rc["OS_IDENTITY_API_VERSION"] == "3"


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        pytest.param(["--user", "alice"], {"OS_PROJECT_NAME": "alpha"}, id="first-project"),
        pytest.param(["--user", "alice", "--project", "gamma"], {"OS_PROJECT_NAME": "gamma"},
                     id="chosen-project"),
        pytest.param(["--auth", "token"], {"OS_AUTH_TYPE": "admin_token", "OS_TOKEN": "adm in",
                     "OS_COMPUTE_ENDPOINT_OVERRIDE": "http://127.0.0.1:9774/compute/v2.1"},
                     id="admin-token"),
        pytest.param(["--auth", "token", "--project", "alpha"], {"OS_TOKEN": "tok-a"},
                     id="project-token"),
        pytest.param(["--url", "https://cloud.example/", "--auth", "token"],
                     {"OS_ENDPOINT": "https://cloud.example/identity"}, id="url"),
    ],
)  # fmt: skip
def test_each_way_of_authenticating(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], expected: dict[str, str]
) -> None:
    status, rc, _ = _run(tmp_path, capsys, *args)
    assert status == 0
    assert {k: rc[k] for k in expected} == expected


@pytest.mark.parametrize(
    ("args", "message"),
    [
        pytest.param(["--user", "mallory"], "keystone user 'mallory' is not in the settings",
                     id="unknown-user"),
        pytest.param(["--user", "alice", "--project", "beta"], "'beta' is not in the settings",
                     id="no-role-there"),
        pytest.param(["--auth", "none"], "noauth setting is off", id="noauth-off"),
        pytest.param(["--auth", "token", "--project", "beta"], "no project token", id="no-token"),
    ],
)  # fmt: skip
def test_what_the_service_would_refuse_is_an_error_here(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    status, rc, out = _run(tmp_path, capsys, *args)
    assert (status, rc) == (2, {})
    assert message in out


def test_noauth_when_the_service_allows_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status, rc, out = _run(tmp_path, capsys, "--auth", "none", noauth=True)
    assert (status, rc["OS_AUTH_TYPE"]) == (0, "none")
    assert "OS_PASSWORD" not in rc and "unset " in out and "OS_PASSWORD" in out.split("unset ")[1]
