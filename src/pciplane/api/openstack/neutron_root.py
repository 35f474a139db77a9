"""Neutron's version document, at the network endpoint of the catalog (the root).

In Keystone mode the clients append ``v2.0`` to the catalog's network URL without asking;
without Keystone (an endpoint override) they read this document first and follow the
self link of its one version (openstack-clients §3b, §4). It is read without a token.
Neutron's own resources stay where issue 8 put them, ``/v2.0/...``.
"""

from __future__ import annotations

from fastapi import Request

from pciplane.api.openstack.endpoints import NETWORK, NETWORK_V20, base_url


def versions(request: Request) -> dict[str, object]:
    """``GET /``: the one version served, v2.0."""
    href = f"{base_url(request)}{NETWORK}{NETWORK_V20}/"
    version = {"id": "v2.0", "status": "CURRENT", "links": [{"rel": "self", "href": href}]}
    return {"versions": [version]}
