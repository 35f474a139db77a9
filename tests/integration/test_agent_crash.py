"""An agent killed in the middle of starting a guest, then restarted (issue 4).

The agent here is an agent-like process (``fake_agent.py``) that talks to a real API
process through the client: it takes the start and is SIGKILLed before answering. The
service hands the unanswered start out again when the host registers after the restart
(store/servers.py, ``redeliver``); whatever the restarted agent then says, the server
ends ACTIVE, ERROR or DELETED, never BUILD, and the devices held are exactly those of
the servers that still exist: nothing leaks, nothing is held twice.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from load_helpers import (
    ADMIN,
    FLAVOR,
    GPU_ALIAS,
    ApiProcess,
    agent_token,
    auth,
    device_owners,
    host_body,
    pg_database,
    service_env,
    start_api,
)

pytestmark = pytest.mark.integration

CRASH, SPARE = "crash", "spare"
FAKE_AGENT = Path(__file__).with_name("fake_agent.py")
ADMIN_H = auth(ADMIN)


@dataclass(frozen=True, kw_only=True)
class Case:
    restart_mode: str
    spare: bool
    delete_while_down: bool
    state: str
    host: str | None


CASES = [
    pytest.param(
        Case(restart_mode="ok", spare=False, delete_while_down=False, state="ACTIVE", host=CRASH),
        id="restart-completes-start",
    ),
    pytest.param(
        Case(restart_mode="fail", spare=True, delete_while_down=False, state="ACTIVE", host=SPARE),
        id="restart-fails-start-rescheduled",
    ),
    pytest.param(
        Case(restart_mode="fail", spare=False, delete_while_down=False, state="ERROR", host=None),
        id="restart-fails-start-no-other-host",
    ),
    pytest.param(
        Case(restart_mode="ok", spare=False, delete_while_down=True, state="DELETED", host=CRASH),
        id="deleted-while-agent-down",
    ),
]


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'crash.db'}"
    else:
        with pg_database() as url:
            yield url


@pytest.fixture
def api(db_url: str, tmp_path: Path) -> Iterator[ApiProcess]:
    process = start_api(db_url, service_env(db_url, [CRASH, SPARE]), tmp_path / "api.log")
    try:
        assert httpx.post(f"{process.url}/v1/aliases", json=GPU_ALIAS, headers=ADMIN_H).is_success
        assert httpx.post(f"{process.url}/v1/flavors", json=FLAVOR, headers=ADMIN_H).is_success
        yield process
    finally:
        process.stop()


def _agent(api: ApiProcess, mode: str, marker: Path) -> subprocess.Popen[bytes]:
    command = [sys.executable, str(FAKE_AGENT), "--api", api.url, "--host", CRASH,
               "--token", agent_token(CRASH), "--mode", mode, "--marker", str(marker)]  # fmt: skip
    return subprocess.Popen(command, cwd=FAKE_AGENT.parent)


def _wait(what: str, check: object, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():  # type: ignore[operator]
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def _server(api: ApiProcess, server_id: str) -> dict[str, object]:
    answer = httpx.get(f"{api.url}/v1/servers/{server_id}", headers=ADMIN_H)
    assert answer.status_code == 200, answer.text
    body: dict[str, object] = answer.json()
    return body


def _crash_mid_start(api: ApiProcess, tmp_path: Path) -> str:
    """Boot a server on the crash host and SIGKILL its agent once it took the start."""
    marker = tmp_path / "took-start"
    agent = _agent(api, "hang", marker)
    try:
        _wait("the agent to register", lambda: httpx.get(
            f"{api.url}/v1/hosts/{CRASH}", headers=ADMIN_H).status_code == 200)  # fmt: skip
        created = httpx.post(
            f"{api.url}/v1/servers", json={"name": "vm", "flavor": "g1"}, headers=ADMIN_H
        ).json()
        assert (created["state"], created["host"]) == ("BUILD", CRASH)
        _wait("the agent to take the start", marker.exists)
        assert marker.read_text() == f"start:{created['id']}"
    finally:
        agent.send_signal(signal.SIGKILL)
        agent.wait(timeout=10)
    return str(created["id"])


def _act_as_spare(api: ApiProcess) -> None:
    headers = auth(agent_token(SPARE))
    work = httpx.get(f"{api.url}/v1/hosts/{SPARE}/work", headers=headers).json()["work"]
    assert [w["kind"] for w in work] == ["start"]
    done = httpx.post(f"{api.url}/v1/work/{work[0]['id']}", json={"ok": True}, headers=headers)
    assert done.status_code == 200, done.text


def _open_work(db_url: str) -> int:
    engine = sa.create_engine(db_url)
    try:
        with engine.connect() as conn:
            query = "SELECT count(*) FROM work_items WHERE state IN ('pending', 'delivered')"
            return int(conn.execute(sa.text(query)).scalar_one())
    finally:
        engine.dispose()


@pytest.mark.parametrize("case", CASES)
def test_agent_killed_mid_start_then_restarted(
    api: ApiProcess, db_url: str, tmp_path: Path, case: Case
) -> None:
    server_id = _crash_mid_start(api, tmp_path)
    down = _server(api, server_id)
    assert (down["state"], len(down["devices"])) == ("BUILD", 1)  # type: ignore[arg-type]
    if case.spare:
        spare = host_body(SPARE, 1)
        headers = auth(agent_token(SPARE))
        assert httpx.put(f"{api.url}/v1/hosts/{SPARE}", json=spare, headers=headers).is_success
    if case.delete_while_down:
        gone = httpx.delete(f"{api.url}/v1/servers/{server_id}", headers=ADMIN_H)
        assert (gone.status_code, gone.json()["task"]) == (202, "deleting")

    restarted = _agent(api, case.restart_mode, tmp_path / "unused")
    assert restarted.wait(timeout=40) == 0
    if case.spare:
        _act_as_spare(api)

    final = _server(api, server_id)
    assert (final["state"], final["task"], final["host"]) == (case.state, None, case.host)
    owners = device_owners(db_url)
    held = {(host, addr) for host, addr, owner, _ in owners if owner is not None}
    expected = {(case.host, d) for d in final["devices"]}  # type: ignore[attr-defined]
    assert held == expected and len(expected) == (1 if case.state == "ACTIVE" else 0)
    assert all(owner == claim for _, _, owner, claim in owners)
    assert _open_work(db_url) == 0
