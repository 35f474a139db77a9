"""Boot images: upload (streamed, not through the JSON body guard), list, show, delete,
and the download agents fetch them by."""

from __future__ import annotations

from typing import Annotated

from fastapi import Query, Request
from fastapi.responses import FileResponse
from starlette.concurrency import run_in_threadpool

from pciplane.api.auth import Role, Who, require_admin, require_user
from pciplane.api.paths import NameParam, services
from pciplane.core.errors import ForbiddenError, MalformedRequestError
from pciplane.store.images import ImageRecord
from pciplane.wire import images as wi
from pciplane.wire.common import Text255

#: Path of the upload: the body guard lets its (binary, large) body through unread.
UPLOAD_PATH = "/v1/images"
#: An image id a client may choose (Glance lets it): a UUID.
UUID_PATTERN = r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"
#: Header carrying an image file's SHA-256 on download.
SHA256_HEADER = "X-Image-Sha256"


def image_out(image: ImageRecord, users: list[tuple[str, str]] | None = None) -> wi.ImageOut:
    return wi.ImageOut(
        id=image.id,
        name=image.name,
        disk_format=str(image.disk_format),
        size=image.size,
        virtual_size=image.virtual_size,
        sha256=image.sha256,
        owner=image.owner,
        created_at=image.created_at,
        servers=[name for name, _ in users or []],
    )


def _expected_size(request: Request) -> int | None:
    value = request.headers.get("content-length")
    if value is None:
        return None
    if not value.isdigit():
        raise MalformedRequestError(f"Content-Length {value!r} is not a number of bytes")
    return int(value)


async def upload_image(
    request: Request,
    who: Who,
    name: Annotated[str, Query(max_length=255)],
    disk_format: Annotated[str | None, Query(max_length=16)] = None,
    id: Annotated[str | None, Query(pattern=UUID_PATTERN)] = None,
) -> wi.ImageOut:
    """Upload an image file as the body (``application/octet-stream``), streamed to the
    data directory with its SHA-256 computed on the way; qcow2 or raw only. ``id``: the
    image's id, when the caller chooses it (as Glance allows)."""
    require_admin(who)
    images = services(request).images
    expected = _expected_size(request)
    upload = await run_in_threadpool(images.begin_upload, name, disk_format, id)
    try:
        async for chunk in request.stream():
            upload.write(chunk)
    except BaseException:
        upload.discard()
        raise
    record = await run_in_threadpool(
        lambda: images.create(
            name=name,
            disk_format=disk_format,
            upload=upload,
            expected_size=expected,
            owner=who.home_project,
            image_id=id,
        )
    )
    return image_out(record)


def list_images(
    request: Request, who: Who, name: Annotated[Text255 | None, Query()] = None
) -> wi.ImageList:
    require_user(who)
    return wi.ImageList(images=[image_out(i) for i in services(request).images.find(name=name)])


def show_image(request: Request, image: NameParam, who: Who) -> wi.ImageOut:
    """By id or name, with the servers that boot from it."""
    require_user(who)
    svc = services(request).images
    record = svc.get(image)
    return image_out(record, svc.users(record.id))


def delete_image(request: Request, image: NameParam, who: Who) -> None:
    require_admin(who)
    services(request).images.delete(image)


def download_image(request: Request, image: NameParam, who: Who) -> FileResponse:
    """The image file, for an agent (or the admin); its SHA-256 in a header."""
    if who.role is Role.PROJECT:
        raise ForbiddenError("only host agents and the admin download image files")
    svc = services(request).images
    record = svc.get(image)
    return FileResponse(
        svc.file_of(record),
        media_type="application/octet-stream",
        headers={SHA256_HEADER: record.sha256},
    )
