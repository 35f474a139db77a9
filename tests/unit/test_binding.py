"""Port binding: vif types, vif details, binding profiles (Nova §4.3, §4.5, §6; Q12, Q16)."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pciplane.core.address import PciAddress
from pciplane.core.binding import (
    BOUND_PROFILE_KEYS,
    Network,
    NetworkType,
    Port,
    VifType,
    bind,
    bound_profile,
    parse_network_type,
    unbind_profile,
)
from pciplane.core.device import DevType, PciDevice
from pciplane.core.errors import RequestError
from pciplane.core.request import NumaPolicy, RequestSource, VnicType

PF = PciDevice(
    address=PciAddress.parse("0000:81:00.0"),
    vendor_id="8086",
    product_id="1572",
    dev_type=DevType.PF,
    devname="enp129s0f0",
)
VF = PciDevice(
    address=PciAddress.parse("0000:81:02.1"),
    vendor_id="8086",
    product_id="154c",
    dev_type=DevType.VF,
    parent_addr=PF.address,
    devname="enp129s2f1",
    parent_ifname="enp129s0f0",
    capabilities=("rx", "tx", "sg"),
    card_serial_number="MT2113X00000",
)
GPU = PciDevice(address=PciAddress.parse("0000:3b:00.0"), vendor_id="10de", product_id="20b0")

VLAN100 = Network(
    name="prod", physical_network="physnet1", segmentation_id=100, network_type=NetworkType.VLAN
)
VLAN0 = Network(
    name="v0", physical_network="physnet1", segmentation_id=0, network_type=NetworkType.VLAN
)
FLAT = Network(
    name="flat", physical_network="physnet1", segmentation_id=None, network_type=NetworkType.FLAT
)
VXLAN = Network(
    name="overlay", physical_network=None, segmentation_id=5000, network_type=NetworkType.VXLAN
)


def port(vnic: VnicType, network: Network = VLAN100, **kw: Any) -> Port:
    return Port(id="p1", mac="FA:16:3E:11:22:33", vnic_type=vnic, network=network, **kw)


@pytest.mark.parametrize(
    ("the_port", "device", "vif_type", "details"),
    [
        pytest.param(
            port(VnicType.DIRECT), VF, VifType.HW_VEB, {"port_filter": False, "vlan": 100},
            id="direct-vlan",
        ),
        pytest.param(
            port(VnicType.DIRECT, FLAT), VF, VifType.HW_VEB, {"port_filter": False},
            id="direct-flat-no-vlan",
        ),
        pytest.param(
            port(VnicType.DIRECT, VLAN0), VF, VifType.HW_VEB, {"port_filter": False},
            id="direct-vlan0-no-vlan-Q16",
        ),
        pytest.param(
            port(VnicType.MACVTAP), VF, VifType.HW_VEB, {"port_filter": False, "vlan": 100},
            id="macvtap",
        ),
        pytest.param(
            port(VnicType.DIRECT_PHYSICAL), PF, VifType.HOSTDEV_PHYSICAL,
            {"port_filter": False, "vlan": 100},
            id="direct-physical",
        ),
        pytest.param(
            port(VnicType.DIRECT, profileid="finance"), VF, VifType.QBH,
            {"port_filter": False, "vlan": 100, "profileid": "finance"},
            id="direct-802.1qbh",
        ),
        pytest.param(
            port(VnicType.MACVTAP, FLAT, profileid="finance"), VF, VifType.QBH,
            {"port_filter": False, "profileid": "finance"},
            id="macvtap-802.1qbh",
        ),
        pytest.param(
            port(VnicType.NORMAL, VXLAN), None, VifType.OVS, {"port_filter": True},
            id="normal-ovs",
        ),
        pytest.param(
            port(VnicType.NORMAL, VXLAN, port_security=False), None, VifType.OVS,
            {"port_filter": False},
            id="normal-no-port-security",
        ),
    ],
)  # fmt: skip
def test_bind_gives_vif_type_and_details(
    the_port: Port, device: PciDevice | None, vif_type: VifType, details: dict[str, object]
) -> None:
    physnet = None if device is None else "physnet1"
    binding = bind(the_port, device, physnet)
    assert binding.vif_type is vif_type
    assert binding.vif_details.to_json() == details
    vlan = binding.vif_details.to_json().get("vlan")
    assert vlan is None or type(vlan) is int


@pytest.mark.parametrize(
    ("device", "profile"),
    [
        pytest.param(
            VF,
            {
                "pci_slot": "0000:81:02.1",
                "pci_vendor_info": "8086:154c",
                "physical_network": "physnet1",
                "card_serial_number": "MT2113X00000",
                "capabilities": ["rx", "tx", "sg"],
            },
            id="vf",
        ),
        pytest.param(
            PF,
            {
                "pci_slot": "0000:81:00.0",
                "pci_vendor_info": "8086:1572",
                "physical_network": "physnet1",
            },
            id="pf",
        ),
    ],
)
def test_bind_profile_keys(device: PciDevice, profile: dict[str, object]) -> None:
    vnic = VnicType.DIRECT if device.dev_type is DevType.VF else VnicType.DIRECT_PHYSICAL
    binding = bind(port(vnic, trusted=True), device, "physnet1")
    assert binding.profile is not None
    assert binding.profile.to_json() == profile
    whole = bound_profile({"trusted": True}, binding)
    assert whole == {"trusted": True, **profile}
    assert unbind_profile(whole) == {"trusted": True}


def test_unbind_removes_capabilities_Q12() -> None:
    whole = bound_profile({}, bind(port(VnicType.DIRECT), VF, "physnet1"))
    assert "capabilities" in whole
    assert unbind_profile(whole) == {}


@pytest.mark.parametrize(
    ("the_port", "device", "physnet", "message"),
    [
        pytest.param(port(VnicType.DIRECT), None, "physnet1", "needs a PCI device", id="no-device"),
        pytest.param(
            port(VnicType.DIRECT), PF, "physnet1", "needs a type-VF device", id="direct-on-pf"
        ),
        pytest.param(
            port(VnicType.DIRECT_PHYSICAL), VF, "physnet1", "needs a type-PF", id="physical-on-vf"
        ),
        pytest.param(port(VnicType.MACVTAP), GPU, "physnet1", "type-PCI", id="macvtap-on-gpu"),
        pytest.param(
            port(VnicType.DIRECT), VF, "physnet2", "physical_network='physnet2'", id="physnet"
        ),
        pytest.param(port(VnicType.DIRECT), VF, None, "physical_network=None", id="untagged"),
        pytest.param(
            port(VnicType.DIRECT, VXLAN), VF, None, "has no physical network", id="vxlan"
        ),
        pytest.param(
            port(VnicType.NORMAL), VF, "physnet1", "takes no PCI device", id="normal-with-device"
        ),
        pytest.param(
            port(VnicType.NORMAL, profileid="x"), None, None, "802.1Qbh", id="normal-with-qbh"
        ),
        pytest.param(
            port(VnicType.DIRECT_PHYSICAL, profileid="x"), PF, "physnet1", "applies to VFs",
            id="physical-with-qbh",
        ),
        pytest.param(
            port(VnicType.VDPA), VF, "physnet1", "SR-IOV vnic type 'vdpa' cannot be bound",
            id="vdpa-unsupported",
        ),
        pytest.param(
            port(VnicType.BAREMETAL), None, None, "'baremetal' cannot be bound", id="baremetal"
        ),
    ],
)  # fmt: skip
def test_bind_refuses_with_a_clear_error(
    the_port: Port, device: PciDevice | None, physnet: str | None, message: str
) -> None:
    with pytest.raises(RequestError, match=message) as info:
        bind(the_port, device, physnet)
    assert "port 'p1'" in str(info.value)


@pytest.mark.parametrize(
    ("build", "message"),
    [
        pytest.param(
            lambda: Network(
                name="n", physical_network=None, segmentation_id=1, network_type=NetworkType.VLAN
            ),
            "needs a physical_network",
            id="vlan-without-physnet",
        ),
        pytest.param(
            lambda: Network(
                name="n", physical_network="p", segmentation_id=4095, network_type=NetworkType.VLAN
            ),
            "above 4094",
            id="vlan-4095",
        ),
        pytest.param(
            lambda: Network(
                name="n", physical_network="p", segmentation_id=-3, network_type=NetworkType.VLAN
            ),
            "not an integer",
            id="negative-segment",
        ),
        pytest.param(
            lambda: Port(id="p", mac="fa:16:3e", vnic_type=VnicType.DIRECT, network=FLAT),
            "MAC address",
            id="short-mac",
        ),
        pytest.param(lambda: port(VnicType.DIRECT, profileid=" "), "profileid", id="blank-qbh"),
        pytest.param(lambda: parse_network_type("vlan-ish"), "invalid network type", id="type"),
    ],
)  # fmt: skip
def test_bad_ports_and_networks(build: Any, message: str) -> None:
    with pytest.raises(RequestError, match=message):
        build()


def test_network_type_is_parsed_case_insensitively() -> None:
    assert parse_network_type(" VLAN ") is NetworkType.VLAN


def test_mac_is_stored_lower_case() -> None:
    assert port(VnicType.DIRECT).mac == "fa:16:3e:11:22:33"


@pytest.mark.parametrize(
    ("the_port", "spec"),
    [
        pytest.param(port(VnicType.NORMAL), None, id="normal-no-request"),
        pytest.param(
            port(VnicType.DIRECT, trusted=True),
            {"physical_network": "physnet1", "remote_managed": "false", "trusted": "true"},
            id="direct-trusted",
        ),
        pytest.param(
            port(VnicType.DIRECT_PHYSICAL),
            {"physical_network": "physnet1", "remote_managed": "false", "dev_type": "type-PF"},
            id="direct-physical",
        ),
    ],
)
def test_port_makes_the_request_nova_makes(the_port: Port, spec: dict[str, str] | None) -> None:
    request = the_port.pci_request(flavor_numa_policy=NumaPolicy.PREFERRED)
    if spec is None:
        assert request is None
        return
    assert request is not None
    assert request.source is RequestSource.PORT
    assert request.requester == "p1"
    assert request.numa_policy is NumaPolicy.PREFERRED
    assert request.specs[0].as_dict() == spec


user_keys = st.text(min_size=1, max_size=12).filter(lambda k: k not in BOUND_PROFILE_KEYS)
user_profiles = st.dictionaries(user_keys, st.integers() | st.text(max_size=5) | st.booleans())


@given(user_profiles, st.sampled_from([VF, PF]))
def test_unbind_undoes_bind_exactly(user: dict[str, object], device: PciDevice) -> None:
    vnic = VnicType.DIRECT if device.dev_type is DevType.VF else VnicType.DIRECT_PHYSICAL
    binding = bind(port(vnic), device, "physnet1")
    bound = bound_profile(user, binding)
    assert set(bound) - set(user) <= BOUND_PROFILE_KEYS
    assert unbind_profile(bound) == user
