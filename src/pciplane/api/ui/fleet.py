"""The fleet page: every host with its pools as free/used bars, filters, totals per kind.

A thousand hosts do not fit on one screen: the page shows the totals of every host the
filters keep, and the hosts themselves a page at a time. The hosts come from
:meth:`HostService.overview` (the scheduler's index, pools counted once per generation),
so a page costs the filtering and fifty rows, not a read of every device.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from urllib.parse import urlencode

from fastapi import Request
from starlette.responses import Response

from pciplane.api.auth import require_admin
from pciplane.api.paths import services
from pciplane.api.ui.render import page
from pciplane.api.ui.session import signed_in
from pciplane.core.errors import RequestError
from pciplane.core.pool import PoolUsage
from pciplane.host.pciids import names_at
from pciplane.service.hosts import HostInfo
from pciplane.store.hosts import HostRecord

PAGE_SIZE = 50
#: Width of a pool's bar in the fleet table, in SVG user units (px).
BAR_WIDTH = 120
STATES = ("", "alive", "dead", "disabled")


def kind_of(pool: PoolUsage) -> str:
    """The pool kind the filters and totals use: ``10de:20b5 type-PCI``."""
    return f"{pool.vendor_id}:{pool.product_id} {pool.dev_type}"


def device_name(vendor_product: str) -> str:
    """The model's name from ``pci.ids`` (``GA100 [A100 SXM4 40GB]``), or ``""``."""
    vendor, _, product = vendor_product.partition(":")
    return names_at().device(vendor, product) or ""


def disabled_reason(record: HostRecord) -> str | None:
    """Why the host takes no new servers when an operator disabled it (``host disable
    --reason``; ``disabled`` when none was given); None when it is enabled."""
    if not record.disabled:
        return None
    return record.disabled_reason or "disabled"


@dataclass(frozen=True, kw_only=True, slots=True)
class FleetFilter:
    kind: str = ""
    physnet: str = ""
    min_free: int | None = None
    state: str = ""
    name: str = ""
    page: int = 1

    @classmethod
    def parse(cls, params: Mapping[str, str]) -> FleetFilter:
        """The query string, each value checked; a bad one is a RequestError naming it."""
        min_free = _whole(params.get("free", ""), "free at least", minimum=0)
        page_no = _whole(params.get("page", ""), "page", minimum=1)
        state = params.get("state", "")
        if state not in STATES:
            raise RequestError(f"agent: {state!r} is not one of alive, dead, disabled")
        return cls(
            kind=params.get("kind", "").strip(),
            physnet=params.get("physnet", "").strip(),
            min_free=min_free,
            state=state,
            name=params.get("name", "").strip(),
            page=page_no or 1,
        )

    def matching(self, pools: Sequence[PoolUsage]) -> list[PoolUsage]:
        """The pools the kind and physnet filters keep."""
        return [
            p
            for p in pools
            if (not self.kind or kind_of(p) == self.kind)
            and (not self.physnet or p.physical_network == self.physnet)
        ]

    def keeps(self, info: HostInfo) -> bool:
        name = info.record.host.name
        if self.name and self.name.lower() not in name.lower():
            return False
        if self.state == "alive" and not info.alive:
            return False
        if self.state == "dead" and info.alive:
            return False
        if self.state == "disabled" and disabled_reason(info.record) is None:
            return False
        pools = self.matching(info.pools)
        if (self.kind or self.physnet) and not pools:
            return False
        return self.min_free is None or sum(p.free for p in pools) >= self.min_free

    def query(self, page_no: int) -> str:
        """The query string of this filter on another page."""
        values = {
            "kind": self.kind,
            "physnet": self.physnet,
            "free": "" if self.min_free is None else str(self.min_free),
            "state": self.state,
            "name": self.name,
        }
        return "?" + urlencode({**{k: v for k, v in values.items() if v}, "page": page_no})


def _whole(text: str, what: str, *, minimum: int) -> int | None:
    text = text.strip()
    if not text:
        return None
    try:
        value = int(text)
    except ValueError:
        raise RequestError(f"{what}: {text!r} is not a whole number") from None
    if value < minimum:
        raise RequestError(f"{what}: {value} is less than {minimum}")
    return value


_PARENT = re.compile(r"\bparent_ifname=(\S+)")


@dataclass(frozen=True, kw_only=True, slots=True)
class PoolBar:
    label: str
    kind: str
    #: The PF whose VFs these are (pools of VFs are per PF), when it has a netdev.
    parent: str | None
    physnet: str | None
    numa: str
    total: int
    used: int
    free: int
    #: Widths of the used and free parts, in px (unusable: a relative is taken).
    used_px: int
    free_px: int
    #: Neither free nor used: unusable while a PF or VF relative is taken.
    blocked_px: int

    @classmethod
    def of(cls, pool: PoolUsage) -> PoolBar:
        total = max(pool.total, 1)
        used_px = round(BAR_WIDTH * pool.used / total)
        free_px = round(BAR_WIDTH * pool.free / total)
        return cls(
            label=pool.pool,
            kind=kind_of(pool),
            parent=match.group(1) if (match := _PARENT.search(pool.pool)) else None,
            physnet=pool.physical_network,
            numa="?" if pool.numa_node is None else str(pool.numa_node),
            total=pool.total,
            used=pool.used,
            free=pool.free,
            used_px=used_px,
            free_px=free_px,
            blocked_px=max(0, BAR_WIDTH - used_px - free_px) if pool.total else BAR_WIDTH,
        )


@dataclass(frozen=True, kw_only=True, slots=True)
class HostRow:
    name: str
    alive: bool
    disabled: str | None
    sriov_only: bool
    devices: int
    free: int
    total: int
    pools: tuple[PoolBar, ...]


@dataclass(frozen=True, kw_only=True, slots=True)
class KindTotal:
    kind: str
    name: str
    hosts: int
    total: int
    used: int
    free: int
    used_px: int
    free_px: int


@dataclass(frozen=True, kw_only=True, slots=True)
class FleetPage:
    rows: tuple[HostRow, ...]
    totals: tuple[KindTotal, ...]
    kinds: tuple[tuple[str, str], ...]
    physnets: tuple[str, ...]
    matched: int
    hosts: int
    alive: int
    dead: int
    page: int
    pages: int


def _row(info: HostInfo, flt: FleetFilter) -> HostRow:
    pools = sorted(info.pools, key=lambda p: (kind_of(p), p.physical_network or "", p.pool))
    shown = flt.matching(pools) if (flt.kind or flt.physnet) else pools
    return HostRow(
        name=info.record.host.name,
        alive=info.alive,
        disabled=disabled_reason(info.record),
        sriov_only=info.record.host.sriov_only,
        devices=len(info.record.host.devices),
        free=sum(p.free for p in shown),
        total=sum(p.total for p in shown),
        pools=tuple(PoolBar.of(p) for p in shown),
    )


def _totals(kept: Sequence[HostInfo], flt: FleetFilter) -> tuple[KindTotal, ...]:
    sums: dict[str, list[int]] = {}  # kind -> [hosts, total, used, free]
    for info in kept:
        seen: set[str] = set()
        for pool in flt.matching(info.pools):
            kind = kind_of(pool)
            row = sums.setdefault(kind, [0, 0, 0, 0])
            row[0] += kind not in seen
            seen.add(kind)
            row[1] += pool.total
            row[2] += pool.used
            row[3] += pool.free
    out = []
    for kind, (hosts, total, used, free) in sorted(sums.items()):
        width = max(total, 1)
        out.append(
            KindTotal(
                kind=kind,
                name=device_name(kind.split(" ", 1)[0]),
                hosts=hosts,
                total=total,
                used=used,
                free=free,
                used_px=round(2 * BAR_WIDTH * used / width),
                free_px=round(2 * BAR_WIDTH * free / width),
            )
        )
    return tuple(out)


def fleet_page(infos: Sequence[HostInfo], flt: FleetFilter) -> FleetPage:
    kinds: set[str] = set()
    physnets: set[str] = set()
    for info in infos:
        for pool in info.pools:
            kinds.add(kind_of(pool))
            if pool.physical_network:
                physnets.add(pool.physical_network)
    kept = [i for i in infos if flt.keeps(i)]
    pages = max(1, -(-len(kept) // PAGE_SIZE))
    page_no = min(flt.page, pages)
    start = (page_no - 1) * PAGE_SIZE
    alive = sum(i.alive for i in kept)
    return FleetPage(
        rows=tuple(_row(i, flt) for i in kept[start : start + PAGE_SIZE]),
        totals=_totals(kept, flt),
        kinds=tuple((k, device_name(k.split(" ", 1)[0])) for k in sorted(kinds)),
        physnets=tuple(sorted(physnets)),
        matched=len(kept),
        hosts=len(infos),
        alive=alive,
        dead=len(kept) - alive,
        page=page_no,
        pages=pages,
    )


def show(request: Request) -> Response:
    who = signed_in(request)
    require_admin(who)
    params = dict(request.query_params)
    try:
        flt = FleetFilter.parse(params)
    except RequestError as exc:
        return page(
            "fleet.html", who=who, status=400, error=str(exc), flt=FleetFilter(), fleet=None,
            params=params,
        )  # fmt: skip
    fleet = fleet_page(services(request).hosts.all(), flt)
    return page("fleet.html", who=who, error="", flt=flt, fleet=fleet, params=params)
