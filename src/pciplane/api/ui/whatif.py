"""What-if pages: "why not here" and "capacity", for a flavor, ports and NUMA cells.

The question is the form's query string: a flavor, ports as ``PHYSNET[:VNIC_TYPE
[:PCI_GROUP]]`` (the offline ``fit``'s ``--port``), the guest's host NUMA cells and a
flavor-level NUMA policy. It becomes a guest through the catalogue's ``what_if`` and is
judged by the scheduler's own ``explain`` and ``capacity``, the calls ``/v1/fit`` and
``/v1/capacity`` make: the answers are the API's, grouped by the exact reason. A question
that cannot be asked (an unknown flavor, cells that are not numbers) is answered on the
page, naming what is wrong.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from fastapi import Request
from starlette.responses import Response

from pciplane.api.auth import Principal, require_admin
from pciplane.api.errors import status_of
from pciplane.api.paths import services
from pciplane.api.ui.charts import BarChart, bar_chart
from pciplane.api.ui.render import page
from pciplane.api.ui.session import signed_in
from pciplane.core.errors import PciplaneError, RequestError
from pciplane.core.explain import group_by_reason
from pciplane.core.fit import GuestRequest
from pciplane.core.port_ask import PortAsk, parse_numa_cells, parse_port_ask
from pciplane.core.request import NumaPolicy
from pciplane.service.context import Services
from pciplane.service.nics import FLAVOR_NUMA_POLICY

#: Hosts named per reason group, and hosts that fit named, before "and N more".
NAMED = 12
#: Hosts in the capacity chart, and per page of its table.
CHART_HOSTS = 25
TABLE_HOSTS = 50
_SPLIT = re.compile(r"[\s,]+")


@dataclass(frozen=True, kw_only=True, slots=True)
class Question:
    flavor: str = ""
    ports: str = ""
    cells: str = ""
    policy: str = ""
    host: str = ""
    page: str = ""

    @classmethod
    def of(cls, params: Mapping[str, str]) -> Question:
        return cls(
            flavor=params.get("flavor", "").strip(),
            ports=params.get("ports", "").strip(),
            cells=params.get("cells", "").strip(),
            policy=params.get("policy", "").strip(),
            host=params.get("host", "").strip(),
        )

    @property
    def asked(self) -> bool:
        return bool(self.flavor or self.ports)

    def port_asks(self) -> tuple[PortAsk, ...]:
        return tuple(parse_port_ask(p, "ports") for p in _SPLIT.split(self.ports) if p)

    def numa_cells(self) -> tuple[int, ...] | None:
        return parse_numa_cells(self.cells) if self.cells else None

    def extra_specs(self) -> dict[str, str]:
        if not self.policy:
            return {}
        if self.policy not in {p.value for p in NumaPolicy}:
            choices = ", ".join(p.value for p in NumaPolicy)
            raise RequestError(f"NUMA policy: {self.policy!r} is not one of {choices}")
        return {FLAVOR_NUMA_POLICY: self.policy}

    def guest(self, svc: Services) -> GuestRequest:
        """The guest this question asks about; RequestError, NotFoundError when it cannot."""
        ports = self.port_asks()
        cells = self.numa_cells()
        extra = self.extra_specs()
        return svc.catalog.what_if(
            flavor=self.flavor or None, extra_specs=extra, numa_cells=cells, ports=ports
        )

    def link(self, path: str, **changes: str) -> str:
        values = {
            "flavor": self.flavor,
            "ports": self.ports,
            "cells": self.cells,
            "policy": self.policy,
            "host": self.host,
            "page": self.page,
            **changes,
        }
        return f"{path}?{urlencode({k: v for k, v in values.items() if v})}"


@dataclass(frozen=True, kw_only=True, slots=True)
class ReasonGroup:
    reason: str
    hosts: tuple[str, ...]
    count: int


def _form(svc: Services) -> dict[str, object]:
    return {
        "flavors": [f.name for f in svc.catalog.flavors()],
        "policies": [p.value for p in NumaPolicy],
    }


def _asked(request: Request) -> tuple[Principal, Services, Question]:
    who = signed_in(request)
    require_admin(who)
    return who, services(request), Question.of(dict(request.query_params))


def why(request: Request) -> Response:
    who, svc, question = _asked(request)
    context: dict[str, Any] = {"q": question, "error": "", "result": None, **_form(svc)}
    if not question.asked:
        return page("why.html", who=who, **context)
    try:
        guest = question.guest(svc)
        result = svc.scheduler.explain(guest, question.host or None)
    except PciplaneError as exc:
        context["error"] = str(exc)
        return page("why.html", who=who, status=status_of(type(exc)), **context)
    fitting = [r.host for r in result.reasons if r.fits]
    groups = [
        ReasonGroup(reason=reason, hosts=tuple(hosts[:NAMED]), count=len(hosts))
        for reason, hosts in group_by_reason(
            (r.host, r.reason) for r in result.reasons if not r.fits
        )
    ]
    context["result"] = {
        "total": len(result.reasons),
        "fit_count": result.fit_count,
        "fitting": fitting[:NAMED],
        "more_fitting": max(0, len(fitting) - NAMED),
        "groups": groups,
        "host": result.host,
        "outcome": result.outcome,
        "names": [r.host for r in result.reasons],
    }
    return page("why.html", who=who, **context)


def capacity_charts(hosts: list[tuple[str, int, str]], question: Question) -> list[BarChart]:
    """Most room first; what runs out first; how many hosts take how many servers."""
    ranked = sorted(hosts, key=lambda h: (-h[1], h[0]))
    top = [
        (name, n, question.link("/ui/why", host=name), limit)
        for name, n, limit in ranked[:CHART_HOSTS]
    ]
    limits = Counter(limit or "(the bound per host)" for _, _, limit in hosts)
    per_host = Counter(n for _, n, _ in hosts)
    return [
        bar_chart(f"Most room: the {len(top)} hosts that can take the most", top),
        bar_chart(
            "What runs out first (hosts limited by each request)",
            [(label, n, None, "") for label, n in limits.most_common()],
        ),
        bar_chart(
            "Hosts by how many more such servers each can take",
            [(f"{n} more", count, None, "") for n, count in sorted(per_host.items())],
        ),
    ]


def capacity(request: Request) -> Response:
    who, svc, question = _asked(request)
    context: dict[str, Any] = {"q": question, "error": "", "result": None, **_form(svc)}
    if not question.asked:
        return page("capacity.html", who=who, **context)
    try:
        result = svc.scheduler.capacity(question.guest(svc))
    except PciplaneError as exc:
        context["error"] = str(exc)
        return page("capacity.html", who=who, status=status_of(type(exc)), **context)
    hosts = [(h.host, h.servers, h.limited_by) for h in result.hosts]
    ranked = sorted(hosts, key=lambda h: (-h[1], h[0]))
    pages = max(1, -(-len(ranked) // TABLE_HOSTS))
    text = request.query_params.get("page", "1")
    page_no = min(int(text) if text.isdigit() and int(text) > 0 else 1, pages)
    context["result"] = {
        "total": result.total,
        "hosts": len(hosts),
        "with_room": sum(1 for _, n, _ in hosts if n),
        "charts": capacity_charts(hosts, question),
        "rows": ranked[(page_no - 1) * TABLE_HOSTS : page_no * TABLE_HOSTS],
        "page": page_no,
        "pages": pages,
        "page_link": lambda n: question.link("/ui/capacity", page=str(n)),
    }
    return page("capacity.html", who=who, **context)
