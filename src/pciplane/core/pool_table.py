"""The fleet's pools as columns: one row per (host, pool), per PF family, per held kind.

:class:`pciplane.core.fit.HostView` stays the one place that groups a host's devices
into pools and families; this table only copies each view's numbers into numpy columns
so that :mod:`pciplane.core.screen` counts over every host at once. A host is a *slot*:
replacing it appends its new rows and zeroes the old ones, O(that host's pools); the
dead rows are dropped once they outnumber the live ones, so the work stays amortised.

Per-slot columns (the NUMA layout, whether the slot holds a host) leave room for more per-host or
per-NUMA-cell columns (free CPUs and memory per cell) beside the pool rows.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from pciplane.core.columns import BoolArray, Int32Array, IntArray, IntTable
from pciplane.core.fit import HostView

#: Compact once dead rows exceed the live ones by this much.
SLACK = 4096


@dataclass(frozen=True, kw_only=True, slots=True)
class Layout:
    """A host's NUMA nodes as the NUMA stage reads them: node id -> socket."""

    id: int
    sockets: dict[int, int | None]


@dataclass(frozen=True, kw_only=True, slots=True)
class TableView:
    """Read-only views of the columns, valid until the table next changes (a fit reads
    them while it runs; what its answer needs later it keeps with :meth:`kept`)."""

    rows: dict[str, Int32Array]  # slot, kind, family, count
    families: dict[str, Int32Array]  # slot, signature (-1: gone)
    held: dict[str, Int32Array]  # slot, kind, count
    slots: dict[str, Int32Array]  # layout, alive
    layouts: tuple[Layout, ...]
    #: Pairs of kinds found together in some PF family (as two arrays).
    together: tuple[Int32Array, Int32Array]

    def only(self, slots: IntArray) -> TableView:
        """The table of ``slots`` alone, renumbered 0, 1, ... in their order. Every count
        the screen makes is per slot (the kinds, layouts and families' pairs of kinds are
        the whole table's), so each slot is screened here as in the whole table."""
        renumber = np.full(len(self.slots["alive"]), -1, dtype=np.int32)
        renumber[slots] = np.arange(len(slots), dtype=np.int32)
        keep = np.flatnonzero(renumber[self.rows["slot"]] >= 0)
        rows = {k: v[keep] for k, v in self.rows.items()}
        rows["slot"] = renumber[rows["slot"]]
        # Families keep their numbers (rows refer to them); those of other slots are
        # referred to by no row left.
        families = dict(self.families)
        families["slot"] = np.maximum(renumber[self.families["slot"]], 0)
        keep_held = np.flatnonzero(renumber[self.held["slot"]] >= 0)
        held = {k: v[keep_held] for k, v in self.held.items()}
        held["slot"] = renumber[held["slot"]]
        return TableView(
            rows=rows,
            families=families,
            held=held,
            slots={k: v[slots] for k, v in self.slots.items()},
            layouts=self.layouts,
            together=self.together,
        )

    def kept(self) -> TableView:
        """A copy of what explanations read (families, held kinds, slots; not the pool
        rows, which the screen has already copied what it needs of). A fit pays this
        O(fleet) copy, so that changing a host stays O(that host's pools)."""
        return TableView(
            rows={},
            families={k: v.copy() for k, v in self.families.items()},
            held={k: v.copy() for k, v in self.held.items()},
            slots={k: v.copy() for k, v in self.slots.items()},
            layouts=self.layouts,
            together=self.together,
        )


class PoolTable:
    """Columns for every host slot, kept current with :meth:`put` and :meth:`drop`."""

    def __init__(self) -> None:
        self.rows = IntTable(("slot", "kind", "family", "count"))
        self.families = IntTable(("slot", "signature"))
        self.held = IntTable(("slot", "kind", "count"))
        self.slots = IntTable(("layout", "alive"))
        #: Per slot: [start, end) of its rows, families and held rows.
        self._blocks: list[tuple[int, int, int, int, int, int]] = []
        self._signatures: dict[tuple[object, ...], int] = {}
        self._layout_ids: dict[tuple[tuple[int, int | None], ...], int] = {}
        self._layouts: list[Layout] = []
        self._together: Counter[tuple[int, int]] = Counter()
        self._together_arrays: tuple[Int32Array, Int32Array] | None = None
        self._dead_rows = 0

    def new_slots(self, count: int) -> range:
        first = len(self.slots)
        self.slots.append({"layout": [0] * count, "alive": [0] * count})
        self._blocks.extend([(0, 0, 0, 0, 0, 0)] * count)
        return range(first, first + count)

    def put(self, slot: int, view: HostView, *, old: HostView | None) -> None:
        """Make ``slot`` hold ``view``'s pools instead of ``old``'s."""
        self.put_many([(slot, view, old)])

    def put_many(self, items: Sequence[tuple[int, HostView, HostView | None]]) -> None:
        """:meth:`put` for many slots (distinct ones), with one append per table."""
        rows: dict[str, list[int]] = {"slot": [], "kind": [], "family": [], "count": []}
        fams: dict[str, list[int]] = {"slot": [], "signature": []}
        held: dict[str, list[int]] = {"slot": [], "kind": [], "count": []}
        r, f, h = len(self.rows), len(self.families), len(self.held)
        layouts = []
        for slot, view, old in items:
            if old is not None:
                self._count_together(old, -1)
            self._clear(slot)
            fam_start = f + len(fams["slot"])
            r0, f0, h0 = r + len(rows["slot"]), fam_start, h + len(held["slot"])
            fams["slot"] += [slot] * len(view.families)
            fams["signature"] += [self._signature_id(x.signature) for x in view.families]
            rows["slot"] += [slot] * len(view.pools)
            rows["kind"] += [p.kind.id for p in view.pools]
            rows["family"] += [fam_start + x for x in view.family_of]
            rows["count"] += [p.count for p in view.pools]
            held["slot"] += [slot] * len(view.held)
            held["kind"] += [k.id for k, _ in view.held]
            held["count"] += [n for _, n in view.held]
            self._blocks[slot] = (r0, r0 + len(view.pools), f0, f0 + len(view.families),
                                  h0, h0 + len(view.held))  # fmt: skip
            self._count_together(view, +1)
            layouts.append(self._layout_id(view))
        self.rows.append(rows)
        self.families.append(fams)
        self.held.append(held)
        slots = [slot for slot, _, _ in items]
        self.slots.set("layout", slots, layouts)
        self.slots.set("alive", slots, [1] * len(slots))
        self._compact_if_needed()

    def drop(self, slot: int, view: HostView) -> None:
        """Forget what ``slot`` holds (the host left the fleet)."""
        self._count_together(view, -1)
        self._clear(slot)
        self.slots.set("alive", [slot], [0])

    def snapshot(self) -> TableView:
        if self._together_arrays is None:
            pairs = sorted(self._together)
            self._together_arrays = (
                np.array([a for a, _ in pairs], dtype=np.int32),
                np.array([b for _, b in pairs], dtype=np.int32),
            )
        return TableView(
            rows=self.rows.columns(),
            families=self.families.columns(),
            held=self.held.columns(),
            slots=self.slots.columns(),
            layouts=tuple(self._layouts),
            together=self._together_arrays,
        )

    # --- internals ----------------------------------------------------------------

    def _clear(self, slot: int) -> None:
        r0, r1, f0, f1, h0, h1 = self._blocks[slot]
        self.rows.assign("count", r0, r1, 0)
        self.families.assign("signature", f0, f1, -1)
        self.held.assign("count", h0, h1, 0)
        self._blocks[slot] = (0, 0, 0, 0, 0, 0)
        self._dead_rows += r1 - r0

    def _signature_id(self, signature: tuple[object, ...]) -> int:
        sid = self._signatures.get(signature)
        if sid is None:
            sid = self._signatures[signature] = len(self._signatures)
        return sid

    def _layout_id(self, view: HostView) -> int:
        key = tuple(sorted((n.id, n.socket) for n in view.numa_nodes))
        lid = self._layout_ids.get(key)
        if lid is None:
            lid = self._layout_ids[key] = len(self._layouts)
            sockets = {n.id: n.socket for n in view.numa_nodes}
            self._layouts.append(Layout(id=lid, sockets=sockets))
        return lid

    def _count_together(self, view: HostView, step: int) -> None:
        for family in view.families:
            kinds = sorted({view.pools[i].kind.id for i in family.pools})
            for i, a in enumerate(kinds):
                for b in kinds[i + 1 :]:
                    self._together[(a, b)] += step
                    self._together[(b, a)] += step
                    if self._together[(a, b)] <= 0:
                        del self._together[(a, b)], self._together[(b, a)]
                    self._together_arrays = None

    def _compact_if_needed(self) -> None:
        live = len(self.rows) - self._dead_rows
        if self._dead_rows <= live + SLACK:
            return
        row_keep = np.zeros(len(self.rows), dtype=np.bool_)
        fam_keep = np.zeros(len(self.families), dtype=np.bool_)
        held_keep = np.zeros(len(self.held), dtype=np.bool_)
        for r0, r1, f0, f1, h0, h1 in self._blocks:
            row_keep[r0:r1] = True
            fam_keep[f0:f1] = True
            held_keep[h0:h1] = True
        row_at = _starts(row_keep)
        fam_at = _starts(fam_keep)
        held_at = _starts(held_keep)
        self.rows.keep(row_keep)
        self.rows.rewrite("family", fam_at[self.rows.column("family")])
        self.families.keep(fam_keep)
        self.held.keep(held_keep)
        self._blocks = [
            (int(row_at[r0]), int(row_at[r1]), int(fam_at[f0]), int(fam_at[f1]),
             int(held_at[h0]), int(held_at[h1]))
            for r0, r1, f0, f1, h0, h1 in self._blocks
        ]  # fmt: skip
        self._dead_rows = 0


def _starts(keep: BoolArray) -> IntArray:
    """For each old position (and the end), how many kept rows come before it."""
    return np.concatenate(([0], np.cumsum(keep)))
