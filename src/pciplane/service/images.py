"""Boot images: uploaded once to the service's data directory, downloaded by agents.

An upload is streamed to a staging file beside the images (``<data_dir>/images``), its
SHA-256 and MD5 computed as it arrives and its size held to ``max_image_bytes``. Only
when the whole file is in, as long as the client said it would be, and ``qemu-img`` finds
a qcow2 or raw image the service can boot from (:func:`pciplane.core.image.check_image`),
is the row written and the file renamed into place, in one transaction: a refused or
broken upload leaves no row and no file. An image a live server boots from cannot be
deleted (409 naming the servers).
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import re
import time
import uuid
from pathlib import Path

from pciplane.core.errors import (
    AlreadyExistsError,
    BodyTooLargeError,
    ImageError,
    NotFoundError,
    RequestError,
)
from pciplane.core.image import check_image, parse_disk_format
from pciplane.host import qemu_img
from pciplane.service.settings import Settings
from pciplane.store import images
from pciplane.store.db import Database
from pciplane.store.images import ImageRecord

log = logging.getLogger("pciplane.images")

#: An image name: what a flavor or server name may be, and at most 255 characters.
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,254}$")
_STAGING = ".upload-"


def check_name(name: str) -> str:
    if not isinstance(name, str) or not name.strip():
        raise RequestError("the image name must not be empty")
    if NAME.match(name) is None:
        raise RequestError(
            f"image name {name!r}: use letters, digits and ._:- (starting with a letter or "
            "digit), at most 255 characters"
        )
    return name


class ImageUpload:
    """One upload on its way in: a staging file, hashed and counted as it is written."""

    def __init__(self, path: Path, limit: int) -> None:
        self.path = path
        self.limit = limit
        self.size = 0
        self._sha256 = hashlib.sha256()
        self._md5 = hashlib.md5(usedforsecurity=False)
        self._file = path.open("xb")

    def write(self, chunk: bytes) -> None:
        self.size += len(chunk)
        if self.size > self.limit:
            raise BodyTooLargeError(
                f"the image is over the service's limit of {self.limit} bytes "
                "(setting max_image_bytes)"
            )
        self._sha256.update(chunk)
        self._md5.update(chunk)
        self._file.write(chunk)

    @property
    def sha256(self) -> str:
        return self._sha256.hexdigest()

    @property
    def md5(self) -> str:
        return self._md5.hexdigest()

    def finish(self) -> None:
        """Flush the file to disk before it is judged and renamed into place."""
        if not self._file.closed:
            self._file.flush()
            os.fsync(self._file.fileno())
            self._file.close()

    def discard(self) -> None:
        self._file.close()
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()


class ImageService:
    def __init__(self, db: Database, settings: Settings) -> None:
        self.db = db
        self.settings = settings

    @property
    def directory(self) -> Path:
        return self.settings.data_dir.absolute() / "images"

    def file_of(self, image: ImageRecord) -> Path:
        path = self.directory / image.id
        if not path.is_file():
            raise NotFoundError(
                f"image {image.name!r}: its file {path} is missing from the data directory"
            )
        return path

    # --- reads ----------------------------------------------------------------------

    def find(self, *, name: str | None = None) -> list[ImageRecord]:
        with self.db.read() as conn:
            return images.list_images(conn, name=name)

    def get(self, ref: str) -> ImageRecord:
        """By id or by name."""
        with self.db.read() as conn:
            return images.find_image(conn, ref)

    def users(self, image_id: str) -> list[tuple[str, str]]:
        """(name, id) of the servers that boot from the image."""
        with self.db.read() as conn:
            return images.users_of(conn, image_id)

    def by_id(self, image_id: str) -> ImageRecord:
        with self.db.read() as conn:
            return images.get_image(conn, image_id)

    # --- create -----------------------------------------------------------------------

    def begin_upload(
        self, name: str, disk_format: str | None, image_id: str | None = None
    ) -> ImageUpload:
        """Check what can be checked before any byte is read, then open a staging file."""
        check_name(name)
        if disk_format is not None:
            parse_disk_format(disk_format)
        with self.db.read() as conn:
            if images.list_images(conn, name=name):
                raise AlreadyExistsError(f"image {name!r} already exists")
            if image_id is not None and images.exists(conn, image_id):
                raise AlreadyExistsError(f"an image with id {image_id} already exists")
        self.directory.mkdir(parents=True, exist_ok=True)
        staging = self.directory / f"{_STAGING}{uuid.uuid4()}"
        return ImageUpload(staging, self.settings.max_image_bytes)

    def create(
        self,
        *,
        name: str,
        disk_format: str | None,
        upload: ImageUpload,
        expected_size: int | None,
        owner: str,
        image_id: str | None = None,
    ) -> ImageRecord:
        """Judge the uploaded file and keep it; on any refusal nothing stays behind."""
        try:
            upload.finish()
            if expected_size is not None and upload.size != expected_size:
                raise ImageError(
                    f"the upload was cut short: {upload.size} of {expected_size} bytes arrived"
                )
            if upload.size == 0:
                raise ImageError("the image file is empty")
            wanted = None if disk_format is None else parse_disk_format(disk_format)
            where = f"image {name!r}"
            info = qemu_img.info(upload.path, where=where)
            found = check_image(info, wanted, where=where)
            record = ImageRecord(
                id=image_id or str(uuid.uuid4()),
                name=check_name(name),
                disk_format=found,
                size=upload.size,
                virtual_size=info.virtual_size,
                sha256=upload.sha256,
                md5=upload.md5,
                owner=owner,
                created_at=time.time(),
            )
            with self.db.write() as conn:
                images.insert_image(conn, record)
                os.replace(upload.path, self.directory / record.id)
        except BaseException:
            upload.discard()
            raise
        log.info(
            "image %s (%s): %s, %d bytes, sha256 %s", record.name, record.id,
            record.disk_format, record.size, record.sha256,
        )  # fmt: skip
        return record

    # --- delete -----------------------------------------------------------------------

    def delete(self, ref: str) -> ImageRecord:
        """Refused (409) while a server that is not deleted boots from it."""
        with self.db.write() as conn:
            image = images.find_image(conn, ref)
            images.delete_image(conn, image)
        with contextlib.suppress(FileNotFoundError):
            (self.directory / image.id).unlink()
        return image
