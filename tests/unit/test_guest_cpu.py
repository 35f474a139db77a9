"""Flavor CPU/NUMA extra specs: what they ask, and the impossible ones refused by key."""

from __future__ import annotations

import pytest

from pciplane.core.cpu_policy import CpuPolicy, ThreadPolicy
from pciplane.core.errors import RequestError
from pciplane.core.flavor import check_extra_specs
from pciplane.core.guest_cpu import check_fits_fleet, cpu_ask


def _cells(specs: dict[str, str], vcpus: int = 8, ram: int = 8192) -> list[tuple[object, ...]]:
    ask = cpu_ask(specs, vcpus=vcpus, memory_mib=ram)
    return [(c.vcpus, c.memory_mib, c.dedicated) for c in ask.cells]


@pytest.mark.parametrize(
    ("specs", "cells"),
    [
        pytest.param({}, [], id="shared-no-topology"),
        pytest.param(
            {"hw:cpu_policy": "dedicated"},
            [((0, 1, 2, 3, 4, 5, 6, 7), 8192, (0, 1, 2, 3, 4, 5, 6, 7))],
            id="dedicated-one-implicit-cell",
        ),
        pytest.param(
            {"hw:numa_nodes": "2"},
            [((0, 1, 2, 3), 4096, ()), ((4, 5, 6, 7), 4096, ())],
            id="two-even-cells",
        ),
        pytest.param(
            {
                "hw:numa_nodes": "2",
                "hw:numa_cpus.0": "0-5",
                "hw:numa_cpus.1": "6,7",
                "hw:numa_mem.0": "6144",
                "hw:numa_mem.1": "2048",
            },
            [((0, 1, 2, 3, 4, 5), 6144, ()), ((6, 7), 2048, ())],
            id="uneven-given-cells",
        ),
        pytest.param(
            {"hw:cpu_policy": "mixed", "hw:cpu_dedicated_mask": "^0-1", "hw:numa_nodes": "2"},
            [((0, 1, 2, 3), 4096, (2, 3)), ((4, 5, 6, 7), 4096, (4, 5, 6, 7))],
            id="mixed-mask-exclusions",
        ),
    ],
)
def test_cells_asked(specs: dict[str, str], cells: list[tuple[object, ...]]) -> None:
    check_extra_specs(specs)
    assert _cells(specs) == cells


def test_policies_parsed() -> None:
    ask = cpu_ask(
        {"hw:cpu_policy": "dedicated", "hw:cpu_thread_policy": "isolate"}, vcpus=2, memory_mib=1
    )
    assert (ask.policy, ask.thread_policy, ask.pinned) == (
        CpuPolicy.DEDICATED,
        ThreadPolicy.ISOLATE,
        2,
    )


@pytest.mark.parametrize(
    ("specs", "key", "words"),
    [
        pytest.param({"hw:numa_nodes": "9"}, "hw:numa_nodes", "9 NUMA nodes for 8", id="too-many"),
        pytest.param({"hw:numa_nodes": "0"}, "hw:numa_nodes", "above 0", id="zero"),
        pytest.param({"hw:numa_nodes": "3"}, "hw:numa_nodes", "split evenly", id="uneven"),
        pytest.param(
            {"hw:numa_nodes": "2", "hw:numa_cpus.0": "0-3"},
            "hw:numa_cpus.1",
            "is missing",
            id="cpus-missing-cell",
        ),
        pytest.param(
            {"hw:numa_nodes": "2", "hw:numa_cpus.0": "0-4", "hw:numa_cpus.1": "4-7"},
            "hw:numa_cpus.1",
            "vCPU 4 is also in 'hw:numa_cpus.0'",
            id="cpu-twice",
        ),
        pytest.param(
            {"hw:numa_nodes": "2", "hw:numa_cpus.0": "0-2", "hw:numa_cpus.1": "4-7"},
            "hw:numa_cpus.N",
            "vCPU 3 is in no node",
            id="cpu-uncovered",
        ),
        pytest.param(
            {"hw:numa_nodes": "2", "hw:numa_cpus.0": "0-3", "hw:numa_cpus.1": "4-8"},
            "hw:numa_cpus.1",
            "vCPU 8 is beyond",
            id="cpu-beyond",
        ),
        pytest.param(
            {"hw:numa_nodes": "2", "hw:numa_mem.0": "4096", "hw:numa_mem.1": "2048"},
            "hw:numa_mem.N",
            "sums to 6144 MiB, not the flavor's RAM 8192",
            id="mem-sum",
        ),
        pytest.param(
            {"hw:numa_nodes": "2", "hw:numa_mem.2": "4096"},
            "hw:numa_mem.2",
            "beyond hw:numa_nodes=2",
            id="mem-beyond-cells",
        ),
        pytest.param({"hw:numa_cpus.0": "0-7"}, "hw:numa_cpus.0", "needs", id="cpus-no-nodes"),
        pytest.param({"hw:cpu_policy": "pinned"}, "hw:cpu_policy", "shared|dedicated", id="policy"),
        pytest.param(
            {"hw:cpu_thread_policy": "isolate"},
            "hw:cpu_thread_policy",
            "pinned",
            id="thread-shared",
        ),
        pytest.param(
            {"hw:cpu_policy": "dedicated", "hw:cpu_thread_policy": "spread"},
            "hw:cpu_thread_policy",
            "prefer|isolate|require",
            id="thread-word",
        ),
        pytest.param(
            {"hw:cpu_policy": "mixed"}, "hw:cpu_dedicated_mask", "needs", id="mixed-no-mask"
        ),
        pytest.param(
            {"hw:cpu_policy": "mixed", "hw:cpu_dedicated_mask": "0-7"},
            "hw:cpu_dedicated_mask",
            "at least one shared",
            id="mixed-all-pinned",
        ),
        pytest.param(
            {"hw:cpu_dedicated_mask": "0-1"}, "hw:cpu_dedicated_mask", "=mixed", id="mask-not-mixed"
        ),
        pytest.param(
            {"hw:cpu_policy": "mixed", "hw:cpu_dedicated_mask": "0,9"},
            "hw:cpu_dedicated_mask",
            "vCPU 9 is beyond the flavor's 8 vCPU(s) (0-7)",
            id="mask-beyond",
        ),
    ],
)
def test_impossible_flavors_name_the_key(specs: dict[str, str], key: str, words: str) -> None:
    check_extra_specs(specs)
    with pytest.raises(RequestError) as err:
        cpu_ask(specs, vcpus=8, memory_mib=8192)
    assert repr(key) in str(err.value) or key in str(err.value)
    assert words in str(err.value)


def test_unknown_hw_keys_stay_refused() -> None:
    with pytest.raises(RequestError, match=r"hw:numa_cpus\.N"):
        check_extra_specs({"hw:numa_cpu.0": "0"})


def test_a_pinned_cell_larger_than_the_fleets_largest_is_refused() -> None:
    ask = cpu_ask({"hw:cpu_policy": "dedicated"}, vcpus=64, memory_mib=1024)
    check_fits_fleet(ask, None)  # no hosts yet: accepted
    check_fits_fleet(ask, (64, 1 << 20))
    with pytest.raises(RequestError, match=r"'hw:cpu_policy'.*pins 64 vCPUs.*has 32 CPUs"):
        check_fits_fleet(ask, (32, 1 << 20))
