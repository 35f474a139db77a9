"""Judging an image file by its header: the formats pciplane boots from, and the rest."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pciplane.core.errors import ImageError
from pciplane.core.image import (
    GIB,
    DiskFormat,
    ImageInfo,
    check_image,
    gib_needed,
    info_from_qemu_img,
    sniff,
)


def qcow2_header(size: int, backing: bytes = b"", version: int = 3) -> bytes:
    offset = 72 if backing else 0
    head = struct.pack(">4sIQIIQ", b"QFI\xfb", version, offset, len(backing), 16, size)
    return head.ljust(72, b"\0") + backing


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        pytest.param(qcow2_header(GIB), ImageInfo(format="qcow2", virtual_size=GIB), id="qcow2"),
        pytest.param(
            qcow2_header(GIB, b"/etc/shadow"),
            ImageInfo(format="qcow2", virtual_size=GIB, backing="/etc/shadow"),
            id="qcow2-backing",
        ),
        pytest.param(
            qcow2_header(GIB, version=9),
            ImageInfo(format="qcow2", virtual_size=GIB, corrupt=True),
            id="qcow2-version",
        ),
        pytest.param(b"KDMV" + b"\0" * 60, ImageInfo(format="vmdk", virtual_size=0), id="vmdk"),
        pytest.param(b"vhdxfile" + b"\0" * 8, ImageInfo(format="vhdx", virtual_size=0), id="vhdx"),
        pytest.param(
            b"\0" * 0x40 + b"\x7f\x10\xda\xbe", ImageInfo(format="vdi", virtual_size=0), id="vdi"
        ),
        pytest.param(b"\0" * 512, ImageInfo(format="raw", virtual_size=4096), id="raw"),
    ],
)
def test_sniff(header: bytes, expected: ImageInfo) -> None:
    assert sniff(header, 4096) == expected


@pytest.mark.parametrize(
    ("info", "wanted", "error"),
    [
        pytest.param(ImageInfo(format="vmdk", virtual_size=1), None, "is a vmdk image", id="vmdk"),
        pytest.param(
            ImageInfo(format="raw", virtual_size=1), DiskFormat.QCOW2, "not qcow2", id="named"
        ),
        pytest.param(
            ImageInfo(format="qcow2", virtual_size=1, backing="x"), None, "backing", id="backing"
        ),
        pytest.param(
            ImageInfo(format="qcow2", virtual_size=1, corrupt=True), None, "damaged", id="corrupt"
        ),
        pytest.param(ImageInfo(format="raw", virtual_size=0), None, "is empty", id="empty"),
    ],
)
def test_check_image_refuses(info: ImageInfo, wanted: DiskFormat | None, error: str) -> None:
    with pytest.raises(ImageError, match=error):
        check_image(info, wanted, where="f")


def test_check_image_takes_qcow2_and_raw() -> None:
    assert check_image(ImageInfo(format="raw", virtual_size=1), None, where="f") is DiskFormat.RAW
    qcow2 = ImageInfo(format="qcow2", virtual_size=1)
    assert check_image(qcow2, DiskFormat.QCOW2, where="f") is DiskFormat.QCOW2


def test_info_from_qemu_img() -> None:
    doc = {"format": "qcow2", "virtual-size": 5, "backing-filename": "b",
           "format-specific": {"type": "qcow2", "data": {"corrupt": True}}}  # fmt: skip
    assert info_from_qemu_img(doc) == ImageInfo(
        format="qcow2", virtual_size=5, backing="b", corrupt=True
    )
    with pytest.raises(ImageError, match="no format"):
        info_from_qemu_img({"format": "raw"})


@given(st.integers(min_value=1, max_value=1 << 50))
def test_gib_needed_holds_the_disk(size: int) -> None:
    gib = gib_needed(size)
    assert gib * GIB >= size > (gib - 1) * GIB
