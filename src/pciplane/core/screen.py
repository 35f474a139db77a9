"""The fleet-wide screen: decide most hosts by counting, exactly, without the pipeline.

The pipeline of :mod:`pciplane.core.fit` places a guest's requests one after another on
one host. Its verdict depends on counts: per request, how many free devices match its
specs on the guest's NUMA cells, on unknown nodes, on the cells' sockets and elsewhere,
and how many of those the per-kind stages (PF, vdpa, remote-managed, live-migratable)
keep. Those counts are sums over pool rows, so they are computed for every host at once
(:mod:`pciplane.core.request_counts`), and turned into certainties:

* **sure to fit**: in the first order the pipeline tries (PF requests last) or in the
  guest's own order, every request passes whatever the requests before it can take or
  block (bounded in :mod:`pciplane.core.interference`); a request passes whatever is
  removed when every NUMA branch it could end in still keeps enough.
* **sure not to fit**: some request cannot find enough devices even in the largest set
  its NUMA policy could ever allow; or linked requests need more than they can reach
  together (Hall's condition, a PF family giving its PF or its VFs); or a request no
  other can disturb fails on its own.

The rest go through the exact pipeline. A host's verdict is therefore exactly the
pipeline's. Stage semantics: nova-pci-semantics §3.4 (order), §3.6 (NUMA policies).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from pciplane.core.columns import BoolArray, Int32Array
from pciplane.core.fit import GuestRequest
from pciplane.core.interference import Harm, hall
from pciplane.core.kind_vectors import KindVectors
from pciplane.core.pool_table import TableView
from pciplane.core.request import PciRequest, pf_last_order
from pciplane.core.request_counts import NO_LOSS, Rows, counts, passes, rows_of, takeable
from pciplane.core.stages import STAGES, Stage


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
    #: and judges it as if alone (every request before it passes, and none can take or
    #: block a device it matches).
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
    rows = rows_of(table, guest, vectors, matching)
    found = [
        counts(rows, slots, m, k, r, cells)
        for m, k, r in zip(matching, kept, requests, strict=True)
    ]
    alone = tuple(passes(c, r, cells, NO_LOSS) for c, r in zip(found, requests, strict=True))
    takes = [takeable(rows, k, r, cells) for k, r in zip(kept, requests, strict=True)]
    harm = Harm(table, rows, requests, matching, kept, takes, vectors)
    # Sure to fit when every request passes in one of the first two orders tried.
    judged_alone = []
    fits = alive.copy()
    for r in range(len(requests)):  # the guest's own order
        lost = harm.before(range(r), r)
        judged_alone.append(fits & (np.asarray(lost.matched) == 0))
        fits &= passes(found[r], requests[r], cells, lost)
    order = pf_last_order(requests)
    passed = alive.copy()
    for i, r in enumerate(order):
        passed &= passes(found[r], requests[r], cells, harm.before(order[:i], r))
    fits |= passed
    fails = ~alive
    others = list(range(len(requests)))
    for r, (c, request) in enumerate(zip(found, requests, strict=True)):
        fails |= c.most < request.count
        lost = harm.before([s for s in others if s != r], r)
        fails |= (np.asarray(lost.matched) == 0) & ~alone[r]
    fails |= hall(table, rows, requests, kept, takes, vectors)
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
