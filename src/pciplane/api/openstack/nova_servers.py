"""Nova's servers over pciplane's server service: create, show, list, delete.

A project sees its own servers; the admin sees any server by id, and lists other projects'
servers only with ``all_tenants`` (as in Nova, an admin's list is its own project's
otherwise). A deleted server answers 404, which is what ``server delete --wait`` waits for.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Annotated

from fastapi import Query, Request
from fastapi.responses import JSONResponse

from pciplane.api.auth import Principal, Who, require_user
from pciplane.api.handlers_neutron import caller
from pciplane.api.openstack import nova_views as views
from pciplane.api.openstack.endpoints import base_url
from pciplane.api.openstack.nova_boot import ServerCreate, boot_request
from pciplane.api.openstack.nova_common import IdParam, Limit, Marker, Version, page
from pciplane.api.paths import services
from pciplane.core.boolean import truthy
from pciplane.core.errors import NotFoundError, RequestError
from pciplane.core.lifecycle import ServerState
from pciplane.store.catalog import FlavorRecord
from pciplane.store.ports import PortRecord
from pciplane.store.servers import ServerRecord

#: Every status Nova defines (microversion 2.38 refuses any other in a filter).
NOVA_STATUSES = frozenset(
    {
        "ACTIVE", "BUILD", "DELETED", "ERROR", "HARD_REBOOT", "MIGRATING", "PASSWORD", "PAUSED",
        "REBOOT", "REBUILD", "RESCUE", "RESIZE", "REVERT_RESIZE", "SHELVED", "SHELVED_OFFLOADED",
        "SHUTOFF", "SOFT_DELETED", "SUSPENDED", "UNKNOWN", "VERIFY_RESIZE",
    }
)  # fmt: skip

Filter = Annotated[str | None, Query(max_length=255, pattern=r"^[^\x00-\x1f]*$")]


def _scope(who: Principal) -> str | None:
    """The project whose servers the caller may see by id (None: any, for the admin)."""
    return require_user(who)


def live_server(request: Request, server_id: str, who: Principal) -> ServerRecord:
    try:
        server = services(request).servers.get(server_id, _scope(who))
    except NotFoundError:
        server = None
    if server is None or server.state is ServerState.DELETED:
        raise NotFoundError(f"Instance {server_id} could not be found.")
    return server


def server_ports(
    request: Request, who: Principal, server_id: str | None = None
) -> tuple[dict[str, list[PortRecord]], dict[str, str]]:
    """The ports of one server (or of every server the caller sees), by server id, and
    the names of their networks by id: read once for a whole list."""
    svc = services(request)
    me = caller(who)
    found = svc.ports.find(me, server_id=server_id)
    by_server: dict[str, list[PortRecord]] = {}
    for port in found:
        if port.server_id is not None:
            by_server.setdefault(port.server_id, []).append(port)
    ids = sorted({p.network_id for p in found})
    names = {n.id: n.name for n in svc.networks.find(me, ids=ids)} if ids else {}
    return by_server, names


def _flavors(request: Request) -> dict[str, FlavorRecord]:
    return {f.id: f for f in services(request).catalog.flavors()}


def _alive(request: Request) -> dict[str, bool]:
    return {h.record.host.name: h.alive for h in services(request).hosts.all()}


def _detail(
    request: Request, who: Principal, version: Version, server_id: str | None = None
) -> Callable[[ServerRecord], dict[str, object]]:
    """The detail view with what it needs read once, for one server (``server_id``) or a
    whole list."""
    base = base_url(request)
    flavors = _flavors(request) if version.at_least("2.47") else {}
    alive = _alive(request) if who.is_admin and version.at_least("2.16") else {}
    ports, networks = server_ports(request, who, server_id)

    def view(server: ServerRecord) -> dict[str, object]:
        return views.server_detail(
            base,
            server,
            version,
            admin=who.is_admin,
            flavor=flavors.get(server.flavor_id or ""),
            host_alive=alive.get(server.host) if server.host else None,
            addresses=views.addresses(ports.get(server.id, []), networks),
        )

    return view


def create_server(request: Request, body: ServerCreate, who: Who, version: Version) -> JSONResponse:
    """``POST /servers``: 202 once the server is placed (BUILD) or refused (ERROR, with the
    reason as its fault); ``--wait`` then polls ``GET /servers/{id}``. Its ports are bound
    with the claim, exactly as through ``/v1``."""
    require_user(who)
    boot = boot_request(body, version)
    svc = services(request)
    try:
        flavor = svc.catalog.flavor_by_id(boot.flavor_id)
    except NotFoundError:
        raise RequestError(f"Flavor {boot.flavor_id} could not be found.") from None
    try:
        server = svc.servers.create(
            name=boot.name,
            flavor=flavor.name,
            project=who.home_project,
            nics=boot.nics,
            user=who.user,
            description=boot.description,
            image=boot.image,
        )
    except NotFoundError as exc:  # a port or network the request names (Nova: 400)
        raise RequestError(str(exc)) from None
    answer = {
        "id": server.id,
        "links": views.links(base_url(request), "servers", server.id),
        "OS-DCF:diskConfig": "MANUAL",
    }
    return JSONResponse({"server": answer}, status_code=202)


def show_server(
    request: Request, server_id: IdParam, who: Who, version: Version
) -> dict[str, object]:
    server = live_server(request, server_id, who)
    return {"server": _detail(request, who, version, server.id)(server)}


def delete_server(request: Request, server_id: IdParam, who: Who) -> None:
    """``DELETE /servers/{id}``: 204; the guest is stopped and its devices freed by its
    host's agent, after which the server answers 404."""
    server = live_server(request, server_id, who)
    services(request).servers.delete(server.id, _scope(who))


def _name_matches(pattern: str) -> Callable[[str], bool]:
    """Nova reads ``name`` as a regular expression; pciplane honours its anchors and
    otherwise matches the text as a substring: a pattern from a query string could take
    exponential time in a regex engine, and the clients filter the answer exactly anyway."""
    start, end = pattern.startswith("^"), pattern.endswith("$") and len(pattern) > 1
    text = pattern[1 if start else 0 : -1 if end else None]
    if start and end:
        return lambda name: name == text
    if start:
        return lambda name: name.startswith(text)
    if end:
        return lambda name: name.endswith(text)
    return lambda name: text in name


def _since(value: str, what: str) -> float:
    try:
        moment = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise RequestError(f"{what}: {value!r} is not an ISO 8601 time") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return moment.timestamp()


def _changed(q: dict[str, str | None], version: Version) -> list[Callable[[ServerRecord], bool]]:
    """``changes-since``, and from 2.66 ``changes-before``: when a server last changed."""
    since = _since(q["changes-since"], "changes-since") if q["changes-since"] else None
    before = None
    if q["changes-before"] and version.at_least("2.66"):
        before = _since(q["changes-before"], "changes-before")
    if since is not None and before is not None and before < since:
        raise RequestError("changes-since must be earlier than or equal to changes-before")
    checks: list[Callable[[ServerRecord], bool]] = []
    if since is not None:
        checks.append(lambda s: s.updated_at >= since)
    if before is not None:
        checks.append(lambda s: s.updated_at <= before)
    return checks


def _listed(
    request: Request, who: Principal, version: Version, q: dict[str, str | None]
) -> list[ServerRecord]:
    admin = who.is_admin
    project: str | None = who.home_project
    if admin and truthy(q["all_tenants"] or "false"):
        project = q["project_id"] or q["tenant_id"]
    deleted = admin and truthy(q["deleted"] or "false")
    found = services(request).servers.find(project, include_deleted=deleted)
    checks: list[Callable[[ServerRecord], bool]] = []
    if q["name"]:
        matches = _name_matches(q["name"])
        checks.append(lambda s: matches(s.name))
    if q["status"]:
        wanted = q["status"].upper()
        if wanted not in NOVA_STATUSES and version.at_least("2.38"):
            raise RequestError(f"status: {q['status']!r} is not a server status")
        checks.append(lambda s: views.status(s) == wanted)
    if admin and q["host"]:
        checks.append(lambda s: s.host == q["host"])
    if q["flavor"]:
        checks.append(lambda s: s.flavor_id == q["flavor"])
    if q["image"]:
        checks.append(lambda s: s.image == q["image"])
    if admin and q["user_id"]:
        checks.append(lambda s: s.user_id == q["user_id"])
    checks += _changed(q, version)
    if q["ip"] or q["ip6"] or q["tags"] or q["tags-any"]:
        checks.append(lambda s: False)  # no server has an address or a tag yet
    if not deleted:
        checks.append(lambda s: s.state is not ServerState.DELETED)
    return sorted(
        (s for s in found if all(c(s) for c in checks)),
        key=lambda s: (s.created_at, s.id),
        reverse=True,  # Nova's default order: newest first
    )


_FILTERS = (
    "name", "status", "host", "flavor", "image", "user_id", "changes-since", "changes-before",
    "ip", "ip6", "tags", "tags-any", "all_tenants", "project_id", "tenant_id", "deleted",
)  # fmt: skip


def _query(request: Request) -> dict[str, str | None]:
    """The filters pciplane applies; any other query parameter is ignored, as Nova does
    below microversion 2.75."""
    params = request.query_params
    q: dict[str, str | None] = {}
    for name in _FILTERS:
        value = params.get(name)
        if value is not None and (len(value) > 255 or any(ord(c) < 32 for c in value)):
            raise RequestError(f"{name}: at most 255 printable characters")
        q[name] = value
    return q


def _list(
    request: Request, who: Principal, version: Version, limit: int | None, marker: str | None
) -> tuple[list[ServerRecord], str | None]:
    require_user(who)
    found = _listed(request, who, version, _query(request))
    return page(found, lambda s: s.id, limit=limit, marker=marker, what="server")


def list_servers(
    request: Request, who: Who, version: Version, limit: Limit = None, marker: Marker = None
) -> dict[str, object]:
    """``GET /servers``: ids, names and links."""
    found, more = _list(request, who, version, limit, marker)
    base = base_url(request)
    body: dict[str, object] = {"servers": [views.server_index(base, s) for s in found]}
    if more is not None and limit is not None:
        body["servers_links"] = views.next_link(base, "servers", more, limit)
    return body


def list_servers_detail(
    request: Request, who: Who, version: Version, limit: Limit = None, marker: Marker = None
) -> dict[str, object]:
    """``GET /servers/detail``: what ``server list`` and find-by-name read."""
    found, more = _list(request, who, version, limit, marker)
    view = _detail(request, who, version)
    body: dict[str, object] = {"servers": [view(s) for s in found]}
    if more is not None and limit is not None:
        body["servers_links"] = views.next_link(base_url(request), "servers/detail", more, limit)
    return body
