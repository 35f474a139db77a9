"""Servers of the caller's project (every project's for the admin): body -> service -> view."""

from __future__ import annotations

from typing import Annotated

from fastapi import Query, Request

from pciplane.api import views
from pciplane.api.auth import Who, require_user
from pciplane.api.handlers_neutron import IdParam, caller
from pciplane.api.paths import ServerIdParam, services
from pciplane.service.nics import NicRequest
from pciplane.wire import servers as ws
from pciplane.wire.common import Text255


def create_server(request: Request, body: ws.ServerIn, who: Who) -> ws.ServerOut:
    """Create and schedule; the answer is BUILD (placed) or ERROR (with the reason)."""
    require_user(who)
    nics = [
        NicRequest(net_id=n.net_id, port_id=n.port_id, vnic_type=n.vnic_type, pci_group=n.pci_group)
        for n in body.nics
    ]
    server = services(request).servers.create(
        name=body.name, flavor=body.flavor, project=who.home_project, nics=nics, image=body.image
    )
    return views.server_out(server)


def add_port(
    request: Request, server_id: ServerIdParam, body: ws.PortAttachIn, who: Who
) -> ws.ServerOut:
    """Hot-plug the port; answers once the host's agent did (or refused, and then nothing
    changed)."""
    svc = services(request)
    svc.hotplug.add_port(server_id, body.port_id, caller(who))
    return views.server_out(svc.servers.get(server_id))


def remove_port(
    request: Request, server_id: ServerIdParam, port_id: IdParam, who: Who
) -> ws.ServerOut:
    svc = services(request)
    svc.hotplug.remove_port(server_id, port_id, caller(who))
    return views.server_out(svc.servers.get(server_id))


def list_servers(
    request: Request,
    who: Who,
    all: bool = False,
    name: Annotated[Text255 | None, Query()] = None,
) -> ws.ServerList:
    project = require_user(who)
    found = services(request).servers.find(project, include_deleted=all, name=name)
    return ws.ServerList(servers=[views.server_out(s) for s in found])


def show_server(request: Request, server_id: ServerIdParam, who: Who) -> ws.ServerOut:
    project = require_user(who)
    return views.server_out(services(request).servers.get(server_id, project))


def delete_server(request: Request, server_id: ServerIdParam, who: Who) -> ws.ServerOut:
    project = require_user(who)
    return views.server_out(services(request).servers.delete(server_id, project))
