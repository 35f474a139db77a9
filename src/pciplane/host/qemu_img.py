"""``qemu-img`` (Debian ``qemu-utils``): what an image file is, and a guest's overlay on it.

``info`` asks ``qemu-img info --output=json`` with the format left to QEMU's probe, so a
file is judged as QEMU will read it; where ``qemu-img`` is not installed the header is
read by :func:`pciplane.core.image.sniff`. ``create_overlay`` makes the per-server qcow2
whose backing file is the cached image (``-F`` names the backing format, so QEMU never
probes it again), sized to the flavor's disk when that is larger than the image.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

from pciplane.core.errors import HypervisorError, ImageError
from pciplane.core.image import GIB, HEADER_BYTES, ImageInfo, info_from_qemu_img, sniff

QEMU_IMG = "qemu-img"
#: Seconds ``qemu-img`` may take; reading a header or writing an overlay is quick.
TIMEOUT = 120.0


def available() -> bool:
    return shutil.which(QEMU_IMG) is not None


def _run(args: list[str], what: str) -> str:
    exe = shutil.which(QEMU_IMG)
    if exe is None:
        raise HypervisorError(
            f"{QEMU_IMG} is not installed (Debian package qemu-utils; "
            "scripts/ensure-system-packages installs it)"
        )
    try:
        result = subprocess.run(
            [exe, *args], capture_output=True, text=True, check=False, timeout=TIMEOUT
        )
    except subprocess.TimeoutExpired:
        raise HypervisorError(f"{what}: {QEMU_IMG} took over {TIMEOUT:.0f}s") from None
    if result.returncode != 0:
        detail = (result.stderr or result.stdout).strip()
        raise HypervisorError(f"{what}: {QEMU_IMG} failed: {detail}")
    return result.stdout


def info(path: Path, *, where: str | None = None) -> ImageInfo:
    """What ``path`` is; ImageError when QEMU cannot read it as an image at all.

    The header is read here first: a qcow2 naming a backing file is answered without
    running ``qemu-img``, which would open that file (any path the uploader wrote)."""
    with path.open("rb") as f:
        header = f.read(HEADER_BYTES)
    sniffed = sniff(header, path.stat().st_size)
    if not available() or sniffed.backing is not None:
        return sniffed
    shown = where or str(path)
    try:
        out = _run(["info", "--output=json", str(path)], "qemu-img info")
    except HypervisorError as exc:
        detail = str(exc).replace(f"'{path}'", "it").replace(str(path), "it")
        raise ImageError(f"{shown} is not a disk image QEMU can read: {detail}") from None
    try:
        doc = json.loads(out)
    except json.JSONDecodeError as exc:
        raise ImageError(f"qemu-img info gave no JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise ImageError(f"qemu-img info gave {doc!r}, not an object")
    return info_from_qemu_img(doc)


def create_overlay(base: Path, base_format: str, overlay: Path, size_gib: int = 0) -> None:
    """A qcow2 at ``overlay`` backed by ``base``; ``size_gib`` 0 keeps the image's size
    (a size smaller than the image's is never asked for: the service refuses such
    flavors)."""
    args = ["create", "-q", "-f", "qcow2", "-F", base_format, "-b", str(base), str(overlay)]
    if size_gib > 0:
        args.append(str(size_gib * GIB))
    _run(args, f"creating the overlay {overlay.name}")
