"""CPU and memory of one host, per NUMA cell, against what a guest asks (its CpuAsk).

A guest without a NUMA topology is counted host-wide, as Nova's placement counts VCPU
and MEMORY_MB: the shared CPUs times ``cpu_allocation_ratio`` less ``reserved_host_cpus``,
the memory times ``ram_allocation_ratio`` less ``reserved_host_memory_mb``. A guest with
cells puts each on a distinct host cell (Nova's ``numa_fit_instance_to_host``): the cell
needs the memory, its floating vCPUs within the cell's shared CPUs times the ratio, and
its pinned vCPUs on free CPUs of ``cpu_dedicated_set`` counted one by one, as the thread
policy says. Every "no" names the cell and the resource: ``NUMA 1: 2 dedicated CPUs
free, 4 needed``.

CPU sets: with ``cpu_dedicated_set`` the shared CPUs are ``cpu_shared_set`` (or every
other CPU); with only ``cpu_shared_set`` nothing may be pinned (Nova reports no PCPU);
with neither, every CPU serves both and a pinned CPU leaves the shared pool.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator
from dataclasses import dataclass

from pciplane.core.cpu_policy import ThreadPolicy
from pciplane.core.fleet import Host, NumaNode
from pciplane.core.guest_cpu import CellAsk, CpuAsk
from pciplane.core.resources import CellUse

#: Sets of host cells tried for one guest (the PCI requests are judged on each in turn).
MAX_CELL_SETS = 64
#: Guest cells up to this many are matched to a set of host cells in every order (5! = 120).
MAX_MATCHED_CELLS = 5


@dataclass(frozen=True, kw_only=True, slots=True)
class CellState:
    """One host cell as the fit sees it: what is free of it now."""

    id: int
    cpus: frozenset[int]
    #: Sibling groups within the cell (a CPU without known siblings is its own core).
    cores: tuple[tuple[int, ...], ...]
    memory_mib: int | None
    #: Free CPUs a pinned vCPU may take.
    pinnable: frozenset[int]
    #: CPUs floating vCPUs of this cell run on (less pinned ones when the pools overlap).
    shared: frozenset[int]
    used_vcpus: int
    used_memory_mib: int


@dataclass(frozen=True, kw_only=True, slots=True)
class CellPlacement:
    """One guest cell on one host cell, with the host CPU of each pinned vCPU."""

    cell: int
    host_cell: int
    vcpus: tuple[int, ...]
    memory_mib: int
    pins: tuple[int | None, ...]
    #: Siblings of the pins ``isolate`` keeps free (held by the server, run by none).
    reserved: tuple[int, ...] = ()


@dataclass(frozen=True, kw_only=True, slots=True)
class CpuPlacement:
    """Where a guest's CPUs and memory go on one host, and what the claim holds."""

    cells: tuple[CellPlacement, ...]
    uses: tuple[CellUse, ...]
    #: The host CPUs floating vCPUs may run on; empty: anywhere.
    shared_cpus: tuple[int, ...]

    @property
    def host_cells(self) -> frozenset[int] | None:
        """The host cells chosen (for the PCI NUMA policies); None: no topology."""
        return frozenset(c.host_cell for c in self.cells) if self.cells else None


@dataclass(frozen=True, kw_only=True, slots=True)
class HostResources:
    """A host's CPUs and memory with its settings and claims applied, ready to fit."""

    cells: tuple[CellState, ...]
    cpu_ratio: float
    ram_ratio: float
    reserved_cpus: int
    reserved_memory_mib: int
    #: Shared CPUs host-wide (less pinned ones when the pools overlap).
    shared_count: int
    #: Whether pinning a CPU takes it from the shared pool (no CPU sets configured).
    overlap: bool
    #: Whether the floating vCPUs are confined (a CPU set is configured).
    confined: bool
    memory_mib: int | None
    used_vcpus: int
    used_memory_mib: int
    #: The signature (computed once): the layout, what is free of each cell, the settings.
    state: tuple[object, ...] = ()

    @property
    def known_cpus(self) -> bool:
        return any(c.cpus for c in self.cells)

    @property
    def counted(self) -> bool:
        """Whether the host reported anything a guest's CPUs or memory are counted on."""
        return self.known_cpus or self.memory_mib is not None

    @classmethod
    def of(cls, host: Host, layouts: LayoutMemo | None = None) -> HostResources:
        """``layouts``: each NUMA layout's CPU sets and cores, worked out once for the
        hosts sharing it (keyed by the layout tuple's identity)."""
        alloc, usage = host.allocation, host.usage
        layout = _layout(host, layouts)
        every = layout.every
        dedicated, shared_set = alloc.cpu_dedicated_set, alloc.cpu_shared_set
        if dedicated is None and shared_set is None:
            pin_pool, shared_pool, overlap = every, every, True
        elif dedicated is None:
            pin_pool, shared_pool, overlap = frozenset(), every & (shared_set or every), False
        else:
            pin_pool = every & dedicated
            shared_pool = every & shared_set if shared_set is not None else every - dedicated
            overlap = False
        taken = usage.pinned if overlap else frozenset()
        pinned = usage.pinned
        cells = []
        for node, cpus, cores in layout.cells:
            used_vcpus, used_memory = usage.cell(node.id) if usage.cells else (0, 0)
            cells.append(
                CellState(
                    id=node.id,
                    cpus=cpus,
                    cores=cores,
                    memory_mib=node.memory_mib,
                    pinnable=(pin_pool & cpus) - pinned if pinned or pin_pool is not every
                    else cpus,
                    shared=(shared_pool & cpus) - taken if taken or shared_pool is not every
                    else cpus,
                    used_vcpus=used_vcpus,
                    used_memory_mib=used_memory,
                )
            )  # fmt: skip
        shared_count = len(shared_pool - taken) if taken else len(shared_pool)
        cell_state = tuple(cells)
        values = (
            alloc.cpu_allocation_ratio,
            alloc.ram_allocation_ratio,
            alloc.reserved_host_cpus,
            alloc.reserved_host_memory_mb,
            shared_count,
            overlap,
            layout.memory_mib,
            usage.vcpus,
            usage.memory_mib,
        )
        return cls(
            cells=cell_state,
            cpu_ratio=alloc.cpu_allocation_ratio,
            ram_ratio=alloc.ram_allocation_ratio,
            reserved_cpus=alloc.reserved_host_cpus,
            reserved_memory_mib=alloc.reserved_host_memory_mb,
            shared_count=shared_count,
            overlap=overlap,
            confined=not overlap,
            memory_mib=layout.memory_mib,
            used_vcpus=usage.vcpus,
            used_memory_mib=usage.memory_mib,
            state=(
                layout.key,
                tuple((c.pinnable, c.shared, c.used_vcpus, c.used_memory_mib) for c in cells),
                values,
            ),
        )

    # --- host-wide ------------------------------------------------------------------

    def free_vcpus(self, pinning: int = 0) -> int:
        """Floating vCPUs the host can still take (after ``pinning`` more pinned CPUs)."""
        count = self.shared_count - (pinning if self.overlap else 0) - self.reserved_cpus
        return math.floor(max(count, 0) * self.cpu_ratio + 1e-9) - self.used_vcpus

    def free_memory(self) -> int | None:
        if self.memory_mib is None:
            return None
        cap = math.floor(self.memory_mib * self.ram_ratio + 1e-9) - self.reserved_memory_mib
        return cap - self.used_memory_mib

    def host_failure(self, ask: CpuAsk) -> str:
        """Why the host as a whole cannot take ``ask`` ("" when it can)."""
        if self.known_cpus:
            need = ask.vcpus - ask.pinned
            free = self.free_vcpus(ask.pinned)
            if (need and free < need) or free < 0:
                return (
                    f"host: {max(free, 0)} shared vCPUs free ({self.shared_count} shared CPUs "
                    f"x cpu_allocation_ratio {self.cpu_ratio:g}, reserved_host_cpus "
                    f"{self.reserved_cpus}), {need} needed"
                )
        memory = self.free_memory()
        if memory is not None and memory < ask.memory_mib:
            return (
                f"host: {max(memory, 0)} MiB of memory free (ram_allocation_ratio "
                f"{self.ram_ratio:g}, reserved_host_memory_mb {self.reserved_memory_mib}), "
                f"{ask.memory_mib} MiB needed"
            )
        return ""

    # --- per cell -------------------------------------------------------------------

    def cell_fit(
        self, cell: CellState, ask: CellAsk, thread: ThreadPolicy
    ) -> tuple[tuple[int, ...], tuple[int, ...]] | str:
        """The pins and reserved siblings for ``ask`` on ``cell``, or why not."""
        where = f"NUMA {cell.id}"
        if not cell.cpus:
            return f"{where}: no CPUs reported"
        if cell.memory_mib is None:
            return f"{where}: memory not reported"
        free_memory = math.floor(cell.memory_mib * self.ram_ratio + 1e-9) - cell.used_memory_mib
        if free_memory < ask.memory_mib:
            return f"{where}: {max(free_memory, 0)} MiB free, {ask.memory_mib} MiB needed"
        chosen = _pins(cell, len(ask.dedicated), thread)
        if isinstance(chosen, str):
            return f"{where}: {chosen}"
        pins, reserved = chosen
        shared = cell.shared - set(pins) - set(reserved) if self.overlap else cell.shared
        free = math.floor(len(shared) * self.cpu_ratio + 1e-9) - cell.used_vcpus
        if (ask.shared and free < ask.shared) or free < 0:
            return f"{where}: {max(free, 0)} shared vCPUs free, {ask.shared} needed"
        return pins, reserved

    def signature(self) -> tuple[object, ...]:
        """Equal for hosts whose CPUs and memory answer every guest alike."""
        return self.state


@dataclass(frozen=True, slots=True)
class _Layout:
    """A NUMA layout's CPU sets and cores, shared by the hosts that report it."""

    key: tuple[object, ...]
    every: frozenset[int]
    cells: tuple[tuple[NumaNode, frozenset[int], tuple[tuple[int, ...], ...]], ...]
    memory_mib: int | None


LayoutMemo = dict[int, tuple[tuple[NumaNode, ...], _Layout]]


def _layout(host: Host, memo: LayoutMemo | None) -> _Layout:
    nodes = host.numa_nodes
    if memo is not None:
        hit = memo.get(id(nodes))
        if hit is not None and hit[0] is nodes:
            return hit[1]
    ordered = tuple(sorted(nodes, key=lambda n: n.id))
    cells = []
    for node in ordered:
        cpus = frozenset(node.cpus)
        cells.append((node, cpus, _cores(cpus, node.siblings)))
    memories = [n.memory_mib for n in nodes]
    known_memory = bool(memories) and all(m is not None for m in memories)
    layout = _Layout(
        key=ordered,
        every=frozenset(c for n in nodes for c in n.cpus),
        cells=tuple(cells),
        memory_mib=sum(m or 0 for m in memories) if known_memory else None,
    )
    if memo is not None:
        if len(memo) > 100_000:
            memo.clear()
        memo[id(nodes)] = (nodes, layout)
    return layout


def _cores(
    cpus: frozenset[int], siblings: tuple[tuple[int, ...], ...]
) -> tuple[tuple[int, ...], ...]:
    seen: set[int] = set()
    cores = []
    for group in siblings:
        core = tuple(sorted(c for c in group if c in cpus and c not in seen))
        if core:
            cores.append(core)
            seen.update(core)
    cores.extend((c,) for c in sorted(cpus - seen))
    return tuple(sorted(cores))


def _pins(
    cell: CellState, count: int, thread: ThreadPolicy
) -> tuple[tuple[int, ...], tuple[int, ...]] | str:
    """``count`` free CPUs of the cell as the thread policy says, and reserved siblings."""
    if count == 0:
        return (), ()
    free = cell.pinnable
    if thread is ThreadPolicy.PREFER:
        if len(free) < count:
            return f"{len(free)} dedicated CPUs free, {count} needed"
        # Threads of partly used cores first, whole cores after: keeps whole cores for
        # guests that need them (isolate, require).
        cores = sorted(cell.cores, key=lambda c: (all(x in free for x in c), c))
        order = [x for core in cores for x in core if x in free]
        return tuple(order[:count]), ()
    whole = [core for core in cell.cores if all(x in free for x in core)]
    if thread is ThreadPolicy.ISOLATE:
        if len(whole) < count:
            return (
                f"{len(whole)} whole free cores, {count} needed (hw:cpu_thread_policy isolate: "
                "one vCPU per core, its sibling threads kept free)"
            )
        taken = whole[:count]
        return tuple(core[0] for core in taken), tuple(x for core in taken for x in core[1:])
    if not any(len(core) > 1 for core in cell.cores):
        return "no sibling threads (hw:cpu_thread_policy require needs an SMT host)"
    threads = [x for core in whole if len(core) > 1 for x in core]
    if len(threads) < count:
        return (
            f"{len(threads)} threads on whole free SMT cores, {count} needed "
            "(hw:cpu_thread_policy require)"
        )
    return tuple(threads[:count]), ()


Matched = list[tuple[CellAsk, CellState, tuple[int, ...], tuple[int, ...]]]


def _placement(res: HostResources, matched: Matched) -> CpuPlacement:
    cells = []
    uses = []
    shared: set[int] = set()
    for g, h, pins, reserved in matched:
        pin_of = dict(zip(g.dedicated, pins, strict=True))
        cells.append(
            CellPlacement(
                cell=g.cell,
                host_cell=h.id,
                vcpus=g.vcpus,
                memory_mib=g.memory_mib,
                pins=tuple(pin_of.get(v) for v in g.vcpus),
                reserved=reserved,
            )
        )
        uses.append(
            CellUse(
                cell=h.id,
                vcpus=g.shared,
                memory_mib=g.memory_mib,
                pinned=tuple(sorted((*pins, *reserved))),
            )
        )
        if g.shared:
            pool = h.shared - set(pins) - set(reserved) if res.overlap else h.shared
            shared.update(pool)
    return CpuPlacement(
        cells=tuple(sorted(cells, key=lambda c: c.cell)),
        uses=tuple(sorted(uses, key=lambda u: u.cell or 0)),
        shared_cpus=tuple(sorted(shared)),
    )


def floating_placement(
    res: HostResources, ask: CpuAsk, shared_pool: tuple[int, ...]
) -> CpuPlacement:
    return CpuPlacement(
        cells=(),
        uses=(CellUse(cell=None, vcpus=ask.vcpus, memory_mib=ask.memory_mib),),
        shared_cpus=shared_pool if res.confined else (),
    )


@dataclass(frozen=True, slots=True)
class CpuFit:
    """The placements to try in turn (the PCI requests decide among them), or why none."""

    placements: Iterator[CpuPlacement]
    failure: str


def fit_cpu(res: HostResources, ask: CpuAsk) -> CpuFit:
    """Placements of ``ask`` on the host, best first, lazily; ``failure`` when none exists
    (then the iterator is empty)."""
    if not ask.cells:
        if not res.known_cpus and res.memory_mib is None:  # a host reporting nothing
            return CpuFit(iter([floating_placement(res, ask, ())]), "")
        why = res.host_failure(ask)
        if why:
            return CpuFit(iter(()), why)
        pool = tuple(sorted(c for cell in res.cells for c in cell.shared))
        return CpuFit(iter([floating_placement(res, ask, pool)]), "")
    if not res.known_cpus:
        return CpuFit(iter(()), "host: no NUMA cells with CPUs reported (the guest has cells)")
    if len(ask.cells) > len(res.cells):
        return CpuFit(
            iter(()),
            f"host: {len(res.cells)} NUMA cell(s), the guest needs {len(ask.cells)} distinct ones",
        )
    why = res.host_failure(ask)
    if why:
        return CpuFit(iter(()), why)
    table = {
        (g.cell, h.id): res.cell_fit(h, g, ask.thread_policy) for g in ask.cells for h in res.cells
    }
    for g in ask.cells:
        if all(isinstance(table[(g.cell, h.id)], str) for h in res.cells):
            reasons = "; ".join(str(table[(g.cell, h.id)]) for h in res.cells)
            label = _cell_label(g)
            return CpuFit(iter(()), f"guest cell {g.cell} ({label}): {reasons}")
    found = _matchings(res, ask, table)
    first = next(found, None)
    if first is None:
        fits = ", ".join(
            f"guest cell {g.cell} on NUMA "
            + ("/".join(str(h.id) for h in res.cells if not isinstance(table[(g.cell, h.id)], str)))
            for g in ask.cells
        )
        return CpuFit(
            iter(()),
            f"host: no {len(ask.cells)} distinct NUMA cells take the guest's cells together "
            f"({fits})",
        )
    return CpuFit(itertools.chain([first], found), "")


def _cell_label(g: CellAsk) -> str:
    parts = []
    if g.dedicated:
        parts.append(f"{len(g.dedicated)} dedicated CPUs")
    if g.shared:
        parts.append(f"{g.shared} shared vCPUs")
    parts.append(f"{g.memory_mib} MiB")
    return ", ".join(parts)


def _matchings(
    res: HostResources,
    ask: CpuAsk,
    table: dict[tuple[int, int], tuple[tuple[int, ...], tuple[int, ...]] | str],
) -> Iterator[CpuPlacement]:
    """One placement per set of host cells that takes every guest cell (bounded)."""
    n = len(ask.cells)
    for tried, chosen in enumerate(itertools.combinations(res.cells, n)):
        if tried >= MAX_CELL_SETS:
            return
        orders: Iterator[tuple[CellState, ...]] = (
            itertools.permutations(chosen) if n <= MAX_MATCHED_CELLS else iter([chosen])
        )
        for order in orders:
            matched: Matched = []
            for g, h in zip(ask.cells, order, strict=True):
                found = table[(g.cell, h.id)]
                if isinstance(found, str):
                    break
                matched.append((g, h, found[0], found[1]))
            else:
                held = sum(len(pins) + len(reserved) for _g, _h, pins, reserved in matched)
                if res.free_vcpus(held) < ask.vcpus - ask.pinned:
                    break  # isolate's siblings leave the shared pool too: not here
                yield _placement(res, matched)
                break


def cell_sets(res: HostResources, ask: CpuAsk) -> tuple[frozenset[int], ...]:
    """The sets of host cells :func:`fit_cpu`'s placements use, in its order (empty: the
    guest does not fit), worked out from counts: how many CPUs (``prefer``), whole free
    cores (``isolate``) or threads of whole free SMT cores (``require``) each cell has,
    without choosing the pins (the claim's :func:`fit_cpu` does)."""
    if not ask.cells:
        return (frozenset(),) if not fit_cpu(res, ask).failure else ()
    if not res.known_cpus or len(ask.cells) > len(res.cells) or res.host_failure(ask):
        return ()
    held = {
        (g.cell, h.id): _cell_counts(res, h, g, ask.thread_policy)
        for g in ask.cells
        for h in res.cells
    }
    need = ask.vcpus - ask.pinned
    n = len(ask.cells)
    out = []
    for tried, chosen in enumerate(itertools.combinations(res.cells, n)):
        if tried >= MAX_CELL_SETS:
            break
        orders = itertools.permutations(chosen) if n <= MAX_MATCHED_CELLS else iter([chosen])
        for order in orders:
            counts = [held[(g.cell, h.id)] for g, h in zip(ask.cells, order, strict=True)]
            if all(c is not None for c in counts):
                if res.free_vcpus(sum(c or 0 for c in counts)) >= need:
                    out.append(frozenset(h.id for h in chosen))
                break
    return tuple(out)


def _cell_counts(
    res: HostResources, cell: CellState, ask: CellAsk, thread: ThreadPolicy
) -> int | None:
    """:meth:`HostResources.cell_fit` by counting: how many CPUs the cell's pins hold
    (with isolate's siblings), or None when the cell cannot take ``ask``."""
    if not cell.cpus or cell.memory_mib is None:
        return None
    free_memory = math.floor(cell.memory_mib * res.ram_ratio + 1e-9) - cell.used_memory_mib
    if free_memory < ask.memory_mib:
        return None
    pins = len(ask.dedicated)
    free_cpus = cell.pinnable
    if pins == 0:
        held = 0
    elif thread is ThreadPolicy.PREFER:
        if len(free_cpus) < pins:
            return None
        held = pins
    else:
        whole = [core for core in cell.cores if free_cpus.issuperset(core)]
        if thread is ThreadPolicy.ISOLATE:
            if len(whole) < pins:
                return None
            held = sum(len(core) for core in whole[:pins])
        else:
            if not any(len(core) > 1 for core in cell.cores):
                return None
            if sum(len(core) for core in whole if len(core) > 1) < pins:
                return None
            held = pins
    shared = len(cell.shared) - held if res.overlap else len(cell.shared)
    free = math.floor(shared * res.cpu_ratio + 1e-9) - cell.used_vcpus
    if (ask.shared and free < ask.shared) or free < 0:
        return None
    return held
