"""Handlers for hosts: the fleet views, the agents' registration, work and outcomes."""

from __future__ import annotations

import time

from fastapi import Request

from pciplane.api import schemas, views
from pciplane.api.auth import Who, require_admin, require_host
from pciplane.api.context import AppContext, ctx
from pciplane.core.alias import parse_aliases
from pciplane.core.errors import ConflictError, SnapshotError
from pciplane.core.fleet import Fleet
from pciplane.core.snapshot import dump_fleet, host_from_json
from pciplane.store import catalog, servers
from pciplane.store.inventory import host_id_of, load_host, load_hosts, register_host, touch
from pciplane.store.servers import WorkKind


def list_hosts(request: Request, who: Who) -> schemas.HostList:
    require_admin(who)
    context = ctx(request)
    with context.db.read() as conn:
        records = load_hosts(conn)
    specs = context.scheduler.default_specs
    return schemas.HostList(hosts=[views.host_out(r, specs) for r in records])


def show_host(request: Request, name: str, who: Who) -> schemas.HostDetail:
    require_host(who, name)
    context = ctx(request)
    with context.db.read() as conn:
        record = load_host(conn, name)
    return views.host_detail(record, context.scheduler.default_specs)


def register(
    request: Request, name: str, body: dict[str, schemas.JsonValue], who: Who
) -> schemas.HostDetail:
    """An agent reports its host: NUMA nodes and devices in the fleet snapshot shape.

    The database keeps its own statuses and owners for devices it knows; work delivered
    before and never answered is handed out again (the agent restarted).
    """
    require_host(who, name)
    if body.get("name", name) != name:
        raise SnapshotError(f"host {name!r}: the body names host {body.get('name')!r}")
    host = host_from_json({**body, "name": name}, source=f"host {name!r}")
    context = ctx(request)
    for attempt in range(context.settings.claim_retries + 1):
        try:
            with context.db.write() as conn:
                record = register_host(conn, host, now=time.time())
                servers.redeliver(conn, record.id)
            break
        except ConflictError:
            if attempt == context.settings.claim_retries:
                raise
    return views.host_detail(record, context.scheduler.default_specs)


def take_work(request: Request, name: str, who: Who) -> schemas.WorkList:
    """The host's pending work, oldest first; each call also says the agent is alive."""
    require_host(who, name)
    context = ctx(request)
    with context.db.write() as conn:
        host_id = host_id_of(conn, name)
        touch(conn, host_id, time.time())
        items = servers.take_work(conn, host_id)
        out = [views.work_out(w, servers.get_server(conn, w.server_id)) for w in items]
    return schemas.WorkList(work=out)


def report_work(
    request: Request, work_id: int, body: schemas.WorkResultIn, who: Who
) -> schemas.ServerOut:
    """The outcome of one work item; the server's new state comes back."""
    context = ctx(request)
    with context.db.read() as conn:
        work = servers.get_work(conn, work_id)
    require_host(who, work.host)
    if work.state not in ("pending", "delivered"):
        raise ConflictError(f"work item {work_id} is already {work.state}")
    _apply(context, work, body)
    return views.server_out(context.servers.get(work.server_id))


def _apply(context: AppContext, work: servers.WorkRecord, body: schemas.WorkResultIn) -> None:
    if work.kind is WorkKind.START:
        context.servers.started(work, ok=body.ok, reason=body.reason)
    elif work.kind is WorkKind.STOP:
        context.servers.stopped(work, ok=body.ok, reason=body.reason)
    else:
        with context.db.write() as conn:
            servers.finish_work(conn, work.id)


def export(request: Request, who: Who) -> dict[str, object]:
    """The live state as a ``pciplane-fleet/1`` snapshot (shared/fleet-format.md)."""
    require_admin(who)
    context = ctx(request)
    with context.db.read() as conn:
        records = load_hosts(conn)
        alias_raw = catalog.alias_entries(conn)
    fleet = Fleet(
        device_spec=context.scheduler.default_specs,
        aliases=parse_aliases(alias_raw),
        hosts=tuple(r.host for r in records),
        device_spec_raw=context.settings.device_spec,
        alias_raw=tuple(alias_raw),
    )
    return dump_fleet(fleet)
