"""CPU, memory and PCI placed together per NUMA cell: a table of cases per policy.

Host: two cells of 4 cores x 2 threads (cell 0: CPUs 0-3 and 8-11, cell 1: 4-7 and
12-15, Linux numbering), 16 GiB each, Nova's default settings unless a case says.
"""

from __future__ import annotations

from dataclasses import replace

import pytest
from fleetbuilder import ALIASES, gpu

from pciplane.core.alias import requests_from_flavor
from pciplane.core.allocation import Allocation
from pciplane.core.fit import GuestRequest, HostView, Verdict
from pciplane.core.fleet import Host, NumaNode
from pciplane.core.guest import plan_for_claim
from pciplane.core.guest_cpu import cpu_ask
from pciplane.core.resources import CellUse, HostUsage
from pciplane.core.spec import parse_device_specs

GPUS = parse_device_specs([{"vendor_id": "10de", "product_id": "*"}])
GIB = 1024


def cells(cores: int = 4, threads: int = 2, memory_mib: int = 16 * GIB) -> tuple[NumaNode, ...]:
    total = 2 * cores
    out = []
    for node in range(2):
        groups = tuple(
            tuple(t * total + node * cores + c for t in range(threads)) for c in range(cores)
        )
        out.append(
            NumaNode(
                id=node,
                socket=node,
                cpus=tuple(sorted(x for g in groups for x in g)),
                siblings=groups if threads > 1 else (),
                memory_mib=memory_mib,
            )
        )
    return tuple(out)


def make_host(
    *,
    nodes: tuple[NumaNode, ...] | None = None,
    alloc: Allocation | None = None,
    used: tuple[CellUse, ...] = (),
    gpus: tuple[int | None, ...] = (),
) -> Host:
    return Host(
        name="h1",
        numa_nodes=cells() if nodes is None else nodes,
        devices=tuple(gpu(0x10 + i, numa) for i, numa in enumerate(gpus)),
        device_spec=GPUS,
        allocation=alloc or Allocation(),
        usage=HostUsage.of(used),
    )


def ask(specs: dict[str, str], vcpus: int, ram: int, alias: str | None = None) -> GuestRequest:
    extra = dict(specs)
    if alias:
        extra["pci_passthrough:alias"] = alias
    return GuestRequest(
        pci=requests_from_flavor(extra, ALIASES),
        cpu=cpu_ask(extra, vcpus=vcpus, memory_mib=ram),
    )


def fit(h: Host, g: GuestRequest) -> Verdict:
    return HostView.build(h).fit(g)


DEDICATED = {"hw:cpu_policy": "dedicated"}
ISOLATE = {"hw:cpu_policy": "dedicated", "hw:cpu_thread_policy": "isolate"}
REQUIRE = {"hw:cpu_policy": "dedicated", "hw:cpu_thread_policy": "require"}
TWO_CELLS = {"hw:cpu_policy": "dedicated", "hw:numa_nodes": "2"}


@pytest.mark.parametrize(
    ("host", "guest", "reason"),
    [
        pytest.param(make_host(), ask({}, 64, 1024), "", id="shared-ratio-4-fills-16-cpus"),
        pytest.param(
            make_host(),
            ask({}, 65, 1024),
            "host: 64 shared vCPUs free (16 shared CPUs x cpu_allocation_ratio 4, "
            "reserved_host_cpus 0), 65 needed",
            id="shared-one-vcpu-too-many",
        ),
        pytest.param(
            make_host(used=(CellUse(cell=None, vcpus=60, memory_mib=1024),)),
            ask({}, 8, 1024),
            "host: 4 shared vCPUs free",
            id="shared-counts-what-servers-hold",
        ),
        pytest.param(
            make_host(alloc=Allocation(cpu_allocation_ratio=1.0, reserved_host_cpus=2)),
            ask({}, 15, 1024),
            "host: 14 shared vCPUs free",
            id="shared-ratio-and-reserved-cpus",
        ),
        pytest.param(
            make_host(),
            ask({}, 2, 32 * GIB),
            "host: 32256 MiB of memory free (ram_allocation_ratio 1, reserved_host_memory_mb "
            "512), 32768 MiB needed",
            id="shared-memory-less-reserved",
        ),
        pytest.param(make_host(), ask(DEDICATED, 8, 1024), "", id="dedicated-whole-cell"),
        pytest.param(
            make_host(),
            ask(DEDICATED, 9, 1024),
            "guest cell 0 (9 dedicated CPUs, 1024 MiB): NUMA 0: 8 dedicated CPUs free, 9 needed; "
            "NUMA 1: 8 dedicated CPUs free, 9 needed",
            id="dedicated-larger-than-a-cell",
        ),
        pytest.param(
            make_host(
                used=(
                    CellUse(cell=0, pinned=(0, 1, 2, 3, 8, 9)),
                    CellUse(cell=1, pinned=(4, 5, 6, 7, 12, 13, 14)),
                )
            ),
            ask(DEDICATED, 4, 1024),
            "NUMA 0: 2 dedicated CPUs free, 4 needed; NUMA 1: 1 dedicated CPUs free, 4 needed",
            id="dedicated-counted-one-by-one",
        ),
        pytest.param(make_host(), ask(TWO_CELLS, 16, 2048), "", id="two-cells-fill-the-host"),
        pytest.param(
            make_host(used=(CellUse(cell=1, pinned=(4,)),)),
            ask(TWO_CELLS, 16, 2048),
            "host: no 2 distinct NUMA cells take the guest's cells together "
            "(guest cell 0 on NUMA 0, guest cell 1 on NUMA 0)",
            id="two-cells-need-distinct-cells",
        ),
        pytest.param(
            make_host(),
            ask({**DEDICATED, "hw:numa_nodes": "3"}, 6, 3072),
            "host: 2 NUMA cell(s), the guest needs 3 distinct ones",
            id="more-guest-cells-than-host-cells",
        ),
        pytest.param(
            make_host(),
            ask(DEDICATED, 2, 17 * GIB),
            "NUMA 0: 16384 MiB free, 17408 MiB needed",
            id="cell-memory",
        ),
        pytest.param(make_host(), ask(ISOLATE, 4, 1024), "", id="isolate-one-vcpu-per-core"),
        pytest.param(
            make_host(used=(CellUse(cell=0, pinned=(0,)), CellUse(cell=1, pinned=(4,)))),
            ask(ISOLATE, 4, 1024),
            "NUMA 0: 3 whole free cores, 4 needed (hw:cpu_thread_policy isolate",
            id="isolate-needs-whole-cores",
        ),
        pytest.param(make_host(), ask(REQUIRE, 8, 1024), "", id="require-on-smt"),
        pytest.param(
            make_host(nodes=cells(cores=8, threads=1)),
            ask(REQUIRE, 2, 1024),
            "NUMA 0: no sibling threads (hw:cpu_thread_policy require needs an SMT host)",
            id="require-without-smt",
        ),
        pytest.param(
            make_host(alloc=Allocation(cpu_dedicated_set=frozenset({0, 1, 4, 5}))),
            ask(DEDICATED, 3, 1024),
            "NUMA 0: 2 dedicated CPUs free, 3 needed; NUMA 1: 2 dedicated CPUs free, 3 needed",
            id="dedicated-set-limits-pins",
        ),
        pytest.param(
            make_host(alloc=Allocation(cpu_shared_set=frozenset(range(16)))),
            ask(DEDICATED, 1, 1024),
            "NUMA 0: 0 dedicated CPUs free, 1 needed",
            id="shared-set-alone-pins-nothing",
        ),
        pytest.param(
            make_host(
                alloc=Allocation(cpu_dedicated_set=frozenset(range(8)), cpu_allocation_ratio=1.0)
            ),
            ask({}, 9, 1024),
            "host: 8 shared vCPUs free",
            id="shared-guests-keep-off-the-dedicated-set",
        ),
        pytest.param(
            make_host(),
            ask({"hw:cpu_policy": "mixed", "hw:cpu_dedicated_mask": "1-7"}, 8, 1024),
            "",
            id="mixed-fits",
        ),
        pytest.param(
            make_host(nodes=(NumaNode(id=0, socket=0), NumaNode(id=1, socket=1))),
            ask(DEDICATED, 1, 1024),
            "host: no NUMA cells with CPUs reported (the guest has cells)",
            id="host-without-cpus-takes-no-pinned-guest",
        ),
        pytest.param(
            make_host(nodes=(NumaNode(id=0, socket=0),)),
            ask({}, 4096, 2 << 20),
            "",
            id="host-reporting-nothing-is-not-counted",
        ),
    ],
)
def test_cpu_and_memory(host: Host, guest: GuestRequest, reason: str) -> None:
    verdict = fit(host, guest)
    assert verdict.fits is (reason == ""), verdict.reason
    assert reason in verdict.reason


def test_dedicated_pins_and_plan() -> None:
    host = make_host(used=(CellUse(cell=0, pinned=(0, 1, 2, 3, 8, 9, 10)),))
    guest = ask(DEDICATED, 4, 2048)
    verdict = fit(host, guest)
    assert verdict.cpu is not None
    (cell,) = verdict.cpu.cells
    assert cell.host_cell == 1
    assert cell.pins == (4, 12, 5, 13)  # sibling threads together (prefer)
    plan = plan_for_claim(
        server_id="s",
        server_name="vm",
        vcpus=4,
        memory_mib=2048,
        guest=guest,
        view=HostView.build(host),
        verdict=verdict,
    )
    assert str(plan.cpu_policy) == "dedicated"
    assert [(c.cell, c.host_cell, c.vcpus, c.memory_mib, c.pins) for c in plan.cells] == [
        (0, 1, (0, 1, 2, 3), 2048, (4, 12, 5, 13))
    ]
    assert verdict.cpu.uses == (CellUse(cell=1, memory_mib=2048, pinned=(4, 5, 12, 13)),)


def test_isolate_holds_the_siblings() -> None:
    verdict = fit(make_host(), ask(ISOLATE, 2, 1024))
    assert verdict.cpu is not None
    (cell,) = verdict.cpu.cells
    assert (cell.pins, cell.reserved) == ((0, 1), (8, 9))
    assert verdict.cpu.uses[0].pinned == (0, 1, 8, 9)


def test_mixed_pins_only_the_mask_and_floats_the_rest() -> None:
    guest = ask({"hw:cpu_policy": "mixed", "hw:cpu_dedicated_mask": "^0"}, 4, 1024)
    verdict = fit(make_host(), guest)
    assert verdict.cpu is not None
    (cell,) = verdict.cpu.cells
    assert cell.pins[0] is None and None not in cell.pins[1:]
    assert set(verdict.cpu.shared_cpus).isdisjoint(p for p in cell.pins if p is not None)
    assert verdict.cpu.uses[0].vcpus == 1


def test_a_guest_without_topology_floats_host_wide() -> None:
    verdict = fit(make_host(), ask({}, 4, 1024))
    assert verdict.cpu is not None
    assert verdict.cpu.cells == ()
    assert verdict.cpu.uses == (CellUse(cell=None, vcpus=4, memory_mib=1024),)


@pytest.mark.parametrize(
    ("gpus", "alias", "host_cell", "reason"),
    [
        pytest.param((1,), "a_required:1", 1, "", id="required-picks-the-gpus-cell"),
        pytest.param((1,), "a_legacy:1", 1, "", id="legacy-picks-the-gpus-cell"),
        pytest.param((None,), "a_legacy:1", 0, "", id="legacy-takes-unknown-node"),
        pytest.param((1,), "a_preferred:1", 0, "", id="preferred-falls-back"),
        pytest.param((1,), "a_socket:1", 1, "", id="socket-picks-the-gpus-socket"),
    ],
)
def test_pci_is_judged_on_the_cells_chosen(
    gpus: tuple[int | None, ...], alias: str, host_cell: int, reason: str
) -> None:
    # Cell 0 is tried first; cell 1 has the GPU.
    guest = ask(DEDICATED, 4, 1024, alias=alias)
    verdict = fit(make_host(gpus=gpus), guest)
    assert verdict.fits, verdict.reason
    assert verdict.cpu is not None
    assert verdict.cpu.cells[0].host_cell == host_cell


@pytest.mark.parametrize(
    "alias", ["a_required:1", "a_legacy:1", "a_socket:1"], ids=["required", "legacy", "socket"]
)
def test_a_gpu_on_a_full_cell_is_refused_with_its_reason(alias: str) -> None:
    full = make_host(gpus=(1,), used=(CellUse(cell=1, pinned=(4, 5, 6, 7, 12, 13, 14)),))
    verdict = fit(full, ask(DEDICATED, 4, 1024, alias=alias))
    assert not verdict.fits
    assert "a_" in verdict.reason and "NUMA" in verdict.reason


def test_preferred_takes_a_gpu_on_the_full_cell() -> None:
    full = make_host(gpus=(1,), used=(CellUse(cell=1, pinned=(4, 5, 6, 7, 12, 13, 14)),))
    verdict = fit(full, ask(DEDICATED, 4, 1024, alias="a_preferred:1"))
    assert verdict.fits and verdict.cpu is not None
    assert verdict.cpu.cells[0].host_cell == 0


def test_a_pci_only_question_ignores_cpus() -> None:
    host = make_host(nodes=cells(cores=1, threads=1), gpus=(0,))
    guest = replace(ask({}, 64, 1 << 20, alias="a:1"), cpu=None)
    assert fit(host, guest).fits
