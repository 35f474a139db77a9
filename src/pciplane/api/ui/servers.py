"""Servers and ports: lists, and one of each with everything it got.

A server page shows its devices, its NICs with their bindings (``vif_type``,
``vif_details``, ``binding:profile`` as Neutron shows them), the guest plan decided at
claim time and the domain XML the agent made of it. A project sees only its own servers
and ports: another project's answers "not found", as in the API.
"""

from __future__ import annotations

from fastapi import Request
from starlette.responses import Response

from pciplane.api.auth import require_user
from pciplane.api.handlers_neutron import caller
from pciplane.api.paths import ServerIdParam, services
from pciplane.api.ui.render import page
from pciplane.api.ui.session import signed_in
from pciplane.core.binding import whole_profile
from pciplane.store.ports import PortRecord

PAGE_SIZE = 100


def _page_no(request: Request) -> int:
    text = request.query_params.get("page", "1")
    return int(text) if text.isdigit() and int(text) > 0 else 1


def list_servers(request: Request) -> Response:
    who = signed_in(request)
    project = require_user(who)
    everything = request.query_params.get("all") == "1"
    found = services(request).servers.find(project, include_deleted=everything)
    page_no = _page_no(request)
    pages = max(1, -(-len(found) // PAGE_SIZE))
    page_no = min(page_no, pages)
    shown = found[(page_no - 1) * PAGE_SIZE : page_no * PAGE_SIZE]
    return page(
        "servers.html",
        who=who,
        servers=shown,
        count=len(found),
        page_no=page_no,
        pages=pages,
        everything=everything,
    )


def profile_of(port: PortRecord) -> dict[str, object]:
    return whole_profile(port.profile, port.bound_profile)


def show_server(request: Request, server_id: ServerIdParam) -> Response:
    who = signed_in(request)
    server = services(request).servers.get(server_id, require_user(who))
    plan = server.guest_plan
    return page(
        "server.html",
        who=who,
        server=server,
        plan=None if plan is None else plan.to_json(),
        plan_devices=() if plan is None else plan.devices,
        nics=[(p, profile_of(p)) for p in server.ports],
    )


def list_ports(request: Request) -> Response:
    who = signed_in(request)
    found = services(request).ports.find(caller(who))
    return page("ports.html", who=who, ports=found)


def show_port(request: Request, port_id: ServerIdParam) -> Response:
    who = signed_in(request)
    svc = services(request)
    port = svc.ports.get(port_id, caller(who))
    server = None
    if port.server_id is not None:
        server = svc.servers.get(port.server_id, require_user(who))
    return page("port.html", who=who, port=port, profile=profile_of(port), server=server)
