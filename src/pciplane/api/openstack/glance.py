"""Glance v2, read-only: the version document, image list (``?name=``, ``?id=in:...``) and
show, over the same image service as ``/v1/images``.

What the clients need (openstack-clients.md §5 step 09, §7): ``server create --image NAME``
discovers ``/image`` (a 300 version list whose self link is absolute), probes
``GET /v2/images/NAME`` (404), then lists with ``?name=``; ``server list`` and ``show`` read
``/v2/images?id=in:A,B`` and ``/v2/images/{id}`` to show the image's name. Images are
shown as Glance shows them: ``status`` ``active``, ``container_format`` ``bare``, the MD5
as ``checksum`` and the SHA-256 as the multihash (``os_hash_algo`` ``sha256``,
``os_hash_value``), every image ``public`` (pciplane's images are the operator's). A
list is one page with no ``next`` link: the clients then take it whole. Uploads stay on
``pciplane image create``; Glance's write calls are not served.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import Query, Request
from fastapi.responses import JSONResponse

from pciplane.api.auth import Who, require_user
from pciplane.api.openstack.endpoints import IMAGE, base_url
from pciplane.api.paths import services
from pciplane.core.errors import NotFoundError, RequestError
from pciplane.core.image import CONTAINER_FORMAT
from pciplane.store.images import ImageRecord

#: The Glance API version pciplane's subset answers as (Glance 2.16: Zed onwards).
VERSION = "v2.16"
SCHEMA = "/v2/schemas/image"


def _when(stamp: float) -> str:
    return datetime.fromtimestamp(stamp, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def image_view(image: ImageRecord) -> dict[str, object]:
    """One image as Glance v2 shows it."""
    when = _when(image.created_at)
    return {
        "id": image.id,
        "name": image.name,
        "status": "active",
        "visibility": "public",
        "protected": False,
        "os_hidden": False,
        "disk_format": str(image.disk_format),
        "container_format": CONTAINER_FORMAT,
        "checksum": image.md5,
        "os_hash_algo": "sha256",
        "os_hash_value": image.sha256,
        "size": image.size,
        "virtual_size": image.virtual_size,
        "min_disk": 0,
        "min_ram": 0,
        "owner": image.owner,
        "tags": [],
        "created_at": when,
        "updated_at": when,
        "self": f"/v2/images/{image.id}",
        "file": f"/v2/images/{image.id}/file",
        "schema": SCHEMA,
    }


def versions(request: Request) -> JSONResponse:
    """``GET /image``: the one version served (300 Multiple Choices, as Glance answers)."""
    href = f"{base_url(request)}{IMAGE}/v2/"
    version = {"id": VERSION, "status": "CURRENT", "links": [{"rel": "self", "href": href}]}
    return JSONResponse({"versions": [version]}, status_code=300)


def _ids(value: str | None) -> set[str] | None:
    """Glance's ``id`` filter: one id, or ``in:A,B,...``."""
    if value is None:
        return None
    listed = value.removeprefix("in:")
    ids = {i.strip().strip('"') for i in listed.split(",") if i.strip()}
    if not ids:
        raise RequestError(f"id filter {value!r} names no image")
    return ids


def list_images(
    request: Request,
    who: Who,
    name: Annotated[str | None, Query(max_length=255)] = None,
    id: Annotated[str | None, Query(max_length=8192)] = None,
    status: Annotated[str | None, Query(max_length=64)] = None,
    visibility: Annotated[str | None, Query(max_length=64)] = None,
) -> dict[str, object]:
    """``GET /v2/images``: every image (one page), filtered by name, id, status and
    visibility as Glance filters them."""
    require_user(who)
    found = services(request).images.find(name=name)
    ids = _ids(id)
    if ids is not None:
        found = [i for i in found if i.id in ids]
    if status not in (None, "active") or visibility not in (None, "public", "all"):
        found = []
    return {
        "images": [image_view(i) for i in found],
        "first": "/v2/images",
        "schema": "/v2/schemas/images",
    }


def show_image(request: Request, image_id: str, who: Who) -> dict[str, object]:
    """``GET /v2/images/{id}``; a name (the clients' find-by-name probe) is not an id: 404."""
    require_user(who)
    try:
        return image_view(services(request).images.by_id(image_id))
    except NotFoundError:
        raise NotFoundError(f"No image found with ID {image_id}") from None
