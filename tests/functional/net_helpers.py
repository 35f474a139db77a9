"""Hosts with SR-IOV NICs, networks and ports, for the functional tests of networking.

A host here is what its agent reports over HTTP: PFs with their netdev and MAC, VFs with
their PF's netdev and number (as discovery finds them), a GPU, and the agent's network
configuration in Neutron's SR-IOV agent options.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from fastapi.testclient import TestClient
from svc_helpers import ADMIN, auth

from pciplane.store.tables import hosts, metadata

ADMIN_H = auth(ADMIN)
ALPHA = auth("tok-alpha")
BETA = auth("tok-beta")
#: The fleet-wide allow-list of these tests: the GPU, the VFs by product (physnet1 unless
#: the agent's configuration says otherwise) and the 8086:1572 PFs on physnet2.
NET_SPEC = [
    {"vendor_id": "10de", "product_id": "1db4"},
    {"vendor_id": "8086", "product_id": "154c", "physical_network": "physnet1"},
    {"vendor_id": "8086", "product_id": "1572", "physical_network": "physnet2"},
]
GPU_ALIAS = {"name": "gpu", "vendor_id": "10de", "product_id": "1db4", "device_type": "type-PCI"}


def neutron_error(answer: Any, status: int) -> str:
    """The message of a Neutron error body, after checking its status and shape."""
    assert answer.status_code == status, answer.text
    body = answer.json()
    assert list(body) == ["NeutronError"], body
    error = body["NeutronError"]
    assert set(error) == {"type", "message", "detail"} and error["type"], body
    return str(error["message"])


def pf(bus: int, port: int, *, product: str = "1572") -> dict[str, object]:
    return {
        "address": f"0000:{bus:02x}:00.{port}",
        "vendor_id": "8086",
        "product_id": product,
        "dev_type": "type-PF",
        "numa_node": 0,
        "devname": f"ens{bus}f{port}",
        "mac_address": f"3c:fd:fe:00:{bus:02x}:{port:02x}",
    }


def vf(bus: int, port: int, n: int, *, netdev: bool = True) -> dict[str, object]:
    out: dict[str, object] = {
        "address": f"0000:{bus:02x}:{2 + port:02x}.{n}",
        "vendor_id": "8086",
        "product_id": "154c",
        "dev_type": "type-VF",
        "numa_node": 0,
        "parent_addr": f"0000:{bus:02x}:00.{port}",
        "parent_ifname": f"ens{bus}f{port}",
        "vf_num": n,
    }
    if netdev:
        out["devname"] = f"ens{bus}f{port}v{n}"
    return out


def nic_devices(bus: int, vfs: int = 4, *, pfs_only: bool = False) -> list[dict[str, object]]:
    """A dual-port NIC: port 0 with ``vfs`` VFs, port 1 without VFs (a whole PF)."""
    devices = [pf(bus, 0), pf(bus, 1)]
    if not pfs_only:
        devices += [vf(bus, 0, n) for n in range(vfs)]
    return devices


def gpu(address: str = "0000:3b:00.0") -> dict[str, object]:
    return {"address": address, "vendor_id": "10de", "product_id": "1db4", "numa_node": 0}


def register(
    client: TestClient,
    name: str,
    *,
    bus: int = 0x81,
    vfs: int = 4,
    gpus: int = 0,
    network: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Report host ``name`` as its agent would (token ``tok-<name>``)."""
    body: dict[str, Any] = {
        "devices": [
            *nic_devices(bus, vfs),
            *(gpu(f"0000:{0x3B + i:02x}:00.0") for i in range(gpus)),
        ]
    }
    body["network"] = (
        {"device_mappings": {"physnet1": [f"ens{bus}f0"], "physnet2": [f"ens{bus}f1"]}}
        if network is None
        else network
    )
    answer = client.put(f"/v1/hosts/{name}", json=body, headers=auth(f"tok-{name}"))
    assert answer.status_code == 200, answer.text
    result: dict[str, Any] = answer.json()
    return result


def network(
    client: TestClient, name: str, *, headers: dict[str, str] = ADMIN_H, **attrs: Any
) -> dict[str, Any]:
    body = {"name": name, **attrs}
    answer = client.post("/v2.0/networks", json={"network": body}, headers=headers)
    assert answer.status_code == 201, answer.text
    result: dict[str, Any] = answer.json()["network"]
    return result


def vlan(client: TestClient, name: str, physnet: str, seg_id: int, **attrs: Any) -> dict[str, Any]:
    return network(
        client,
        name,
        **{
            "provider:network_type": "vlan",
            "provider:physical_network": physnet,
            "provider:segmentation_id": seg_id,
            "shared": True,
            **attrs,
        },
    )


def flat(client: TestClient, name: str, physnet: str) -> dict[str, Any]:
    return network(
        client,
        name,
        **{"provider:network_type": "flat", "provider:physical_network": physnet, "shared": True},
    )


def port(
    client: TestClient, network_id: str, *, headers: dict[str, str] = ALPHA, **attrs: Any
) -> dict[str, Any]:
    answer = client.post(
        "/v2.0/ports", json={"port": {"network_id": network_id, **attrs}}, headers=headers
    )
    assert answer.status_code == 201, answer.text
    result: dict[str, Any] = answer.json()["port"]
    return result


def get_port(client: TestClient, port_id: str, headers: dict[str, str] = ADMIN_H) -> dict[str, Any]:
    answer = client.get(f"/v2.0/ports/{port_id}", headers=headers)
    assert answer.status_code == 200, answer.text
    result: dict[str, Any] = answer.json()["port"]
    return result


def flavor(client: TestClient, name: str, alias: str = "") -> None:
    client.post("/v1/aliases", json=GPU_ALIAS, headers=ADMIN_H)
    specs = {"pci_passthrough:alias": alias} if alias else {}
    body = {"name": name, "vcpus": 1, "ram": 512, "extra_specs": specs}
    answer = client.post("/v1/flavors", json=body, headers=ADMIN_H)
    assert answer.status_code == 201, answer.text


def server(
    client: TestClient, name: str, flavor_name: str, nics: list[dict[str, str]],
    headers: dict[str, str] = ALPHA,
) -> dict[str, Any]:  # fmt: skip
    body = {"name": name, "flavor": flavor_name, "nics": nics}
    answer = client.post("/v1/servers", json=body, headers=headers)
    assert answer.status_code == 201, answer.text
    result: dict[str, Any] = answer.json()
    return result


def run_agent(client: TestClient, host: str, *, ok: bool = True, reason: str = "") -> list[Any]:
    """Play the host's agent for one poll: report each item as done (or failed)."""
    headers = auth(f"tok-{host}")
    items = client.get(f"/v1/hosts/{host}/work", headers=headers).json()["work"]
    out = []
    for item in items:
        answer = client.post(
            f"/v1/work/{item['id']}", json={"ok": ok, "reason": reason}, headers=headers
        )
        assert answer.status_code == 200, answer.text
        out.append(answer.json())
    return out


def rows(client: TestClient) -> dict[str, list[tuple[object, ...]]]:
    """Every row of every table: what "nothing changed" is checked against."""
    engine = client.app.state.services.db.engine  # type: ignore[attr-defined]
    with engine.connect() as conn:
        return {
            t.name: sorted((tuple(r) for r in conn.execute(sa.select(t))), key=repr)
            for t in metadata.sorted_tables
        }


def stale(client: TestClient, host: str) -> None:
    """The agent's last report long ago: its host counts as down (agent_down_time)."""
    engine = client.app.state.services.db.engine  # type: ignore[attr-defined]
    with engine.begin() as conn:
        conn.execute(sa.update(hosts).where(hosts.c.name == host).values(last_seen=1.0))
