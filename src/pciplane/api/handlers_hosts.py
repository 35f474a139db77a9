"""Hosts: the fleet views, and the agents' registration, work, outcomes and mismatches."""

from __future__ import annotations

from fastapi import Request

from pciplane.api import views
from pciplane.api.auth import Who, require_admin, require_host
from pciplane.api.paths import NameParam, WorkIdParam, services
from pciplane.service.reconcile import Mismatch
from pciplane.wire import hosts as wh
from pciplane.wire import servers as ws


def list_hosts(request: Request, who: Who) -> wh.HostList:
    require_admin(who)
    return wh.HostList(hosts=[views.host_out(h) for h in services(request).hosts.all()])


def show_host(request: Request, name: NameParam, who: Who) -> wh.HostDetail:
    """The host; for the admin also the servers on it, with their devices and ports."""
    require_host(who, name)
    svc = services(request)
    detail = views.host_detail(svc.hosts.get(name))
    if who.is_admin:
        placed = svc.servers.find(None, host=name)
        detail = detail.model_copy(update={"servers": [views.host_server_out(s) for s in placed]})
    return detail


def disable_host(
    request: Request, name: NameParam, who: Who, body: wh.HostDisableIn | None = None
) -> wh.HostOut:
    """No new servers on the host (its own keep running); the reason is kept and shown."""
    require_admin(who)
    reason = None if body is None else body.reason
    return views.host_out(services(request).hosts.set_disabled(name, disabled=True, reason=reason))


def enable_host(request: Request, name: NameParam, who: Who) -> wh.HostOut:
    require_admin(who)
    return views.host_out(services(request).hosts.set_disabled(name, disabled=False))


def register(request: Request, name: NameParam, body: wh.HostReport, who: Who) -> wh.Registration:
    """An agent reports its host; the answer is the host as stored."""
    require_host(who, name)
    svc = services(request)
    info, redelivered = svc.hosts.register(name, body.model_dump(exclude_none=True))
    stopped, changing = svc.lifecycle.expected_power(name)
    return wh.Registration(
        host=views.host_detail(info), redelivered=redelivered, stopped=stopped, changing=changing
    )


def take_work(request: Request, name: NameParam, who: Who) -> wh.WorkList:
    """The host's pending work, oldest first; each call also says the agent is alive."""
    require_host(who, name)
    return wh.WorkList(work=[views.work_out(o) for o in services(request).hosts.take_work(name)])


def report_work(
    request: Request, work_id: WorkIdParam, body: wh.WorkResultIn, who: Who
) -> ws.ServerOut:
    """The outcome of one work item; the server's new state comes back."""
    hosts = services(request).hosts
    work = hosts.work(work_id)
    require_host(who, work.host)
    server = hosts.report_work(
        work,
        ok=body.ok,
        reason=body.reason,
        domain_xml=body.domain_xml,
        code=body.code,
        wired=[w.model_dump() for w in body.wired],
    )
    return views.server_out(server)


def report_mismatches(
    request: Request, name: NameParam, body: wh.MismatchesIn, who: Who
) -> wh.MismatchesOut:
    """An agent's reconciliation report; the servers it put in ERROR come back."""
    require_host(who, name)
    found = [
        Mismatch(detail=m.detail, server_id=m.server_id, domain=m.domain) for m in body.mismatches
    ]
    touched = services(request).reconcile.report(name, found)
    return wh.MismatchesOut(servers=[views.server_out(s) for s in touched])


def export(request: Request, who: Who) -> dict[str, object]:
    """The live state as a ``pciplane-fleet/1`` snapshot (shared/fleet-format.md)."""
    require_admin(who)
    return services(request).hosts.export()
