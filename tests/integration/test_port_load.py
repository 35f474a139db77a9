"""200 concurrent creates with an SR-IOV port each, on PostgreSQL, through two API
processes: no VF is ever held twice, and every port's binding names the VF its server got.

The fleet has room for exactly K servers (VFs on physnet1 across the hosts, a few hosts
with none). Each create asks for one ``direct`` port on a VLAN network (``--nic
net-id=...``): the port is created and bound in the claim's own transaction, so a lost
race leaves neither a device nor a bound port behind. Then many creates race for one
pre-created port: exactly one server gets it.
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from load_helpers import (
    ADMIN,
    PROJECT_TOKEN,
    ApiProcess,
    agent_token,
    auth,
    device_owners,
    pg_database,
    service_env,
    start_api,
)

pytestmark = pytest.mark.integration

CREATES = 200
#: VFs per host: room for exactly K one-port servers, plus two hosts with none.
VFS = (1, 2, 3, 4, 5) * 4 + (0, 0)
K = sum(VFS)
HOSTS = [f"net{i:02d}" for i in range(len(VFS))]
SPEC = [{"vendor_id": "8086", "product_id": "154c", "physical_network": "physnet1"}]
POLL_S = 0.25
DEADLINE_S = 150.0


def host_body(index: int, vfs: int) -> dict[str, object]:
    pf = {"address": "0000:81:00.0", "vendor_id": "8086", "product_id": "1572",
          "dev_type": "type-PF", "numa_node": 0, "devname": "ens1f0"}  # fmt: skip
    devices = [pf] + [
        {"address": f"0000:81:02.{n}", "vendor_id": "8086", "product_id": "154c",
         "dev_type": "type-VF", "numa_node": 0, "parent_addr": "0000:81:00.0",
         "parent_ifname": "ens1f0", "devname": f"ens1f0v{n}", "vf_num": n}
        for n in range(vfs)
    ]  # fmt: skip
    network = {"device_mappings": {"physnet1": ["ens1f0"]}}
    return {"name": HOSTS[index], "devices": devices, "network": network}


@pytest.fixture
def apis(tmp_path: Path) -> Iterator[tuple[list[ApiProcess], str]]:
    with pg_database() as db_url:
        env = {**service_env(db_url, HOSTS), "PCIPLANE_DEVICE_SPEC": json.dumps(SPEC)}
        started: list[ApiProcess] = []
        try:
            for i in range(2):
                started.append(start_api(db_url, env, tmp_path / f"api{i}.log"))
            yield started, db_url
        finally:
            for api in started:
                api.stop()


def _setup(apis: list[ApiProcess]) -> str:
    url = apis[0].url
    flavor = {"name": "p1", "vcpus": 1, "ram": 256}
    assert httpx.post(f"{url}/v1/flavors", json=flavor, headers=auth(ADMIN)).status_code == 201
    for i, vfs in enumerate(VFS):
        answer = httpx.put(f"{apis[i % 2].url}/v1/hosts/{HOSTS[i]}", json=host_body(i, vfs),
                           headers=auth(agent_token(HOSTS[i])))  # fmt: skip
        assert answer.status_code == 200, answer.text
    body = {"network": {"name": "net1", "shared": True, "provider:network_type": "vlan",
                        "provider:physical_network": "physnet1",
                        "provider:segmentation_id": "100"}}  # fmt: skip
    answer = httpx.post(f"{url}/v2.0/networks", json=body, headers=auth(ADMIN))
    assert answer.status_code == 201, answer.text
    return str(answer.json()["network"]["id"])


async def _agent(client: httpx.AsyncClient, host: str, done: asyncio.Event) -> int:
    started = 0
    headers = auth(agent_token(host))
    while True:
        finished = done.is_set()
        work = (await client.get(f"/v1/hosts/{host}/work", headers=headers)).json()["work"]
        for item in work:
            answer = await client.post(f"/v1/work/{item['id']}", json={"ok": True},
                                       headers=headers)  # fmt: skip
            assert answer.status_code == 200, answer.text
            started += 1
        if finished and not work:
            return started
        await asyncio.sleep(POLL_S)


async def _storm(apis: list[ApiProcess], bodies: list[dict[str, Any]]) -> tuple[list[Any], int]:
    limits = httpx.Limits(max_connections=CREATES, max_keepalive_connections=CREATES)
    clients = [httpx.AsyncClient(base_url=a.url, timeout=60, limits=limits) for a in apis]
    done = asyncio.Event()
    try:
        agents = [asyncio.create_task(_agent(clients[i % 2], h, done)) for i, h in enumerate(HOSTS)]
        creates = [
            clients[i % 2].post("/v1/servers", json=body, headers=auth(PROJECT_TOKEN))
            for i, body in enumerate(bodies)
        ]
        responses = await asyncio.gather(*creates)
        done.set()
        started = sum(await asyncio.gather(*agents))
    finally:
        for client in clients:
            await client.aclose()
    return list(responses), started


def test_concurrent_creates_with_ports_never_hold_a_vf_twice(
    apis: tuple[list[ApiProcess], str],
) -> None:
    processes, db_url = apis
    net = _setup(processes)
    nic = {"net_id": net, "vnic_type": "direct"}
    bodies = [{"name": f"s{i:03d}", "flavor": "p1", "nics": [nic]} for i in range(CREATES)]
    responses, started = asyncio.run(asyncio.wait_for(_storm(processes, bodies), DEADLINE_S))
    assert [r.status_code for r in responses] == [201] * CREATES, responses[0].text
    assert Counter(r.json()["state"] for r in responses) == {"BUILD": K, "ERROR": CREATES - K}
    assert started == K

    url = processes[1].url
    servers = httpx.get(f"{url}/v1/servers", headers=auth(ADMIN), timeout=30).json()["servers"]
    ports = httpx.get(f"{url}/v2.0/ports", headers=auth(ADMIN), timeout=30).json()["ports"]
    assert len(ports) == CREATES  # one port per server, each created with its server
    by_server = {p["device_id"]: p for p in ports}
    slots = []
    for server in servers:
        port = by_server[server["id"]]
        if server["state"] == "ACTIVE":
            (device,) = server["devices"]
            assert port["binding:profile"]["pci_slot"] == device
            assert (port["status"], port["binding:vif_type"], port["binding:host_id"]) == (
                "ACTIVE", "hw_veb", server["host"])  # fmt: skip
            assert port["binding:vif_details"]["vlan"] == "100"
            slots.append((server["host"], device))
        else:
            assert server["state"] == "ERROR" and "No valid host" in server["reason"]
            assert (port["binding:vif_type"], port["binding:profile"]) == ("unbound", {})
    assert len(slots) == len(set(slots)) == K, "a VF is in two servers"

    owners = device_owners(db_url)
    owned = [o for o in owners if o[2] is not None]
    assert len(owned) == K
    assert all(owner == claim for _, _, owner, claim in owners), "devices.owner != claims"

    # Many creates race for one pre-created port: exactly one server gets it.
    for server in servers[:5]:
        httpx.delete(f"{url}/v1/servers/{server['id']}", headers=auth(ADMIN))
    body = {"port": {"network_id": net, "binding:vnic_type": "direct", "name": "contested"}}
    contested = httpx.post(f"{url}/v2.0/ports", headers=auth(PROJECT_TOKEN), json=body)
    port_id = contested.json()["port"]["id"]
    race = [{"name": f"r{i}", "flavor": "p1", "nics": [{"port_id": port_id}]} for i in range(12)]
    answers, _ = asyncio.run(asyncio.wait_for(_storm(processes, race), DEADLINE_S))
    assert sorted(r.status_code for r in answers) == [201] + [409] * 11, [r.text for r in answers]
    winner = next(r.json() for r in answers if r.status_code == 201)
    final = httpx.get(f"{url}/v2.0/ports/{port_id}", headers=auth(ADMIN)).json()["port"]
    assert final["device_id"] == winner["id"]
