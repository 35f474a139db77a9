"""The fleet-wide screen: decide most hosts by counting, exactly, without the pipeline.

The pipeline of :mod:`pciplane.core.fit` places a guest's requests one after another on
one host. Its verdict depends on counts: per request, how many free devices match its
specs on the guest's NUMA cells, on unknown nodes, on the cells' sockets and elsewhere,
and how many of those the per-kind stages (PF, vdpa, remote-managed, live-migratable)
keep. Those counts are sums over pool rows, so they are computed for every host at once
(:class:`pciplane.core.pool_table.PoolTable`), and turned into certainties:

* **sure to fit**: every request passes whatever the other requests take first. The
  others can only take or block devices in PF families where they have candidates, at
  most ``count`` devices (plus the PF of each VF's family) for a request that takes no
  PF, and at most all of those families' devices for one that may. A request passes
  whatever is removed when each NUMA branch it could end in still keeps enough.
* **sure not to fit**: some request cannot find enough devices even in the largest set
  its NUMA policy could ever allow; or several requests sharing kinds need more than
  their largest sets hold together (Hall's condition); or a request nobody else can
  disturb fails on its own.

The rest go through the exact pipeline. A host's verdict is therefore exactly the
pipeline's. Stage semantics: nova-pci-semantics §3.4 (order), §3.6 (NUMA policies).
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from pciplane.core.columns import BoolArray, Int32Array, IntArray
from pciplane.core.fit import GuestRequest, pf_last_order
from pciplane.core.kind_vectors import KindVectors
from pciplane.core.pool_table import TableView
from pciplane.core.request import NumaPolicy, PciRequest
from pciplane.core.stages import STAGES, Stage, socket_nodes

#: Row classes by NUMA node, for the guest's cells: on a cell (and on the cells'
#: sockets or not), no node, elsewhere (on the sockets or not).
CELL_SOCKET, CELL, UNKNOWN, SOCKET, OTHER = range(5)
CLASSES = 5
#: Up to this many requests, every connected group of them is checked for Hall's
#: condition (2**6 subsets); above it only whole groups.
MAX_SUBSET_REQUESTS = 6

#: Device counts per slot: bincount's float64 sums (exact up to 2**53; numpy's stubs
#: type bincount as integer whatever the weights, hence Any).
FloatArray = npt.NDArray[Any]


@dataclass(frozen=True, kw_only=True, slots=True)
class Rows:
    """The pool rows that match some request of the guest, with their NUMA class."""

    kind: Int32Array
    slot: Int32Array
    family: Int32Array
    count: Int32Array
    numa_class: IntArray
    #: ``2 * numa_class * slots + slot``: where the row counts in a per-class bincount.
    class_slot: IntArray


@dataclass(frozen=True, kw_only=True, slots=True)
class Counts:
    """One request's free devices per host: matching (m_*) and kept by the per-kind
    stages (e_*), on the cells (s), cells or unknown (l), the socket branch (k), all (a)."""

    m_s: FloatArray
    e_s: FloatArray
    m_l: FloatArray
    e_l: FloatArray
    e_k: FloatArray
    e_a: FloatArray
    #: The most the NUMA stage could ever keep (kept by the per-kind stages too).
    most: FloatArray


@dataclass(frozen=True, kw_only=True, slots=True)
class Screen:
    """What the screen found, per host slot."""

    fits: BoolArray  # sure to fit
    fails: BoolArray  # sure not to fit
    #: Per request: passes when judged alone on the host as it is (exact).
    alone: tuple[BoolArray, ...]
    #: Per request: which pool kinds match it.
    matching: tuple[BoolArray, ...]
    rows: Rows
    #: Per request: the pipeline, in the guest's own order, surely reaches the request
    #: and judges it as if alone (nothing before it passes or takes anything it matches).
    judged_alone: tuple[BoolArray, ...]
    #: Per request and pool kind, what its stages see of the kind: NUMA node, device type
    #: and how many per-kind stages keep it (kinds alike in this are counted alike).
    looks: tuple[Int32Array, ...]

    @property
    def undecided(self) -> BoolArray:
        return ~(self.fits | self.fails)


def screenable(stages: Sequence[Stage]) -> bool:
    """The screen models NUMA first, then per-kind stages only (the order of STAGES)."""
    return bool(stages) and stages[0].name == "numa" and all(s.per_kind for s in stages[1:])


def screen(
    table: TableView, guest: GuestRequest, vectors: KindVectors, stages: Sequence[Stage] = STAGES
) -> Screen | None:
    """Screen every slot of ``table``; None when the stage list is not one it models."""
    if not screenable(stages):
        return None
    slots = len(table.slots["alive"])
    alive = table.slots["alive"].astype(np.bool_)
    requests = guest.pci
    cells = guest.numa_cells
    matching = tuple(vectors.matching(r.specs) for r in requests)
    kept = tuple(vectors.kept(r, stages) for r in requests)
    rows = _rows(table, guest, vectors, matching)
    counts = [
        _counts(rows, slots, m, k, r, cells)
        for m, k, r in zip(matching, kept, requests, strict=True)
    ]
    alone = tuple(_passes(c, r, cells, NO_LOSS) for c, r in zip(counts, requests, strict=True))
    takes = [_takeable(rows, k, r, cells) for k, r in zip(kept, requests, strict=True)]
    harm = _Harm(table, rows, requests, matching, kept, takes, vectors)
    # Sure to fit when every request passes in one of the first two orders tried.
    judged_alone = []
    fits = alive.copy()
    for r in range(len(requests)):  # the guest's own order
        lost = harm.before(range(r), r)
        judged_alone.append(fits & (np.asarray(lost.matched) == 0))
        fits &= _passes(counts[r], requests[r], cells, lost)
    order = pf_last_order(requests)
    passed = alive.copy()
    for i, r in enumerate(order):
        passed &= _passes(counts[r], requests[r], cells, harm.before(order[:i], r))
    fits |= passed
    fails = ~alive
    others = list(range(len(requests)))
    for r, (c, request) in enumerate(zip(counts, requests, strict=True)):
        fails |= c.most < request.count
        lost = harm.before([s for s in others if s != r], r)
        fails |= (np.asarray(lost.matched) == 0) & ~alone[r]
    fails |= _hall(table, rows, requests, kept, takes, vectors)
    both = fits & fails  # impossible by construction; left to the pipeline if it happens
    return Screen(
        fits=fits & ~both,
        fails=fails & ~both,
        alone=alone,
        matching=matching,
        rows=rows,
        judged_alone=tuple(judged_alone),
        looks=tuple(_look(vectors, r, stages) for r in requests),
    )


def _look(vectors: KindVectors, request: PciRequest, stages: Sequence[Stage]) -> Int32Array:
    """Per kind, (NUMA node, device type, stages kept) as one number (see Screen)."""
    numa = vectors.numa.astype(np.int64) + 1
    depth = vectors.depth(request, stages).astype(np.int64) + 1
    return np.asarray((numa * 8 + vectors.dev_type) * 16 + depth, dtype=np.int32)


def _policy(request: PciRequest, cells: frozenset[int] | None) -> NumaPolicy | None:
    """The policy the NUMA stage applies, or None when the guest has no NUMA cells."""
    if cells is None:
        return None
    return request.numa_policy or NumaPolicy.LEGACY


def _rows(
    table: TableView, guest: GuestRequest, vectors: KindVectors, matching: Sequence[BoolArray]
) -> Rows:
    """The live rows some request matches, each with its NUMA class for the guest's cells."""
    kind = table.rows["kind"]
    wanted = np.zeros(len(vectors), dtype=np.bool_)
    for m in matching:
        wanted |= m
    pick = np.flatnonzero(wanted[kind] & (table.rows["count"] > 0))
    rkind = kind[pick]
    rslot = table.rows["slot"][pick]
    cells = guest.numa_cells
    if cells is None:
        numa_class = np.full(len(pick), CELL, dtype=np.int64)
    else:
        numa = vectors.numa[rkind]
        on_cell = np.isin(vectors.numa, sorted(cells))[rkind]
        unknown = numa < 0
        on_socket = np.zeros(len(pick), dtype=np.bool_)
        if any(_policy(r, cells) is NumaPolicy.SOCKET for r in guest.pci):
            mask = _socket_mask(table, cells, int(numa.max(initial=0)) + 1)
            on_socket = mask[table.slots["layout"][rslot], np.maximum(numa, 0)] & ~unknown
        numa_class = np.where(
            on_cell,
            np.where(on_socket, CELL_SOCKET, CELL),
            np.where(unknown, UNKNOWN, np.where(on_socket, SOCKET, OTHER)),
        )
    slots = len(table.slots["alive"])
    return Rows(
        kind=rkind,
        slot=rslot,
        family=table.rows["family"][pick],
        count=table.rows["count"][pick],
        numa_class=numa_class,
        class_slot=numa_class * (2 * slots) + rslot,
    )


def _socket_mask(table: TableView, cells: frozenset[int], width: int) -> BoolArray:
    """Per NUMA layout, which nodes the socket branch keeps (the stage's own rule)."""
    width = max([width, *(n + 1 for lay in table.layouts for n in lay.sockets)])
    mask = np.zeros((max(len(table.layouts), 1), width), dtype=np.bool_)
    for layout in table.layouts:
        for node in socket_nodes(layout.sockets, cells):
            if node >= 0:
                mask[layout.id, node] = True
    return mask


def _counts(
    rows: Rows,
    slots: int,
    matching: BoolArray,
    kept: BoolArray,
    request: PciRequest,
    cells: frozenset[int] | None,
) -> Counts:
    m = np.flatnonzero(matching[rows.kind])
    kept_offset = np.where(kept, slots, 0)
    code = rows.class_slot[m] + kept_offset[rows.kind[m]]
    bins = np.bincount(code, weights=rows.count[m], minlength=slots * 2 * CLASSES)
    by_code = bins.reshape(2 * CLASSES, slots)
    kept_n = [by_code[2 * c + 1] for c in range(CLASSES)]
    matched = [by_code[2 * c] + kept_n[c] for c in range(CLASSES)]
    m_s = matched[CELL_SOCKET] + matched[CELL]
    e_s = kept_n[CELL_SOCKET] + kept_n[CELL]
    e_l = e_s + kept_n[UNKNOWN]
    e_a = e_l + kept_n[SOCKET] + kept_n[OTHER]
    policy = _policy(request, cells)
    most = {
        None: e_a,
        NumaPolicy.REQUIRED: e_s,
        NumaPolicy.LEGACY: e_l,
        NumaPolicy.SOCKET: e_s + kept_n[SOCKET],
        NumaPolicy.PREFERRED: e_a,
    }[policy]
    return Counts(
        m_s=m_s,
        e_s=e_s,
        m_l=m_s + matched[UNKNOWN],
        e_l=e_l,
        e_k=kept_n[CELL_SOCKET] + kept_n[SOCKET],
        e_a=e_a,
        most=most,
    )


@dataclass(frozen=True, kw_only=True, slots=True)
class Loss:
    """The most devices of a request other requests can remove: of those it keeps after
    the per-kind stages, and of those it matches at all (which steer the NUMA branch)."""

    kept: FloatArray | float = 0.0
    matched: FloatArray | float = 0.0

    def __add__(self, other: Loss) -> Loss:
        return Loss(kept=self.kept + other.kept, matched=self.matched + other.matched)


NO_LOSS = Loss()


def _passes(c: Counts, request: PciRequest, cells: frozenset[int] | None, lost: Loss) -> BoolArray:
    """Whether the request passes every stage after any such loss of its devices.

    With no loss this is exactly the pipeline's answer for the request alone. The NUMA
    stage picks a branch by counts of matching devices (§3.6), and a loss can change the
    branch, so every branch that could be picked must keep enough. A branch picked only
    when its matching devices number ``count`` is safe when the per-kind stages drop none
    of them.
    """
    n = request.count
    e, m = lost.kept, lost.matched
    policy = _policy(request, cells)
    if policy is None:
        return np.asarray(c.e_a - e >= n)
    if policy is NumaPolicy.REQUIRED:
        return np.asarray(c.e_s - e >= n)
    strict_ok = (c.m_s < n) | (c.e_s - e >= n) | (c.m_s == c.e_s)
    may_leave_cells = c.m_s - m < n
    if policy is NumaPolicy.LEGACY:
        return np.asarray(strict_ok & (~may_leave_cells | (c.e_l - e >= n)))
    if policy is NumaPolicy.SOCKET:
        return np.asarray(strict_ok & (~may_leave_cells | (c.e_k - e >= n)))
    loose_may = may_leave_cells & (c.m_l >= n)
    loose_ok = (c.e_l - e >= n) | (c.m_l == c.e_l)
    all_may = c.m_l - m < n
    return np.asarray(strict_ok & (~loose_may | loose_ok) & (~all_may | (c.e_a - e >= n)))


def _region(*classes: int) -> BoolArray:
    mask = np.zeros(CLASSES, dtype=np.bool_)
    mask[list(classes)] = True
    return mask


#: Per policy, the NUMA classes its widest branch keeps.
_REGION: dict[NumaPolicy | None, BoolArray] = {
    None: _region(CELL_SOCKET, CELL, UNKNOWN, SOCKET, OTHER),
    NumaPolicy.REQUIRED: _region(CELL_SOCKET, CELL),
    NumaPolicy.LEGACY: _region(CELL_SOCKET, CELL, UNKNOWN),
    NumaPolicy.SOCKET: _region(CELL_SOCKET, CELL, SOCKET),
    NumaPolicy.PREFERRED: _region(CELL_SOCKET, CELL, UNKNOWN, SOCKET, OTHER),
}


def _takeable(
    rows: Rows, kept: BoolArray, request: PciRequest, cells: frozenset[int] | None
) -> BoolArray:
    """Rows the request could ever take a device from: kept kinds, in its widest region."""
    region = _REGION[_policy(request, cells)]
    return np.asarray(kept[rows.kind] & region[rows.numa_class])


class _Harm:
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


def _hall(
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
