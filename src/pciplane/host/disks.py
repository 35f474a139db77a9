"""The agent's boot disks: each image fetched once and kept, a qcow2 overlay per server.

Under the agent's state directory, ``images/<image id>`` is an image as the service
stores it, downloaded over the API the first time a server needs it and kept only if its
SHA-256 is the one the guest plan names (the service recorded it at upload); a download
that is cut short or altered is deleted and the start fails with the reason.
``disks/<server uuid>.qcow2`` is the server's own disk: a qcow2 overlay on the cached
image (``qemu-img create -f qcow2 -F <format> -b``), so servers share the image's
blocks and write only their own. A start done twice (the service hands out again what
an agent never answered) keeps the overlay it made; a stop removes it.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from pathlib import Path

from pciplane.core.errors import HypervisorError
from pciplane.core.guest import GuestDisk, GuestPlan
from pciplane.host import qemu_img

log = logging.getLogger("pciplane.agent")

#: Download an image by id to a path; the SHA-256 of what was written.
Fetch = Callable[[str, Path], str]
#: Make an overlay: (base, base format, overlay, size GiB).
MakeOverlay = Callable[[Path, str, Path, int], None]


class DiskStore:
    """Images and overlays of one host, under ``root``."""

    def __init__(
        self, root: Path, fetch: Fetch, *, make_overlay: MakeOverlay = qemu_img.create_overlay
    ) -> None:
        #: Absolute: an overlay names its backing file by this path (a relative one would be
        #: read relative to the overlay's own directory).
        self.root = root.absolute()
        self.fetch = fetch
        self.make_overlay = make_overlay

    @property
    def images(self) -> Path:
        return self.root / "images"

    @property
    def disks(self) -> Path:
        return self.root / "disks"

    def overlay_of(self, server_uuid: str) -> Path:
        return self.disks / f"{server_uuid}.qcow2"

    def image(self, disk: GuestDisk) -> Path:
        """The cached image, fetched and checked the first time."""
        path = self.images / disk.image
        if path.is_file():
            return path
        self.images.mkdir(parents=True, exist_ok=True)
        part = self.images / f".part-{disk.image}"
        try:
            found = self.fetch(disk.image, part)
            if found != disk.checksum:
                raise HypervisorError(
                    f"image {disk.image}: the download has SHA-256 {found}, not {disk.checksum} "
                    "as the service recorded; not used"
                )
            part.replace(path)
        finally:
            with contextlib.suppress(FileNotFoundError):
                part.unlink()
        log.info("image %s downloaded and verified (sha256 %s)", disk.image, disk.checksum)
        return path

    def prepare(self, plan: GuestPlan) -> Path | None:
        """The server's overlay, made now unless it is there (a start done twice)."""
        if plan.disk is None:
            return None
        overlay = self.overlay_of(plan.uuid)
        if overlay.is_file():
            return overlay
        base = self.image(plan.disk)
        self.disks.mkdir(parents=True, exist_ok=True)
        self.make_overlay(base, plan.disk.format, overlay, plan.disk.size_gib)
        return overlay

    def remove(self, plan: GuestPlan) -> bool:
        """Delete the server's overlay; True if there was one. The image stays cached."""
        try:
            self.overlay_of(plan.uuid).unlink()
        except FileNotFoundError:
            return False
        return True
