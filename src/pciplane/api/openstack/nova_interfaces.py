"""Nova's ``os-interface`` over pciplane's hot plug, and the ports a server view shows.

``openstack server add port`` is ``POST /servers/{id}/os-interface`` with a port id;
``server remove port`` is ``DELETE .../os-interface/{port_id}``. Both call the hot-plug
service ``/v1`` calls (``POST/DELETE /v1/servers/{id}/ports``), which claims a device on
the server's host, binds the port and waits for the host's agent: the port is bound when
the answer comes, as the clients expect (they do not poll). A hypervisor that cannot hot
plug (libvirt's ``test:///``) or a host with no device for the port is a 400, as in Nova
(AttachInterfaceNotSupported, InterfaceAttachPciClaimFailed); a port in use or a server
not ACTIVE is 409; another project's server or port is 404. Nothing changes on a refusal.

An attach by ``net_id`` (Nova creates a port there) is refused by name: a port for a PCI
device needs its vnic type chosen, so it is made first (``openstack port create
--vnic-type direct``) and attached by id. Device tags are refused too (no metadata service
shows them); from microversion 2.70 every attachment shows ``tag: null``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated

from fastapi import Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field, JsonValue

from pciplane.api.auth import Principal, Who
from pciplane.api.handlers_neutron import caller
from pciplane.api.openstack import nova_views as views
from pciplane.api.openstack.nova_common import IdParam, Version
from pciplane.api.openstack.nova_servers import live_server, server_ports
from pciplane.api.paths import services
from pciplane.core.errors import NotFoundError, RequestError
from pciplane.store.ports import PortRecord
from pciplane.wire.common import Text255


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Attachment(_Strict):
    port_id: Text255 | None = None
    net_id: Text255 | None = None
    fixed_ips: Annotated[list[JsonValue], Field(max_length=64)] | None = None
    tag: Annotated[str, Field(min_length=1, max_length=60)] | None = None


class AttachRequest(_Strict):
    interfaceAttachment: Attachment


def _attached(request: Request, who: Principal, server_id: str) -> Sequence[PortRecord]:
    server = live_server(request, server_id, who)
    return server_ports(request, who, server.id)[0].get(server.id, [])


def list_interfaces(
    request: Request, server_id: IdParam, who: Who, version: Version
) -> dict[str, object]:
    """``GET /servers/{id}/os-interface``: the server's ports."""
    ports = _attached(request, who, server_id)
    return {"interfaceAttachments": [views.interface(p, version) for p in ports]}


def show_interface(
    request: Request, server_id: IdParam, port_id: IdParam, who: Who, version: Version
) -> dict[str, object]:
    for port in _attached(request, who, server_id):
        if port.id == port_id:
            return {"interfaceAttachment": views.interface(port, version)}
    raise NotFoundError(f"Port {port_id} is not attached to instance {server_id}.")


def _port_id(body: Attachment, version: Version) -> str:
    where = "interfaceAttachment"
    if body.tag is not None:
        if not version.at_least("2.49"):
            raise RequestError(f"{where}.tag: needs microversion 2.49")
        raise RequestError(
            f"{where}.tag: not supported (pciplane keeps no device tags: it has no metadata "
            "service to show them)"
        )
    if body.fixed_ips:
        raise RequestError(f"{where}.fixed_ips: not supported (pciplane assigns no IP addresses)")
    if body.net_id is not None:
        raise RequestError(
            f"{where}.net_id: not supported; create the port with its vnic type "
            "(openstack port create --vnic-type direct) and attach it by port_id"
        )
    if body.port_id is None:
        raise RequestError(f"{where}.port_id: required (the port to attach)")
    return body.port_id


def attach_interface(
    request: Request, server_id: IdParam, body: AttachRequest, who: Who, version: Version
) -> dict[str, object]:
    """``POST /servers/{id}/os-interface``: hot plug the port; 200 once the agent did."""
    port_id = _port_id(body.interfaceAttachment, version)
    server = live_server(request, server_id, who)
    port = services(request).hotplug.add_port(server.id, port_id, caller(who))
    return {"interfaceAttachment": views.interface(port, version)}


def detach_interface(request: Request, server_id: IdParam, port_id: IdParam, who: Who) -> Response:
    """``DELETE /servers/{id}/os-interface/{port_id}``: 202 once the agent unplugged it."""
    server = live_server(request, server_id, who)
    services(request).hotplug.remove_port(server.id, port_id, caller(who))
    return Response(status_code=202)
