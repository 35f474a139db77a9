"""What each request of a guest finds on every host, counted by NUMA branch.

The pipeline's NUMA stage (nova-pci-semantics §3.6) keeps the candidates on the guest's
cells, or falls back (by policy) to those on the cells' sockets, on no node, or anywhere,
depending on how many *matching* devices each branch holds; the per-kind stages after it
then drop PFs, vdpa or remote-managed devices the request did not ask for. So a request's
fate on a host is a function of a few sums over the host's pools: matching and kept
devices, per NUMA class. This module computes those sums for all hosts at once (one
``bincount`` per request over the pool rows) and decides a request from them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from pciplane.core.columns import BoolArray, Int32Array, IntArray
from pciplane.core.fit import GuestRequest
from pciplane.core.kind_vectors import KindVectors
from pciplane.core.pool_table import TableView
from pciplane.core.request import NumaPolicy, PciRequest
from pciplane.core.stages import socket_nodes

#: Row classes by NUMA node, for the guest's cells: on a cell (and on the cells'
#: sockets or not), no node, elsewhere (on the sockets or not).
CELL_SOCKET, CELL, UNKNOWN, SOCKET, OTHER = range(5)
CLASSES = 5

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


def numa_policy(request: PciRequest, cells: frozenset[int] | None) -> NumaPolicy | None:
    """The policy the NUMA stage applies, or None when the guest has no NUMA cells."""
    if cells is None:
        return None
    return request.numa_policy or NumaPolicy.LEGACY


def rows_of(
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
        if any(numa_policy(r, cells) is NumaPolicy.SOCKET for r in guest.pci):
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


def counts(
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
    policy = numa_policy(request, cells)
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


def passes(c: Counts, request: PciRequest, cells: frozenset[int] | None, lost: Loss) -> BoolArray:
    """Whether the request passes every stage after any such loss of its devices.

    With no loss this is exactly the pipeline's answer for the request alone. The NUMA
    stage picks a branch by counts of matching devices (§3.6), and a loss can change the
    branch, so every branch that could be picked must keep enough. A branch picked only
    when its matching devices number ``count`` is safe when the per-kind stages drop none
    of them.
    """
    n = request.count
    e, m = lost.kept, lost.matched
    policy = numa_policy(request, cells)
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


def takeable(
    rows: Rows, kept: BoolArray, request: PciRequest, cells: frozenset[int] | None
) -> BoolArray:
    """Rows the request could ever take a device from: kept kinds, in its widest region."""
    region = _REGION[numa_policy(request, cells)]
    return np.asarray(kept[rows.kind] & region[rows.numa_class])
