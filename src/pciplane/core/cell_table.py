""":func:`pciplane.core.numa_fit.cell_sets` for every host at once, from columns.

A guest with NUMA cells is placed cell by cell: each guest cell on a distinct host cell
that has the memory, the pinned CPUs (as the thread policy counts them) and the floating
vCPUs; the sets of host cells that take them all are tried in ``cell_sets``'s order. Per
host that costs 25-40 µs in Python, and on a varied fleet nearly every host differs.

So the index keeps, per slot, the numbers ``numa_fit._cell_counts`` reads of each host
cell (free memory after ``ram_allocation_ratio``, pinnable CPUs, whole free cores and
their size, threads of whole free SMT cores, shared CPUs, floating vCPUs used) and the
host-wide ones ``HostResources.free_vcpus`` and ``host_failure`` read. A guest's fit then
counts every (guest cell, host cell) pair over all slots at once and walks the
combinations and permutations of host cells exactly as ``cell_sets`` does, giving per
slot its sets of host cells as bitmasks of cell ids, in ``cell_sets``'s order.

A host the columns cannot hold (more than :data:`MAX_CELLS` cells, a cell id outside a
bitmask, cores of unequal sizes for an ``isolate`` guest, numbers out of range) is
answered by ``cell_sets`` itself.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from pciplane.core.columns import BoolArray, IntArray
from pciplane.core.cpu_policy import ThreadPolicy
from pciplane.core.guest_cpu import CellAsk, CpuAsk
from pciplane.core.numa_fit import (
    MAX_CELL_SETS,
    MAX_MATCHED_CELLS,
    CellState,
    HostResources,
    cell_sets,
)

FloatArray = npt.NDArray[np.float64]

#: Host cells a slot's columns hold; a host with more is answered per host.
MAX_CELLS = 8
#: Cell ids a bitmask (int64) holds.
MAX_CELL_ID = 62
#: Numbers beyond this (either sign) are not put in columns (their products stay exact).
_LIMIT = 2**40
#: Free memory of a cell that can take no guest cell (no CPUs or memory reported): a guest
#: cell asks for 0 MiB or more.
_NO_CELL = -1

# What a slot holds.
EMPTY, COLUMNS, PER_HOST, NO_RESOURCES = 0, 1, 2, 3

# Host columns.
_STATE, _CELLS, _KNOWN, _SHARED, _OVERLAP, _RESERVED, _USED, _MEM_KNOWN, _FREE_MEM = range(9)
_HOST_COLS = 9

# Cell columns: free memory after ram_allocation_ratio (_NO_CELL when the cell reports
# no CPUs or no memory); pinnable CPUs; whole free cores; the size of every core (-1:
# they differ); threads on whole free SMT cores; shared CPUs; floating vCPUs used;
# 1 << the cell id.
_CELL_FREE_MEM, _PINNABLE, _WHOLE, _CORE_SIZE = range(4)
_SMT_THREADS, _CELL_SHARED, _CELL_USED, _BIT = range(4, 8)
_CELL_COLS = 8


@dataclass(frozen=True, slots=True)
class _Cores:
    """A cell's cores as counted: which core each CPU is on, and their sizes."""

    core_of: dict[int, int]
    sizes: tuple[int, ...]
    #: The size of every core, or -1 when they differ.
    size: int
    #: Threads on cores with more than one thread.
    smt_threads: int


def _cores_of(cores: tuple[tuple[int, ...], ...]) -> _Cores:
    core_of = {cpu: i for i, core in enumerate(cores) for cpu in core}
    sizes = tuple(len(core) for core in cores)
    distinct = set(sizes)
    return _Cores(
        core_of=core_of,
        sizes=sizes,
        size=distinct.pop() if len(distinct) == 1 else (0 if not distinct else -1),
        smt_threads=sum(s for s in sizes if s > 1),
    )


#: A host's row, its cells' rows and its cpu_allocation_ratio.
Rows = tuple[tuple[int, ...], tuple[tuple[int, ...], ...], float]


@dataclass(frozen=True, slots=True)
class CellSets:
    """Per slot, the sets of host cells a guest's cells fit on, in ``cell_sets``'s order."""

    #: (slots, sets): bitmasks of host cell ids, 0 where a set is not taken.
    masks: IntArray
    #: Slots answered by ``cell_sets`` itself (their rows in ``masks`` are 0).
    per_host: dict[int, tuple[frozenset[int], ...]]
    #: The distinct bitmasks in ``masks`` (not 0).
    distinct: frozenset[int] = frozenset()

    def found(self) -> BoolArray:
        """Per slot, whether the guest's cells fit on some set of host cells."""
        out: BoolArray = (self.masks != 0).any(axis=1)
        for slot, sets in self.per_host.items():
            out[slot] = bool(sets)
        return out

    def of(self, slot: int) -> tuple[frozenset[int], ...]:
        known = self.per_host.get(slot)
        if known is not None:
            return known
        return tuple(cells_of(m) for m in self.masks[slot].tolist() if m)


def cells_of(mask: int) -> frozenset[int]:
    return frozenset(i for i in range(MAX_CELL_ID + 1) if mask >> i & 1)


def mask_of(cells: frozenset[int]) -> int | None:
    """The bitmask of ``cells``; None when some id is beyond one."""
    if any(not 0 <= c <= MAX_CELL_ID for c in cells):
        return None
    return sum(1 << c for c in cells)


class CellTable:
    """Per slot: a host's CPUs and memory, per NUMA cell, as numbers."""

    def __init__(self) -> None:
        #: (columns, slots): host-wide numbers.
        self._host: IntArray = np.zeros((_HOST_COLS, 0), dtype=np.int64)
        self._ratio: FloatArray = np.zeros(0, dtype=np.float64)
        #: (columns, slots, width): per cell; the width grows with the hosts, up to
        #: MAX_CELLS (cells beyond a host's own are zero: no cell).
        self._cells: IntArray = np.zeros((_CELL_COLS, 0, 1), dtype=np.int64)
        #: Each slot's resources (for the hosts answered per host).
        self._resources: list[HostResources | None] = []
        #: Per cell layout (its cores), which core each CPU is on and the cores' sizes.
        self._cores: dict[tuple[tuple[int, ...], ...], _Cores] = {}

    def put(self, slot: int, res: HostResources | None, *, alive: bool = True) -> None:
        """Set ``slot`` to a host's resources (None: none reported; ``alive`` False: a
        free slot)."""
        self.put_many([(slot, res, alive)])

    def put_many(self, items: Sequence[tuple[int, HostResources | None, bool]]) -> None:
        """:meth:`put` for many distinct slots: ``(slot, resources, alive)``."""
        if not items:
            return
        top = max(slot for slot, _res, _alive in items) + 1
        self._grow(top)
        if top > len(self._resources):
            self._resources.extend([None] * (top - len(self._resources)))
        slots, states, hosts, ratios = [], [], [], []
        cell_slots: list[int] = []
        cell_positions: list[int] = []
        cell_rows: list[tuple[int, ...]] = []
        width = self._cells.shape[2]
        #: Hosts alike in CPUs and memory share their resources: counted once.
        counted: dict[int, Rows | None] = {}
        for slot, res, alive in items:
            self._resources[slot] = res if alive else None
            rows = None
            if alive and res is not None:
                if id(res) not in counted:
                    counted[id(res)] = self._count(res)
                rows = counted[id(res)]
            if rows is None:
                states.append(
                    (slot, EMPTY if not alive else NO_RESOURCES if res is None else PER_HOST)
                )
                continue
            host, cells, ratio = rows
            slots.append(slot)
            hosts.append(host)
            ratios.append(ratio)
            cell_slots += [slot] * len(cells)
            cell_positions += range(len(cells))
            cell_rows += cells
            width = max(width, len(cells))
        if width > self._cells.shape[2]:
            self._widen(width)
        every = [slot for slot, _res, _alive in items]
        self._cells[:, every] = 0
        self._host[:, every] = 0
        self._ratio[every] = 0.0
        for slot, state in states:
            self._host[_STATE, slot] = state
        if slots:
            self._host[:, slots] = np.array(hosts, dtype=np.int64).T
            self._ratio[slots] = ratios
        if cell_rows:
            self._cells[:, cell_slots, cell_positions] = np.array(cell_rows, dtype=np.int64).T

    def sets(self, ask: CpuAsk, count: int) -> CellSets:
        """``cell_sets(res, ask)`` of the first ``count`` slots (a guest with cells)."""
        assert ask.cells, "a guest without cells is counted host-wide"
        self._grow(count)
        host, ratio = self._host[:, :count], self._ratio[:count]
        cells = self._cells[:, :count]
        state = host[_STATE]
        columnar = state == COLUMNS
        if not _in_range(ask):
            columnar = np.zeros(count, dtype=np.bool_)
        elif ask.thread_policy is ThreadPolicy.ISOLATE and ask.pinned:
            columnar &= ~(cells[_CORE_SIZE] < 0).any(axis=1)
        per_host = self._per_host(ask, (state == PER_HOST) | ((state == COLUMNS) & ~columnar))
        n = len(ask.cells)
        need = ask.vcpus - ask.pinned
        free = _free_vcpus(host, ratio, ask.pinned)
        fails = free < 0
        if need:
            fails |= free < need
        fails |= (host[_MEM_KNOWN] == 1) & (host[_FREE_MEM] < ask.memory_mib)
        gate = columnar & (host[_KNOWN] == 1) & (host[_CELLS] >= n) & ~fails
        width = min(MAX_CELL_SETS, math.comb(max(cells.shape[2], n), n))
        masks = np.zeros((count, width), dtype=np.int64)
        distinct: set[int] = set()
        if not gate.any():
            return CellSets(masks=masks, per_host=per_host)
        # Guest cells alike in memory, pins and floating vCPUs are counted once.
        counted: dict[tuple[int, int, int], IntArray] = {}
        held = []
        for g in ask.cells:
            key = (g.memory_mib, len(g.dedicated), g.shared)
            if key not in counted:
                counted[key] = _held(cells, host, ratio, g, ask.thread_policy)
            held.append(counted[key])
        sizes = np.where(gate, host[_CELLS], 0)
        present = np.bincount(sizes, minlength=1)
        for size in range(max(n, 1), len(present)):
            if not present[size]:
                continue
            at = np.flatnonzero(sizes == size)
            combos, taken = _matched(
                [h[at, :size] for h in held], host[:, at], ratio[at], need, size
            )
            bits = cells[_BIT][at]
            for k, combo in enumerate(combos):
                mask = bits[:, list(combo)].sum(axis=1)
                masks[at, k] = np.where(taken[:, k], mask, 0)
                used = mask[taken[:, k]]
                if used.size and used.min() == used.max():  # hosts numbering cells alike
                    distinct.add(int(used[0]))
                elif used.size:
                    distinct.update(np.unique(used).tolist())
        return CellSets(masks=masks, per_host=per_host, distinct=frozenset(distinct))

    def alive(self, count: int) -> BoolArray:
        """Per slot, whether it holds a host."""
        self._grow(count)
        out: BoolArray = self._host[_STATE, :count] != EMPTY
        return out

    def without_resources(self, count: int) -> BoolArray:
        """Per slot, whether the host reported no resources (a live slot)."""
        self._grow(count)
        out: BoolArray = self._host[_STATE, :count] == NO_RESOURCES
        return out

    def _per_host(self, ask: CpuAsk, which: BoolArray) -> dict[int, tuple[frozenset[int], ...]]:
        """``cell_sets`` itself for the slots ``which``, once per distinct resources."""
        out: dict[int, tuple[frozenset[int], ...]] = {}
        known: dict[int, tuple[frozenset[int], ...]] = {}
        for slot in np.flatnonzero(which).tolist():
            res = self._resources[slot]
            assert res is not None, "a slot with columns or answered per host has resources"
            answer = known.get(id(res))
            if answer is None:
                answer = known[id(res)] = cell_sets(res, ask)
            out[slot] = answer
        return out

    # --- rows -----------------------------------------------------------------------

    def _count(self, res: HostResources) -> Rows | None:
        cells = res.cells
        if len(cells) > MAX_CELLS:
            return None
        ids = [c.id for c in cells]
        if any(not 0 <= i <= MAX_CELL_ID for i in ids) or len(set(ids)) != len(ids):
            return None
        ratio = res.cpu_ratio
        if not math.isfinite(ratio) or not 0 <= ratio < 2**20:
            return None
        memory = res.free_memory()
        host = (
            COLUMNS,
            len(cells),
            int(res.known_cpus),
            res.shared_count,
            int(res.overlap),
            res.reserved_cpus,
            res.used_vcpus,
            int(memory is not None),
            0 if memory is None else memory,
        )
        rows = tuple([self._cell_row(res, cell) for cell in cells])
        if not _within(host) or not all(_within(r[:_BIT]) for r in rows):
            return None
        return host, rows, float(ratio)

    def _cell_row(self, res: HostResources, cell: CellState) -> tuple[int, ...]:
        stats = self._cores.get(cell.cores)
        if stats is None:
            if len(self._cores) > 1000:
                self._cores.clear()
            stats = self._cores[cell.cores] = _cores_of(cell.cores)
        touched: set[int] = set()
        if len(cell.pinnable) != len(cell.cpus):
            core_of = stats.core_of
            touched = {core_of[c] for c in cell.cpus - cell.pinnable}
        sizes = stats.sizes
        memory = cell.memory_mib
        if not cell.cpus or memory is None:
            free_memory = _NO_CELL
        else:
            free_memory = math.floor(memory * res.ram_ratio + 1e-9) - cell.used_memory_mib
        return (
            free_memory,
            len(cell.pinnable),
            len(sizes) - len(touched),
            stats.size,
            stats.smt_threads - sum(sizes[i] for i in touched if sizes[i] > 1),
            len(cell.shared),
            cell.used_vcpus,
            1 << cell.id,
        )

    # --- storage --------------------------------------------------------------------

    def _grow(self, size: int) -> None:
        if size <= len(self._ratio):
            return
        capacity = max(64, 2 * size)
        host = np.zeros((_HOST_COLS, capacity), dtype=np.int64)
        host[:, : len(self._ratio)] = self._host
        ratio = np.zeros(capacity, dtype=np.float64)
        ratio[: len(self._ratio)] = self._ratio
        cells = np.zeros((_CELL_COLS, capacity, self._cells.shape[2]), dtype=np.int64)
        cells[:, : len(self._ratio)] = self._cells
        self._host, self._ratio, self._cells = host, ratio, cells

    def _widen(self, width: int) -> None:
        cells = np.zeros((_CELL_COLS, self._cells.shape[1], width), dtype=np.int64)
        cells[:, :, : self._cells.shape[2]] = self._cells
        self._cells = cells


def _within(row: Sequence[int]) -> bool:
    """Whether the numbers fit the columns."""
    return min(row) > -_LIMIT and max(row) < _LIMIT


def _in_range(ask: CpuAsk) -> bool:
    values = [ask.vcpus, ask.memory_mib, ask.pinned]
    for g in ask.cells:
        values += [g.memory_mib, len(g.dedicated), g.shared]
    return all(0 <= v < _LIMIT for v in values)


def _free_vcpus(host: IntArray, ratio: FloatArray, pinning: IntArray | int) -> IntArray:
    """``HostResources.free_vcpus(pinning)`` per slot (``host``: columns, slots)."""
    count = host[_SHARED] - pinning * host[_OVERLAP] - host[_RESERVED]
    floored = np.floor(np.maximum(count, 0) * ratio + 1e-9).astype(np.int64)
    out: IntArray = floored - host[_USED]
    return out


def _held(
    cells: IntArray, host: IntArray, ratio: FloatArray, g: CellAsk, thread: ThreadPolicy
) -> IntArray:
    """``numa_fit._cell_counts`` per (slot, host cell): the CPUs the pins hold (isolate's
    siblings too), -1 for None."""
    ok = cells[_CELL_FREE_MEM] >= g.memory_mib
    pins = len(g.dedicated)
    held: IntArray | int = pins
    if pins == 0:
        pass
    elif thread is ThreadPolicy.PREFER:
        ok &= cells[_PINNABLE] >= pins
    elif thread is ThreadPolicy.ISOLATE:
        ok &= cells[_WHOLE] >= pins
        held = pins * cells[_CORE_SIZE]
    else:  # require: threads of whole free SMT cores (none: no SMT core at all)
        ok &= cells[_SMT_THREADS] >= pins
    shared = cells[_CELL_SHARED] - held * host[_OVERLAP][:, None] if pins else cells[_CELL_SHARED]
    free = np.floor(shared * ratio[:, None] + 1e-9).astype(np.int64) - cells[_CELL_USED]
    ok &= free >= g.shared  # g.shared >= 0: also "free < 0" is None
    out: IntArray = np.where(ok, held, -1)
    return out


def _matched(
    held: list[IntArray], host: IntArray, ratio: FloatArray, need: int, size: int
) -> tuple[list[tuple[int, ...]], BoolArray]:
    """``cell_sets``'s walk for slots with ``size`` cells: the combinations of cell
    positions tried, in order, and per slot which of them are taken."""
    n = len(held)
    combos = list(itertools.islice(itertools.combinations(range(size), n), MAX_CELL_SETS))
    rows = len(ratio)
    taken = np.zeros((rows, len(combos)), dtype=np.bool_)
    valid = [h >= 0 for h in held]
    for k, combo in enumerate(combos):
        done = np.zeros(rows, dtype=np.bool_)
        orders = itertools.permutations(combo) if n <= MAX_MATCHED_CELLS else iter([combo])
        for order in orders:
            ok = valid[0][:, order[0]].copy()
            for g in range(1, n):
                ok &= valid[g][:, order[g]]
            first = ok & ~done
            if first.any():
                total = held[0][:, order[0]].copy()
                for g in range(1, n):
                    total += held[g][:, order[g]]
                taken[:, k] |= first & (_free_vcpus(host, ratio, total) >= need)
                done |= ok
                if done.all():
                    break
    return combos, taken
