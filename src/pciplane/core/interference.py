"""How the requests of one guest can get in each other's way on a host, bounded.

The pipeline places a guest's requests one after another: each takes devices, and taking
a device blocks its PF family's other side (fit's PF/VF exclusivity). Two bounds come
from the pool rows, for every host at once:

* :class:`Harm`: the most devices of request r that the requests placed before it can
  take or block (they act only in PF families where they have candidates);
* :func:`hall`: no placement exists when linked requests need more devices than they
  can reach together (Hall's condition, with a PF family counting for one side only).
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import numpy as np

from pciplane.core.columns import BoolArray, Int32Array
from pciplane.core.kind_vectors import KindVectors
from pciplane.core.pool_table import TableView
from pciplane.core.request import PciRequest
from pciplane.core.request_counts import NO_LOSS, FloatArray, Loss, Rows

#: Up to this many requests, every connected group of them is checked for Hall's
#: condition (2**6 subsets); above it only whole groups.
MAX_SUBSET_REQUESTS = 6


class Harm:
    """Per pair of requests (s, r), the most devices of r that s can take or block.

    A request takes at most ``count`` devices, from at most ``count`` PF families where
    it has candidates, and taking a device blocks only its own family (the PF for a VF,
    the VFs for a PF: fit's exclusivity). So s removes at most r's devices in the
    ``count`` richest of those families; and when s takes no PF, at most one device per
    take, plus that family's PF.
    """

    def __init__(
        self,
        table: TableView,
        rows: Rows,
        requests: Sequence[PciRequest],
        matching: Sequence[BoolArray],
        kept: Sequence[BoolArray],
        takes: Sequence[BoolArray],
        vectors: KindVectors,
    ) -> None:
        self._slots = len(table.slots["alive"])
        self._fam_slot = table.families["slot"]
        self._rows = rows
        self._together = table.together
        self._pair: dict[tuple[int, int], Loss] = {}
        pf = vectors.is_pf
        left, right = table.together
        for s, taker in enumerate(requests):
            for r in range(len(requests)):
                if r == s or taker.count == 0 or not _touches(kept[s], matching[r], left, right):
                    continue
                if np.any(kept[s] & pf):
                    loss = self._families(takes[s], kept[r], matching[r], taker.count)
                else:
                    loss = self._per_take(kept[s], kept[r], matching[r], pf, taker.count)
                    if not np.any(kept[s] & matching[r]):  # only PFs of s's families
                        loss = _least(loss, self._families(takes[s], kept[r], matching[r], 1))
                self._pair[(s, r)] = loss

    def before(self, takers: Sequence[int], r: int) -> Loss:
        """The most ``takers`` together can remove of ``r``'s devices."""
        total = NO_LOSS
        for s in takers:
            total = total + self._pair.get((s, r), NO_LOSS)
        return total

    def _per_take(
        self, taker: BoolArray, kept: BoolArray, matching: BoolArray, pf: BoolArray, count: int
    ) -> Loss:
        """A taker of no PF: per device, the device itself and its family's PF."""
        left, right = self._together

        def per_take(wanted: BoolArray) -> int:
            same = bool(np.any(taker & wanted))
            relative = bool(np.any(taker[left] & wanted[right] & pf[right]))
            return count * (int(same) + int(relative))

        return Loss(kept=per_take(kept), matched=per_take(matching))

    def _families(self, takes: BoolArray, kept: BoolArray, matching: BoolArray, count: int) -> Loss:
        """Per slot, r's devices in the ``count`` richest families the taker can touch."""
        rows = self._rows
        touched = np.zeros(len(self._fam_slot), dtype=np.bool_)
        touched[rows.family[takes]] = True
        hit = np.flatnonzero(matching[rows.kind] & touched[rows.family])
        families, inverse = np.unique(rows.family[hit], return_inverse=True)
        owner = self._fam_slot[families]
        weights = rows.count[hit]
        kept_w = weights * kept[rows.kind[hit]]
        kept_sums = np.bincount(inverse, kept_w, len(families))
        sums = np.bincount(inverse, weights, len(families))
        return Loss(
            kept=_extreme_sums(owner, kept_sums, count, self._slots, largest=True),
            matched=_extreme_sums(owner, sums, count, self._slots, largest=True),
        )


def _least(a: Loss, b: Loss) -> Loss:
    return Loss(kept=np.minimum(a.kept, b.kept), matched=np.minimum(a.matched, b.matched))


def _touches(taker: BoolArray, other: BoolArray, left: Int32Array, right: Int32Array) -> bool:
    """Whether a kind ``taker`` may take is one ``other`` matches or shares a family with."""
    return bool(np.any(taker & other) or np.any(taker[left] & other[right]))


def hall(
    table: TableView,
    rows: Rows,
    requests: Sequence[PciRequest],
    kept: Sequence[BoolArray],
    takes: Sequence[BoolArray],
    vectors: KindVectors,
) -> BoolArray:
    """Hosts where some linked requests need more devices than they can reach together.

    A PF family gives either its PF or some of its VFs, never both: it counts for its
    larger side only, and when some requests want PFs and the others VFs, the PFs must
    come from families whose VFs are then lost. Neither holds when one request may take
    both sides of a family (its own take would block some of its candidates, which the
    pipeline's filter does not foresee), so such groups are counted plainly.
    """
    slots = len(table.slots["alive"])
    left, right = table.together
    pf = vectors.is_pf
    mixed = [bool(np.any(k[left] & k[right] & (pf[left] != pf[right]))) for k in kept]
    wants_pf = [bool(np.any(k & pf)) for k in kept]
    one_sided = [not (np.any(k & pf) and np.any(k & ~pf)) for k in kept]
    fails = np.zeros(slots, dtype=np.bool_)
    for group in _groups(kept, left, right):
        union = np.zeros(len(rows.kind), dtype=np.bool_)
        for r in group:
            union |= takes[r]
        picked = np.flatnonzero(union)
        count = rows.count[picked]
        need = sum(requests[r].count for r in group)
        if any(mixed[r] for r in group):
            fails |= np.bincount(rows.slot[picked], weights=count, minlength=slots) < need
            continue
        families, inverse = np.unique(rows.family[picked], return_inverse=True)
        is_pf = pf[rows.kind[picked]]
        pfs = np.bincount(inverse, weights=count * is_pf, minlength=len(families))
        rest = np.bincount(inverse, weights=count * ~is_pf, minlength=len(families))
        owner = table.families["slot"][families]
        fails |= np.bincount(owner, weights=np.maximum(pfs, rest), minlength=slots) < need
        sides = {wants_pf[r] for r in group}
        if sides == {True, False} and all(one_sided[r] for r in group):
            fails |= _split_short(owner, pfs, rest, requests, group, wants_pf, slots)
    return fails


def _split_short(
    owner: Int32Array,
    pfs: FloatArray,
    rest: FloatArray,
    requests: Sequence[PciRequest],
    group: tuple[int, ...],
    wants_pf: Sequence[bool],
    slots: int,
) -> BoolArray:
    """PF requests and VF requests together: giving the PFs costs their families' VFs.

    The cheapest choice gives the PFs of the families with the fewest VFs; if even then
    too few VFs are left (or too few PFs exist), no placement exists.
    """
    pf_need = sum(requests[r].count for r in group if wants_pf[r])
    vf_need = sum(requests[r].count for r in group if not wants_pf[r])
    with_pf = pfs > 0
    pf_families = np.bincount(owner[with_pf], minlength=slots)
    lost = _extreme_sums(owner[with_pf], rest[with_pf], pf_need, slots, largest=False)
    vfs = np.bincount(owner, weights=rest, minlength=slots)
    return np.asarray((pf_families < pf_need) | (vfs - lost < vf_need))


def _extreme_sums(
    owner: Int32Array, values: FloatArray, k: int, slots: int, *, largest: bool
) -> FloatArray:
    """Per slot, the sum of its ``k`` largest (or smallest) values."""
    order = np.lexsort((-values if largest else values, owner))
    owner, values = owner[order], values[order]
    rank = np.arange(len(owner)) - np.searchsorted(owner, owner)
    top = rank < k
    return np.bincount(owner[top], weights=values[top], minlength=slots)


def _groups(
    kept: Sequence[BoolArray], left: Int32Array, right: Int32Array
) -> list[tuple[int, ...]]:
    """Sets of two or more requests linked by kinds they share or that share a family."""
    n = len(kept)
    linked = {
        (a, b)
        for a in range(n)
        for b in range(n)
        if a != b and _touches(kept[a], kept[b], left, right)
    }
    if not linked:
        return []
    if n > MAX_SUBSET_REQUESTS:
        return _components(n, linked)
    return [
        group
        for size in range(2, n + 1)
        for group in itertools.combinations(range(n), size)
        if len(_reach(group[0], group, linked)) == size
    ]


def _components(n: int, linked: set[tuple[int, int]]) -> list[tuple[int, ...]]:
    out: list[tuple[int, ...]] = []
    seen: set[int] = set()
    for start in range(n):
        if start not in seen:
            component = _reach(start, range(n), linked)
            seen |= component
            if len(component) > 1:
                out.append(tuple(sorted(component)))
    return out


def _reach(start: int, among: Sequence[int], linked: set[tuple[int, int]]) -> set[int]:
    seen = {start}
    todo = [start]
    while todo:
        a = todo.pop()
        for b in among:
            if b not in seen and (a, b) in linked:
                seen.add(b)
                todo.append(b)
    return seen
