"""What servers hold of a host's CPUs and memory, per NUMA cell and host-wide.

A server's claim is a few :class:`CellUse` rows: one per host cell its guest cells were
placed on (the pinned CPUs, the floating vCPUs counted against the cell, the cell's
memory), or one host-wide row (``cell`` None) for a guest without a NUMA topology, which
Nova counts against the whole host. :class:`HostUsage` is their sum on one host; it is
part of the host's state, so hosts that look alike in it are judged alike.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True, kw_only=True, slots=True)
class CellUse:
    """One server's use of one host cell (``cell`` None: of the host as a whole)."""

    cell: int | None
    #: Floating vCPUs, counted against the shared CPUs times ``cpu_allocation_ratio``.
    vcpus: int = 0
    memory_mib: int = 0
    #: Host CPUs the server holds alone: its pins, and the siblings ``isolate`` keeps free.
    pinned: tuple[int, ...] = ()

    def to_json(self) -> dict[str, object]:
        return {
            "cell": self.cell,
            "vcpus": self.vcpus,
            "memory_mib": self.memory_mib,
            "pinned": list(self.pinned),
        }


@dataclass(frozen=True, kw_only=True, slots=True)
class HostUsage:
    """The sum of every claim on one host."""

    pinned: frozenset[int] = frozenset()
    #: ``(cell, floating vCPUs, memory MiB)`` per host cell with any use, by cell.
    cells: tuple[tuple[int, int, int], ...] = ()
    #: vCPUs and memory of guests without a NUMA topology.
    floating_vcpus: int = 0
    floating_memory_mib: int = 0

    @classmethod
    def of(cls, uses: Iterable[CellUse]) -> HostUsage:
        return cls().plus(uses)

    def plus(self, uses: Iterable[CellUse]) -> HostUsage:
        pinned = set(self.pinned)
        cells = {c: [v, m] for c, v, m in self.cells}
        floating_vcpus, floating_memory = self.floating_vcpus, self.floating_memory_mib
        for use in uses:
            pinned.update(use.pinned)
            if use.cell is None:
                floating_vcpus += use.vcpus
                floating_memory += use.memory_mib
            else:
                entry = cells.setdefault(use.cell, [0, 0])
                entry[0] += use.vcpus
                entry[1] += use.memory_mib
        return HostUsage(
            pinned=frozenset(pinned),
            cells=tuple(sorted((c, v, m) for c, (v, m) in cells.items())),
            floating_vcpus=floating_vcpus,
            floating_memory_mib=floating_memory,
        )

    def cell(self, cell: int) -> tuple[int, int]:
        """``(floating vCPUs, memory MiB)`` used on ``cell``."""
        for c, v, m in self.cells:
            if c == cell:
                return v, m
        return 0, 0

    @property
    def vcpus(self) -> int:
        """Floating vCPUs on the host, cells and host-wide together."""
        return self.floating_vcpus + sum(v for _c, v, _m in self.cells)

    @property
    def memory_mib(self) -> int:
        return self.floating_memory_mib + sum(m for _c, _v, m in self.cells)
