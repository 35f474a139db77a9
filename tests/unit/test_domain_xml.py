"""libvirt domain XML: golden files per case, libvirt's schema, and reading XML back.

Set ``PCIPLANE_UPDATE_GOLDEN=1`` to rewrite the golden files after a deliberate change
(and review the diff).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pciplane.core.address import PciAddress
from pciplane.core.binding import AgentState, BindRequest, Bound, bind_port, default_drivers
from pciplane.core.device import DevType, PciDevice
from pciplane.core.errors import BindingFailedError, HypervisorError, RequestError
from pciplane.core.guest import GuestDevice
from pciplane.core.network import NetworkType, Segment
from pciplane.core.request import VnicType
from pciplane.host import libvirt_schema
from pciplane.host.domain_xml import (
    DirectInterface,
    Domain,
    DomainDevice,
    HeldDevice,
    HeldKind,
    HostdevDevice,
    HostdevInterface,
    NumaCell,
    devices_in_domain,
    domain_device,
    flavor_hostdev,
    held_addresses,
    interface_device,
    render_device,
    render_domain,
)
from pciplane.service.binding import device_nic, switch_nic
from pciplane.store.ports import PortRecord

GOLDEN = Path(__file__).resolve().parent.parent / "golden" / "domain_xml"
MAC = "fa:16:3e:11:22:33"
VF = PciAddress.parse("0000:81:02.1")
PF = PciAddress.parse("0000:81:00.0")
GPU = PciAddress.parse("0000:3b:00.0")

DEVICE_CASES = [
    pytest.param("flavor_hostdev_managed_yes", HostdevDevice(address=GPU), id="flavor-managed"),
    pytest.param(
        "flavor_hostdev_managed_no",
        HostdevDevice(address=GPU, managed=False),
        id="flavor-unmanaged",
    ),
    pytest.param("direct_vlan", HostdevInterface(address=VF, mac=MAC, vlan=100), id="direct-vlan"),
    pytest.param("direct_flat", HostdevInterface(address=VF, mac=MAC), id="direct-flat"),
    pytest.param("direct_vlan0", HostdevInterface(address=VF, mac=MAC, vlan=0), id="direct-vlan0"),
    pytest.param("direct_physical", HostdevDevice(address=PF), id="direct-physical"),
    pytest.param(
        "macvtap", DirectInterface(source_dev="enp129s2f1", mac=MAC, vlan=42), id="macvtap"
    ),
    pytest.param(
        "macvtap_8021qbh",
        DirectInterface(source_dev="enp129s2f1", mac=MAC, vlan=42, profileid="finance"),
        id="macvtap-802.1qbh",
    ),
    pytest.param(
        "direct_8021qbh",
        HostdevInterface(address=VF, mac=MAC, vlan=100, profileid="finance"),
        id="direct-802.1qbh",
    ),
]


def eight_devices() -> tuple[DomainDevice, ...]:
    """Four GPUs (two unmanaged), two direct VFs, one macvtap VF, one PF."""
    gpus = tuple(
        HostdevDevice(address=PciAddress(domain=0, bus=0x3B + i, slot=0, function=0), managed=i < 2)
        for i in range(4)
    )
    vfs = tuple(
        HostdevInterface(
            address=PciAddress(domain=0, bus=0x81, slot=2, function=i),
            mac=f"fa:16:3e:00:00:0{i}",
            vlan=100 + i,
        )
        for i in range(2)
    )
    macvtap = DirectInterface(source_dev="enp129s2f2", mac="fa:16:3e:00:00:09", vlan=7)
    pf = HostdevDevice(address=PciAddress(domain=0, bus=0x82, slot=0, function=0))
    return (*gpus, *vfs, macvtap, pf)


def full_domain(virt_type: str = "kvm") -> Domain:
    return Domain(
        name="server-1",
        uuid="0b6d5a4e-4a39-4d9b-9f43-0d8d5e5a1c01",
        memory_mib=8192,
        vcpus=8,
        numa_cells=(
            NumaCell(id=0, cpus=(0, 1, 2, 3), memory_mib=4096),
            NumaCell(id=1, cpus=(4, 5, 6, 7), memory_mib=4096),
        ),
        devices=eight_devices(),
        virt_type=virt_type,
    )


def check_golden(name: str, text: str) -> None:
    path = GOLDEN / f"{name}.xml"
    if os.environ.get("PCIPLANE_UPDATE_GOLDEN") == "1":
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    assert text == path.read_text(encoding="utf-8"), f"{path.name} differs"


@pytest.mark.parametrize(("name", "device"), DEVICE_CASES)
def test_device_xml_matches_golden_file(name: str, device: DomainDevice) -> None:
    check_golden(name, render_device(device))


def test_full_domain_matches_golden_file() -> None:
    check_golden("full_domain", render_domain(full_domain()))


PF_DEV = PciDevice(address=PF, vendor_id="8086", product_id="1572", dev_type=DevType.PF)
VF_DEV = PciDevice(
    address=VF,
    vendor_id="8086",
    product_id="154c",
    dev_type=DevType.VF,
    parent_addr=PF,
    devname="enp129s2f1",
)
GPU_DEV = PciDevice(address=GPU, vendor_id="10de", product_id="20b0")


def bound_device(vnic: VnicType, segment: Segment, device: PciDevice | None) -> DomainDevice:
    """A port bound by the mechanism drivers (binding §2), its device wired as the
    scheduler does (service/binding.py), and rendered by the agent."""
    port = PortRecord(id=PORT_ID, name="p", project="x", network_id="n", mac_address=MAC,
                      vnic_type=vnic)  # fmt: skip
    agent = AgentState(alive=True, device_mappings={"physnet1": ("enp129s0f0",)})
    result = bind_port(default_drivers(), BindRequest(vnic_type=vnic, segments=(segment,),
                                                       agent=agent))  # fmt: skip
    assert isinstance(result, Bound), result
    if device is None:
        return interface_device(switch_nic(port, result))
    mode, nic = device_nic(port, result, device)
    return domain_device(GuestDevice(address=device.address, attach=mode, nic=nic))


PORT_ID = "5d0c1a52-7a63-4a43-9a61-0d3f1f3e2a10"
VLAN100 = Segment(network_type=NetworkType.VLAN, physical_network="physnet1", segmentation_id=100)
VLAN42 = Segment(network_type=NetworkType.VLAN, physical_network="physnet1", segmentation_id=42)
FLAT = Segment(network_type=NetworkType.FLAT, physical_network="physnet1")
VLAN_NO_ID = Segment(network_type=NetworkType.VLAN, physical_network="physnet1")


@pytest.mark.parametrize(
    ("name", "vnic", "segment", "device"),
    [
        pytest.param("direct_vlan", VnicType.DIRECT, VLAN100, VF_DEV, id="direct-vlan"),
        pytest.param("direct_flat", VnicType.DIRECT, FLAT, VF_DEV, id="direct-flat-vlan-0-Q16"),
        pytest.param("direct_flat", VnicType.DIRECT, VLAN_NO_ID, VF_DEV, id="direct-vlan-None"),
        pytest.param(
            "direct_vlan", VnicType.ACCELERATOR_DIRECT, VLAN100, VF_DEV, id="accelerator-direct"
        ),
        pytest.param(
            "direct_physical", VnicType.DIRECT_PHYSICAL, VLAN100, PF_DEV, id="direct-physical"
        ),
        pytest.param("macvtap", VnicType.MACVTAP, VLAN42, VF_DEV, id="macvtap"),
        pytest.param("normal_ovs", VnicType.NORMAL, VLAN100, None, id="normal"),
    ],
)
def test_bound_ports_render_as_the_golden_files(
    name: str, vnic: VnicType, segment: Segment, device: PciDevice | None
) -> None:
    xml = render_device(bound_device(vnic, segment, device))
    check_golden(name, xml)
    if validator_available():
        libvirt_schema.validate_device(xml)


def test_macvtap_needs_the_vf_netdev() -> None:
    no_netdev = PciDevice(address=VF, vendor_id="8086", product_id="154c", dev_type=DevType.VF)
    with pytest.raises(BindingFailedError, match="network interface"):
        bound_device(VnicType.MACVTAP, VLAN42, no_netdev)


def validator_available() -> bool:
    return libvirt_schema.validator_available()


@pytest.mark.parametrize(
    ("managed", "name"),
    [
        pytest.param(True, "flavor_hostdev_managed_yes", id="managed"),
        pytest.param(False, "flavor_hostdev_managed_no", id="unmanaged"),
    ],
)
def test_flavor_devices_render_as_the_golden_files(managed: bool, name: str) -> None:
    check_golden(name, render_device(flavor_hostdev(GPU_DEV, managed=managed)))


needs_validator = pytest.mark.skipif(
    not libvirt_schema.validator_available(), reason="virt-xml-validate is not installed"
)


@needs_validator
@pytest.mark.parametrize(("name", "device"), DEVICE_CASES)
def test_device_xml_is_valid_for_libvirt(name: str, device: DomainDevice) -> None:
    libvirt_schema.validate_device(render_device(device))


@needs_validator
@pytest.mark.parametrize("virt_type", ["kvm", "test"])
def test_full_domain_is_valid_for_libvirt(virt_type: str) -> None:
    libvirt_schema.validate(render_domain(full_domain(virt_type)))


@needs_validator
def test_every_golden_file_is_valid_for_libvirt() -> None:
    files = sorted(GOLDEN.glob("*.xml"))
    plans = [f for f in files if f.name.startswith("plan_")]  # test_guest_domain_xml.py's
    assert len(files) - len(plans) == len(DEVICE_CASES) + 2  # the full domain, normal_ovs
    for path in files:
        text = path.read_text(encoding="utf-8")
        if text.startswith("<domain"):
            libvirt_schema.validate(text)
        else:
            libvirt_schema.validate_device(text)


@needs_validator
def test_validator_rejects_a_broken_device() -> None:
    bad = '<hostdev mode="subsystem" type="pci" managed="maybe"><source/></hostdev>'
    with pytest.raises(HypervisorError, match="not a valid libvirt domain"):
        libvirt_schema.validate_device(bad)


@pytest.mark.parametrize(
    ("device", "vlan_tag"),
    [
        pytest.param(HostdevInterface(address=VF, mac=MAC, vlan=None), None, id="flat"),
        pytest.param(HostdevInterface(address=VF, mac=MAC, vlan=0), None, id="vlan-0-Q16"),
        pytest.param(HostdevInterface(address=VF, mac=MAC, vlan=4094), "4094", id="vlan-4094"),
        pytest.param(
            HostdevInterface(address=VF, mac=MAC, vlan=5, profileid="p"), None, id="qbh-no-vlan"
        ),
        pytest.param(DirectInterface(source_dev="eth1", mac=MAC, vlan=9), "9", id="macvtap"),
    ],
)
def test_vlan_element(device: DomainDevice, vlan_tag: str | None) -> None:
    text = render_device(device)
    if vlan_tag is None:
        assert "<vlan>" not in text
    else:
        assert f'<tag id="{vlan_tag}" />' in text


@pytest.mark.parametrize(
    ("build", "message"),
    [
        pytest.param(
            lambda: HostdevInterface(address=VF, mac="FA:16:3E:11:22:33"), "MAC", id="upper-mac"
        ),
        pytest.param(lambda: HostdevInterface(address=VF, mac="fa:16"), "MAC", id="short-mac"),
        pytest.param(
            lambda: HostdevInterface(address=VF, mac=MAC, vlan=4095), "VLAN id", id="vlan-4095"
        ),
        pytest.param(
            lambda: HostdevInterface(address=VF, mac=MAC, vlan=-1), "VLAN id", id="vlan-negative"
        ),
        pytest.param(
            lambda: DirectInterface(source_dev="", mac=MAC), "netdev name", id="no-source-dev"
        ),
        pytest.param(
            lambda: DirectInterface(source_dev="eth0", mac=MAC, profileid=" "),
            "profileid",
            id="blank-profile",
        ),
        pytest.param(
            lambda: Domain(name="a", uuid="nope", memory_mib=1, vcpus=1), "UUID", id="bad-uuid"
        ),
        pytest.param(
            lambda: Domain(
                name="a",
                uuid="0b6d5a4e-4a39-4d9b-9f43-0d8d5e5a1c01",
                memory_mib=1,
                vcpus=1,
                virt_type="xen",
            ),
            "type 'xen'",
            id="bad-virt-type",
        ),
        pytest.param(
            lambda: Domain(
                name="a",
                uuid="0b6d5a4e-4a39-4d9b-9f43-0d8d5e5a1c01",
                memory_mib=2048,
                vcpus=4,
                numa_cells=(NumaCell(id=0, cpus=(0, 1), memory_mib=2048),),
            ),
            "vCPUs",
            id="cells-miss-cpus",
        ),
        pytest.param(
            lambda: Domain(
                name="a",
                uuid="0b6d5a4e-4a39-4d9b-9f43-0d8d5e5a1c01",
                memory_mib=2048,
                vcpus=2,
                numa_cells=(NumaCell(id=0, cpus=(0, 1), memory_mib=1024),),
            ),
            "1024 MiB",
            id="cells-miss-memory",
        ),
    ],
)
def test_bad_guest_descriptions_are_request_errors(build: object, message: str) -> None:
    assert callable(build)
    with pytest.raises(RequestError, match=message):
        build()


def test_cpu_ranges_are_compact() -> None:
    domain = Domain(
        name="n",
        uuid="0b6d5a4e-4a39-4d9b-9f43-0d8d5e5a1c01",
        memory_mib=2048,
        vcpus=6,
        numa_cells=(
            NumaCell(id=0, cpus=(0, 1, 2, 5), memory_mib=1024),
            NumaCell(id=1, cpus=(3, 4), memory_mib=1024),
        ),
    )
    text = render_domain(domain)
    assert 'cpus="0-2,5"' in text
    assert 'cpus="3-4"' in text


def test_devices_in_domain_lists_what_the_full_domain_holds() -> None:
    held = devices_in_domain(render_domain(full_domain()))
    assert [h.kind for h in held] == [HeldKind.HOSTDEV] * 4 + [
        HeldKind.INTERFACE_HOSTDEV,
        HeldKind.INTERFACE_HOSTDEV,
        HeldKind.INTERFACE_DIRECT,
        HeldKind.HOSTDEV,
    ]
    assert held[6] == HeldDevice(
        kind=HeldKind.INTERFACE_DIRECT, source_dev="enp129s2f2", mac="fa:16:3e:00:00:09"
    )
    assert [str(a) for a in held_addresses(held)] == [
        "0000:3b:00.0",
        "0000:3c:00.0",
        "0000:3d:00.0",
        "0000:3e:00.0",
        "0000:81:02.0",
        "0000:81:02.1",
        "0000:82:00.0",
    ]


def test_devices_in_domain_ignores_devices_that_hold_no_host_pci_device() -> None:
    xml = """<domain type='kvm'><devices>
      <disk type='file'/>
      <interface type='network'><source network='default'/></interface>
      <hostdev mode='subsystem' type='usb'><source><vendor id='0x1'/></source></hostdev>
      <interface type='hostdev'><source><address type='usb' bus='1' port='1'/></source>
      </interface>
    </devices></domain>"""
    assert devices_in_domain(xml) == []


@pytest.mark.parametrize(
    ("xml", "message"),
    [
        pytest.param("<domain", "does not parse", id="truncated"),
        pytest.param(
            "<domain><devices><hostdev type='pci'/></devices></domain>",
            "without a source address",
            id="hostdev-no-source",
        ),
        pytest.param(
            "<domain><devices><hostdev type='pci'><source><address domain='x' bus='1' "
            "slot='0' function='0'/></source></hostdev></devices></domain>",
            "is not a PCI address",
            id="hostdev-bad-address",
        ),
    ],
)
def test_devices_in_domain_rejects_odd_xml(xml: str, message: str) -> None:
    with pytest.raises(HypervisorError, match=message):
        devices_in_domain(xml, where="domain 'g'")


addresses = st.builds(
    PciAddress,
    domain=st.integers(0, 0xFFFF),
    bus=st.integers(0, 0xFF),
    slot=st.integers(0, 0x1F),
    function=st.integers(0, 7),
)
macs = st.lists(st.integers(0, 255), min_size=6, max_size=6).map(
    lambda b: ":".join(f"{x:02x}" for x in b)
)
vlans = st.none() | st.integers(0, 4094)
profiles = st.none() | st.text("abcXYZ019-_", min_size=1, max_size=12)
guest_devices: st.SearchStrategy[DomainDevice] = st.one_of(
    st.builds(HostdevDevice, address=addresses, managed=st.booleans()),
    st.builds(HostdevInterface, address=addresses, mac=macs, vlan=vlans, profileid=profiles),
    st.builds(
        DirectInterface,
        source_dev=st.from_regex(r"\A[a-z][a-z0-9]{0,14}\Z"),
        mac=macs,
        vlan=vlans,
        profileid=profiles,
    ),
)


def expected_held(device: DomainDevice) -> HeldDevice:
    if isinstance(device, HostdevDevice):
        return HeldDevice(kind=HeldKind.HOSTDEV, address=device.address)
    if isinstance(device, HostdevInterface):
        return HeldDevice(kind=HeldKind.INTERFACE_HOSTDEV, address=device.address, mac=device.mac)
    return HeldDevice(kind=HeldKind.INTERFACE_DIRECT, source_dev=device.source_dev, mac=device.mac)


@settings(max_examples=200)
@given(st.lists(guest_devices, max_size=10))
def test_reading_back_gives_every_rendered_device(devices: list[DomainDevice]) -> None:
    domain = Domain(
        name="prop",
        uuid="0b6d5a4e-4a39-4d9b-9f43-0d8d5e5a1c01",
        memory_mib=512,
        vcpus=1,
        devices=tuple(devices),
    )
    assert devices_in_domain(render_domain(domain)) == [expected_held(d) for d in devices]
