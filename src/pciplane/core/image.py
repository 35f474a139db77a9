"""Boot images: the formats pciplane takes, and how a file is judged to be one of them.

A guest's disk is a qcow2 overlay over the image (``qemu-img create -F <format> -b``), so
the image must be in a format QEMU reads as a backing file and that cannot point
elsewhere: ``qcow2`` without a backing file of its own, or ``raw``. Anything else (VMDK,
VHD/VHDX, VDI, QED, LUKS, ISO...) is refused, as is a qcow2 with a backing file (a
classic way to make the host read a file the uploader chose). ``qemu-img info`` says
what a file is where it is installed; without it the header is read here: qcow2 by its
magic and header fields (QEMU's docs/interop/qcow2.txt), the other formats by theirs, and
an unrecognised header is raw, as ``qemu-img`` probes it.
"""

from __future__ import annotations

import enum
import struct
from collections.abc import Mapping
from dataclasses import dataclass

from pciplane.core.errors import ImageError

#: The first bytes of a qcow2 file ("QFI\\xfb", qcow2.txt: "magic").
QCOW2_MAGIC = b"QFI\xfb"
#: Enough of the file to recognise every format below.
HEADER_BYTES = 64 * 1024

#: Other formats QEMU probes by magic; a file that starts so is not raw.
_OTHER_MAGICS: tuple[tuple[int, bytes, str], ...] = (
    (0, b"KDMV", "vmdk"),
    (0, b"# Disk DescriptorFile", "vmdk"),
    (0, b"COWD", "vmdk"),
    (0, b"conectix", "vpc"),
    (0, b"vhdxfile", "vhdx"),
    (0, b"QED\x00", "qed"),
    (0, b"LUKS\xba\xbe", "luks"),
    (0, b"WithoutFreeSpace", "parallels"),
    (0, b"WithouFreSpacExt", "parallels"),
    (0x40, b"\x7f\x10\xda\xbe", "vdi"),
    (0, b"cloop", "cloop"),
    (0, b"bochs", "bochs"),
    (0, b"QEVM", "qcow"),
    (0, b"DMG", "dmg"),
)


class DiskFormat(enum.StrEnum):
    """Glance's ``disk_format`` values that pciplane boots from."""

    QCOW2 = "qcow2"
    RAW = "raw"


#: Glance's only ``container_format`` for a plain disk image.
CONTAINER_FORMAT = "bare"


def parse_disk_format(value: str) -> DiskFormat:
    try:
        return DiskFormat(value)
    except ValueError:
        known = ", ".join(f.value for f in DiskFormat)
        raise ImageError(f"disk format {value!r} is not one of {known}") from None


@dataclass(frozen=True, kw_only=True, slots=True)
class ImageInfo:
    """What a file is, as ``qemu-img info`` (or :func:`sniff`) found it."""

    #: The format's name as QEMU spells it (``qcow2``, ``raw``, ``vmdk``, ...).
    format: str
    #: The disk size the guest sees, in bytes.
    virtual_size: int
    #: The file a qcow2 image reads unwritten clusters from; None: none.
    backing: str | None = None
    #: The qcow2 header is damaged (``qemu-img info`` reports ``corrupt``).
    corrupt: bool = False


def sniff(header: bytes, file_size: int) -> ImageInfo:
    """The format of a file from its first bytes, as QEMU's probes judge it."""
    if header.startswith(QCOW2_MAGIC):
        if len(header) < 32:
            return ImageInfo(format="qcow2", virtual_size=0, corrupt=True)
        _magic, version, backing_offset, backing_size = struct.unpack(">4sIQI", header[:20])
        (size,) = struct.unpack(">Q", header[24:32])
        backing = None
        if backing_offset:
            end = backing_offset + backing_size
            raw = header[backing_offset:end] if end <= len(header) else b"?"
            backing = raw.decode("utf-8", "replace") or "?"
        return ImageInfo(
            format="qcow2", virtual_size=size, backing=backing, corrupt=version not in (2, 3)
        )
    for offset, magic, name in _OTHER_MAGICS:
        if header[offset : offset + len(magic)] == magic:
            return ImageInfo(format=name, virtual_size=0)
    return ImageInfo(format="raw", virtual_size=file_size)


def info_from_qemu_img(doc: Mapping[str, object]) -> ImageInfo:
    """:class:`ImageInfo` from ``qemu-img info --output=json``'s object."""
    fmt = doc.get("format")
    size = doc.get("virtual-size")
    if not isinstance(fmt, str) or not isinstance(size, int):
        raise ImageError(f"qemu-img info gave no format or virtual size: {dict(doc)!r}")
    backing = doc.get("full-backing-filename") or doc.get("backing-filename")
    specific = doc.get("format-specific")
    corrupt = False
    if isinstance(specific, dict) and isinstance(specific.get("data"), dict):
        corrupt = bool(specific["data"].get("corrupt", False))
    return ImageInfo(
        format=fmt,
        virtual_size=size,
        backing=str(backing) if backing else None,
        corrupt=corrupt,
    )


def check_image(info: ImageInfo, wanted: DiskFormat | None, *, where: str) -> DiskFormat:
    """The image's format, if pciplane can boot from it and it is the one asked for."""
    try:
        found = DiskFormat(info.format)
    except ValueError:
        known = " or ".join(f.value for f in DiskFormat)
        raise ImageError(
            f"{where} is a {info.format} image; pciplane boots from {known} only "
            f"(convert it: qemu-img convert -O qcow2 {where} out.qcow2)"
        ) from None
    if wanted is not None and found is not wanted:
        raise ImageError(f"{where} is a {found} image, not {wanted} as --disk-format says")
    if info.corrupt:
        raise ImageError(f"{where}: the qcow2 header is damaged (qemu-img check it)")
    if info.backing is not None:
        raise ImageError(
            f"{where} has a backing file ({info.backing}); upload a standalone image "
            "(qemu-img convert -O qcow2 flattens it)"
        )
    if info.virtual_size <= 0:
        raise ImageError(f"{where} is empty: its disk has no size")
    return found


#: A GiB, for flavors' ``disk`` and overlay sizes.
GIB = 1 << 30


def gib_needed(virtual_size: int) -> int:
    """The smallest whole GiB that holds an image's disk (Nova's flavor-disk check)."""
    return -(-virtual_size // GIB)
