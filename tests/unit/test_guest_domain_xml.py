"""The whole guest plan as domain XML, one golden file per guest shape, each valid under
libvirt's schema: CPUs and where they run, memory and its host cells, guest NUMA cells,
the boot disk and console, and the devices.

Set ``PCIPLANE_UPDATE_GOLDEN=1`` to rewrite the golden files after a deliberate change.
"""

from __future__ import annotations

import os
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pciplane.core.address import PciAddress
from pciplane.core.errors import RequestError
from pciplane.core.guest import (
    AttachMode,
    CpuPolicy,
    GuestCell,
    GuestDevice,
    GuestDisk,
    GuestNic,
    GuestPlan,
    VfWiring,
)
from pciplane.host import libvirt_schema
from pciplane.host.domain_xml import domain_for_plan, render_domain
from pciplane.host.guest_xml import cpu_ranges

GOLDEN = Path(__file__).resolve().parent.parent / "golden" / "domain_xml"
UUID = "5f0c2a7e-1b3d-4c5e-8f90-a1b2c3d4e5f6"
OVERLAY = f"/var/lib/pciplane/agent/disks/{UUID}.qcow2"
DISK = GuestDisk(image="2a8e6d7c-0f3b-4b6e-9d1a-7c5e3f2b1a09", checksum="ab" * 32, format="qcow2")
GPU = PciAddress.parse("0000:3b:00.0")
VF = PciAddress.parse("0000:81:02.1")
MAC = "fa:16:3e:11:22:33"


def plan(**fields: object) -> GuestPlan:
    values: dict[str, object] = {"name": f"vm-{UUID[:8]}", "uuid": UUID, "vcpus": 2,
                                 "memory_mib": 1024}  # fmt: skip
    values.update(fields)
    return GuestPlan(**values)  # type: ignore[arg-type]


def cell(index: int, host: int, vcpus: tuple[int, ...], mib: int, pins: tuple[int | None, ...]
         ) -> GuestCell:  # fmt: skip
    return GuestCell(cell=index, host_cell=host, vcpus=vcpus, memory_mib=mib, pins=pins)


def sriov_nic() -> GuestNic:
    wiring = VfWiring(pf="ens1f0", vf=1, mac=MAC, vlan=100, spoofchk=True, trust=False,
                      link_state="auto")  # fmt: skip
    return GuestNic(port="7d9b4c1e-2f3a-4b5c-8d6e-9f0a1b2c3d4e", mac=MAC, vnic_type="direct",
                    vif_type="hw_veb", vlan=100, vf=wiring)  # fmt: skip


SHAPES = [
    pytest.param("plan_no_disk", plan(), None, id="no-disk"),
    pytest.param("plan_disk", plan(disk=DISK), OVERLAY, id="disk"),
    pytest.param(
        "plan_shared_one_cell",
        plan(vcpus=2, memory_mib=2048, cells=(cell(0, 1, (0, 1), 2048, (None, None)),),
             shared_cpus=(8, 9, 10, 11), disk=DISK),
        OVERLAY,
        id="shared-one-cell",
    ),
    pytest.param(
        "plan_dedicated_two_cells",
        plan(vcpus=4, memory_mib=4096, cpu_policy=CpuPolicy.DEDICATED,
             cells=(cell(0, 0, (0, 1), 2048, (2, 3)), cell(1, 1, (2, 3), 2048, (18, 19))),
             disk=DISK),
        OVERLAY,
        id="dedicated-two-cells",
    ),
    pytest.param(
        "plan_mixed",
        plan(vcpus=4, memory_mib=4096, cpu_policy=CpuPolicy.MIXED,
             cells=(cell(0, 0, (0, 1, 2, 3), 4096, (None, None, 4, 5)),),
             shared_cpus=(0, 1), disk=DISK),
        OVERLAY,
        id="mixed",
    ),
    pytest.param(
        "plan_gpu_sriov",
        plan(vcpus=4, memory_mib=8192, cpu_policy=CpuPolicy.DEDICATED,
             cells=(cell(0, 1, (0, 1, 2, 3), 8192, (16, 17, 18, 19)),),
             devices=(GuestDevice(address=GPU, request="large_GPU"),
                      GuestDevice(address=VF, attach=AttachMode.INTERFACE_HOSTDEV,
                                  request=sriov_nic().port, nic=sriov_nic())),
             disk=DISK),
        OVERLAY,
        id="gpu-and-sriov",
    ),
]  # fmt: skip


def check_golden(name: str, text: str) -> None:
    path = GOLDEN / f"{name}.xml"
    if os.environ.get("PCIPLANE_UPDATE_GOLDEN") == "1":
        path.write_text(text)
    assert path.read_text() == text, f"{path.name} differs"


@pytest.mark.parametrize(("name", "guest", "disk_path"), SHAPES)
def test_plan_renders_as_the_golden_file(
    name: str, guest: GuestPlan, disk_path: str | None
) -> None:
    text = render_domain(domain_for_plan(guest, virt_type="kvm", disk_path=disk_path))
    check_golden(name, text)


@pytest.mark.skipif(not libvirt_schema.validator_available(), reason="virt-xml-validate missing")
@pytest.mark.parametrize("virt_type", ["kvm", "qemu", "test"])
@pytest.mark.parametrize(("name", "guest", "disk_path"), SHAPES)
def test_plan_is_valid_for_libvirt(
    name: str, guest: GuestPlan, disk_path: str | None, virt_type: str
) -> None:
    libvirt_schema.validate(
        render_domain(domain_for_plan(guest, virt_type=virt_type, disk_path=disk_path))
    )


def _root(guest: GuestPlan, virt_type: str = "kvm") -> ET.Element:
    return ET.fromstring(render_domain(domain_for_plan(guest, virt_type=virt_type,
                                                       disk_path=OVERLAY)))  # fmt: skip


def test_pinned_guest_pins_every_vcpu_and_the_emulator_over_its_cpus() -> None:
    guest = SHAPES[3].values[1]
    root = _root(guest)  # type: ignore[arg-type]
    pins = {p.get("vcpu"): p.get("cpuset") for p in root.iter("vcpupin")}
    assert pins == {"0": "2", "1": "3", "2": "18", "3": "19"}
    assert root.find("cputune/emulatorpin").get("cpuset") == "2-3,18-19"  # type: ignore[union-attr]
    assert root.find("numatune/memory").attrib == {"mode": "strict", "nodeset": "0-1"}  # type: ignore[union-attr]
    memnodes = [m.attrib for m in root.iter("memnode")]
    assert memnodes == [{"cellid": "0", "mode": "strict", "nodeset": "0"},
                        {"cellid": "1", "mode": "strict", "nodeset": "1"}]  # fmt: skip
    assert root.find("cpu").get("mode") == "host-passthrough"  # type: ignore[union-attr]


def test_mixed_guest_floats_its_shared_vcpus_and_pins_the_rest() -> None:
    root = _root(SHAPES[4].values[1])  # type: ignore[arg-type]
    assert root.find("vcpu").attrib == {"placement": "static", "cpuset": "0-1"}  # type: ignore[union-attr]
    assert {p.get("vcpu") for p in root.iter("vcpupin")} == {"2", "3"}
    assert root.find("cputune/emulatorpin").get("cpuset") == "0-1,4-5"  # type: ignore[union-attr]


def test_software_emulation_has_no_host_cpu_to_pass_through() -> None:
    root = _root(SHAPES[3].values[1], "qemu")  # type: ignore[arg-type]
    assert root.find("cpu").get("mode") is None  # type: ignore[union-attr]


def test_the_disk_boots_first_and_the_console_is_a_pty() -> None:
    root = _root(plan(disk=DISK))
    disk = root.find("devices/disk")
    assert disk is not None
    assert disk.find("source").get("file") == OVERLAY  # type: ignore[union-attr]
    assert disk.find("driver").attrib == {"name": "qemu", "type": "qcow2"}  # type: ignore[union-attr]
    assert disk.find("boot").get("order") == "1"  # type: ignore[union-attr]
    assert root.find("devices/serial").get("type") == "pty"  # type: ignore[union-attr]
    assert root.find("devices/console/target").get("type") == "serial"  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("guest", "disk_path", "message"),
    [
        pytest.param(plan(disk=DISK), None, "no disk was made", id="disk-without-overlay"),
        pytest.param(plan(disk=DISK), "relative.qcow2", "absolute path", id="relative-overlay"),
        pytest.param(
            plan(vcpus=2, cells=(cell(0, 0, (0, 1), 512, (1, 2)),)),
            None,
            "adds up to 512",
            id="cell-memory",
        ),
        pytest.param(
            plan(vcpus=2, cells=(cell(0, 0, (0,), 1024, (1,)),)),
            None,
            "each of the 2 vCPUs",
            id="cell-vcpus",
        ),
    ],
)
def test_bad_plans_are_refused(guest: GuestPlan, disk_path: str | None, message: str) -> None:
    with pytest.raises(RequestError, match=message):
        domain_for_plan(guest, virt_type="kvm", disk_path=disk_path)


@given(st.sets(st.integers(min_value=0, max_value=255), min_size=1))
def test_cpu_ranges_round_trip(cpus: set[int]) -> None:
    text = cpu_ranges(cpus)
    back: set[int] = set()
    for part in text.split(","):
        low, _, high = part.partition("-")
        back.update(range(int(low), int(high or low) + 1))
    assert back == cpus
