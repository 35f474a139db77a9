"""The host agent against a real service and libvirt's test driver (issue 4, host agent).

The service is the real app on SQLite in ``tmp_path``, reached over HTTP through
Starlette's TestClient by the same :class:`pciplane.client.Client` the agent uses in
production; the hypervisor is libvirt's ``test:///`` driver loaded with a synthetic
host's node XML (``pciplane.sim``). The agent is stepped by hand, so every assertion
sees a settled state. The last test runs ``pciplane agent`` as a process and stops it
with SIGTERM.
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
import time
import uuid
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from gpu_world import A100, GPUS, HOST, World, gpu_world
from load_helpers import ADMIN, agent_token, auth, service_env, start_api

with warnings.catch_warnings():
    warnings.simplefilter("ignore", UserWarning)  # Starlette: TestClient moves to httpx2

from pciplane.core.address import PciAddress
from pciplane.core.errors import ConflictError, NotFoundError
from pciplane.host.agent import Agent, sysfs_scanner
from pciplane.host.domain_xml import Domain, HostdevDevice, held_addresses
from pciplane.host.libvirt_driver import PowerState
from pciplane.sim.host import build_host
from pciplane.sim.host_write import node_xml
from pciplane.wire.hosts import MismatchIn
from pciplane.wire.servers import ServerOut as Server

pytestmark = pytest.mark.integration


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    with gpu_world(tmp_path) as made:
        yield made


def boot(world: World, agent: Agent, name: str, gpus: int) -> Server:
    server = world.user.create_server(name, flavor=world.flavor(gpus))
    assert server.state == "BUILD", server.reason
    assert agent.step() == 1
    return world.user.get_server(server.id)


def delete(world: World, agent: Agent, server: Server) -> Server:
    world.user.delete_server(server.id)
    assert agent.step() == 1
    return world.user.get_server(server.id)


@pytest.mark.parametrize("gpus", [pytest.param(n, id=f"{n}-gpu") for n in (1, 2, 4)])
def test_boot_runs_the_domain_and_delete_frees_the_devices(world: World, gpus: int) -> None:
    agent = world.agent()
    assert agent.start() == ()
    assert world.gpu_pool() == (4, 4)

    server = boot(world, agent, "vm1", gpus)
    assert server.state == "ACTIVE", server.reason
    assert server.host == HOST and len(server.devices) == gpus
    (domain,) = world.driver.list_domains()
    assert domain.uuid == server.id and domain.state is PowerState.RUNNING
    assert sorted(str(a) for a in held_addresses(domain.devices)) == list(server.devices)
    assert world.gpu_pool() == (4, 4 - gpus)

    gone = delete(world, agent, server)
    assert gone.state == "DELETED" and gone.devices == []
    assert world.driver.list_domains() == ()
    assert world.gpu_pool() == (4, 4)
    assert set(world.owners().values()) == {None}


def _undefine(world: World, server: Server) -> None:
    name = world.driver.list_domains()[0].name
    world.driver.destroy(name)
    world.driver.undefine(name)


def _shut_off(world: World, server: Server) -> None:
    world.driver.destroy(world.driver.list_domains()[0].name)


def _stray_domain(world: World, server: Server) -> None:
    free = next(a for a in GPUS if a not in server.devices)
    stray = Domain(
        name="stray",
        uuid=str(uuid.uuid4()),
        memory_mib=256,
        vcpus=1,
        devices=(HostdevDevice(address=PciAddress.parse(free)),),
        virt_type="test",
    )
    world.driver.define(stray)


def _nothing(world: World, server: Server) -> None:
    return None


@pytest.mark.parametrize(
    ("tamper", "mismatch", "names_server", "state"),
    [
        pytest.param(_undefine, "libvirt has no domain for it", True, "ERROR", id="undefined"),
        pytest.param(_shut_off, "is shut-off but its server is ACTIVE", True, "ERROR", id="off"),
        pytest.param(
            _stray_domain, "which the service has not claimed", False, "ACTIVE", id="stray"
        ),
        pytest.param(_nothing, None, False, "ACTIVE", id="in-step"),
    ],
)
def test_restart_reports_what_libvirt_and_the_claims_disagree_on(
    world: World,
    tamper: Callable[[World, Server], None],
    mismatch: str | None,
    names_server: bool,
    state: str,
) -> None:
    agent = world.agent()
    agent.start()
    server = boot(world, agent, "vm1", 2)
    tamper(world, server)

    found = world.agent().start()  # the agent restarts on the same hypervisor

    if mismatch is None:
        assert found == ()
    else:
        (only,) = found
        assert mismatch in only.detail
        assert (only.server_id == server.id) is names_server
    after = world.user.get_server(server.id)
    assert after.state == state
    if state == "ERROR":
        assert after.reason is not None and mismatch is not None and mismatch in after.reason
        # Another restart reports the same mismatch: the server records it once.
        world.agent().start()
        again = world.user.get_server(server.id)
        assert (again.state, again.faults) == ("ERROR", after.faults)
        assert len(after.faults) == 1
    # Nothing is freed on the agent's say-so: the claim stands until the server is deleted.
    assert after.devices == server.devices
    assert delete(world, world.agent(), after).state == "DELETED"
    assert all(world.owners()[a] is None for a in server.devices)


@pytest.mark.parametrize(
    ("server", "error"),
    [
        pytest.param("unknown", NotFoundError, id="unknown-server"),
        pytest.param("refused", ConflictError, id="server-on-no-host"),
    ],
)
def test_a_mismatch_must_name_a_server_of_the_reporting_host(
    world: World, server: str, error: type[Exception]
) -> None:
    world.agent().start()
    refused = world.user.create_server("big", flavor=world.flavor(8))
    assert refused.state == "ERROR"
    server_id = refused.id if server == "refused" else str(uuid.uuid4())
    with pytest.raises(error):
        world.agent_api.report_mismatches(HOST, [MismatchIn(server_id=server_id, detail="x")])
    assert world.user.get_server(refused.id).reason == refused.reason


def _remove_from_sysfs(root: Path, address: str) -> None:
    link = root / "sys/bus/pci/devices" / address
    shutil.rmtree(link.resolve())
    link.unlink()


def test_a_device_that_vanishes_while_allocated_stays_owned_until_freed(world: World) -> None:
    agent = world.agent(sysfs_scanner(world.root))
    agent.start()
    server = boot(world, agent, "vm1", 1)
    assert server.state == "ACTIVE", server.reason
    (held,) = server.devices
    spare = next(a for a in GPUS if a != held)

    _remove_from_sysfs(world.root, held)
    _remove_from_sysfs(world.root, spare)
    assert agent.rescan() is True

    owners = world.owners()
    assert owners[held] == server.id  # gone from the host, still the server's
    assert spare not in owners  # a free device that vanished leaves at once
    assert agent.kept == frozenset({PciAddress.parse(held)})
    assert world.gpu_pool() == (3, 2)
    assert world.user.get_server(server.id).devices == [held]

    assert delete(world, agent, server).state == "DELETED"
    assert held not in world.owners()  # freed, then dropped by the agent's new report
    assert agent.kept == frozenset()
    assert world.gpu_pool() == (2, 2)


def test_agent_process_registers_works_and_stops_on_sigterm(tmp_path: Path) -> None:
    node = tmp_path / "node.xml"
    node.write_text(node_xml(build_host("gpu")), encoding="utf-8")
    spec = tmp_path / "spec.json"
    spec.write_text('[{"vendor_id": "10de"}]', encoding="utf-8")
    env = {**service_env(f"sqlite:///{tmp_path / 'svc.db'}", [HOST]), "PCIPLANE_TOKEN": ""}
    api = start_api(env["PCIPLANE_DB_URL"], env, tmp_path / "api.log")
    log = tmp_path / "agent.log"
    command = [sys.executable, "-m", "pciplane.cli.main", "agent", "--api", api.url,
               "--token", agent_token(HOST), "--name", HOST, "--libvirt", f"test://{node}",
               "--device-spec", str(spec), "--interval", "0.1"]  # fmt: skip
    try:
        with log.open("wb") as out:
            proc = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
        admin = httpx.Client(base_url=api.url, headers=auth(ADMIN), timeout=5)
        _until(lambda: admin.get(f"/v1/hosts/{HOST}").status_code == 200, proc, log)
        admin.post("/v1/aliases", json=A100).raise_for_status()
        flavor = {"name": "g1", "vcpus": 1, "ram": 512,
                  "extra_specs": {"pci_passthrough:alias": "large_GPU:1"}}  # fmt: skip
        admin.post("/v1/flavors", json=flavor).raise_for_status()
        server = admin.post("/v1/servers", json={"name": "vm1", "flavor": "g1"}).json()
        url = f"/v1/servers/{server['id']}"
        _until(lambda: admin.get(url).json()["state"] == "ACTIVE", proc, log)

        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
        lines = log.read_text().splitlines()
        assert any("registered cmp1: " in line for line in lines)
        assert any("reconciled: 0 domain(s)" in line for line in lines)
        assert sum("start vm1 " in line and "-> server ACTIVE" in line for line in lines) == 1
        assert lines[-1].endswith("agent cmp1 stopped")
        admin.close()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        api.stop()


def _until(check: Callable[[], bool], proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 20
    while not check():
        assert proc.poll() is None, log.read_text()
        assert time.monotonic() < deadline, log.read_text()
        time.sleep(0.05)


def test_an_agent_without_its_own_device_spec_takes_the_fleets_and_polls_quietly(
    tmp_path: Path,
) -> None:
    """No --device-spec: the service's fleet-wide device_spec setting applies to the host;
    and an idle agent's polls (its heartbeats) write nothing to its log."""
    node = tmp_path / "node.xml"
    node.write_text(node_xml(build_host("gpu")), encoding="utf-8")
    env = service_env(f"sqlite:///{tmp_path / 'svc.db'}", [HOST])
    env["PCIPLANE_DEVICE_SPEC"] = '[{"vendor_id": "10de", "product_id": "20b5"}]'
    api = start_api(env["PCIPLANE_DB_URL"], env, tmp_path / "api.log")
    log = tmp_path / "agent.log"
    command = [sys.executable, "-m", "pciplane.cli.main", "agent", "--api", api.url,
               "--token", agent_token(HOST), "--name", HOST, "--libvirt", f"test://{node}",
               "--interval", "0.02"]  # fmt: skip
    admin = httpx.Client(base_url=api.url, headers=auth(ADMIN), timeout=5)
    try:
        with log.open("wb") as out:
            proc = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
        _until(lambda: admin.get(f"/v1/hosts/{HOST}").status_code == 200, proc, log)
        seen = admin.get(f"/v1/hosts/{HOST}").json()["last_seen"]
        _until(lambda: admin.get(f"/v1/hosts/{HOST}").json()["last_seen"] > seen, proc, log)
        time.sleep(1.0)  # some fifty idle polls
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
        host = admin.get(f"/v1/hosts/{HOST}").json()
        assert sum(p["total"] for p in host["pools"]) == 4  # the four A100s, by the fleet's spec
        lines = log.read_text().splitlines()
        assert len(lines) <= 4, lines  # registered, reconciled, stopped: no line per poll
    finally:
        admin.close()
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        api.stop()
