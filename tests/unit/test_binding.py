"""Port binding by mechanism drivers (neutron-sriov-binding.md §2) and the binding profile
(nova-pci-semantics §4.5; Q12, Q16)."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pciplane.core.address import PciAddress
from pciplane.core.binding import (
    BOUND_PROFILE_KEYS,
    SOFTWARE_SWITCH,
    AgentState,
    BindRequest,
    Bound,
    NotBound,
    PortStatusAtBinding,
    VifType,
    bind_port,
    default_drivers,
    device_profile,
    merge_user_profile,
    profile_trusted,
    sriov_nic_switch,
    try_driver,
    vlan_tag,
    whole_profile,
)
from pciplane.core.device import DevType, PciDevice
from pciplane.core.errors import ConfigError, RequestError
from pciplane.core.network import NetworkType, Segment
from pciplane.core.request import VnicType

V = VnicType
MAPPED = AgentState(alive=True, device_mappings={"physnet1": ("ens1f0",), "physnet2": ()})
DEAD = AgentState(alive=False, device_mappings={"physnet1": ("ens1f0",)})


def seg(kind: str, physnet: str | None = None, seg_id: int | None = None) -> Segment:
    return Segment(network_type=NetworkType(kind), physical_network=physnet, segmentation_id=seg_id)


VLAN100 = seg("vlan", "physnet1", 100)
VLAN200_P2 = seg("vlan", "physnet2", 200)
FLAT1 = seg("flat", "physnet1")
VXLAN = seg("vxlan", None, 5000)
UNMAPPED = seg("vlan", "physnet9", 300)


def request(vnic: VnicType, *segments: Segment, agent: AgentState | None = MAPPED,
            **kw: Any) -> BindRequest:  # fmt: skip
    return BindRequest(vnic_type=vnic, segments=segments, agent=agent, **kw)


@pytest.mark.parametrize(
    ("req", "vif_type", "segment", "details", "status"),
    [
        pytest.param(request(V.DIRECT, VLAN100), VifType.HW_VEB, VLAN100,
                     {"port_filter": False, "connectivity": "l2", "vlan": "100"}, "DOWN",
                     id="direct-vlan-string"),
        pytest.param(request(V.MACVTAP, FLAT1), VifType.HW_VEB, FLAT1,
                     {"port_filter": False, "connectivity": "l2", "vlan": "0"}, "DOWN",
                     id="macvtap-flat-0"),
        pytest.param(request(V.ACCELERATOR_DIRECT, VLAN100), VifType.HW_VEB, VLAN100,
                     {"port_filter": False, "connectivity": "l2", "vlan": "100"}, "DOWN",
                     id="accelerator-direct"),
        pytest.param(request(V.DIRECT_PHYSICAL, VLAN100), VifType.HOSTDEV_PHYSICAL, VLAN100,
                     {"port_filter": False, "connectivity": "l2", "vlan": "100"}, "ACTIVE",
                     id="direct-physical-active"),
        pytest.param(request(V.DIRECT, VXLAN, UNMAPPED, VLAN200_P2), VifType.HW_VEB, VLAN200_P2,
                     {"port_filter": False, "connectivity": "l2", "vlan": "200"}, "DOWN",
                     id="multi-segment-first-mapped"),
        pytest.param(request(V.DIRECT_PHYSICAL, UNMAPPED, VLAN200_P2), VifType.HOSTDEV_PHYSICAL,
                     UNMAPPED, {"port_filter": False, "connectivity": "l2", "vlan": "300"},
                     "ACTIVE", id="direct-physical-ignores-mapping"),
        pytest.param(request(V.DIRECT_PHYSICAL, VLAN100, agent=None), VifType.HOSTDEV_PHYSICAL,
                     VLAN100, {"port_filter": False, "connectivity": "l2", "vlan": "100"},
                     "ACTIVE", id="direct-physical-no-agent"),
        pytest.param(request(V.MACVTAP, VLAN100, profile={"capabilities": ["switchdev"]}),
                     VifType.HW_VEB, VLAN100,
                     {"port_filter": False, "connectivity": "l2", "vlan": "100"}, "DOWN",
                     id="switchdev-vetoes-direct-only"),
        pytest.param(request(V.NORMAL, VXLAN), VifType.OVS, VXLAN,
                     {"port_filter": True, "connectivity": "l2", "bridge_name": "br-int"}, "DOWN",
                     id="normal-on-the-software-switch"),
        pytest.param(request(V.NORMAL, VLAN100, port_security=False), VifType.OVS, VLAN100,
                     {"port_filter": False, "connectivity": "l2", "bridge_name": "br-int"}, "DOWN",
                     id="normal-without-port-security"),
    ],
)  # fmt: skip
def test_drivers_bind_as_neutron_does(
    req: BindRequest, vif_type: VifType, segment: Segment, details: dict[str, object], status: str
) -> None:
    result = bind_port(default_drivers(), req)
    assert isinstance(result, Bound), result
    assert (result.vif_type, result.segment, result.status) == (vif_type, segment, status)
    assert result.vif_details.to_json() == details


@pytest.mark.parametrize(
    ("req", "prohibit", "words"),
    [
        pytest.param(request(V.DIRECT, VLAN100, agent=DEAD), (), "agent is not alive",
                     id="dead-agent"),
        pytest.param(request(V.DIRECT, VLAN100, agent=None), (), "has no agent", id="no-agent"),
        pytest.param(request(V.DIRECT, UNMAPPED), (), "no device to physical network 'physnet9'",
                     id="unmapped-physnet"),
        pytest.param(request(V.DIRECT, VXLAN), (), "no segment of type flat, vlan",
                     id="tunnel-only"),
        pytest.param(request(V.DIRECT, VLAN100, profile={"capabilities": ["switchdev"]}), (),
                     "'switchdev' capability", id="switchdev"),
        pytest.param(request(V.MACVTAP, VLAN100), ("macvtap",), "does not bind vnic type macvtap",
                     id="prohibited"),
        pytest.param(request(V.VDPA, VLAN100), (), "does not bind vnic type vdpa", id="vdpa"),
        pytest.param(request(V.NORMAL, VLAN100, agent=DEAD), (), "openvswitch: the host's agent",
                     id="normal-dead-agent"),
    ],
)  # fmt: skip
def test_what_no_driver_binds_fails_with_every_drivers_reason(
    req: BindRequest, prohibit: tuple[str, ...], words: str
) -> None:
    result = bind_port(default_drivers(prohibit), req)
    assert isinstance(result, NotBound)
    assert words in result.describe()
    assert result.describe().startswith("sriovnicswitch: ")
    assert "openvswitch: " in result.describe()


@pytest.mark.parametrize(
    ("prohibit", "message"),
    [
        pytest.param(["normal"], "'normal' is not a vnic type", id="not-sriov"),
        pytest.param(["direct", "macvtap", "direct-physical", "accelerator-direct"],
                     "every vnic type", id="all-four"),
        pytest.param(["bogus"], "'bogus'", id="unknown"),
    ],
)  # fmt: skip
def test_prohibit_list_is_checked_as_neutron_checks_it(prohibit: list[str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        sriov_nic_switch(prohibit)


@pytest.mark.parametrize(
    ("value", "tag"),
    [("100", 100), ("0", None), ("None", None), (None, None), ("4095", None), (7, 7),
     (True, None), ("x", None)],
)  # fmt: skip
def test_vlan_tag_writes_no_tag_for_0_and_None_Q16(value: object, tag: int | None) -> None:
    assert vlan_tag(value) == tag


# --- the property: the SR-IOV driver decides as reference §2 says --------------------


def reference_decision(req: BindRequest, prohibit: frozenset[str]) -> tuple[str, int, str] | None:
    """§2 steps 1-7, written out independently: (vif_type, segment index, vlan) or None."""
    supported = {"direct", "macvtap", "direct-physical", "accelerator-direct"} - prohibit
    vnic = str(req.vnic_type)
    caps = req.profile.get("capabilities")
    if vnic not in supported:
        return None
    if vnic == "direct" and isinstance(caps, list) and "switchdev" in caps:
        return None
    for i, segment in enumerate(req.segments):
        if str(segment.network_type) not in ("flat", "vlan"):
            continue
        if vnic != "direct-physical":
            agent = req.agent
            if agent is None or not agent.alive:
                continue
            if segment.physical_network not in agent.device_mappings:
                continue
        vif = "hostdev_physical" if vnic == "direct-physical" else "hw_veb"
        vlan = "0" if str(segment.network_type) == "flat" else str(segment.segmentation_id)
        return vif, i, vlan
    return None


physnets = st.sampled_from(["physnet1", "physnet2", "Physnet1", "p3"])
segments = st.one_of(
    st.builds(lambda p: seg("flat", p), physnets),
    st.builds(lambda p, i: seg("vlan", p, i), physnets, st.one_of(st.none(), st.integers(1, 4094))),
    st.builds(lambda k, i: seg(k, None, i), st.sampled_from(["vxlan", "gre", "geneve"]),
              st.one_of(st.none(), st.integers(1, 9999))),
    st.just(seg("local")),
)  # fmt: skip
agents = st.one_of(
    st.none(),
    st.builds(
        lambda alive, keys: AgentState(alive=alive, device_mappings={k: () for k in keys}),
        st.booleans(),
        st.sets(physnets, max_size=3),
    ),
)
profiles = st.fixed_dictionaries(
    {},
    optional={
        "capabilities": st.lists(st.sampled_from(["switchdev", "rx", "tx"]), max_size=3),
        "trusted": st.sampled_from([True, False, "yes"]),
        "physical_network": physnets,
        "pci_slot": st.just("0000:81:02.1"),
    },
)
prohibits = st.sets(st.sampled_from(["direct", "macvtap", "direct-physical"]), max_size=2)


@given(
    vnic=st.sampled_from(list(VnicType)),
    segs=st.lists(segments, min_size=0, max_size=4),
    agent=agents,
    profile=profiles,
    prohibit=prohibits,
)
def test_sriov_driver_decides_as_the_reference_says(
    vnic: VnicType,
    segs: list[Segment],
    agent: AgentState | None,
    profile: dict[str, object],
    prohibit: set[str],
) -> None:
    req = BindRequest(vnic_type=vnic, segments=tuple(segs), agent=agent, profile=profile)
    result = try_driver(sriov_nic_switch(sorted(prohibit)), req)
    expected = reference_decision(req, frozenset(prohibit))
    if expected is None:
        assert isinstance(result, str)
        return
    assert isinstance(result, Bound), result
    vif, index, vlan = expected
    assert (str(result.vif_type), result.segment, result.vif_details.vlan) == (
        vif,
        segs[index],
        vlan,
    )
    assert result.vif_details.to_json() == {
        "port_filter": False,
        "connectivity": "l2",
        "vlan": vlan,
    }
    want = PortStatusAtBinding.ACTIVE if vif == "hostdev_physical" else PortStatusAtBinding.DOWN
    assert result.status is want


def test_software_switch_binds_only_normal_ports() -> None:
    assert isinstance(try_driver(SOFTWARE_SWITCH, request(V.DIRECT, VLAN100)), str)
    assert isinstance(try_driver(SOFTWARE_SWITCH, request(V.NORMAL, seg("local"))), Bound)


# --- the profile ---------------------------------------------------------------------

PF = PciDevice(
    address=PciAddress.parse("0000:81:00.0"), vendor_id="8086", product_id="1572",
    dev_type=DevType.PF, devname="enp129s0f0", mac_address="3c:fd:fe:00:00:01",
)  # fmt: skip
VF = PciDevice(
    address=PciAddress.parse("0000:81:02.1"), vendor_id="8086", product_id="154c",
    dev_type=DevType.VF, parent_addr=PF.address, devname="enp129s2f1",
    parent_ifname="enp129s0f0", capabilities=("rx", "tx", "sg"),
    card_serial_number="MT2113X00000", vf_num=9,
)  # fmt: skip


@pytest.mark.parametrize(
    ("device", "parent", "profile"),
    [
        pytest.param(VF, PF, {
            "pci_slot": "0000:81:02.1", "pci_vendor_info": "8086:154c",
            "physical_network": "physnet1", "card_serial_number": "MT2113X00000",
            "pf_mac_address": "3c:fd:fe:00:00:01", "vf_num": 9,
            "capabilities": ["rx", "tx", "sg"]}, id="vf"),
        pytest.param(PF, None, {
            "pci_slot": "0000:81:00.0", "pci_vendor_info": "8086:1572",
            "physical_network": "physnet1", "device_mac_address": "3c:fd:fe:00:00:01"}, id="pf"),
    ],
)  # fmt: skip
def test_profile_gains_novas_keys(
    device: PciDevice, parent: PciDevice | None, profile: dict[str, object]
) -> None:
    added = device_profile(device, "physnet1", parent)
    assert added == profile
    assert set(added) <= BOUND_PROFILE_KEYS
    assert whole_profile({"trusted": True}, added) == {"trusted": True, **profile}


def test_the_clients_capabilities_stay_and_binding_adds_none_Q12() -> None:
    user = {"capabilities": ["switchdev"]}
    added = device_profile(VF, "physnet1", PF, user=user)
    assert "capabilities" not in added
    assert whole_profile(user, added)["capabilities"] == ["switchdev"]
    # Unbinding drops what binding added (kept apart), never the client's keys.
    assert whole_profile(user, {}) == user


user_keys = st.text(min_size=1, max_size=12).filter(lambda k: k not in BOUND_PROFILE_KEYS)
user_profiles = st.dictionaries(user_keys, st.integers() | st.text(max_size=5) | st.booleans())


@given(user_profiles, user_profiles)
def test_a_client_writing_the_profile_back_keeps_the_service_keys(
    before: dict[str, object], after: dict[str, object]
) -> None:
    bound = device_profile(VF, "physnet1", PF, user=before)
    shown = whole_profile(before, bound)
    written_back = {**shown, **after}  # `port set --binding-profile k=v` (clients §7.6)
    user = merge_user_profile(before, bound, written_back)
    assert not set(user) & set(bound)
    assert whole_profile(user, bound) == written_back
    assert merge_user_profile(before, bound, after) == after


@pytest.mark.parametrize(
    ("given", "ok"),
    [
        pytest.param({"pci_slot": "0000:00:00.1"}, False, id="change-a-service-key"),
        pytest.param({"vf_num": 3}, False, id="set-a-service-key-unbound"),
        pytest.param({"capabilities": ["switchdev"]}, True, id="capabilities-are-the-clients"),
        pytest.param({"pci_group": "g", "trusted": "yes"}, True, id="own-keys"),
    ],
)
def test_what_a_client_may_write(given: dict[str, object], ok: bool) -> None:
    bound = {"pci_slot": "0000:81:02.1"}
    if ok:
        assert merge_user_profile({}, bound, given) == given
    else:
        with pytest.raises(RequestError, match="is written by the service"):
            merge_user_profile({}, bound, given)


@pytest.mark.parametrize(
    ("value", "trusted"),
    [(True, True), ("yes", True), ("1", True), ("true", True), ("nope", False), (False, False),
     (None, None)],
)  # fmt: skip
def test_trusted_is_read_as_nova_reads_it(value: object, trusted: bool | None) -> None:
    assert profile_trusted({} if value is None else {"trusted": value}) is trusted
