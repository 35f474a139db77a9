"""Boot images on the wire."""

from __future__ import annotations

from pydantic import Field

from pciplane.wire.common import Answer


class ImageOut(Answer):
    id: str
    name: str
    #: ``qcow2`` or ``raw``.
    disk_format: str
    #: Bytes of the file, and of the disk the guest sees.
    size: int
    virtual_size: int
    #: SHA-256 of the file (hex), computed as it was uploaded; agents verify it.
    sha256: str
    owner: str
    created_at: float
    #: Servers (not deleted) that boot from it; an image in use cannot be deleted.
    servers: list[str] = Field(default_factory=list)


class ImageList(Answer):
    images: list[ImageOut]
