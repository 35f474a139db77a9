"""Synthetic NUMA cells numbered as Linux numbers them on a two-thread SMT server.

The first thread of every core comes first across all nodes, then the second threads:
on 2 nodes x 16 cores, node 0 has CPUs 0-15 and 32-47, and CPU 3's sibling is 35 (what
``lscpu -e`` shows on common x86 servers).
"""

from __future__ import annotations

import random
from collections.abc import Sequence

from pciplane.core.fleet import NumaNode
from pciplane.core.resources import CellUse, HostUsage

#: (weight, cores per NUMA node) and (weight, GiB per NUMA node) for varied fleets:
#: 2 nodes x 16..64 CPUs (SMT threads counted), 128 GiB to 1 TiB a host.
CORES_PER_NODE: tuple[tuple[int, int], ...] = ((3, 8), (4, 12), (5, 16), (3, 24), (2, 32))
GIB_PER_NODE: tuple[tuple[int, int], ...] = ((2, 64), (4, 128), (4, 256), (2, 384), (1, 512))


def smt_cells(
    sockets: Sequence[int | None], *, cores: int, threads: int = 2, memory_mib: int
) -> tuple[NumaNode, ...]:
    """One cell per entry of ``sockets`` (its socket id), each with ``cores`` cores of
    ``threads`` threads and ``memory_mib`` of memory."""
    total = len(sockets) * cores
    nodes = []
    for node, socket in enumerate(sockets):
        groups = tuple(
            tuple(t * total + node * cores + c for t in range(threads)) for c in range(cores)
        )
        nodes.append(
            NumaNode(
                id=node,
                socket=socket,
                cpus=tuple(sorted(cpu for g in groups for cpu in g)),
                siblings=groups if threads > 1 else (),
                memory_mib=memory_mib,
            )
        )
    return tuple(nodes)


def random_cells(rng: random.Random, sockets: Sequence[int | None]) -> tuple[NumaNode, ...]:
    """Cells of a realistic size for a host of this layout, drawn with ``rng``."""
    per_socket = max(1, len(sockets) // max(1, len({s for s in sockets if s is not None})))
    cores = rng.choices([c for _, c in CORES_PER_NODE], [w for w, _ in CORES_PER_NODE])[0]
    gib = rng.choices([g for _, g in GIB_PER_NODE], [w for w, _ in GIB_PER_NODE])[0]
    return smt_cells(
        sockets, cores=max(4, cores // per_socket), memory_mib=gib * 1024 // per_socket
    )


def random_usage(rng: random.Random, cells: Sequence[NumaNode], servers: int) -> HostUsage:
    """What ``servers`` servers hold of the cells: each floats a few vCPUs or pins a few
    sibling pairs on one cell, with some memory, never more than the cell has."""
    uses = []
    pinned: set[int] = set()
    room = sum(c.memory_mib or 0 for c in cells) // 2  # servers hold at most half of it
    for _ in range(servers):
        cell = rng.choice(list(cells))
        memory = rng.choice((4096, 8192, 16384, 32768))
        if memory > room or memory > (cell.memory_mib or 0) // 2:
            continue
        room -= memory
        if rng.random() < 0.4 and cell.siblings:
            free = [g for g in cell.siblings if not pinned & set(g)]
            pairs = free[: rng.choice((1, 2, 4))]
            pinned.update(c for g in pairs for c in g)
            uses.append(CellUse(cell=cell.id, memory_mib=memory,
                                pinned=tuple(c for g in pairs for c in g)))  # fmt: skip
        else:
            uses.append(CellUse(cell=None, vcpus=rng.choice((2, 4, 8, 16)), memory_mib=memory))
    return HostUsage.of(uses)
