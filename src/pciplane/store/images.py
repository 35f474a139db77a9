"""Boot images: their rows, and which live servers boot from each.

A server keeps ``image_id`` (a foreign key) while it exists and drops it when it is
deleted (:func:`pciplane.store.servers.move_server`), so the database itself refuses to
delete an image a server still uses, even when the delete races a create.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from pciplane.core.errors import AlreadyExistsError, InUseError, NotFoundError
from pciplane.core.image import DiskFormat
from pciplane.core.lifecycle import ServerState
from pciplane.store.tables import images, servers


@dataclass(frozen=True, kw_only=True, slots=True)
class ImageRecord:
    id: str
    name: str
    disk_format: DiskFormat
    size: int
    virtual_size: int
    sha256: str
    md5: str
    owner: str
    created_at: float


def _record(row: sa.Row[tuple[object, ...]]) -> ImageRecord:
    return ImageRecord(
        id=row.id,
        name=row.name,
        disk_format=DiskFormat(row.disk_format),
        size=row.size,
        virtual_size=row.virtual_size,
        sha256=row.sha256,
        md5=row.md5,
        owner=row.owner,
        created_at=row.created_at,
    )


def exists(conn: Connection, image_id: str) -> bool:
    return conn.execute(sa.select(images.c.id).where(images.c.id == image_id)).first() is not None


def insert_image(conn: Connection, image: ImageRecord) -> None:
    if conn.execute(sa.select(images.c.id).where(images.c.name == image.name)).first():
        raise AlreadyExistsError(f"image {image.name!r} already exists")
    if exists(conn, image.id):
        raise AlreadyExistsError(f"an image with id {image.id} already exists")
    try:
        conn.execute(
            sa.insert(images).values(
                id=image.id,
                name=image.name,
                disk_format=str(image.disk_format),
                size=image.size,
                virtual_size=image.virtual_size,
                sha256=image.sha256,
                md5=image.md5,
                owner=image.owner,
                created_at=image.created_at,
            )
        )
    except sa.exc.IntegrityError:  # another process created it since the check above
        raise AlreadyExistsError(f"image {image.name!r} already exists") from None


def list_images(conn: Connection, *, name: str | None = None) -> list[ImageRecord]:
    query = sa.select(images).order_by(images.c.created_at, images.c.id)
    if name is not None:
        query = query.where(images.c.name == name)
    return [_record(row) for row in conn.execute(query)]


def get_image(conn: Connection, image_id: str) -> ImageRecord:
    row = conn.execute(sa.select(images).where(images.c.id == image_id)).first()
    if row is None:
        raise NotFoundError(f"image {image_id!r} does not exist")
    return _record(row)


def find_image(conn: Connection, ref: str) -> ImageRecord:
    """By id, else by name (names are unique)."""
    row = conn.execute(
        sa.select(images).where(sa.or_(images.c.id == ref, images.c.name == ref))
    ).first()
    if row is None:
        raise NotFoundError(f"image {ref!r} does not exist (give its name or id)")
    return _record(row)


def users_of(conn: Connection, image_id: str) -> list[tuple[str, str]]:
    """(name, id) of each server that is not deleted and boots from the image."""
    query = (
        sa.select(servers.c.name, servers.c.id)
        .where(servers.c.image_id == image_id, servers.c.state != str(ServerState.DELETED))
        .order_by(servers.c.name, servers.c.id)
    )
    return [(str(n), str(i)) for n, i in conn.execute(query)]


def _in_use(image: ImageRecord, users: list[tuple[str, str]]) -> InUseError:
    shown = ", ".join(f"{name} ({server_id})" for name, server_id in users)
    return InUseError(f"image {image.name!r} is in use by server(s) {shown}: delete them first")


def delete_image(conn: Connection, image: ImageRecord) -> None:
    """Delete the row; InUseError naming the servers that still boot from it."""
    users = users_of(conn, image.id)
    if users:
        raise _in_use(image, users)
    try:
        with conn.begin_nested():
            conn.execute(sa.delete(images).where(images.c.id == image.id))
    except sa.exc.IntegrityError:  # a server was created with it meanwhile
        raise _in_use(image, users_of(conn, image.id) or [("(new)", "?")]) from None
