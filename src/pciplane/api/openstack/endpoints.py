"""Where each OpenStack API lives on this server, and the service catalog that says so.

The layout is devstack's (``BASE/identity``, ``BASE/compute/v2.1``), so the clients' usual
settings work; Neutron's ``/v2.0`` routes are at the root, so the network endpoint is
``BASE`` itself (the clients append ``v2.0``). ``BASE`` is the ``public_url`` setting, or
the scheme and Host header of the request (what the client used to reach us).
"""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import Request

from pciplane.service.settings import Settings

IDENTITY = "/identity"
COMPUTE = "/compute"
COMPUTE_V21 = "/compute/v2.1"
#: Glance's place (devstack's): its version document at ``/image``, v2 under ``/image/v2``.
IMAGE = "/image"
IMAGE_V2 = "/image/v2"
#: Neutron's routes (issue 8) are served at ``/v2.0`` from the root, so the network
#: endpoint is the root: its version document is ``GET /``.
NETWORK = ""
NETWORK_V20 = "/v2.0"


@dataclass(frozen=True, kw_only=True, slots=True)
class CatalogEntry:
    type: str
    name: str
    path: str


#: Every service the catalog lists, in its order.
CATALOG: tuple[CatalogEntry, ...] = (
    CatalogEntry(type="identity", name="keystone", path=IDENTITY),
    CatalogEntry(type="compute", name="nova", path=COMPUTE_V21),
    CatalogEntry(type="network", name="neutron", path=NETWORK),
    CatalogEntry(type="image", name="glance", path=IMAGE),
)


def base_url(request: Request) -> str:
    """``public_url``, or how the client reached this server, without a trailing slash."""
    settings: Settings = request.app.state.services.settings
    if settings.public_url:
        return settings.public_url.rstrip("/")
    return str(request.base_url).rstrip("/")


def catalog(base: str, region: str, endpoint_id: str) -> list[dict[str, object]]:
    """Keystone's ``catalog``: one public endpoint per service, in ``region``."""
    services: list[dict[str, object]] = []
    for entry in CATALOG:
        endpoint = {
            "id": f"{endpoint_id}-{entry.type}",
            "interface": "public",
            "region": region,
            "region_id": region,
            "url": base + entry.path,
        }
        services.append(
            {"id": entry.type, "type": entry.type, "name": entry.name, "endpoints": [endpoint]}
        )
    return services
