"""Per pool kind, what the fleet-wide screen reads: NUMA node, PF or not, and per request
whether the kind matches and whether the per-kind stages keep it.

Pool kinds recur across a fleet (a few hundred kinds for ten thousand hosts), so a
request is compared with each kind once and the answer is a boolean vector indexed by
kind id; the screen then reads it for every pool row at once. Kind ids only grow
(:meth:`pciplane.core.pool.KindTable.since`), so cached vectors are extended, never
recomputed.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

import numpy as np

from pciplane.core.columns import BoolArray, Int32Array
from pciplane.core.device import DevType
from pciplane.core.pool import KindMatcher, KindTable, PoolKind
from pciplane.core.request import PciRequest, RequestSpec
from pciplane.core.stages import Candidate, Context, Stage

#: Requests remembered at once; beyond this the caches start again (bounded memory).
MAX_CACHED = 1024

_NO_CONTEXT = Context(numa_cells=None, sockets={})


class KindVectors:
    """Kind-indexed vectors, grown as the kind table grows."""

    def __init__(self, kinds: KindTable, matcher: KindMatcher) -> None:
        self._kinds = kinds
        self._matcher = matcher
        self._all: list[PoolKind] = []
        self._numa = np.zeros(0, dtype=np.int32)
        self._type = np.zeros(0, dtype=np.int32)
        self._matching: dict[tuple[RequestSpec, ...], BoolArray] = {}
        self._depth: dict[tuple[PciRequest, tuple[Stage, ...]], Int32Array] = {}

    def __len__(self) -> int:
        self._grow()
        return len(self._all)

    @property
    def numa(self) -> Int32Array:
        """Each kind's NUMA node, -1 where firmware reported none."""
        self._grow()
        return self._numa

    @property
    def dev_type(self) -> Int32Array:
        """Each kind's device type, as its position in :class:`DevType`."""
        self._grow()
        return self._type

    @property
    def is_pf(self) -> BoolArray:
        return np.asarray(self.dev_type == _TYPES.index(DevType.PF))

    def matching(self, specs: tuple[RequestSpec, ...]) -> BoolArray:
        """Which kinds match any of ``specs`` (Nova §3.3, through the shared matcher)."""
        self._grow()
        known = self._matching.get(specs)
        if known is not None and len(known) == len(self._all):
            return known
        start = 0 if known is None else len(known)
        fresh = np.fromiter(
            (self._matcher.matches(k, specs) for k in self._all[start:]),
            dtype=np.bool_,
            count=len(self._all) - start,
        )
        vector = fresh if known is None else np.concatenate((known, fresh))
        self._remember(self._matching, specs, vector)
        return vector

    def kept(self, request: PciRequest, stages: Sequence[Stage]) -> BoolArray:
        """Which kinds match ``request`` and pass every per-kind stage for it."""
        return np.asarray(self.depth(request, stages) == sum(s.per_kind for s in stages))

    def depth(self, request: PciRequest, stages: Sequence[Stage]) -> Int32Array:
        """Per kind, how many per-kind stages in a row keep it (-1: it does not match)."""
        match = self.matching(request.specs)
        key = (request, tuple(stages))
        known = self._depth.get(key)
        if known is not None and len(known) == len(match):
            return known
        start = 0 if known is None else len(known)
        fresh = np.full(len(match) - start, -1, dtype=np.int32)
        for i in np.flatnonzero(match[start:]):
            fresh[i] = _depth(self._all[start + int(i)], request, stages)
        vector = fresh if known is None else np.concatenate((known, fresh))
        self._remember(self._depth, key, vector)
        return vector

    def _grow(self) -> None:
        new = self._kinds.since(len(self._all))
        if not new:
            return
        self._all.extend(new)
        numa = [-1 if k.numa_node is None else k.numa_node for k in new]
        self._numa = np.concatenate((self._numa, np.array(numa, dtype=np.int32)))
        types = [_TYPES.index(k.dev_type) for k in new]
        self._type = np.concatenate((self._type, np.array(types, dtype=np.int32)))

    @staticmethod
    def _remember(cache: dict[Key, Vector], key: Key, vector: Vector) -> None:
        if len(cache) >= MAX_CACHED and key not in cache:
            cache.clear()
        vector.flags.writeable = False
        cache[key] = vector


_TYPES = list(DevType)
Key = TypeVar("Key")
Vector = TypeVar("Vector", BoolArray, Int32Array)


def _depth(kind: PoolKind, request: PciRequest, stages: Sequence[Stage]) -> int:
    """How many of the per-kind stages, in order, keep a pool of ``kind`` for ``request``."""
    probe = [Candidate(0, kind, 1)]
    depth = 0
    for stage in stages:
        if stage.per_kind:
            if not stage.keep(probe, request, _NO_CONTEXT):
                break
            depth += 1
    return depth
