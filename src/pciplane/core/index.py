"""The fleet index: every host's pools as columns, screened at once, explained on demand.

A fit over ten thousand hosts cannot run the pipeline of :mod:`pciplane.core.fit` once
per host (about 50-100 µs each), and real hosts rarely look alike. So the index keeps
each host's :class:`HostView` for the pipeline *and* copies its pools into columns
(:mod:`pciplane.core.pool_table`); a fit screens all hosts by counting
(:mod:`pciplane.core.screen`), runs the pipeline only for the hosts the counting cannot
decide, and works out the words of each verdict only when they are asked for
(:mod:`pciplane.core.verdict_classes`). Verdicts are exactly the pipeline's. A guest
with NUMA cells is placed on every host's cells at once from columns of them too
(:mod:`pciplane.core.cell_table`), and its devices screened once per set of host cells.

Replacing a host costs O(its pools and cells): the service updates one host after each
claim.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, replace

import numpy as np

from pciplane.core.cell_table import CellTable, cells_of, mask_of
from pciplane.core.columns import BoolArray, IntArray
from pciplane.core.errors import NotFoundError
from pciplane.core.fit import GuestRequest, HostView, Outcome, Verdict
from pciplane.core.fleet import Fleet, Host
from pciplane.core.guest_cpu import CpuAsk
from pciplane.core.kind_vectors import KindVectors
from pciplane.core.pool import KindMatcher, KindTable, SpecMemo, check_pool_tags
from pciplane.core.pool_table import PoolTable, TableView
from pciplane.core.screen import Screen, screen
from pciplane.core.spec import DeviceSpec
from pciplane.core.verdict_classes import exact_outcomes
from pciplane.core.view_builder import ViewBuilder


@dataclass(frozen=True, kw_only=True, slots=True)
class HostReason:
    """A host's verdict without its stage records: what ``fit`` prints per host."""

    host: str
    fits: bool
    reason: str = ""


class _Pipeline:
    """Runs the exact pipeline for one slot, once per distinct host state."""

    def __init__(
        self, views: list[HostView | None], guest: GuestRequest, matcher: KindMatcher
    ) -> None:
        self.views = views
        self.guest = guest
        self.matcher = matcher
        #: Once known, which slots fit: a "no" then needs only the guest's own order.
        self.fits: BoolArray | None = None
        self.by_slot: dict[int, Outcome] = {}
        self.by_state: dict[tuple[object, ...], Outcome] = {}

    def __call__(self, slot: int) -> Outcome:
        known = self.by_slot.get(slot)
        if known is not None:
            return known
        view = self.views[slot]
        assert view is not None, "a live slot always has a view"
        outcome = self.by_state.get(view.signature)
        if outcome is None:
            if self.fits is not None and not self.fits[slot]:
                outcome = view.failure(self.guest, self.matcher)
            else:
                outcome = view.outcome(self.guest, self.matcher)
            self.by_state[view.signature] = outcome
        self.by_slot[slot] = outcome
        return outcome


class FleetFit:
    """The answer for every host, in the index's host order.

    Which hosts fit is known when :meth:`FleetIndex.fit` returns; the reasons and stage
    records are worked out when asked for, from the state that fit saw (the index may
    have moved on since).
    """

    def __init__(
        self,
        *,
        names: tuple[str, ...],
        order: IntArray,
        fits: BoolArray,
        table: TableView,
        screened: Screen | None,
        pipeline: _Pipeline,
        cpu_failed: BoolArray | None = None,
    ) -> None:
        self.names = names
        #: Slots whose CPUs or memory rule the guest out (explained by the pipeline).
        self._cpu_failed = cpu_failed
        self._order = order
        self._fits = fits
        self._table = table
        self._screen = screened
        self._pipeline = pipeline
        #: Hosts a rule about the whole host refused, whatever their devices: why.
        self._overruled: Mapping[str, str] = {}
        self._host_fits = fits[order]

    def overruled(self, refused: Mapping[str, str]) -> FleetFit:
        """The same answer with ``refused`` hosts not fitting, each for its own reason
        (rules about whole hosts: an agent that is down, ``sriov_only``)."""
        if not refused:
            return self
        copy = FleetFit(
            names=self.names,
            order=self._order,
            fits=self._fits,
            table=self._table,
            screened=self._screen,
            pipeline=self._pipeline,
            cpu_failed=self._cpu_failed,
        )
        copy._overruled = {**self._overruled, **refused}
        copy._host_fits = self._host_fits.copy()
        refused_at = [i for i, name in enumerate(self.names) if name in copy._overruled]
        copy._host_fits[refused_at] = False
        return copy

    @property
    def fit_count(self) -> int:
        return int(self._host_fits.sum())

    def hosts_that_fit(self) -> list[str]:
        names = self.names
        return [names[i] for i in np.flatnonzero(self._host_fits)]

    def verdicts(self) -> Iterator[Verdict]:
        """Every host's full verdict (stage records included, for fitting hosts too)."""
        outcomes = self._outcomes(self._order)
        for name, slot in zip(self.names, self._order.tolist(), strict=True):
            rule = self._overruled.get(name)
            if rule is not None:
                yield Verdict(host=name, fits=False, reason=rule)
                continue
            o = outcomes[slot]
            yield Verdict(host=name, fits=o.fits, reason=o.reason, stages=o.stages)

    def reasons(self) -> Iterator[HostReason]:
        """Every host's verdict and reason; cheaper than :meth:`verdicts` (no records are
        worked out for the hosts that fit, whose reason is empty)."""
        ruled_out = self._order[~self._fits[self._order]]
        outcomes = self._outcomes(ruled_out, reasons_only=True)
        for name, slot in zip(self.names, self._order.tolist(), strict=True):
            rule = self._overruled.get(name)
            if rule is not None:
                yield HostReason(host=name, fits=False, reason=rule)
                continue
            o = outcomes.get(slot)
            yield HostReason(host=name, fits=o is None, reason="" if o is None else o.reason)

    def outcome(self, host: str) -> Outcome:
        try:
            position = self.names.index(host)
        except ValueError:
            raise NotFoundError(f"no host {host!r} in the fleet") from None
        rule = self._overruled.get(host)
        if rule is not None:
            return Outcome(fits=False, reason=rule)
        return self._pipeline(int(self._order[position]))

    def _outcomes(self, slots: IntArray, *, reasons_only: bool = False) -> dict[int, Outcome]:
        ask = self._pipeline.guest.cpu
        if self._screen is None or (ask is not None and ask.cells):
            return {int(s): self._pipeline(int(s)) for s in slots}
        out: dict[int, Outcome] = {}
        if self._cpu_failed is not None:
            failed = self._cpu_failed[slots]
            out = {int(s): self._pipeline(int(s)) for s in slots[failed]}
            slots = slots[~failed]
        out.update(
            exact_outcomes(
                self._table,
                self._screen,
                self._pipeline.guest,
                slots,
                self._fits,
                self._pipeline,
                reasons_only=reasons_only,
            )
        )
        return out


def _host_columns(view: HostView | None) -> tuple[int, int, int, int, int]:
    if view is None:
        return (0, 0, 0, 0, 0)
    res = view.resources
    if res is None:
        return (0, 0, 0, 0, 1)
    memory = res.free_memory()
    return (
        res.free_vcpus(),
        0 if memory is None else memory,
        int(res.known_cpus),
        int(memory is not None),
        1,
    )


class FleetIndex:
    """Host views of a fleet and their pool columns, kept current with :meth:`replace_host`."""

    def __init__(
        self,
        default_specs: tuple[DeviceSpec, ...] = (),
        *,
        pool_tags: tuple[str, ...] = (),
    ) -> None:
        check_pool_tags(pool_tags)
        self.default_specs = default_specs
        self.pool_tags = pool_tags
        self.kinds = KindTable()
        self.memo = SpecMemo()
        self.matcher = KindMatcher()
        self._views: dict[str, HostView] = {}
        self._order: list[str] = []
        self._order_cache: tuple[tuple[str, ...], IntArray] | None = None
        self._slot_of: dict[str, int] = {}
        self._free_slots: list[int] = []
        #: The view per slot (None: a free slot).
        self._slot_views: list[HostView | None] = []
        #: Per slot: free floating vCPUs, free memory, whether CPUs and memory are
        #: known, alive (what a guest without cells is counted against).
        self._host_cols: IntArray = np.zeros((0, 5), dtype=np.int64)
        #: Per slot: the host's NUMA cells as numbers (what a guest with cells needs).
        self._cells = CellTable()
        self._table = PoolTable()
        self._vectors = KindVectors(self.kinds, self.matcher)
        self._builder = ViewBuilder(
            default_specs, kinds=self.kinds, memo=self.memo, pool_tags=pool_tags
        )
        #: Hosts with the very same device records share their pools. Keyed by object
        #: identity; the value keeps the keyed objects alive so ids cannot be reused.
        self._by_devices: dict[tuple[object, ...], tuple[object, HostView]] = {}

    @classmethod
    def build(
        cls,
        fleet: Fleet,
        *,
        pool_tags: tuple[str, ...] = (),
        progress: Callable[[int, int], None] | None = None,
    ) -> FleetIndex:
        index = cls(fleet.device_spec, pool_tags=pool_tags)
        total = len(fleet.hosts)
        views = []
        for i, host in enumerate(fleet.hosts, 1):
            views.append(index._view_of(host))
            if progress is not None and i % 1000 == 0:
                progress(i, total)
        index._add_new(views)
        return index

    def replace_hosts(self, hosts: Iterable[Host]) -> None:
        """:meth:`replace_host` for many hosts, those not in the index yet added in bulk
        (a service's first refresh: a whole fleet at once, as :meth:`build` does)."""
        new = []
        for host in hosts:
            if host.name in self._slot_of:
                self.replace_host(host)
            else:
                new.append(self._view_of(host))
        if new:
            self._add_new(new)

    def replace_host(self, host: Host) -> HostView:
        """Add or rebuild one host's view and rows (after a claim, a free or a rescan)."""
        view = self._view_of(host)
        slot = self._slot_of.get(host.name)
        if slot is None:
            self._add_new([view])
        else:
            old = self._views[host.name]
            self._set_view(slot, view)
            self._views[host.name] = view
            self._table.put(slot, view, old=old)
        return view

    def _view_of(self, host: Host) -> HostView:
        if len(self._by_devices) > 2 * len(self._views) + 1000:
            self._by_devices.clear()
        specs = host.device_spec if host.device_spec is not None else self.default_specs
        key = (id(specs), id(host.numa_nodes), *map(id, host.devices))
        hit = self._by_devices.get(key)
        if hit is not None:
            return hit[1].renamed(host.name).with_resources(self._builder.resources(host))
        view = self._builder.build(host)
        self._by_devices[key] = ((specs, host.numa_nodes, host.devices), view)
        return view

    def _add_new(self, views: list[HostView]) -> None:
        """Hosts not in the index yet (names not seen, each once)."""
        reused = [self._free_slots.pop() for _ in range(min(len(views), len(self._free_slots)))]
        slots = [*reused, *self._table.new_slots(len(views) - len(reused))]
        for slot, view in zip(slots, views, strict=True):
            self._slot_of[view.name] = slot
            self._order.append(view.name)
            self._set_view(slot, view, cells=False)
            self._views[view.name] = view
        self._cells.put_many(
            [(slot, v.resources, True) for slot, v in zip(slots, views, strict=True)]
        )
        self._order_cache = None
        self._table.put_many([(slot, view, None) for slot, view in zip(slots, views, strict=True)])

    def remove_host(self, name: str) -> None:
        view = self._views.pop(name, None)
        if view is None:
            return
        slot = self._slot_of.pop(name)
        self._table.drop(slot, view)
        self._set_view(slot, None)
        self._free_slots.append(slot)
        self._order.remove(name)
        self._order_cache = None

    def view(self, name: str) -> HostView:
        try:
            return self._views[name]
        except KeyError:
            raise NotFoundError(f"no host {name!r} in the fleet") from None

    def __len__(self) -> int:
        return len(self._order)

    def host_names(self) -> tuple[str, ...]:
        return self._ordered()[0]

    def distinct_states(self) -> int:
        """How many hosts differ in state (what the pipeline's result can depend on)."""
        return len({view.signature for view in self._views.values()})

    def fit(self, guest: GuestRequest) -> FleetFit:
        """Which hosts fit: screened by counting, the undecided ones by the pipeline."""
        names, order = self._ordered()
        table = self._table.snapshot()
        pipeline = _Pipeline(list(self._slot_views), guest, self.matcher)
        ask = guest.cpu
        screened = None
        cpu_failed = None
        if ask is None or not (ask.cells and guest.pci):
            # The CPU check of a guest without cells, or of one without devices, does not
            # depend on the devices: it is decided per host apart from the screen.
            screened = screen(table, guest, self._vectors)
        if screened is None and ask is not None:
            fits, undecided, cpu_failed = self._screen_by_cells(table, guest, ask)
        elif screened is None:
            fits = np.zeros(len(self._slot_views), dtype=np.bool_)
            undecided = order
        elif ask is not None:
            cpu_ok = self._cpu_screen(ask)
            cpu_failed = ~cpu_ok
            fits = screened.fits & cpu_ok
            if ask.cells:  # every host's cells are worth their own words: the pipeline
                undecided = np.flatnonzero(cpu_ok & ~fits)
            else:
                undecided = np.flatnonzero(screened.undecided & cpu_ok)
        else:
            fits = screened.fits.copy()
            undecided = np.flatnonzero(screened.undecided)
        for slot in undecided.tolist():
            fits[slot] = pipeline(slot).fits
        fits.flags.writeable = False
        pipeline.fits = fits
        return FleetFit(
            names=names,
            order=order,
            fits=fits,
            table=table.kept(),
            screened=screened,
            pipeline=pipeline,
            cpu_failed=cpu_failed,
        )

    def _screen_by_cells(
        self, table: TableView, guest: GuestRequest, ask: CpuAsk
    ) -> tuple[BoolArray, IntArray, BoolArray]:
        """A guest with cells and devices: each host's placements of the cells (its sets
        of host cells, in the order the pipeline tries them), then the devices screened
        once per distinct set with the guest confined to it. A host fits when some set's
        screen is sure of it, fails when its CPUs fail or every set's screen is sure it
        does not; the rest (and the reasons) go through the pipeline, which tries the
        very same sets in turn."""
        slots = len(self._slot_views)
        found = self._cells.sets(ask, slots)
        masks = found.masks
        distinct: dict[frozenset[int], int | None] = {
            cells_of(m): m for m in sorted(found.distinct)
        }
        for sets in found.per_host.values():
            for cells in sets:
                distinct.setdefault(cells, mask_of(cells))
        fits = np.zeros(slots, dtype=np.bool_)
        fails = np.ones(slots, dtype=np.bool_)
        holders: dict[frozenset[int], BoolArray] = {}
        for cells, mask in distinct.items():
            has = np.zeros(slots, dtype=np.bool_) if mask is None else (masks == mask).any(axis=1)
            for slot, sets in found.per_host.items():
                if cells in sets:
                    has[slot] = True
            holders[cells] = has
        # The sets most hosts have first; a host a set fits needs no later set screened.
        # Sets few hosts have (those of hosts with more cells) are screened on the slots
        # still open alone: a smaller table, cut once.
        ordered = sorted(holders.items(), key=lambda item: -int(item[1].sum()))
        everywhere = np.arange(slots)
        part: TableView | None = None
        at = everywhere
        for i, (cells, has) in enumerate(ordered):
            if not (has & ~fits).any():
                continue
            confined = replace(guest, cpu=None, numa_cells=cells)
            if 2 * int(has.sum()) >= slots:
                answer = screen(table, confined, self._vectors)
                where = everywhere
            else:
                if part is None:
                    rest = np.zeros(slots, dtype=np.bool_)
                    for _cells, later in ordered[i:]:
                        rest |= later
                    at = np.flatnonzero(rest & ~fits)
                    part = table.only(at)
                answer = screen(part, confined, self._vectors)
                where = at
            local = has[where]
            if answer is None:
                fails[where[local]] = False
                continue
            fits[where] |= local & answer.fits[: len(where)]
            fails[where] &= ~(local & ~answer.fails[: len(where)])
        cpu_failed = ~found.found()
        undecided = np.flatnonzero(self._cells.alive(slots) & ~fits & ~fails)
        return fits, undecided, cpu_failed

    def _cpu_screen(self, ask: CpuAsk) -> BoolArray:
        """Per slot, whether the host's CPUs and memory take ``ask`` (alone: exact when
        the guest has no cells or no devices). Without cells it is counted host-wide, from
        columns (numa_fit.HostResources.host_failure as arrays); with cells, by the cell
        columns (numa_fit.cell_sets for every host at once, cell_table)."""
        slots = len(self._slot_views)
        if not ask.cells:
            cols = self._host_cols[:slots]
            cpus_ok = (cols[:, 2] == 0) | (cols[:, 0] >= ask.vcpus)
            memory_ok = (cols[:, 3] == 0) | (cols[:, 1] >= ask.memory_mib)
            ok_all: BoolArray = (cols[:, 4] == 1) & cpus_ok & memory_ok
            return ok_all
        ok: BoolArray = self._cells.sets(ask, slots).found()
        ok |= self._cells.without_resources(slots)
        return ok

    def _ordered(self) -> tuple[tuple[str, ...], IntArray]:
        if self._order_cache is None:
            slots = np.array([self._slot_of[n] for n in self._order], dtype=np.int64)
            slots.flags.writeable = False
            self._order_cache = (tuple(self._order), slots)
        return self._order_cache

    def _set_view(self, slot: int, view: HostView | None, *, cells: bool = True) -> None:
        """``cells`` False: the caller puts the slot's cells (many at once)."""
        if slot == len(self._slot_views):
            self._slot_views.append(view)
        else:
            self._slot_views[slot] = view
        if slot >= len(self._host_cols):
            grown = np.zeros((max(64, 2 * (slot + 1)), 5), dtype=np.int64)
            grown[: len(self._host_cols)] = self._host_cols
            self._host_cols = grown
        self._host_cols[slot] = _host_columns(view)
        if cells:
            self._cells.put(slot, None if view is None else view.resources, alive=view is not None)
