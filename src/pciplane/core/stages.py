"""The filter stages a PCI request passes through, as data (Nova's ``_filter_pools``).

Each :class:`Stage` keeps some of the candidate pools; :mod:`pciplane.core.fit` runs
them in order with one loop and records what each removed. The order and the rules are
Nova's (nova-pci-semantics §3.4, §3.6): spec match, NUMA policy, no PF unless asked, no
vdpa unless asked, no remote-managed device unless asked, live-migratable. Placement
restriction (§3.4 step 6) has no equivalent: pciplane does not use Placement.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from pciplane.core.boolean import truthy
from pciplane.core.device import DevType
from pciplane.core.pool import PoolKind
from pciplane.core.request import NumaPolicy, PciRequest


@dataclass(frozen=True, slots=True)
class Candidate:
    """A pool as a stage sees it: its kind and how many devices it has left."""

    index: int
    kind: PoolKind
    remaining: int


@dataclass(frozen=True, kw_only=True, slots=True)
class Context:
    """What the stages need besides the pools: the guest's cells and the host's sockets."""

    numa_cells: frozenset[int] | None
    sockets: Mapping[int, int | None]  # host NUMA node id -> socket


def _total(cands: Sequence[Candidate]) -> int:
    return sum(c.remaining for c in cands)


def _requested_dev_types(request: PciRequest) -> set[str]:
    return {str(s.get("dev_type")) for s in request.specs if s.get("dev_type") is not None}


def socket_nodes(sockets: Mapping[int, int | None], cells: frozenset[int]) -> frozenset[int]:
    """The host NUMA nodes on the sockets of the guest's cells (Nova §3.6, ``socket``).

    Empty when the host reports no sockets or any node's socket is unknown: the socket
    policy then allows no device.
    """
    if not sockets or any(s is None for s in sockets.values()):
        return frozenset()
    wanted = {sockets.get(c) for c in cells} - {None}
    return frozenset(n for n, s in sockets.items() if s in wanted)


def numa_filter(cands: list[Candidate], request: PciRequest, ctx: Context) -> list[Candidate]:
    """Nova §3.6: strict cells first, then socket, then "affine or unknown", then any."""
    cells = ctx.numa_cells
    if cells is None:
        return cands
    policy = request.numa_policy or NumaPolicy.LEGACY
    strict = [c for c in cands if c.kind.numa_node in cells]
    if policy is NumaPolicy.REQUIRED or _total(strict) >= request.count:
        return strict
    if policy is NumaPolicy.SOCKET:
        nodes = socket_nodes(ctx.sockets, cells)
        return [c for c in cands if c.kind.numa_node is not None and c.kind.numa_node in nodes]
    loose = [c for c in cands if c.kind.numa_node is None or c.kind.numa_node in cells]
    if policy is NumaPolicy.LEGACY or _total(loose) >= request.count:
        return loose
    # preferred: everything, affine (or unknown) first
    return loose + [c for c in cands if c not in loose]


def pf_filter(cands: list[Candidate], request: PciRequest, _ctx: Context) -> list[Candidate]:
    if str(DevType.PF) in _requested_dev_types(request):
        return cands
    return [c for c in cands if c.kind.dev_type is not DevType.PF]


def vdpa_filter(cands: list[Candidate], request: PciRequest, _ctx: Context) -> list[Candidate]:
    if str(DevType.VDPA) in _requested_dev_types(request):
        return cands
    return [c for c in cands if c.kind.dev_type is not DevType.VDPA]


def remote_managed_filter(
    cands: list[Candidate], request: PciRequest, _ctx: Context
) -> list[Candidate]:
    if any(truthy(s.get("remote_managed")) for s in request.specs):
        return cands
    return [c for c in cands if not truthy(c.kind.mapping.get("remote_managed"))]


def live_migratable_filter(
    cands: list[Candidate], request: PciRequest, _ctx: Context
) -> list[Candidate]:
    wanted = {str(s.get("live_migratable")).lower() for s in request.specs}
    if wanted not in ({"true"}, {"false"}):
        return cands
    (value,) = wanted
    return [c for c in cands if str(c.kind.mapping.get("live_migratable")).lower() == value]


Keep = Callable[[list[Candidate], PciRequest, Context], list[Candidate]]


@dataclass(frozen=True, slots=True)
class Stage:
    name: str
    keep: Keep
    #: Why a device this stage removes may not be used, for the explanation.
    because: str
    #: Whether the stage keeps or drops each pool on the pool's kind and the request
    #: alone, never on counts: the fleet-wide screen (:mod:`pciplane.core.screen`) then
    #: decides it once per pool kind instead of once per host.
    per_kind: bool = True


STAGES: tuple[Stage, ...] = (
    Stage("numa", numa_filter, "on the wrong NUMA node for the policy", per_kind=False),
    Stage("pf", pf_filter, "PFs, which only a request for type-PF may take"),
    Stage("vdpa", vdpa_filter, "vdpa devices, which only a vdpa request may take"),
    Stage(
        "remote_managed",
        remote_managed_filter,
        "remote-managed, which only a remote-managed port may take",
    ),
    Stage("live_migratable", live_migratable_filter, "of the wrong live_migratable value"),
)
