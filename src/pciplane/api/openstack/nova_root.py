"""Nova's version documents and ``os-hypervisors`` (pciplane's hosts, admin only).

The version documents are read without a token (the clients discover before they
authenticate); their self links are absolute, built from ``public_url`` or the request.
Hypervisor ids are the hosts' row ids (integers, as before microversion 2.53); an id that is
not one answers 404, which is how ``hypervisor show NAME`` falls back to a list.
"""

from __future__ import annotations

from fastapi import Request

from pciplane.api.auth import Who, require_admin
from pciplane.api.openstack import nova_views as views
from pciplane.api.openstack.endpoints import COMPUTE_V21, base_url
from pciplane.api.openstack.microversions import MAX_VERSION, MIN_VERSION
from pciplane.api.openstack.nova_common import IdParam, Limit, Marker, Version, page
from pciplane.api.paths import services
from pciplane.core.errors import NotFoundError, UnsupportedOperationError
from pciplane.core.lifecycle import ServerState
from pciplane.service.hosts import HostInfo
from pciplane.store.servers import ServerRecord


def _v21(request: Request) -> dict[str, object]:
    return {
        "id": "v2.1",
        "status": "CURRENT",
        "version": str(MAX_VERSION),
        "min_version": str(MIN_VERSION),
        "updated": "2013-07-23T11:33:21Z",
        "links": [{"rel": "self", "href": f"{base_url(request)}{COMPUTE_V21}/"}],
        "media-types": [
            {
                "base": "application/json",
                "type": "application/vnd.openstack.compute+json;version=2.1",
            }
        ],
    }


def versions(request: Request) -> dict[str, object]:
    """``GET /compute``: the versions served (v2.1 only)."""
    return {"versions": [_v21(request)]}


def version(request: Request) -> dict[str, object]:
    """``GET /compute/v2.1``: its microversion range."""
    return {"version": _v21(request)}


# --- os-hypervisors ------------------------------------------------------------------


def _hosts(
    request: Request, limit: int | None, marker: str | None
) -> tuple[list[HostInfo], str | None]:
    infos = sorted(services(request).hosts.all(), key=lambda h: h.record.id)
    return page(infos, lambda h: str(h.record.id), limit=limit, marker=marker, what="hypervisor")


def _servers_by_host(request: Request) -> dict[str, list[ServerRecord]]:
    by_host: dict[str, list[ServerRecord]] = {}
    for server in services(request).servers.find(None):
        if server.host is not None and server.state is not ServerState.DELETED:
            by_host.setdefault(server.host, []).append(server)
    return by_host


def list_hypervisors(
    request: Request, who: Who, version: Version, limit: Limit = None, marker: Marker = None
) -> dict[str, object]:
    require_admin(who)
    found, more = _hosts(request, limit, marker if version.at_least("2.33") else None)
    body: dict[str, object] = {"hypervisors": [views.hypervisor_index(h) for h in found]}
    if more is not None and limit is not None and version.at_least("2.33"):
        body["hypervisors_links"] = views.next_link(
            base_url(request), "os-hypervisors", more, limit
        )
    return body


def list_hypervisors_detail(
    request: Request, who: Who, version: Version, limit: Limit = None, marker: Marker = None
) -> dict[str, object]:
    require_admin(who)
    found, more = _hosts(request, limit, marker if version.at_least("2.33") else None)
    by_host = _servers_by_host(request)
    body: dict[str, object] = {
        "hypervisors": [
            views.hypervisor_detail(h, by_host.get(h.record.host.name, []), version) for h in found
        ]
    }
    if more is not None and limit is not None and version.at_least("2.33"):
        body["hypervisors_links"] = views.next_link(
            base_url(request), "os-hypervisors/detail", more, limit
        )
    return body


def _host(request: Request, hypervisor_id: str) -> HostInfo:
    for info in services(request).hosts.all():
        if str(info.record.id) == hypervisor_id:
            return info
    raise NotFoundError(f"Hypervisor with ID {hypervisor_id} could not be found.")


def show_hypervisor(
    request: Request, hypervisor_id: IdParam, who: Who, version: Version
) -> dict[str, object]:
    require_admin(who)
    info = _host(request, hypervisor_id)
    servers = _servers_by_host(request).get(info.record.host.name, [])
    return {"hypervisor": views.hypervisor_detail(info, servers, version)}


def hypervisor_uptime(request: Request, hypervisor_id: IdParam, who: Who) -> None:
    """501, as Nova answers for a driver that cannot tell (``hypervisor show`` expects it)."""
    require_admin(who)
    _host(request, hypervisor_id)
    raise UnsupportedOperationError("pciplane's agents do not report their host's uptime")


def list_aggregates(who: Who) -> dict[str, object]:
    """``GET /os-aggregates``: none (``hypervisor show`` lists the host's aggregates)."""
    require_admin(who)
    return {"aggregates": []}
