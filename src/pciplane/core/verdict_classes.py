"""Exact explanations for many hosts at once, one pipeline run per class of hosts.

The screen says which hosts fit; the words of each "no" (and the stage records) come from
the pipeline of :mod:`pciplane.core.fit`, too slow to run for ten thousand hosts. But a
host's outcome depends only on the PF families holding a pool some request matches, on
the matching devices other servers hold (the "in use" counts) and on its NUMA layout:
no order the pipeline tries reads anything else. Hosts equal in those get the same
outcome, so the pipeline runs once per class. Classes are made coarser where the screen
knows more:

* A host that does not fit is explained in the guest's own order, which stops at the
  first request that fails. If ``j`` is the first request that fails *alone*, the run
  stops at ``j`` or before, so only the families of requests up to ``j`` matter. The NUMA
  stage is not monotone (a request can pass once an earlier one took a PF), so the
  class's first member is checked to stop by ``j``; if not, each member runs itself.
* When the run surely reaches ``j`` and judges it as if alone (nothing before it can
  fail or take what it matches), the reason is ``j``'s alone: it reads only sums of
  ``j``'s devices by NUMA node, device type and the stages keeping them. So are the
  stage records when ``j`` is the first request. These are the coarsest classes.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from pciplane.core.columns import BoolArray, IntArray
from pciplane.core.fit import GuestRequest, Outcome
from pciplane.core.pool_table import TableView
from pciplane.core.screen import Screen

_PAD = np.iinfo(np.int64).max
_HEADER = 4  # fits, j, by sums or by families, layout


def exact_outcomes(
    table: TableView,
    screen: Screen,
    guest: GuestRequest,
    slots: IntArray,
    fits: BoolArray,
    evaluate: Callable[[int], Outcome],
    *,
    reasons_only: bool = False,
) -> dict[int, Outcome]:
    """The pipeline's outcome for each of ``slots`` (``fits`` is indexed by slot).

    With ``reasons_only`` the outcomes' stage records may belong to another host of the
    class: only ``fits`` and ``reason`` are exact (what ``fit`` prints per host).
    """
    if len(slots) == 0:
        return {}
    if not guest.pci:  # nothing asked: every host fits with no stage to record
        outcome = evaluate(int(slots[0]))
        return {int(slot): outcome for slot in slots}
    last = _last_read(screen, guest, fits)
    class_of, first = _Keys(table, screen, guest, slots, fits, last, reasons_only).classes()
    out: dict[int, Outcome] = {}
    for c, rep in enumerate(slots[first]):
        outcome = evaluate(int(rep))
        members = slots[class_of == c]
        if not outcome.fits and _stopped_at(outcome) > last[rep]:
            for slot in members:
                out[int(slot)] = evaluate(int(slot))
            continue
        for slot in members:
            out[int(slot)] = outcome
    return out


def _stopped_at(outcome: Outcome) -> int:
    """The position (in the order run) of the request the run stopped at."""
    return sum(1 for rec in outcome.stages if rec.stage == "spec") - 1


def _last_read(screen: Screen, guest: GuestRequest, fits: BoolArray) -> IntArray:
    """Per slot, the last request whose devices the explanation can need (``j``)."""
    n = len(guest.pci)
    last = np.full(len(fits), n - 1, dtype=np.int64)
    for r in reversed(range(n)):
        last = np.where(screen.alone[r], last, r)
    return np.where(fits, n - 1, last)


class _Keys:
    """Builds one key per slot (a row of integers) and groups equal keys."""

    def __init__(
        self,
        table: TableView,
        screen: Screen,
        guest: GuestRequest,
        slots: IntArray,
        fits: BoolArray,
        last: IntArray,
        reasons_only: bool,
    ) -> None:
        self.table, self.screen, self.guest = table, screen, guest
        self.slots, self.fits, self.last = slots, fits, last
        n = len(guest.pci)
        chosen = np.zeros(len(fits), dtype=np.bool_)
        chosen[slots] = True
        alone_at_last = np.zeros(len(fits), dtype=np.bool_)
        for r in range(n):
            judged = screen.judged_alone[r] if reasons_only or r == 0 else False
            alone_at_last |= (last == r) & judged
        #: Explained by the sums of one request's devices (the others: by families).
        self.by_sums = chosen & ((~fits & alone_at_last) | (fits & (n == 1)))
        self.by_families = chosen & ~self.by_sums
        self.entry_slot: list[IntArray] = []
        self.entry_token: list[IntArray] = []

    def classes(self) -> tuple[IntArray, IntArray]:
        """Class of each slot and, per class, the position in ``slots`` of one member."""
        self._sums()
        self._families()
        self._in_use()
        entry_slot = np.concatenate(self.entry_slot).astype(np.int64)
        entry_token = np.concatenate(self.entry_token).astype(np.int64)
        order = np.lexsort((entry_token, entry_slot))
        entry_slot, entry_token = entry_slot[order], entry_token[order]
        size = len(self.fits)
        per_slot = np.bincount(entry_slot, minlength=size)
        start = np.concatenate(([0], np.cumsum(per_slot)))
        rank = np.arange(len(entry_slot)) - start[entry_slot]
        row_of = np.full(size, -1, dtype=np.int64)
        row_of[self.slots] = np.arange(len(self.slots))
        width = int(per_slot[self.slots].max(initial=0))
        keys = np.full((len(self.slots), _HEADER + width), _PAD, dtype=np.int64)
        keys[:, 0] = self.fits[self.slots]
        keys[:, 1] = self.last[self.slots]
        keys[:, 2] = self.by_sums[self.slots]
        cells = self.guest.numa_cells
        keys[:, 3] = -1 if cells is None else self.table.slots["layout"][self.slots]
        keys[row_of[entry_slot], _HEADER + rank] = entry_token
        _, first, class_of = np.unique(keys, axis=0, return_index=True, return_inverse=True)
        return class_of.reshape(-1), first

    def _add(self, slot: IntArray, token: IntArray) -> None:
        self.entry_slot.append(slot)
        self.entry_token.append(token)

    def _sums(self) -> None:
        """Request ``j``'s free devices, summed by what its stages see of their kind."""
        rows, screen = self.screen.rows, self.screen
        for r, look in enumerate(screen.looks):
            pick = screen.matching[r][rows.kind] & self.by_sums[rows.slot]
            pick &= self.last[rows.slot] == r
            looks = int(look.max(initial=0)) + 1
            code = rows.slot[pick].astype(np.int64) * looks + look[rows.kind[pick]]
            distinct, inverse = np.unique(code, return_inverse=True)
            total = np.bincount(inverse, weights=rows.count[pick], minlength=len(distinct))
            self._add(distinct // looks, ((distinct % looks) << 32) | total.astype(np.int64))

    def _families(self) -> None:
        """Every PF family with a pool some request up to ``j`` matches, whole."""
        rows, screen, n = self.screen.rows, self.screen, len(self.guest.pci)
        fam_slot = self.table.families["slot"]
        first = np.full(len(fam_slot), n, dtype=np.int64)
        for r in reversed(range(n)):
            first[rows.family[screen.matching[r][rows.kind]]] = r
        signature = self.table.families["signature"].astype(np.int64)
        fams = np.flatnonzero(
            (signature >= 0) & self.by_families[fam_slot] & (first <= self.last[fam_slot])
        )
        self._add(fam_slot[fams].astype(np.int64), signature[fams])

    def _in_use(self) -> None:
        """Devices other servers hold: per request read, the sum over the kinds it matches."""
        held = self.table.held
        slot, kind = held["slot"], held["kind"]
        live = (held["count"] > 0) & (self.by_sums | self.by_families)[slot]
        for r in range(len(self.guest.pci)):
            mask = live & self.screen.matching[r][kind] & (r <= self.last[slot])
            mask &= self.by_families[slot] | (self.last[slot] == r)
            in_use = np.bincount(slot[mask], weights=held["count"][mask], minlength=len(self.fits))
            used = np.flatnonzero(in_use)
            self._add(used, -1 - ((r << 40) | in_use[used].astype(np.int64)))
