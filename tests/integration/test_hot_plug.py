"""NICs end to end with real agents: hot plug on the in-memory hypervisor (which checks
every XML with libvirt's schema), libvirt's ``test:///`` refusing hot plug cleanly, and
every vnic type started on ``test:///`` with the domain XML it defined valid.

The service is a real ``pciplane serve`` process on SQLite; each agent is the real
:class:`~pciplane.host.agent.Agent` in a thread, polling it over HTTP: ``hp1`` on the
in-memory hypervisor with a sysfs tree (its PFs on physnet1, ``sriov_auto_all``), ``tt1``
on libvirt's test driver with a node XML (its PFs on physnet2). The hot-plug calls wait
for the agent, as ``openstack server add port`` expects the port bound when it returns.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from load_helpers import ADMIN, PROJECT_TOKEN, auth, start_api

from pciplane.client import Client
from pciplane.core.sriov_agent import SriovAgentConfig
from pciplane.host import libvirt_schema
from pciplane.host.agent import Agent, AgentConfig, libvirt_scanner, sysfs_scanner
from pciplane.host.libvirt_driver import LibvirtDriver
from pciplane.sim.host import build_host
from pciplane.sim.host_write import node_xml, write_sysfs
from pciplane.sim.memory_hypervisor import MemoryHypervisor

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(
        not libvirt_schema.validator_available(), reason="virt-xml-validate is not installed"
    ),
]

USER = auth(PROJECT_TOKEN)
ADMIN_H = auth(ADMIN)
SPEC = [{"vendor_id": "8086", "product_id": "158b", "physical_network": "physnet9"}]
PASSTHROUGH = '<source dev="{}" mode="passthrough" />'


@dataclass
class Running:
    agent: Agent
    driver: LibvirtDriver
    thread: threading.Thread
    stop: threading.Event
    client: Client


@dataclass
class World:
    url: str
    db_url: str
    agents: dict[str, Running]

    def call(self, method: str, path: str, body: object = None, headers: Any = USER) -> Any:
        return httpx.request(method, f"{self.url}{path}", json=body, headers=headers, timeout=60)

    def stop_agent(self, name: str) -> None:
        running = self.agents[name]
        running.stop.set()
        running.thread.join(timeout=30)
        running.client.close()


def _agent(url: str, name: str, driver: LibvirtDriver, scanner: Any, physnet: str,
           pfs: tuple[str, ...], auto_all: bool) -> Running:  # fmt: skip
    config = AgentConfig(
        name=name,
        device_spec_raw=None,
        device_spec=None,
        interval=0.05,
        network=SriovAgentConfig(physical_device_mappings={physnet: pfs}, sriov_auto_all=auto_all),
    )
    client = Client(url, f"agent-{name}")
    agent = Agent(config=config, api=client, hypervisor=driver, scanner=scanner)
    stop = threading.Event()
    thread = threading.Thread(target=agent.run, args=(stop,), daemon=True)
    thread.start()
    return Running(agent=agent, driver=driver, thread=thread, stop=stop, client=client)


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    db_url = f"sqlite:///{tmp_path / 'hp.db'}"
    env = {
        **os.environ,
        "PCIPLANE_DB_URL": db_url,
        "PCIPLANE_ADMIN_TOKEN": ADMIN,
        "PCIPLANE_PROJECT_TOKENS": json.dumps({PROJECT_TOKEN: "demo"}),
        "PCIPLANE_AGENT_TOKENS": json.dumps({"agent-hp1": "hp1", "agent-tt1": "tt1"}),
        "PCIPLANE_DEVICE_SPEC": json.dumps(SPEC),
    }
    api = start_api(db_url, env, tmp_path / "api.log")
    sysfs = tmp_path / "hp1"
    write_sysfs(build_host("sriov-nic"), sysfs)
    node = tmp_path / "tt1.xml"
    node.write_text(node_xml(build_host("sriov-nic")), encoding="utf-8")
    test_driver = LibvirtDriver.connect(f"test://{node}")
    agents = {
        "hp1": _agent(api.url, "hp1", LibvirtDriver(MemoryHypervisor(), uri="memory:///"),
                      sysfs_scanner(sysfs), "physnet1", ("ens1f0", "ens1f1"), True),
        "tt1": _agent(api.url, "tt1", test_driver, libvirt_scanner(test_driver.uri), "physnet2",
                      ("ens1f0", "ens1f1"), True),
    }  # fmt: skip
    world = World(url=api.url, db_url=db_url, agents=agents)
    try:
        _wait_for(lambda: len(world.call("GET", "/v1/hosts", headers=ADMIN_H).json()["hosts"]) == 2)
        _setup(world)
        yield world
    finally:
        for name in list(agents):
            world.stop_agent(name)
        test_driver.close()
        api.stop()


def _wait_for(check: Any, what: str = "the condition") -> None:
    deadline = time.monotonic() + 60
    while not check():
        assert time.monotonic() < deadline, f"waited 60 s for {what}"
        time.sleep(0.05)


def _setup(world: World) -> None:
    assert world.call("POST", "/v1/flavors", {"name": "m1", "vcpus": 1, "ram": 256},
                      ADMIN_H).status_code == 201  # fmt: skip
    for name, physnet, seg in (("net1", "physnet1", 100), ("net2", "physnet2", 200)):
        body = {"network": {"name": name, "shared": True, "provider:network_type": "vlan",
                            "provider:physical_network": physnet,
                            "provider:segmentation_id": seg}}  # fmt: skip
        assert world.call("POST", "/v2.0/networks", body, ADMIN_H).status_code == 201
    flat = {"network": {"name": "flat9", "shared": True, "provider:network_type": "flat",
                        "provider:physical_network": "physnet9"}}  # fmt: skip
    assert world.call("POST", "/v2.0/networks", flat, ADMIN_H).status_code == 201


def net(world: World, name: str) -> str:
    found = world.call("GET", f"/v2.0/networks?name={name}").json()["networks"]
    return str(found[0]["id"])


def make_port(world: World, network: str, vnic: str, name: str = "") -> dict[str, Any]:
    body = {"port": {"network_id": net(world, network), "binding:vnic_type": vnic, "name": name}}
    answer = world.call("POST", "/v2.0/ports", body)
    assert answer.status_code == 201, answer.text
    result: dict[str, Any] = answer.json()["port"]
    return result


def port_of(world: World, port_id: str) -> dict[str, Any]:
    result: dict[str, Any] = world.call("GET", f"/v2.0/ports/{port_id}").json()["port"]
    return result


def boot(world: World, name: str, nics: list[dict[str, str]]) -> dict[str, Any]:
    created = world.call("POST", "/v1/servers", {"name": name, "flavor": "m1", "nics": nics})
    assert created.status_code == 201, created.text
    server_id = created.json()["id"]

    def done() -> bool:
        return world.call("GET", f"/v1/servers/{server_id}").json()["state"] != "BUILD"

    _wait_for(done, f"server {name}")
    result: dict[str, Any] = world.call("GET", f"/v1/servers/{server_id}").json()
    assert result["state"] == "ACTIVE", result["reason"]
    return result


def held(world: World, host: str, server: dict[str, Any]) -> set[str]:
    """What libvirt's domain holds: PCI addresses, and VF netdevs for macvtap."""
    record = world.agents[host].driver.domain(server["guest_plan"]["name"])
    return {str(h.address) if h.address is not None else str(h.source_dev) for h in record.devices}


def tables(world: World) -> dict[str, list[tuple[object, ...]]]:
    """Devices, claims and ports as stored (ports without their revision and timestamp)."""
    engine = sa.create_engine(world.db_url)
    try:
        with engine.connect() as conn:
            devices = sorted(tuple(r) for r in conn.execute(sa.text(
                "SELECT host_id, address, status, owner FROM devices")))  # fmt: skip
            claims = sorted(tuple(r) for r in conn.execute(sa.text("SELECT * FROM claims")))
            ports = sorted(tuple(r) for r in conn.execute(sa.text(
                "SELECT id, status, host_id, vif_type, vif_details, profile, bound_profile,"
                " server_id, device_id FROM ports")))  # fmt: skip
    finally:
        engine.dispose()
    return {"devices": devices, "claims": claims, "ports": ports}


# --- hot plug on the in-memory hypervisor ----------------------------------------


def test_hot_plug_and_unplug_macvtap_and_normal_ports(world: World) -> None:
    first = make_port(world, "net1", "direct", "p-first")
    server = boot(world, "vm", [{"port_id": first["id"]}])
    assert server["host"] == "hp1"
    macvtap = make_port(world, "net1", "macvtap", "p-macvtap")

    answer = world.call("POST", f"/v1/servers/{server['id']}/ports", {"port_id": macvtap["id"]})
    assert answer.status_code == 200, answer.text
    after = answer.json()
    bound = port_of(world, macvtap["id"])
    assert (bound["status"], bound["binding:vif_type"], bound["binding:host_id"]) == (
        "ACTIVE", "hw_veb", "hp1")  # fmt: skip
    assert bound["binding:vif_details"] == {"port_filter": False, "connectivity": "l2",
                                            "vlan": "100"}  # fmt: skip
    slot = bound["binding:profile"]["pci_slot"]
    assert slot in after["devices"] and len(after["devices"]) == 2
    nic = next(n for n in after["nics"] if n["port_id"] == macvtap["id"])
    assert (nic["vnic_type"], nic["pci_slot"], nic["vlan"]) == ("macvtap", slot, "100")
    assert [w["action"] for w in nic["wired"]] == ["assign"]
    assert not nic["wired"][0]["applied"]  # memory:/// has no NICs: recorded only
    netdev = next(d for d in after["guest_plan"]["devices"] if d["address"] == slot)
    assert netdev["nic"]["source_dev"] in held(world, "hp1", after)

    normal = make_port(world, "net1", "normal", "p-normal")
    plugged = world.call("POST", f"/v1/servers/{server['id']}/ports", {"port_id": normal["id"]})
    assert plugged.status_code == 200, plugged.text
    assert port_of(world, normal["id"])["binding:vif_type"] == "ovs"
    domain = world.agents["hp1"].driver.domain(after["guest_plan"]["name"])
    assert domain.state == "running"

    for unplug in (macvtap, normal):
        path = f"/v1/servers/{server['id']}/ports/{unplug['id']}"
        removed = world.call("DELETE", path)
        assert removed.status_code == 200, removed.text
        gone = port_of(world, unplug["id"])
        assert (gone["status"], gone["binding:vif_type"], gone["device_id"]) == (
            "DOWN", "unbound", "")  # fmt: skip
        assert "pci_slot" not in gone["binding:profile"]
    final = world.call("GET", f"/v1/servers/{server['id']}").json()
    assert final["devices"] == server["devices"]
    assert held(world, "hp1", final) == {next(iter(server["devices"]))}
    assert [n["port_id"] for n in final["nics"]] == [first["id"]]


def test_hot_plug_failures_change_nothing(world: World) -> None:
    first = make_port(world, "net1", "direct")
    server = boot(world, "vm", [{"port_id": first["id"]}])
    other = boot(world, "vm2", [{"net_id": net(world, "net1"), "vnic_type": "direct"}])
    path = f"/v1/servers/{server['id']}/ports"

    def refused(port_id: str, status: int, words: str) -> None:
        before = tables(world)
        answer = world.call("POST", path, {"port_id": port_id})
        assert answer.status_code == status, answer.text
        assert words in answer.json()["errors"][0]["detail"]
        assert tables(world) == before

    in_use = other["nics"][0]["port_id"]
    refused(in_use, 409, "is in use by")
    unreachable = make_port(world, "net2", "direct")  # physnet2 is not on hp1
    refused(unreachable["id"], 409, "its host hp1 has no device for it")
    refused("no-such-port", 404, "could not be found")

    world.stop_agent("hp1")
    engine = sa.create_engine(world.db_url)
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE hosts SET last_seen = 1 WHERE name = 'hp1'"))
    engine.dispose()
    late = make_port(world, "net1", "macvtap")
    refused(late["id"], 409, "the agent of host hp1 is down")
    removal = world.call("DELETE", f"{path}/{first['id']}")
    assert removal.status_code == 409 and "is down" in removal.text


# --- test:/// cannot hot plug --------------------------------------------------------


def test_test_driver_refuses_hot_plug_and_nothing_changes(world: World) -> None:
    server = boot(world, "vm", [{"net_id": net(world, "net2"), "vnic_type": "direct"}])
    assert server["host"] == "tt1"
    extra = make_port(world, "net2", "macvtap", "p-extra")
    before = tables(world)
    answer = world.call("POST", f"/v1/servers/{server['id']}/ports", {"port_id": extra["id"]})
    assert answer.status_code == 501, answer.text
    error = answer.json()["errors"][0]
    assert error["code"] == "pciplane.hypervisor.unsupported"
    assert "cannot add port 'p-extra' to server 'vm'" in error["detail"]
    assert "does not support it" in error["detail"]
    assert tables(world) == before
    assert world.call("GET", f"/v1/servers/{server['id']}").json()["devices"] == server["devices"]
    unplug = world.call(
        "DELETE", f"/v1/servers/{server['id']}/ports/{server['nics'][0]['port_id']}"
    )
    assert unplug.status_code == 501
    assert tables(world) == before


# --- every vnic type started on test:/// ---------------------------------------------


@pytest.mark.parametrize(
    ("network", "vnic", "vif_type", "element"),
    [
        pytest.param("net2", "direct", "hw_veb", "<interface type='hostdev' managed='yes'>",
                     id="direct"),
        pytest.param("net2", "macvtap", "hw_veb", "<interface type='direct'>", id="macvtap"),
        pytest.param("flat9", "direct-physical", "hostdev_physical",
                     "<hostdev mode='subsystem' type='pci' managed='yes'>", id="direct-physical"),
        pytest.param("net2", "normal", "ovs", "<interface type='bridge'>", id="normal"),
    ],
)  # fmt: skip
def test_every_vnic_type_starts_on_the_test_driver(
    world: World, network: str, vnic: str, vif_type: str, element: str
) -> None:
    world.stop_agent("hp1")  # keep every server on tt1
    engine = sa.create_engine(world.db_url)
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE hosts SET last_seen = 1 WHERE name = 'hp1'"))
    engine.dispose()
    made = make_port(world, network, vnic, "p")
    server = boot(world, "vm", [{"port_id": made["id"]}])
    assert server["host"] == "tt1"
    bound = port_of(world, made["id"])
    assert (bound["binding:vif_type"], bound["status"]) == (vif_type, "ACTIVE")
    libvirt_schema.validate(server["domain_xml"], "domain")
    live = world.agents["tt1"].driver.domain(server["guest_plan"]["name"])
    assert live.state == "running"
    xml = world.agents["tt1"].agent.hypervisor._conn.lookupByName(live.name).XMLDesc(0)  # type: ignore[attr-defined]
    assert element in xml
    if vif_type == "hw_veb":
        assert "<tag id='200'/>" in xml
        wired = server["nics"][0]["wired"]
        assert wired and "vlan 200" in " ".join(wired[0]["commands"])
