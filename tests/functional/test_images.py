"""Boot images through the real CLI and client against a live service: upload streamed to
the data directory with its SHA-256, list, show, download, delete; bad uploads refused with
nothing left behind (no row, no file)."""

from __future__ import annotations

import hashlib
import json
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import uvicorn
from svc_helpers import ADMIN, free_port, make_settings

from pciplane.api.app import create_app
from pciplane.cli.main import main
from pciplane.client import Client
from pciplane.core.errors import (
    AlreadyExistsError,
    ForbiddenError,
    ImageError,
    NotFoundError,
    PciplaneError,
)

needs_qemu_img = pytest.mark.skipif(
    shutil.which("qemu-img") is None, reason="qemu-img is not installed (Debian qemu-utils)"
)


@pytest.fixture
def image_api(db_url: str, tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A live service whose data directory is ``tmp_path/data``; small image limit."""
    data = tmp_path / "data"
    app = create_app(make_settings(db_url, data_dir=data, max_image_bytes=8 << 20))
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="error"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    yield f"http://127.0.0.1:{port}", data
    server.should_exit = True
    thread.join(timeout=10)
    app.state.services.db.dispose()


def qemu_image(path: Path, fmt: str, size: str = "16M", *extra: str) -> Path:
    subprocess.run(["qemu-img", "create", "-q", "-f", fmt, *extra, str(path), size], check=True)
    return path


def zeros(size: int) -> object:
    def make(path: Path) -> Path:
        path.write_bytes(b"\0" * size)
        return path

    return make


def _files(data: Path) -> list[str]:
    images = data / "images"
    return sorted(p.name for p in images.iterdir()) if images.exists() else []


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    status = main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


@needs_qemu_img
def test_image_story_through_the_cli(
    image_api: tuple[str, Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    api, data = image_api
    monkeypatch.setenv("PCIPLANE_API", api)
    monkeypatch.setenv("PCIPLANE_TOKEN", ADMIN)
    disk = qemu_image(tmp_path / "cirros.qcow2", "qcow2", "64M")
    status, out, err = _run(capsys, "image", "create", "cirros", "--file", str(disk), "--json")
    assert status == 0, err
    image = json.loads(out)
    assert image["disk_format"] == "qcow2"
    assert image["virtual_size"] == 64 << 20
    assert image["size"] == disk.stat().st_size
    assert image["sha256"] == hashlib.sha256(disk.read_bytes()).hexdigest()
    assert _files(data) == [image["id"]]
    raw = tmp_path / "blank.img"
    raw.write_bytes(b"\0" * (1 << 20))
    status, out, _ = _run(capsys, "image", "create", "blank", "--file", str(raw))
    assert status == 0 and "raw" in out
    status, out, _ = _run(capsys, "image", "list")
    assert status == 0 and "cirros" in out and "blank" in out
    for ref in ("cirros", image["id"]):
        status, out, _ = _run(capsys, "image", "show", ref, "--json")
        assert (status, json.loads(out)["id"]) == (0, image["id"])
    with Client(api, "tok-cmp1") as agent:
        dest = tmp_path / "fetched"
        assert agent.download_image(image["id"], dest) == image["sha256"]
        assert dest.read_bytes() == disk.read_bytes()
    with Client(api, "tok-alpha") as project, pytest.raises(ForbiddenError):
        project.download_image(image["id"], tmp_path / "nope")
    assert _run(capsys, "image", "delete", "cirros")[0] == 0
    status, _, err = _run(capsys, "image", "show", "cirros")
    assert status == 2 and "image 'cirros' does not exist" in err
    assert len(_files(data)) == 1


@needs_qemu_img
@pytest.mark.parametrize(
    ("make", "disk_format", "error"),
    [
        pytest.param(
            lambda p: qemu_image(p, "vmdk"), None, "is a vmdk image; pciplane boots from qcow2",
            id="vmdk",
        ),
        pytest.param(
            lambda p: qemu_image(p, "qcow2"), "raw", "is a qcow2 image, not raw", id="not-as-named"
        ),
        pytest.param(
            lambda p: qemu_image(p, "qcow2", "16M", "-F", "raw", "-b", "/etc/hostname"),
            None,
            "has a backing file (/etc/hostname)",
            id="backing-file",
        ),
        pytest.param(zeros(0), None, "empty", id="empty"),
        pytest.param(zeros(9 << 20), None, "over the service's limit", id="too-large"),
    ],
)  # fmt: skip
def test_bad_uploads_are_refused_and_leave_nothing(
    image_api: tuple[str, Path],
    tmp_path: Path,
    make: object,
    disk_format: str | None,
    error: str,
) -> None:
    api, data = image_api
    path = make(tmp_path / "upload")  # type: ignore[operator]
    with Client(api, ADMIN) as client:
        with pytest.raises(PciplaneError) as caught:
            client.create_image("bad", path, disk_format=disk_format)
        assert error in str(caught.value)
        assert client.list_images() == []
    assert _files(data) == []


@pytest.mark.parametrize(
    ("name", "error"),
    [
        pytest.param("", "must not be empty", id="empty"),
        pytest.param("has space", "use letters, digits", id="space"),
        pytest.param("x" * 256, "at most 255", id="too-long"),
    ],
)
def test_bad_names_are_refused_before_any_byte(
    image_api: tuple[str, Path], tmp_path: Path, name: str, error: str
) -> None:
    api, data = image_api
    path = tmp_path / "disk.img"
    path.write_bytes(b"\0" * 4096)
    with Client(api, ADMIN) as client:
        with pytest.raises(PciplaneError) as caught:
            client.create_image(name, path)
        assert error in str(caught.value) or "must not be empty" in str(caught.value)
        assert client.list_images() == []
    assert _files(data) == []


def test_duplicate_unknown_and_forbidden(image_api: tuple[str, Path], tmp_path: Path) -> None:
    api, data = image_api
    path = tmp_path / "disk.img"
    path.write_bytes(b"\0" * 4096)
    with Client(api, ADMIN) as admin:
        first = admin.create_image("disk", path)
        with pytest.raises(AlreadyExistsError, match="image 'disk' already exists"):
            admin.create_image("disk", path)
        with pytest.raises(NotFoundError, match="image 'nope' does not exist"):
            admin.get_image("nope")
        with pytest.raises(NotFoundError):
            admin.delete_image("nope")
        with pytest.raises(ImageError, match="image 'q' is not a disk image QEMU can read"):
            qcow = tmp_path / "q"
            qcow.write_bytes(b"QFI\xfb" + b"\0\0\0\3" + b"\0" * 16 + (1 << 20).to_bytes(8, "big"))
            admin.create_image("q", qcow, disk_format="raw")
    with Client(api, "tok-alpha") as project:
        assert [i.name for i in project.list_images()] == ["disk"]
        with pytest.raises(ForbiddenError):
            project.create_image("mine", path)
        with pytest.raises(ForbiddenError):
            project.delete_image("disk")
    assert _files(data) == [first.id]


def test_a_truncated_upload_changes_nothing(image_api: tuple[str, Path]) -> None:
    """The client promises 1 MiB, sends half and goes away: no row, no file."""
    api, data = image_api
    url = urlsplit(api)
    with socket.create_connection((url.hostname, url.port)) as sock:
        head = (
            "POST /v1/images?name=cut HTTP/1.1\r\n"
            f"Host: {url.netloc}\r\nAuthorization: Bearer {ADMIN}\r\n"
            "Content-Type: application/octet-stream\r\nContent-Length: 1048576\r\n\r\n"
        )
        sock.sendall(head.encode() + b"\0" * (512 << 10))
    deadline = time.monotonic() + 5
    while _files(data) and time.monotonic() < deadline:
        time.sleep(0.05)
    with Client(api, ADMIN) as client:
        assert client.list_images() == []
    assert [f for f in _files(data) if not f.startswith(".")] == []
    assert _files(data) == []
