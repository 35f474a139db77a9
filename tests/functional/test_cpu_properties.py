"""Property: what ``/v1/fit`` says yes to, a create claims; what is claimed never exceeds
what the host holds (hypothesis, through the API on SQLite).

Each example is a fresh service with one host of random cells and settings, and random
flavors created one after another until the host is full.
"""

from __future__ import annotations

import math
from collections import Counter
from pathlib import Path

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from svc_helpers import ADMIN, auth, make_settings

from pciplane.api.app import create_app
from pciplane.service.context import Services
from pciplane.sim.cells import smt_cells
from pciplane.store.tables import cell_claims, cpu_pins

ADMIN_H = auth(ADMIN)
FLAVORS: list[dict[str, str]] = [
    {},
    {"hw:numa_nodes": "2"},
    {"hw:cpu_policy": "dedicated"},
    {"hw:cpu_policy": "dedicated", "hw:numa_nodes": "2"},
    {"hw:cpu_policy": "dedicated", "hw:cpu_thread_policy": "isolate"},
    {"hw:cpu_policy": "dedicated", "hw:cpu_thread_policy": "require"},
    {"hw:cpu_policy": "mixed", "hw:cpu_dedicated_mask": "^0"},
]


@st.composite
def hosts(draw: st.DrawFn) -> dict[str, object]:
    cells = smt_cells(
        (0, 1)[: draw(st.integers(1, 2))],
        cores=draw(st.integers(1, 4)),
        threads=draw(st.sampled_from([1, 2])),
        memory_mib=draw(st.sampled_from([2048, 4096])),
    )
    every = sorted(c for n in cells for c in n.cpus)
    allocation: dict[str, object] = {
        "cpu_allocation_ratio": draw(st.sampled_from([1.0, 2.0, 4.0])),
        "reserved_host_memory_mb": draw(st.sampled_from([0, 512])),
    }
    if draw(st.booleans()) and len(every) > 1:
        split = draw(st.integers(1, len(every) - 1))
        allocation["cpu_dedicated_set"] = ",".join(map(str, every[split:]))
    return {
        "numa_nodes": [
            {"id": n.id, "socket": n.socket, "cpus": list(n.cpus),
             "siblings": [list(g) for g in n.siblings], "memory_mib": n.memory_mib}
            for n in cells
        ],
        "allocation": allocation,
        "devices": [],
    }  # fmt: skip


FLAVOR = st.tuples(
    st.sampled_from(range(len(FLAVORS))),
    st.sampled_from([1, 2, 4]),
    st.sampled_from([512, 1024, 2048]),
)


def _check_never_over(context: Services, host: dict[str, object]) -> None:
    nodes: list[dict[str, object]] = host["numa_nodes"]  # type: ignore[assignment]
    alloc: dict[str, object] = host["allocation"]  # type: ignore[assignment]
    every = {c for n in nodes for c in n["cpus"]}  # type: ignore[attr-defined]
    with context.db.read() as conn:
        pins = [cpu for (cpu,) in conn.execute(sa.select(cpu_pins.c.cpu))]
        rows = list(conn.execute(sa.select(cell_claims.c.cell, cell_claims.c.vcpus,
                                           cell_claims.c.memory_mib)))  # fmt: skip
    assert len(pins) == len(set(pins)) and set(pins) <= every
    if "cpu_dedicated_set" in alloc:
        dedicated = {int(c) for c in str(alloc["cpu_dedicated_set"]).split(",")}
        assert set(pins) <= dedicated
    ram_ratio = 1.0
    memory: Counter[int | None] = Counter()
    for cell, _vcpus, mib in rows:
        memory[cell] += mib
    total = sum(int(n["memory_mib"]) for n in nodes)  # type: ignore[call-overload]
    assert sum(memory.values()) <= total * ram_ratio - int(alloc["reserved_host_memory_mb"])  # type: ignore[call-overload]
    for n in nodes:
        assert memory[int(n["id"])] <= int(n["memory_mib"])  # type: ignore[call-overload]
    shared = len(every) - (
        len(str(alloc["cpu_dedicated_set"]).split(",")) if "cpu_dedicated_set" in alloc
        else len(pins)
    )  # fmt: skip
    ratio = float(alloc["cpu_allocation_ratio"])  # type: ignore[arg-type]
    assert sum(v for _c, v, _m in rows) <= math.floor(shared * ratio)


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
@settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(host=hosts(), flavors=st.lists(FLAVOR, min_size=1, max_size=8))
def test_a_yes_from_fit_always_claims_and_never_overcommits(
    tmp_path: Path, db_url: str, host: dict[str, object], flavors: list[tuple[int, int, int]]
) -> None:
    del db_url
    url = f"sqlite:///{tmp_path / f'p{id(host)}.db'}"
    # One project fills the host: Nova's default quotas (10 instances, 20 cores) would end
    # the example before the host is full.
    app = create_app(make_settings(url, quota_instances=-1, quota_cores=-1, quota_ram=-1))
    with TestClient(app) as client:
        assert client.put("/v1/hosts/cmp1", json=host, headers=auth("tok-cmp1")).status_code == 200
        for i, (kind, vcpus, ram) in enumerate(flavors):
            body = {"name": f"f{i}", "vcpus": vcpus, "ram": ram, "extra_specs": FLAVORS[kind]}
            made = client.post("/v1/flavors", json=body, headers=ADMIN_H)
            if made.status_code != 201:  # an impossible flavor: refused before any fit
                assert made.status_code == 400, made.text
                continue
            for n in range(3):
                fit = client.post("/v1/fit", json={"flavor": f"f{i}"}, headers=ADMIN_H).json()
                server = client.post(
                    "/v1/servers", json={"name": f"s{i}-{n}", "flavor": f"f{i}"}, headers=ADMIN_H
                ).json()
                assert (server["state"] == "BUILD") == (fit["fit_count"] == 1), (
                    fit, server["reason"])  # fmt: skip
        _check_never_over(app.state.services, host)
    app.state.services.db.dispose()
