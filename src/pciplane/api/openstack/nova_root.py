"""Nova's version documents and ``os-hypervisors`` (pciplane's hosts, admin only).

The version documents are read without a token (the clients discover before they
authenticate); their self links are absolute, built from ``public_url`` or the request.
Hypervisor ids are the hosts' row ids before microversion 2.53 and UUIDs derived from the
host names from 2.53 on; a name where an id belongs answers 404 (400 from 2.53), which is
how ``hypervisor show NAME`` falls back to the list.
"""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import Query, Request

from pciplane.api.auth import Who, require_admin
from pciplane.api.openstack import nova_views as views
from pciplane.api.openstack.endpoints import COMPUTE_V21, base_url
from pciplane.api.openstack.microversions import MAX_VERSION, MIN_VERSION, Microversion
from pciplane.api.openstack.nova_common import IdParam, Limit, Marker, Version, page
from pciplane.api.paths import services
from pciplane.core.errors import NotFoundError, RequestError, UnsupportedOperationError
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

WithServers = Annotated[bool, Query()]
Pattern = Annotated[str | None, Query(max_length=255, pattern=r"^[^\x00-\x1f]+$")]


def _hosts(
    request: Request,
    version: Microversion,
    limit: int | None,
    marker: str | None,
    pattern: str | None,
) -> tuple[list[HostInfo], str | None]:
    """Hosts in id order, one page of them; 2.53's ``hypervisor_hostname_pattern`` keeps the
    names containing it (and, as in Nova, cannot be paged)."""
    if not version.at_least("2.33"):
        limit = marker = None
    infos = sorted(services(request).hosts.all(), key=lambda h: h.record.id)
    if pattern is not None and version.at_least("2.53"):
        if limit is not None or marker is not None:
            raise RequestError("hypervisor_hostname_pattern cannot be paged (limit, marker)")
        infos = [h for h in infos if pattern in h.record.host.name]
    return page(
        infos,
        lambda h: str(views.hypervisor_id(h, version)),
        limit=limit,
        marker=marker,
        what="hypervisor",
    )


def _servers_by_host(request: Request) -> dict[str, list[ServerRecord]]:
    by_host: dict[str, list[ServerRecord]] = {}
    for server in services(request).servers.find(None):
        if server.host is not None and server.state is not ServerState.DELETED:
            by_host.setdefault(server.host, []).append(server)
    return by_host


def list_hypervisors(
    request: Request,
    who: Who,
    version: Version,
    limit: Limit = None,
    marker: Marker = None,
    with_servers: WithServers = False,
    hypervisor_hostname_pattern: Pattern = None,
) -> dict[str, object]:
    require_admin(who)
    found, more = _hosts(request, version, limit, marker, hypervisor_hostname_pattern)
    by_host = _servers_by_host(request) if with_servers and version.at_least("2.53") else {}
    body: dict[str, object] = {
        "hypervisors": [
            views.hypervisor_index(h, version, by_host.get(h.record.host.name)) for h in found
        ]
    }
    if more is not None and limit is not None:
        body["hypervisors_links"] = views.next_link(
            base_url(request), "os-hypervisors", more, limit
        )
    return body


def list_hypervisors_detail(
    request: Request,
    who: Who,
    version: Version,
    limit: Limit = None,
    marker: Marker = None,
    with_servers: WithServers = False,
    hypervisor_hostname_pattern: Pattern = None,
) -> dict[str, object]:
    require_admin(who)
    found, more = _hosts(request, version, limit, marker, hypervisor_hostname_pattern)
    by_host = _servers_by_host(request)
    listed = with_servers and version.at_least("2.53")
    body: dict[str, object] = {
        "hypervisors": [
            views.hypervisor_detail(
                h, by_host.get(h.record.host.name, []), version, with_servers=listed
            )
            for h in found
        ]
    }
    if more is not None and limit is not None:
        body["hypervisors_links"] = views.next_link(
            base_url(request), "os-hypervisors/detail", more, limit
        )
    return body


def _host(request: Request, hypervisor_id: str, version: Microversion) -> HostInfo:
    """The host a hypervisor id names: its row id before 2.53, its UUID from then on (a
    name is 404 before and 400 after, as in Nova: either sends the clients to the list)."""
    if version.at_least("2.53") and not _is_uuid(hypervisor_id):
        raise RequestError(f"Invalid uuid {hypervisor_id}")
    for info in services(request).hosts.all():
        if str(views.hypervisor_id(info, version)) == hypervisor_id:
            return info
    raise NotFoundError(f"Hypervisor with ID {hypervisor_id} could not be found.")


def _is_uuid(text: str) -> bool:
    try:
        uuid.UUID(text)
    except ValueError:
        return False
    return True


def show_hypervisor(
    request: Request,
    hypervisor_id: IdParam,
    who: Who,
    version: Version,
    with_servers: WithServers = False,
) -> dict[str, object]:
    require_admin(who)
    info = _host(request, hypervisor_id, version)
    servers = _servers_by_host(request).get(info.record.host.name, [])
    listed = with_servers and version.at_least("2.53")
    return {"hypervisor": views.hypervisor_detail(info, servers, version, with_servers=listed)}


def hypervisor_uptime(request: Request, hypervisor_id: IdParam, who: Who, version: Version) -> None:
    """501, as Nova answers for a driver that cannot tell (``hypervisor show`` expects it)."""
    require_admin(who)
    _host(request, hypervisor_id, version)
    raise UnsupportedOperationError("pciplane's agents do not report their host's uptime")


def list_aggregates(who: Who) -> dict[str, object]:
    """``GET /os-aggregates``: none (``hypervisor show`` lists the host's aggregates)."""
    require_admin(who)
    return {"aggregates": []}
