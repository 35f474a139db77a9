"""CPUs and memory claimed with the devices, through the API on a real database.

A host reports two cells of 4 CPUs (2 cores x 2 threads) and 8 GiB each with
``cpu_allocation_ratio`` 1 and nothing reserved; pinned servers fill it CPU by CPU, the
next one is refused naming the cell and the resource, a delete frees the CPUs for the
next, and the server's guest plan carries its cells and pins.
"""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from svc_helpers import ADMIN, GPU_ALIAS, auth, gpu

from pciplane.service.context import Services
from pciplane.store.tables import cell_claims, cpu_pins

ADMIN_H = auth(ADMIN)
CELLS = [
    {"id": 0, "socket": 0, "cpus": [0, 1, 4, 5], "siblings": [[0, 4], [1, 5]], "memory_mib": 8192},
    {"id": 1, "socket": 1, "cpus": [2, 3, 6, 7], "siblings": [[2, 6], [3, 7]], "memory_mib": 8192},
]
ALLOCATION = {"cpu_allocation_ratio": 1.0, "reserved_host_memory_mb": 0}


def _register(client: TestClient, *, gpus: tuple[int, ...] = ()) -> None:
    body = {
        "numa_nodes": CELLS,
        "allocation": ALLOCATION,
        "devices": [gpu(f"0000:{0x3B + i:02x}:00.0", numa) for i, numa in enumerate(gpus)],
    }
    answer = client.put("/v1/hosts/cmp1", json=body, headers=auth("tok-cmp1"))
    assert answer.status_code == 200, answer.text
    # The host's limits are under test, not the project's: no quota stops a create first.
    unlimited = {"limits": {"instances": -1, "cores": -1, "ram": -1}}
    answer = client.put("/v1/quotas/admin", json=unlimited, headers=ADMIN_H)
    assert answer.status_code == 200, answer.text


def _flavor(client: TestClient, name: str, vcpus: int, ram: int, **specs: str) -> None:
    body = {"name": name, "vcpus": vcpus, "ram": ram, "extra_specs": specs}
    answer = client.post("/v1/flavors", json=body, headers=ADMIN_H)
    assert answer.status_code == 201, answer.text


def _create(client: TestClient, name: str, flavor: str) -> dict[str, object]:
    answer = client.post("/v1/servers", json={"name": name, "flavor": flavor}, headers=ADMIN_H)
    assert answer.status_code == 201, answer.text
    server: dict[str, object] = answer.json()
    return server


def _pins(context: Services) -> dict[int, str]:
    with context.db.read() as conn:
        return {cpu: s for _h, cpu, s in conn.execute(sa.select(cpu_pins))}


PINNED = {"hw:cpu_policy": "dedicated"}


def test_pinned_servers_fill_the_cells_cpu_by_cpu(app_client: TestClient) -> None:
    _register(app_client)
    _flavor(app_client, "pin2", 2, 1024, **{"hw:cpu_policy": "dedicated"})
    servers = [_create(app_client, f"p{i}", "pin2") for i in range(4)]
    assert [s["state"] for s in servers] == ["BUILD"] * 4
    plans = [s["guest_plan"] for s in servers]
    pins = [p for plan in plans for cell in plan["cells"] for p in cell["pins"]]  # type: ignore[index]
    assert sorted(pins) == list(range(8))  # every CPU once, none twice
    assert {plan["cpu_policy"] for plan in plans} == {"dedicated"}  # type: ignore[index]
    full = _create(app_client, "p4", "pin2")
    assert full["state"] == "ERROR"
    assert "NUMA 0: 0 dedicated CPUs free, 2 needed" in str(full["reason"])
    assert "NUMA 1: 0 dedicated CPUs free, 2 needed" in str(full["reason"])

    context: Services = app_client.app.state.services  # type: ignore[attr-defined]
    assert len(_pins(context)) == 8
    deleted = app_client.delete(f"/v1/servers/{servers[0]['id']}", headers=ADMIN_H)
    assert deleted.status_code in (200, 202, 204), deleted.text
    assert len(_pins(context)) == 6
    again = _create(app_client, "p5", "pin2")
    assert again["state"] == "BUILD", again["reason"]
    host = app_client.get("/v1/hosts/cmp1", headers=ADMIN_H).json()
    assert sorted(host["usage"]["pinned_cpus"]) == list(range(8))
    assert host["allocation"]["cpu_allocation_ratio"] == 1.0
    assert host["numa_nodes"][0]["cpus"] == [0, 1, 4, 5]


def test_the_host_is_not_overcommitted_by_shared_guests(app_client: TestClient) -> None:
    _register(app_client)
    _flavor(app_client, "huge", 4096, 2 * 1024 * 1024)
    _flavor(app_client, "half", 2, 8192)
    huge = _create(app_client, "huge", "huge")
    assert huge["state"] == "ERROR"
    assert "host: 8 shared vCPUs free" in str(huge["reason"]), huge["reason"]
    assert _create(app_client, "h1", "half")["state"] == "BUILD"
    assert _create(app_client, "h2", "half")["state"] == "BUILD"
    third = _create(app_client, "h3", "half")
    assert "host: 0 MiB of memory free" in str(third["reason"]), third["reason"]
    context: Services = app_client.app.state.services  # type: ignore[attr-defined]
    with context.db.read() as conn:
        rows = list(conn.execute(sa.select(cell_claims.c.cell, cell_claims.c.vcpus)))
    assert rows == [(None, 2), (None, 2)]


def test_a_gpu_on_cell_1_puts_a_pinned_guest_there(app_client: TestClient) -> None:
    _register(app_client, gpus=(1,))
    app_client.post("/v1/aliases", json=GPU_ALIAS, headers=ADMIN_H)
    specs = {
        **PINNED,
        "pci_passthrough:alias": "large_GPU:1",
        "hw:pci_numa_affinity_policy": "required",
    }
    _flavor(app_client, "gpu-pin", 2, 1024, **specs)
    server = _create(app_client, "g", "gpu-pin")
    assert server["state"] == "BUILD", server["reason"]
    plan = server["guest_plan"]
    assert [c["host_cell"] for c in plan["cells"]] == [1]  # type: ignore[index]
    assert set(plan["cells"][0]["pins"]) <= {2, 3, 6, 7}  # type: ignore[index]


@pytest.mark.parametrize(
    ("vcpus", "specs", "words"),
    [
        pytest.param(2, {"hw:numa_nodes": "3"}, "'hw:numa_nodes': 3 NUMA nodes for 2", id="nodes"),
        pytest.param(
            4,
            {"hw:numa_nodes": "2", "hw:numa_cpus.0": "0-2", "hw:numa_cpus.1": "2-3"},
            "vCPU 2 is also in",
            id="numa-cpus-twice",
        ),
        pytest.param(6, PINNED, "'hw:cpu_policy': guest NUMA cell 0 pins 6 vCPUs", id="too-big"),
        pytest.param(2, {"hw:cpu_polcy": "dedicated"}, "did you mean 'hw:cpu_policy'", id="typo"),
    ],
)
def test_impossible_flavors_are_refused_naming_the_key(
    app_client: TestClient, vcpus: int, specs: dict[str, str], words: str
) -> None:
    _register(app_client)
    body = {"name": "bad", "vcpus": vcpus, "ram": 1024, "extra_specs": specs}
    answer = app_client.post("/v1/flavors", json=body, headers=ADMIN_H)
    assert answer.status_code == 400, answer.text
    assert words in answer.text
    assert app_client.get("/v1/flavors/bad", headers=ADMIN_H).status_code == 404


def test_fit_and_capacity_take_the_flavors_cpus(app_client: TestClient) -> None:
    _register(app_client)
    _flavor(app_client, "pin4", 4, 1024, **PINNED)
    fit = app_client.post("/v1/fit", json={"flavor": "pin4"}, headers=ADMIN_H)
    assert fit.status_code == 200, fit.text
    capacity = app_client.post("/v1/capacity", json={"flavor": "pin4"}, headers=ADMIN_H)
    assert capacity.status_code == 200, capacity.text
    assert capacity.json()["total"] == 2, capacity.text
