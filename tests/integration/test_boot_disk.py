"""A server booting an image, end to end: the image uploaded to the service, the server
created with it, the host's agent downloading it once over the API, checking its SHA-256,
caching it and giving each server a qcow2 overlay (real ``qemu-img``), the domain started
on the in-memory hypervisor (which opens the disk files as QEMU would), the overlay gone
with the server, and the image deletable only then."""

from __future__ import annotations

import json
import shutil
import subprocess
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from load_helpers import ADMIN

with warnings.catch_warnings():
    warnings.simplefilter("ignore", UserWarning)  # Starlette: TestClient moves to httpx2
    from fastapi.testclient import TestClient

from pciplane.api.app import create_app
from pciplane.client import Client
from pciplane.core.errors import InUseError, NotFoundError, RequestError
from pciplane.core.guest import GuestDisk, GuestPlan
from pciplane.host.agent import Agent, AgentConfig, sysfs_scanner
from pciplane.host.disks import DiskStore
from pciplane.host.libvirt_driver import LibvirtDriver
from pciplane.service.settings import Settings
from pciplane.sim.host import build_host
from pciplane.sim.host_write import write_sysfs
from pciplane.sim.memory_hypervisor import MemoryHypervisor

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(shutil.which("qemu-img") is None, reason="qemu-img is not installed"),
]

HOST = "cmp1"
AGENT_TOKEN = "tok-agent-cmp1"


@dataclass
class World:
    admin: Client
    agent: Agent
    disks: DiskStore
    data: Path
    fetched: list[str]
    image_file: Path

    def settle(self) -> None:
        while self.agent.step():
            pass


def qemu_img_info(path: Path) -> dict[str, object]:
    out = subprocess.run(["qemu-img", "info", "-U", "--output=json", str(path)],
                         check=True, capture_output=True, text=True).stdout  # fmt: skip
    doc: dict[str, object] = json.loads(out)
    return doc


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    write_sysfs(build_host("gpu"), tmp_path / "root")
    settings = Settings.model_validate(
        {
            "db_url": f"sqlite:///{tmp_path / 'svc.db'}",
            "admin_token": ADMIN,
            "agent_tokens": {AGENT_TOKEN: HOST},
            "data_dir": str(tmp_path / "data"),
        }
    )
    app = create_app(settings)
    admin = Client("http://testserver", ADMIN, http=TestClient(app))
    agent_api = Client("http://testserver", AGENT_TOKEN, http=TestClient(app))
    fetched: list[str] = []

    def fetch(image_id: str, dest: Path) -> str:
        fetched.append(image_id)
        return agent_api.download_image(image_id, dest)

    disks = DiskStore(tmp_path / "agent", fetch)
    image_file = tmp_path / "cirros.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(image_file), "64M"], check=True)
    with LibvirtDriver(MemoryHypervisor()) as driver:
        agent = Agent(
            config=AgentConfig(name=HOST, device_spec_raw=None, device_spec=None),
            api=agent_api,
            hypervisor=driver,
            scanner=sysfs_scanner(tmp_path / "root"),
            disks=disks,
        )
        agent.start()
        yield World(admin=admin, agent=agent, disks=disks, data=tmp_path / "data",
                    fetched=fetched, image_file=image_file)  # fmt: skip
    app.state.services.db.dispose()


def test_servers_boot_overlays_of_an_image_fetched_once(world: World) -> None:
    admin = world.admin
    image = admin.create_image("cirros", world.image_file)
    admin.create_flavor("m1.tiny", vcpus=1, ram=256, disk=1)
    vm1 = admin.create_server("vm1", flavor="m1.tiny", image="cirros")
    vm2 = admin.create_server("vm2", flavor="m1.tiny", image=image.id)
    world.settle()
    for server in (vm1, vm2):
        shown = admin.get_server(server.id)
        assert (shown.state, shown.image) == ("ACTIVE", image.id), shown.reason
        plan_disk = (shown.guest_plan or {})["disk"]
        assert plan_disk == {"image": image.id, "checksum": image.sha256, "format": "qcow2",
                             "size_gib": 1}  # fmt: skip
        overlay = world.disks.overlay_of(server.id)
        assert f'<source file="{overlay}" />' in (shown.domain_xml or "")
        info = qemu_img_info(overlay)
        assert (info["format"], info["virtual-size"]) == ("qcow2", 1 << 30)
        assert info["backing-filename"] == str(world.disks.images / image.id)
        assert info["backing-filename-format"] == "qcow2"
    assert world.fetched == [image.id]
    with pytest.raises(InUseError, match=r"image 'cirros' is in use by server\(s\) vm1 .*vm2"):
        admin.delete_image("cirros")
    assert admin.get_image("cirros").servers == ["vm1", "vm2"]
    for server in (vm1, vm2):
        admin.delete_server(server.id)
    world.settle()
    assert not world.disks.overlay_of(vm1.id).exists()
    assert not world.disks.overlay_of(vm2.id).exists()
    assert (world.disks.images / image.id).is_file()  # the cache stays
    admin.delete_image("cirros")
    assert admin.list_images() == []


def test_a_zero_disk_flavor_boots_the_image_at_its_own_size(world: World) -> None:
    image = world.admin.create_image("cirros", world.image_file)
    world.admin.create_flavor("m1.zero", vcpus=1, ram=256)
    server = world.admin.create_server("vm", flavor="m1.zero", image="cirros")
    world.settle()
    assert world.admin.get_server(server.id).state == "ACTIVE"
    assert qemu_img_info(world.disks.overlay_of(server.id))["virtual-size"] == image.virtual_size


def test_an_altered_image_is_not_used(world: World) -> None:
    """The file on the service changed after upload: the agent's check refuses it, the start
    fails with the reason and nothing is left on the host."""
    image = world.admin.create_image("cirros", world.image_file)
    stored = world.data / "images" / image.id
    stored.write_bytes(stored.read_bytes() + b"tampered")
    world.admin.create_flavor("m1.tiny", vcpus=1, ram=256, disk=1)
    server = world.admin.create_server("vm", flavor="m1.tiny", image="cirros")
    world.settle()
    shown = world.admin.get_server(server.id)
    assert shown.state == "ERROR"
    assert f"not {image.sha256} as the service recorded; not used" in shown.faults[0].reason
    assert list(world.disks.root.rglob("*")) in ([], [world.disks.images])


@pytest.mark.parametrize(
    ("flavor_disk", "image", "error", "message"),
    [
        pytest.param(1, None, RequestError, "has a 1 GiB root disk: give an image",
                     id="root-disk-without-image"),
        pytest.param(0, "nope", NotFoundError, "image 'nope' does not exist", id="unknown-image"),
    ],
)  # fmt: skip
def test_bad_boot_requests_are_refused_and_create_nothing(
    world: World, flavor_disk: int, image: str | None, error: type[Exception], message: str
) -> None:
    world.admin.create_flavor("f", vcpus=1, ram=256, disk=flavor_disk)
    with pytest.raises(error, match=message):
        world.admin.create_server("vm", flavor="f", image=image)
    assert world.admin.list_servers() == []


def test_a_flavor_disk_smaller_than_the_image_is_refused(world: World, tmp_path: Path) -> None:
    big = tmp_path / "big.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(big), "3G"], check=True)
    world.admin.create_image("big", big)
    world.admin.create_flavor("m1.small", vcpus=1, ram=256, disk=2)
    with pytest.raises(RequestError, match="root disk of 2 GiB is smaller than image 'big'"):
        world.admin.create_server("vm", flavor="m1.small", image="big")
    assert world.admin.list_servers() == []


def test_a_relative_state_directory_still_gives_overlays_a_backing_file_that_opens(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    image = tmp_path / "base.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(image), "16M"], check=True)
    store = DiskStore(Path("agent"), lambda _i, dest: shutil.copyfile(image, dest) and "")
    disk = GuestDisk(image="img", checksum="", format="qcow2")
    uuid = "0f1e2d3c-4b5a-4968-8776-a5b4c3d2e1f0"
    plan = GuestPlan(name="vm", uuid=uuid, vcpus=1, memory_mib=64, disk=disk)
    overlay = store.prepare(plan)
    assert overlay is not None and overlay.is_absolute()
    assert qemu_img_info(overlay)["backing-filename"] == str(tmp_path / "agent" / "images" / "img")
