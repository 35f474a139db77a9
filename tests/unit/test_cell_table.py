"""The cell columns give exactly ``numa_fit.cell_sets``, host by host (hand-made hosts).

Every host below is put in one table (hosts of 1 to 9 cells side by side) and every
guest is asked of all of them at once; each slot's sets of host cells, in order, must
equal ``cell_sets`` on that host alone. Hosts the columns cannot hold are named, so
that falling back to ``cell_sets`` is a decision, not an accident.
"""

from __future__ import annotations

import pytest

from pciplane.core.allocation import Allocation
from pciplane.core.cell_table import MAX_CELLS, CellTable, cells_of, mask_of
from pciplane.core.cpu_policy import CpuPolicy, ThreadPolicy
from pciplane.core.fleet import Host, NumaNode
from pciplane.core.guest_cpu import CellAsk, CpuAsk, cpu_ask
from pciplane.core.numa_fit import HostResources, cell_sets
from pciplane.core.resources import CellUse, HostUsage
from pciplane.sim.cells import smt_cells


def smt(
    cells: int = 2, cores: int = 4, threads: int = 2, memory: int = 8192
) -> tuple[NumaNode, ...]:
    return smt_cells([0] * cells, cores=cores, threads=threads, memory_mib=memory)


def host(
    nodes: tuple[NumaNode, ...],
    uses: tuple[CellUse, ...] = (),
    **allocation: object,
) -> HostResources:
    return HostResources.of(
        Host(
            name="h",
            numa_nodes=nodes,
            usage=HostUsage.of(uses),
            allocation=Allocation(**allocation),  # type: ignore[arg-type]
        )
    )


TWO = smt()
UNEVEN = (  # cores of 3 and 2 threads, and a CPU without siblings
    NumaNode(id=0, cpus=(0, 1, 2, 3, 4, 5), siblings=((0, 1, 2), (3, 4)), memory_mib=8192),
    NumaNode(id=1, cpus=(6, 7, 8, 9), siblings=((6, 7), (8, 9)), memory_mib=8192),
)

HOSTS: dict[str, HostResources] = {
    "2 cells SMT, free": host(TWO),
    "2 cells SMT, some pinned": host(
        TWO,
        (
            CellUse(cell=0, memory_mib=2048, pinned=(0, 8, 1)),
            CellUse(cell=1, vcpus=3, memory_mib=4096, pinned=(4,)),
            CellUse(cell=None, vcpus=2, memory_mib=1024),
        ),
    ),
    "2 cells SMT, cell 0 full": host(TWO, (CellUse(cell=0, pinned=(0, 1, 2, 3, 8, 9, 10, 11)),)),
    # Takes a guest of a large cell and a small one only in the second order of cells.
    "2 cells SMT, cell 0 nearly full": host(TWO, (CellUse(cell=0, pinned=(0, 1, 2, 3, 8, 9, 10)),)),
    # Isolate's siblings leave the shared pool: 2 isolated vCPUs hold 4 of 8 CPUs.
    "2 cells SMT, busy floating vCPUs": host(
        TWO, (CellUse(cell=None, vcpus=4),), cpu_allocation_ratio=1.0, reserved_host_cpus=1
    ),
    "1 cell, no SMT": host(smt(1, 8, 1)),
    "4 cells, no SMT, some held": host(
        smt(4, 3, 1, 4096),
        (CellUse(cell=2, vcpus=8, memory_mib=3000, pinned=(6,)), CellUse(cell=3, pinned=(9, 10))),
    ),
    "4 cells SMT 4 threads": host(smt(4, 2, 4, 2048)),
    "dedicated set cuts cores": host(TWO, cpu_dedicated_set=frozenset({0, 1, 2, 8, 9, 4, 12, 5})),
    "dedicated and shared sets": host(
        TWO,
        (CellUse(cell=1, vcpus=4, pinned=(5,)),),
        cpu_dedicated_set=frozenset(range(0, 16, 2)),
        cpu_shared_set=frozenset({1, 3, 9}),
    ),
    "shared set only": host(TWO, cpu_shared_set=frozenset({0, 1, 2})),
    "ratios and reserved": host(
        TWO,
        (CellUse(cell=0, vcpus=5, memory_mib=5000),),
        cpu_allocation_ratio=1.5,
        ram_allocation_ratio=0.7,
        reserved_host_cpus=3,
        reserved_host_memory_mb=2048,
    ),
    "cpu ratio 16": host(TWO, (CellUse(cell=None, vcpus=100),), cpu_allocation_ratio=16.0),
    "host vCPUs used up": host(TWO, (CellUse(cell=None, vcpus=64),)),
    "host memory used up": host(TWO, (CellUse(cell=None, memory_mib=16000),)),
    "a cell without CPUs": host((TWO[0], NumaNode(id=1, memory_mib=8192))),
    "a cell without memory": host((TWO[0], NumaNode(id=1, cpus=TWO[1].cpus))),
    "no memory reported": host(tuple(NumaNode(id=n.id, cpus=n.cpus) for n in TWO)),
    "no CPUs reported": host((NumaNode(id=0, memory_mib=4096), NumaNode(id=1, memory_mib=4096))),
    "no cells": host(()),
    "cell ids 0 and 5": host(
        tuple(
            NumaNode(id=i, cpus=n.cpus, siblings=n.siblings, memory_mib=n.memory_mib)
            for i, n in zip((5, 0), TWO, strict=True)
        )
    ),
    "8 cells": host(smt(8, 2, 2, 2048), (CellUse(cell=3, memory_mib=1024),)),
    "uneven cores": host(UNEVEN, (CellUse(cell=1, pinned=(8,)),)),
    # Beyond the columns: answered by cell_sets itself.
    "9 cells": host(smt(9, 1, 2, 1024)),
    "cell id 70": host(
        (TWO[0], NumaNode(id=70, cpus=TWO[1].cpus, siblings=TWO[1].siblings, memory_mib=8192))
    ),
}
PER_HOST = {"9 cells", "cell id 70"}


def ask(specs: dict[str, str], vcpus: int, memory: int) -> CpuAsk:
    return cpu_ask(specs, vcpus=vcpus, memory_mib=memory)


DEDICATED = {"hw:cpu_policy": "dedicated"}
ASKS: dict[str, CpuAsk] = {
    "1 cell floating": ask({"hw:numa_nodes": "1"}, 4, 2048),
    "2 cells floating": ask({"hw:numa_nodes": "2"}, 8, 4096),
    "pinned 2": ask(DEDICATED, 2, 1024),
    "pinned 4": ask(DEDICATED, 4, 4096),
    "pinned 8": ask(DEDICATED, 8, 2048),
    "pinned 4 in 2 cells": ask({**DEDICATED, "hw:numa_nodes": "2"}, 4, 2048),
    "pinned 6 in 3 cells": ask({**DEDICATED, "hw:numa_nodes": "3"}, 6, 3072),
    "pinned 4 in 4 cells": ask({**DEDICATED, "hw:numa_nodes": "4"}, 4, 4096),
    "pinned 6 in 6 cells": ask({**DEDICATED, "hw:numa_nodes": "6"}, 6, 6144),
    "isolate 2": ask({**DEDICATED, "hw:cpu_thread_policy": "isolate"}, 2, 1024),
    "isolate 1 in 2 cells": CpuAsk(
        vcpus=2,
        memory_mib=2048,
        policy=CpuPolicy.DEDICATED,
        thread_policy=ThreadPolicy.ISOLATE,
        cells=(
            CellAsk(cell=0, vcpus=(0,), memory_mib=1024, dedicated=(0,)),
            CellAsk(cell=1, vcpus=(1,), memory_mib=1024, dedicated=(1,)),
        ),
    ),
    "isolate 3": ask({**DEDICATED, "hw:cpu_thread_policy": "isolate"}, 3, 1024),
    "isolate 4 in 2 cells": ask(
        {**DEDICATED, "hw:cpu_thread_policy": "isolate", "hw:numa_nodes": "2"}, 4, 2048
    ),
    "require 2": ask({**DEDICATED, "hw:cpu_thread_policy": "require"}, 2, 1024),
    "require 4 in 2 cells": ask(
        {**DEDICATED, "hw:cpu_thread_policy": "require", "hw:numa_nodes": "2"}, 4, 2048
    ),
    "mixed 1 shared": ask({"hw:cpu_policy": "mixed", "hw:cpu_dedicated_mask": "^0"}, 4, 2048),
    "mixed in 2 cells": ask(
        {"hw:cpu_policy": "mixed", "hw:cpu_dedicated_mask": "0-1,4-5", "hw:numa_nodes": "2"},
        8,
        4096,
    ),
    "mixed isolate": ask(
        {
            "hw:cpu_policy": "mixed",
            "hw:cpu_dedicated_mask": "^0-1",
            "hw:cpu_thread_policy": "isolate",
        },
        4,
        1024,
    ),
    "unequal cells": CpuAsk(
        vcpus=5,
        memory_mib=3072,
        policy=CpuPolicy.DEDICATED,
        cells=(
            CellAsk(cell=0, vcpus=(0, 1, 2, 3), memory_mib=1024, dedicated=(0, 1, 2, 3)),
            CellAsk(cell=1, vcpus=(4,), memory_mib=2048, dedicated=(4,)),
        ),
    ),
    "a huge cell": ask(DEDICATED, 1, 2**50),
    "isolate, unequal cells": CpuAsk(
        vcpus=4,
        memory_mib=2048,
        policy=CpuPolicy.MIXED,
        thread_policy=ThreadPolicy.ISOLATE,
        cells=(
            CellAsk(cell=0, vcpus=(0, 1, 2), memory_mib=1024, dedicated=(0, 1)),
            CellAsk(cell=1, vcpus=(3,), memory_mib=1024),
        ),
    ),
}


@pytest.fixture(scope="module")
def table() -> CellTable:
    out = CellTable()
    for slot, res in enumerate(HOSTS.values()):
        out.put(slot, res)
    return out


@pytest.mark.parametrize("name", sorted(ASKS))
def test_every_host_gets_cell_sets_own_answer(table: CellTable, name: str) -> None:
    guest = ASKS[name]
    found = table.sets(guest, len(HOSTS))
    for slot, (label, res) in enumerate(HOSTS.items()):
        assert found.of(slot) == cell_sets(res, guest), label
        assert bool(found.found()[slot]) == bool(cell_sets(res, guest)), label


def test_only_hosts_beyond_the_columns_go_per_host(table: CellTable) -> None:
    labels = list(HOSTS)
    found = table.sets(ASKS["pinned 2"], len(HOSTS))
    assert {labels[s] for s in found.per_host} == PER_HOST
    # Cores of unequal sizes are held; only isolate needs their sizes.
    found = table.sets(ASKS["isolate 2"], len(HOSTS))
    assert {labels[s] for s in found.per_host} == PER_HOST | {"uneven cores"}
    # A guest number beyond the columns: every host per host.
    found = table.sets(ASKS["a huge cell"], len(HOSTS))
    assert set(found.per_host) == set(range(len(HOSTS)))


def test_the_answers_are_not_all_alike(table: CellTable) -> None:
    """The hosts and guests above reach every outcome: no fit, one set, several sets,
    sets past the first order of cells."""
    seen = set()
    for guest in ASKS.values():
        found = table.sets(guest, len(HOSTS))
        for slot in range(len(HOSTS)):
            seen.add(min(len(found.of(slot)), 2))
    assert seen == {0, 1, 2}
    many = table.sets(ASKS["pinned 4 in 4 cells"], len(HOSTS)).of(list(HOSTS).index("8 cells"))
    assert len(many) == 64  # MAX_CELL_SETS of the 70 sets of 4 cells out of 8


def test_slots_replaced_freed_and_widened() -> None:
    table = CellTable()
    table.put(0, HOSTS["1 cell, no SMT"])
    table.put(1, HOSTS["2 cells SMT, free"])
    table.put(2, None)
    guest = ASKS["pinned 2"]
    assert table.sets(guest, 3).of(0) == cell_sets(HOSTS["1 cell, no SMT"], guest)
    assert table.without_resources(3).tolist() == [False, False, True]
    table.put(0, HOSTS["8 cells"])  # wider than any before
    table.put(1, HOSTS["9 cells"])
    table.put(3, HOSTS["4 cells SMT 4 threads"])
    table.put(2, None, alive=False)
    for name in ("pinned 4 in 4 cells", "isolate 2", "pinned 2"):
        found = table.sets(ASKS[name], 4)
        assert found.of(0) == cell_sets(HOSTS["8 cells"], ASKS[name])
        assert found.of(1) == cell_sets(HOSTS["9 cells"], ASKS[name])
        assert found.of(2) == ()
        assert found.of(3) == cell_sets(HOSTS["4 cells SMT 4 threads"], ASKS[name])
    table.put(1, HOSTS["2 cells SMT, some pinned"])  # back from per host to columns
    found = table.sets(guest, 4)
    assert found.per_host == {}
    assert found.of(1) == cell_sets(HOSTS["2 cells SMT, some pinned"], guest)


def test_bitmasks() -> None:
    assert mask_of(frozenset({0, 3})) == 0b1001
    assert cells_of(0b1001) == frozenset({0, 3})
    assert mask_of(frozenset({63})) is None
    assert MAX_CELLS == 8
