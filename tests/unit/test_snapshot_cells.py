"""The fleet snapshot's optional NUMA cell keys (cpus, siblings, memory_mib) and a host's
allocation settings: parsed, written back, and refused with the key named."""

from __future__ import annotations

import pytest

from pciplane.core.errors import SnapshotError
from pciplane.core.fleet import NumaNode
from pciplane.core.snapshot import dump_fleet, host_from_json, load_fleet

CELL = {
    "id": 0,
    "socket": 0,
    "cpus": [0, 1, 8, 9],
    "siblings": [[0, 8], [1, 9]],
    "memory_mib": 65536,
}


def test_cells_parse_and_round_trip() -> None:
    doc = {
        "hosts": [
            {
                "name": "h1",
                "numa_nodes": [CELL, {"id": 1}],
                "allocation": {"cpu_allocation_ratio": 2, "cpu_dedicated_set": "1,9"},
                "devices": [],
            }
        ]
    }
    fleet = load_fleet(doc)
    host = fleet.hosts[0]
    assert host.numa_nodes == (
        NumaNode(id=0, socket=0, cpus=(0, 1, 8, 9), siblings=((0, 8), (1, 9)), memory_mib=65536),
        NumaNode(id=1),
    )
    assert host.allocation.cpu_allocation_ratio == 2.0
    assert load_fleet(dump_fleet(fleet)) == fleet


def test_hosts_of_one_model_share_their_cells() -> None:
    hosts = [{"name": f"h{i}", "numa_nodes": [dict(CELL)], "devices": []} for i in range(3)]
    fleet = load_fleet({"hosts": hosts})
    assert len({id(h.numa_nodes) for h in fleet.hosts}) == 1


@pytest.mark.parametrize(
    ("node", "words"),
    [
        pytest.param({"cpus": "0-3"}, "key 'cpus': expected a list of CPU ids", id="cpus-text"),
        pytest.param({"cpus": [0, -1]}, "key 'cpus'", id="cpus-negative"),
        pytest.param({"cpus": [0, 0]}, "listed twice", id="cpus-twice"),
        pytest.param({"cpus": [0, True]}, "key 'cpus'", id="cpus-bool"),
        pytest.param({"cpus": [0, 1], "siblings": [[0, 2]]}, "CPU 2 is not one of", id="sib-alien"),
        pytest.param(
            {"cpus": [0, 1, 2], "siblings": [[0, 1], [1, 2]]}, "two sibling groups", id="sib-twice"
        ),
        pytest.param({"cpus": [0], "siblings": [0]}, "key 'siblings'", id="sib-flat"),
        pytest.param({"memory_mib": "64G"}, "key 'memory_mib'", id="memory-text"),
        pytest.param({"memory_mib": -1}, "key 'memory_mib'", id="memory-negative"),
    ],
)
def test_bad_cells_name_the_host_node_and_key(node: dict[str, object], words: str) -> None:
    with pytest.raises(SnapshotError, match=r"host 'h1' numa_nodes\[0\]") as err:
        host_from_json({"name": "h1", "numa_nodes": [{"id": 0, **node}], "devices": []})
    assert words in str(err.value)


def test_a_cpu_in_two_nodes_is_refused() -> None:
    with pytest.raises(SnapshotError, match="CPU 3 is in node 0 and node 1"):
        host_from_json(
            {"name": "h1", "numa_nodes": [{"id": 0, "cpus": [3]}, {"id": 1, "cpus": [3]}]}
        )


def test_bad_allocation_names_the_host_and_setting() -> None:
    with pytest.raises(SnapshotError, match="host 'h1' allocation cpu_allocation_ratio"):
        host_from_json({"name": "h1", "allocation": {"cpu_allocation_ratio": "lots"}})


def test_usage_round_trips_so_an_export_fits_offline_as_live() -> None:
    doc = {
        "hosts": [
            {
                "name": "h1",
                "numa_nodes": [CELL],
                "usage": {
                    "pinned_cpus": [0, 8],
                    "cells": [{"cell": 0, "vcpus": 2, "memory_mib": 4096}],
                    "floating_vcpus": 3,
                    "floating_memory_mib": 1024,
                },
            }
        ]
    }
    fleet = load_fleet(doc)
    usage = fleet.hosts[0].usage
    assert (usage.pinned, usage.cells, usage.vcpus, usage.memory_mib) == (
        frozenset({0, 8}),
        ((0, 2, 4096),),
        5,
        5120,
    )
    assert load_fleet(dump_fleet(fleet)) == fleet
    with pytest.raises(SnapshotError, match="usage key 'pinned_cpus'"):
        host_from_json({"name": "h1", "usage": {"pinned_cpus": "0-3"}})
