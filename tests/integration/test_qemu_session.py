"""Real QEMU accepts what pciplane renders: a guest plan with NUMA cells, a pinned and a
floating vCPU, a boot disk and a console is rendered as the agent renders it (its disk a
qcow2 overlay made by the agent's disk store with the real ``qemu-img``), then defined,
started, seen running, destroyed and undefined on ``qemu:///session`` with software
emulation (virt type ``qemu``: no KVM, no devices).

``qemu:///session`` is a user's own libvirt, driven here through ``virsh``: as this user,
or as root (where libvirt maps the session URI to the system daemon) as the unprivileged
``nobody`` under ``runuser``. It is skipped, saying why, where QEMU, libvirt's QEMU driver or such a
user is missing (``scripts/ensure-system-packages`` installs the packages).
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from pciplane.core.guest import CpuPolicy, GuestCell, GuestDisk, GuestPlan
from pciplane.host.disks import DiskStore
from pciplane.host.domain_xml import domain_for_plan, render_domain

pytestmark = pytest.mark.integration

URI = "qemu:///session"
SERVER = "3e4f5a6b-7c8d-4e9f-a0b1-c2d3e4f5a6b7"
NEEDED = ("qemu-system-x86_64", "qemu-img", "virsh")


def _missing() -> str | None:
    absent = [tool for tool in NEEDED if shutil.which(tool) is None]
    if absent:
        return f"{', '.join(absent)} not installed (Debian qemu-system-x86, qemu-utils, " \
               "libvirt-clients; scripts/ensure-system-packages)"  # fmt: skip
    if os.geteuid() == 0:
        if shutil.which("runuser") is None:
            return "running as root without runuser to reach an unprivileged user's session"
        try:
            pwd.getpwnam("nobody")
        except KeyError:
            return "running as root and there is no user 'nobody' to own a session"
    return None


class Session:
    """``virsh -c qemu:///session`` as this user, or as ``nobody`` when this is root."""

    def __init__(self, home: Path) -> None:
        self.env = {
            "HOME": str(home),
            "XDG_RUNTIME_DIR": str(home / "run"),
            "XDG_CONFIG_HOME": str(home / "config"),
            "XDG_CACHE_HOME": str(home / "cache"),
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        }

    def virsh(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        command = ["virsh", "-c", URI, *args]
        if os.geteuid() == 0:
            pairs = [f"{k}={v}" for k, v in self.env.items()]
            command = ["runuser", "-u", "nobody", "--", "env", *pairs, *command]
        done = subprocess.run(command, capture_output=True, text=True, timeout=120,
                              env=self.env, check=False)  # fmt: skip
        if check and done.returncode != 0:
            raise AssertionError(f"virsh {' '.join(args)}: {done.stderr.strip()}")
        return done


@pytest.fixture
def workdir() -> Iterator[Path]:
    """A directory the session's QEMU (maybe another user) can read and write."""
    path = Path(tempfile.mkdtemp(prefix="pciplane-qemu-"))
    path.chmod(0o777)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def session(workdir: Path) -> Session:
    missing = _missing()
    if missing:
        pytest.skip(missing)
    home = workdir / "home"
    home.mkdir()
    home.chmod(0o777)
    found = Session(home)
    probe = found.virsh("list", "--all", check=False)
    if probe.returncode != 0:
        pytest.skip(f"{URI} is not reachable here: {probe.stderr.strip()}")
    return found


def _plan(cpus: int) -> GuestPlan:
    """Two vCPUs in one guest cell on host cell 0: vCPU 1 pinned to the last host CPU,
    vCPU 0 floating over CPU 0 (a mixed guest), 128 MiB, a qcow2 boot disk."""
    return GuestPlan(
        name=f"pciplane-qemu-{SERVER[:8]}",
        uuid=SERVER,
        vcpus=2,
        memory_mib=128,
        cpu_policy=CpuPolicy.MIXED,
        cells=(
            GuestCell(cell=0, host_cell=0, vcpus=(0, 1), memory_mib=128, pins=(None, cpus - 1)),
        ),
        shared_cpus=(0,),
        disk=GuestDisk(image="cirros", checksum="", format="qcow2", size_gib=1),
    )


def test_qemu_defines_and_runs_the_rendered_guest(session: Session, workdir: Path) -> None:
    image = workdir / "cirros.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(image), "32M"], check=True)

    def fetch(_image_id: str, dest: Path) -> str:
        shutil.copyfile(image, dest)
        return ""

    store = DiskStore(workdir / "agent", fetch)
    plan = _plan(os.cpu_count() or 1)
    overlay = store.prepare(plan)
    assert overlay is not None
    for path in (overlay, store.images / "cirros", store.images, store.disks, store.root):
        path.chmod(0o777 if path.is_dir() else 0o666)
    xml_file = workdir / "domain.xml"
    xml_file.write_text(render_domain(domain_for_plan(plan, virt_type="qemu",
                                                      disk_path=str(overlay))))  # fmt: skip
    xml_file.chmod(0o644)
    session.virsh("define", str(xml_file))
    try:
        session.virsh("start", plan.name)
        time.sleep(1.0)  # QEMU is up; a guest it could not run would have stopped by now
        assert session.virsh("domstate", plan.name).stdout.strip() == "running"
        live = session.virsh("dumpxml", plan.name).stdout
        assert f"<source file='{overlay}'" in live
        assert "<vcpupin vcpu='1'" in live and "<memnode cellid='0'" in live
        assert session.virsh("ttyconsole", plan.name).stdout.strip().startswith("/dev/pts/")
        session.virsh("destroy", plan.name)
        assert session.virsh("domstate", plan.name).stdout.strip() == "shut off"
    finally:
        with contextlib.suppress(AssertionError):
            session.virsh("destroy", plan.name, check=False)
            session.virsh("undefine", plan.name)
    assert plan.name not in session.virsh("list", "--all", "--name").stdout
    assert store.remove(plan) and not overlay.exists()
