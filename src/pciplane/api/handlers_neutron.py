"""Neutron's v2.0 API: networks, ports, extensions, agents (body -> service -> view).

These are the routes of the ``openstack`` CLI and openstacksdk as much as of pciplane's own
CLI: errors are rendered in Neutron's shape for every path under ``/v2.0``
(:mod:`pciplane.api.errors`), and the version document at the network endpoint is
:mod:`pciplane.api.openstack.neutron_root`.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Path, Query, Request

from pciplane.api import views_neutron as vn
from pciplane.api.auth import Principal, Who, require_admin, require_user
from pciplane.api.paths import services
from pciplane.core.errors import NotFoundError
from pciplane.service.networks import Caller
from pciplane.wire import networks as wn
from pciplane.wire.common import Text255

IdParam = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._-]+$")]
Filter = Annotated[Text255 | None, Query()]


def caller(who: Principal) -> Caller:
    """The caller of a Neutron call: the admin, or a project (agents are refused)."""
    project = require_user(who)
    return Caller(project=project or "admin", admin=project is None)


# --- extensions -------------------------------------------------------------------


def list_extensions(who: Who) -> wn.ExtensionList:
    require_user(who)
    return wn.ExtensionList(extensions=list(vn.EXTENSIONS))


def show_extension(alias: IdParam, who: Who) -> wn.ExtensionAnswer:
    require_user(who)
    for extension in vn.EXTENSIONS:
        if extension.alias == alias:
            return wn.ExtensionAnswer(extension=extension)
    raise NotFoundError(f"extension with alias {alias} does not exist")


# --- networks ---------------------------------------------------------------------


def create_network(request: Request, body: wn.NetworkCreate, who: Who) -> wn.NetworkAnswer:
    me = caller(who)
    attrs = body.network.model_dump(by_alias=True, exclude_unset=True)
    record = services(request).networks.create(me, attrs)
    return wn.NetworkAnswer(network=vn.network_out(record, admin=me.admin))


def list_networks(
    request: Request,
    who: Who,
    name: Filter = None,
    id: Annotated[list[Text255] | None, Query()] = None,
    shared: bool | None = None,
) -> wn.NetworkList:
    me = caller(who)
    found = services(request).networks.find(me, name=name, ids=id, shared=shared)
    return wn.NetworkList(networks=[vn.network_out(n, admin=me.admin) for n in found])


def show_network(request: Request, network_id: IdParam, who: Who) -> wn.NetworkAnswer:
    me = caller(who)
    record = services(request).networks.get(network_id, me)
    return wn.NetworkAnswer(network=vn.network_out(record, admin=me.admin))


def update_network(
    request: Request, network_id: IdParam, body: wn.NetworkUpdate, who: Who
) -> wn.NetworkAnswer:
    me = caller(who)
    attrs = body.network.model_dump(by_alias=True, exclude_unset=True)
    record = services(request).networks.update(network_id, me, attrs)
    return wn.NetworkAnswer(network=vn.network_out(record, admin=me.admin))


def delete_network(request: Request, network_id: IdParam, who: Who) -> None:
    services(request).networks.delete(network_id, caller(who))


# --- ports ------------------------------------------------------------------------


def create_port(request: Request, body: wn.PortCreate, who: Who) -> wn.PortAnswer:
    attrs = body.port.model_dump(by_alias=True, exclude_unset=True)
    port = services(request).ports.create(caller(who), attrs)
    return wn.PortAnswer(port=vn.port_out(port))


def list_ports(
    request: Request,
    who: Who,
    name: Filter = None,
    network_id: Filter = None,
    device_id: Filter = None,
    id: Annotated[list[Text255] | None, Query()] = None,
    host_id: Annotated[Text255 | None, Query(alias="binding:host_id")] = None,
) -> wn.PortList:
    found = services(request).ports.find(
        caller(who), name=name, network_id=network_id, device_id=device_id, host_id=host_id
    )
    if id is not None:
        found = [p for p in found if p.id in id]
    return wn.PortList(ports=[vn.port_out(p) for p in found])


def show_port(request: Request, port_id: IdParam, who: Who) -> wn.PortAnswer:
    return wn.PortAnswer(port=vn.port_out(services(request).ports.get(port_id, caller(who))))


def update_port(request: Request, port_id: IdParam, body: wn.PortUpdate, who: Who) -> wn.PortAnswer:
    attrs = body.port.model_dump(by_alias=True, exclude_unset=True)
    port = services(request).ports.update(port_id, caller(who), attrs)
    return wn.PortAnswer(port=vn.port_out(port))


def delete_port(request: Request, port_id: IdParam, who: Who) -> None:
    services(request).ports.delete(port_id, caller(who))


# --- agents -----------------------------------------------------------------------


def list_agents(request: Request, who: Who, host: Filter = None) -> wn.AgentList:
    require_admin(who)
    return wn.AgentList(agents=[vn.agent_out(a) for a in services(request).agents.all(host=host)])


def show_agent(request: Request, agent_id: IdParam, who: Who) -> wn.AgentAnswer:
    require_admin(who)
    return wn.AgentAnswer(agent=vn.agent_out(services(request).agents.get(agent_id)))
