"""The real ``pciplane agent`` on libvirt's test driver, SIGKILLed once it took a start.

Unlike test_agent_crash.py the kill cannot be placed exactly: the agent may be anywhere
between taking the start and reporting it (or just past it). Whatever the moment, after a
restart the server must end ACTIVE or ERROR, never BUILD, and exactly its devices held.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from load_helpers import ADMIN, ApiProcess, agent_token, auth, device_owners, service_env, start_api

from pciplane.sim.host import build_host
from pciplane.sim.host_write import node_xml

pytestmark = pytest.mark.integration

HOST = "real1"
ALIAS = {"name": "gpu", "vendor_id": "10de", "product_id": "20b5", "device_type": "type-PCI"}
FLAVOR = {"name": "g1", "vcpus": 1, "ram": 512, "extra_specs": {"pci_passthrough:alias": "gpu:1"}}


@pytest.fixture
def api(tmp_path: Path) -> Iterator[tuple[ApiProcess, str]]:
    db_url = f"sqlite:///{tmp_path / 'real.db'}"
    process = start_api(db_url, service_env(db_url, [HOST]), tmp_path / "api.log")
    try:
        assert httpx.post(f"{process.url}/v1/aliases", json=ALIAS, headers=auth(ADMIN)).is_success
        assert httpx.post(f"{process.url}/v1/flavors", json=FLAVOR, headers=auth(ADMIN)).is_success
        yield process, db_url
    finally:
        process.stop()


def _agent(url: str, tmp_path: Path, log: str) -> subprocess.Popen[bytes]:
    node = tmp_path / "node.xml"
    if not node.exists():
        node.write_text(node_xml(build_host("gpu")), encoding="utf-8")
    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps([{"vendor_id": "10de"}]))
    command = [sys.executable, "-m", "pciplane.cli.main", "agent", "--api", url, "--name", HOST,
               "--token", agent_token(HOST), "--libvirt", f"test://{node}", "--device-spec",
               str(spec), "--interval", "0.05", "--log-level", "warning"]  # fmt: skip
    with (tmp_path / log).open("wb") as out:
        return subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)


def _query(db_url: str, sql: str) -> list[tuple[object, ...]]:
    engine = sa.create_engine(db_url)
    try:
        with engine.connect() as conn:
            return [tuple(r) for r in conn.execute(sa.text(sql))]
    finally:
        engine.dispose()


def _until(what: str, check: object, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():  # type: ignore[operator]
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.01)


def test_real_agent_killed_after_taking_a_start(
    api: tuple[ApiProcess, str], tmp_path: Path
) -> None:
    process, db_url = api
    agent = _agent(process.url, tmp_path, "agent1.log")
    try:
        _until("registration", lambda: _query(db_url, "SELECT id FROM hosts"))
        created = httpx.post(f"{process.url}/v1/servers", json={"name": "vm", "flavor": "g1"},
                             headers=auth(ADMIN)).json()  # fmt: skip
        assert created["state"] == "BUILD", created
        _until("the agent to take the start", lambda: _query(
            db_url, "SELECT id FROM work_items WHERE state != 'pending'"))  # fmt: skip
    finally:
        agent.send_signal(signal.SIGKILL)
        agent.wait(timeout=10)
    restarted = _agent(process.url, tmp_path, "agent2.log")
    try:
        _until("the server to leave BUILD", lambda: _query(
            db_url, "SELECT id FROM servers WHERE state != 'BUILD'"))  # fmt: skip
    finally:
        restarted.send_signal(signal.SIGTERM)
        restarted.wait(timeout=20)
    final = httpx.get(f"{process.url}/v1/servers/{created['id']}", headers=auth(ADMIN)).json()
    assert final["state"] in ("ACTIVE", "ERROR"), final
    held = {(h, a) for h, a, owner, _ in device_owners(db_url) if owner is not None}
    assert held == {(HOST, d) for d in final["devices"]}
    assert len(held) == (1 if final["state"] == "ACTIVE" else 0)
    assert all(o == c for _, _, o, c in device_owners(db_url))
    open_work = "SELECT id FROM work_items WHERE state IN ('pending', 'delivered')"
    assert _query(db_url, open_work) == []
