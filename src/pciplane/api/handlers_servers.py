"""Handlers for servers: a project's own, or every project's for the admin."""

from __future__ import annotations

from fastapi import Request

from pciplane.api import schemas, views
from pciplane.api.auth import Who, require_user
from pciplane.api.context import ctx
from pciplane.store import servers


def create_server(request: Request, body: schemas.ServerIn, who: Who) -> schemas.ServerOut:
    """Create and schedule; the answer is BUILD (placed) or ERROR (with the reason)."""
    project = require_user(who) or "admin"
    server = ctx(request).servers.create(name=body.name, flavor=body.flavor, project=project)
    return views.server_out(server)


def list_servers(request: Request, who: Who, all: bool = False) -> schemas.ServerList:
    project = require_user(who)
    with ctx(request).db.read() as conn:
        records = servers.list_servers(conn, project=project, include_deleted=all)
    return schemas.ServerList(servers=[views.server_out(s) for s in records])


def show_server(request: Request, server_id: str, who: Who) -> schemas.ServerOut:
    project = require_user(who)
    return views.server_out(ctx(request).servers.get(server_id, project))


def delete_server(request: Request, server_id: str, who: Who) -> schemas.ServerOut:
    project = require_user(who)
    return views.server_out(ctx(request).servers.delete(server_id, project))
