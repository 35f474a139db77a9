"""Networks, segments, the agent's SR-IOV options, the host rules, port statuses, the guest
plan's NICs, and the PCI request a port makes (binding §1, §4, §5; Nova §4.3)."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pciplane.core.address import PciAddress
from pciplane.core.device import DevType, PciDevice
from pciplane.core.errors import ConfigError, RequestError, StateError
from pciplane.core.fit import GuestRequest, HostView
from pciplane.core.fleet import Host
from pciplane.core.guest import AttachMode, GuestDevice, GuestNic, GuestPlan, VfWiring
from pciplane.core.host_rules import SRIOV_ONLY_REASON, ruled_out, with_rules
from pciplane.core.index import FleetIndex
from pciplane.core.lifecycle import PORT_MOVES, PortEvent, PortStatus, port_move
from pciplane.core.network import Network, NetworkType, Segment, check_segments, request_physnets
from pciplane.core.request import NumaPolicy, VnicType, request_from_port
from pciplane.core.spec import parse_device_specs
from pciplane.core.sriov_agent import (
    SriovAgentConfig,
    apply_to_host,
    parse_device_mappings,
    parse_exclude_devices,
)
from pciplane.service.nics import port_request
from pciplane.store.networks import NetworkRecord
from pciplane.store.ports import PortRecord


def seg(kind: str, physnet: str | None = None, seg_id: int | None = None) -> Segment:
    return Segment(network_type=NetworkType(kind), physical_network=physnet, segmentation_id=seg_id)


@pytest.mark.parametrize(
    ("kind", "physnet", "seg_id", "words"),
    [
        pytest.param("vlan", "p", 4095, "not a vlan id from 1 to 4094", id="vlan-high"),
        pytest.param("vlan", "p", 0, "not a vlan id", id="vlan-0"),
        pytest.param("vlan", None, 5, "needs a physical network", id="vlan-physnet"),
        pytest.param("flat", "p", 1, "takes no segmentation id", id="flat-id"),
        pytest.param("gre", "p", None, "has no physical network", id="gre-physnet"),
        pytest.param("gre", None, 2**32, "not a gre id", id="gre-key"),
        pytest.param("geneve", None, 2**24, "not a geneve id", id="geneve-vni"),
        pytest.param("local", "p", None, "has no physical network", id="local-physnet"),
        pytest.param("flat", "x" * 65, None, "longer than 64", id="physnet-long"),
        pytest.param("flat", " ", None, "is not a name", id="physnet-blank"),
        pytest.param("vlan", "p", True, "is not an integer", id="bool-id"),
    ],
)  # fmt: skip
def test_impossible_segments(kind: str, physnet: str | None, seg_id: Any, words: str) -> None:
    with pytest.raises(RequestError, match=words):
        Segment(network_type=NetworkType(kind), physical_network=physnet, segmentation_id=seg_id)


def test_segments_and_the_physnets_a_port_may_use() -> None:
    segments = (seg("vxlan", None, 9), seg("vlan", "physnet2", 20), seg("flat", "physnet1"),
                seg("vlan", "physnet2", 21))  # fmt: skip
    assert request_physnets(segments) == ("physnet2", "physnet1")
    assert request_physnets((seg("local"),)) == ()
    with pytest.raises(RequestError, match="listed twice"):
        check_segments((seg("flat", "a"), seg("flat", "a")))
    with pytest.raises(RequestError, match="at least one"):
        Network(id="n", name="n", segments=())
    assert seg("vlan", "physnet1", 100).key == "vlan:physnet1:100"
    assert seg("local").key is None


# --- the agent's options (Neutron's syntax) -----------------------------------------


@pytest.mark.parametrize(
    ("text", "mappings"),
    [
        ("physnet1:ens1f0,physnet1:ens1f1,physnet2:ens2f0",
         {"physnet1": ("ens1f0", "ens1f1"), "physnet2": ("ens2f0",)}),
        (" physnet1 : ens1f0 , ", {"physnet1": ("ens1f0",)}),
        ("", {}),
    ],
)  # fmt: skip
def test_device_mappings_parse(text: str, mappings: dict[str, tuple[str, ...]]) -> None:
    assert parse_device_mappings(text) == mappings


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("physnet1", "invalid mapping 'physnet1'"),
        ("physnet1:", "invalid mapping"),
        (":ens1f0", "invalid mapping"),
        ("physnet1:ens1f0,physnet2:ens1f0", "mapped to both physnet1 and physnet2"),
        ("physnet1:ens1f0,physnet1:ens1f0", "listed twice"),
        ("physnet1:a-very-long-interface-name", "is not an interface name"),
        ("phys net:ens1f0", "is not a physical network name"),
    ],
)
def test_bad_device_mappings(text: str, words: str) -> None:
    with pytest.raises(ConfigError, match=words):
        parse_device_mappings(text)


def test_exclude_devices_parse_and_need_their_pf_mapped() -> None:
    parsed = parse_exclude_devices("ens1f0:0000:3b:10.2;0000:3b:10.3,ens2f0:0000:5e:10.1")
    assert parsed == {
        "ens1f0": frozenset({PciAddress.parse("0000:3b:10.2"), PciAddress.parse("0000:3b:10.3")}),
        "ens2f0": frozenset({PciAddress.parse("0000:5e:10.1")}),
    }
    for bad, words in (("ens1f0", "invalid entry"), ("ens1f0:0000:zz:10.2", "ens1f0"),
                       ("a:0000:3b:10.2,a:0000:3b:10.3", "appears twice")):  # fmt: skip
        with pytest.raises(ConfigError, match=words):
            parse_exclude_devices(bad)
    with pytest.raises(ConfigError, match="ens2f0 is missing from physical_device_mappings"):
        SriovAgentConfig(physical_device_mappings={"p": ("ens1f0",)}, exclude_devices=parsed)


names = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789_.-", min_size=1, max_size=12)


@given(st.dictionaries(names, st.lists(names, min_size=1, max_size=3, unique=True), max_size=4))
def test_device_mappings_round_trip(raw: dict[str, list[str]]) -> None:
    pfs = [pf for values in raw.values() for pf in values]
    text = ",".join(f"{physnet}:{pf}" for physnet, values in raw.items() for pf in values)
    if len(pfs) != len(set(pfs)):
        with pytest.raises(ConfigError, match=r"mapped to both|listed twice"):
            parse_device_mappings(text)
        return
    parsed = parse_device_mappings(text)
    assert parsed == {k: tuple(v) for k, v in raw.items()}
    config = SriovAgentConfig(physical_device_mappings=parsed)
    assert SriovAgentConfig.from_json(config.to_json()) == config


def dev(address: str, product: str, kind: DevType, **kw: Any) -> PciDevice:
    return PciDevice(address=PciAddress.parse(address), vendor_id="8086", product_id=product,
                     dev_type=kind, **kw)  # fmt: skip


PF0 = dev("0000:81:00.0", "1572", DevType.PF, devname="ens1f0")
PF1 = dev("0000:81:00.1", "1572", DevType.PF, devname="ens1f1")
VFS = tuple(
    dev(f"0000:81:02.{n}", "154c", DevType.VF, parent_addr=PF0.address, parent_ifname="ens1f0")
    for n in range(4)
)
OTHER_VF = dev("0000:81:0a.0", "154c", DevType.VF, parent_addr=PF1.address)
HOST = Host(name="h", devices=(PF0, PF1, *VFS, OTHER_VF))


def pools(host: Host) -> list[tuple[str, int]]:
    view = HostView.build(host)
    return sorted((p.kind.describe(), p.count) for p in view.pools)


def test_auto_all_makes_the_mapped_pfs_vfs_assignable_with_their_physnet() -> None:
    config = SriovAgentConfig(
        physical_device_mappings={"physnet3": ("ens1f0",)},
        exclude_devices={"ens1f0": frozenset({VFS[0].address, OTHER_VF.address})},
        sriov_auto_all=True,
        sriov_pci_group="gold",
    )
    host = apply_to_host(HOST, [], config)
    assert VFS[0].address not in {d.address for d in host.devices}  # excluded: left out
    assert OTHER_VF.address in {d.address for d in host.devices}  # not ens1f0's VF
    assert host.device_spec_raw == ({"address": "0000:81:00.0", "vendor_id": "8086",
                                     "product_id": "154c", "physical_network": "physnet3",
                                     "pci_group": "gold"},)  # fmt: skip
    assert pools(host) == [
        ("8086:154c type-VF NUMA ? parent_ifname=ens1f0 pci_group=gold physical_network=physnet3",
         3)]  # fmt: skip


def test_pci_group_tags_the_fleets_sriov_entries_and_no_options_change_nothing() -> None:
    fleet = [{"vendor_id": "8086", "product_id": "154c", "physical_network": "physnet1"},
             {"vendor_id": "10de"}]  # fmt: skip
    grouped = apply_to_host(HOST, fleet, SriovAgentConfig(sriov_pci_group="g"))
    assert grouped.device_spec_raw is not None
    assert [e.get("pci_group") for e in grouped.device_spec_raw] == ["g", None]  # type: ignore[union-attr]
    plain = apply_to_host(HOST, fleet, SriovAgentConfig(sriov_only=True))
    assert (plain.device_spec_raw, plain.devices, plain.sriov_only) == (None, HOST.devices, True)


# --- the host rules -----------------------------------------------------------------


def test_sriov_only_rules_out_servers_without_an_sriov_port() -> None:
    spec = ({"vendor_id": "8086", "product_id": "154c", "physical_network": "physnet1"},)
    specs = parse_device_specs(spec)
    only = Host(name="only", devices=HOST.devices, device_spec=specs, sriov_only=True)
    other = Host(name="other", devices=HOST.devices, device_spec=specs)
    index = FleetIndex()
    for host in (only, other):
        index.replace_host(host)
    plain = GuestRequest()
    port = request_from_port(vnic_type="direct", physical_network="physnet1")
    assert port is not None
    with_port = GuestRequest(pci=(port,))
    refused = ruled_out((only, other), plain)
    assert refused == {"only": SRIOV_ONLY_REASON}
    result = with_rules(index.fit(plain), refused)
    assert result.hosts_that_fit() == ["other"]
    assert result.outcome("only").reason == SRIOV_ONLY_REASON
    assert ruled_out((only, other), with_port) == {}


# --- port statuses ------------------------------------------------------------------


@given(st.lists(st.sampled_from(list(PortEvent)), max_size=12))
def test_port_statuses_move_only_as_the_table_says(events: list[PortEvent]) -> None:
    status = PortStatus.DOWN
    for event in events:
        move = PORT_MOVES[event]
        if status in move.allowed_from:
            status = port_move(status, event)
            assert status == move.to
        else:
            with pytest.raises(StateError):
                port_move(status, event)


# --- the guest plan's NICs ----------------------------------------------------------

nics = st.builds(
    GuestNic,
    port=names,
    mac=st.just("fa:16:3e:00:00:01"),
    vnic_type=st.sampled_from(["direct", "macvtap", "normal"]),
    vif_type=st.sampled_from(["hw_veb", "ovs"]),
    vlan=st.one_of(st.none(), st.integers(1, 4094)),
    source_dev=st.one_of(st.none(), names),
    bridge=st.one_of(st.none(), st.just("br-int")),
    vf=st.one_of(st.none(), st.builds(
        VfWiring, pf=names, vf=st.integers(0, 63), mac=st.just("fa:16:3e:00:00:01"),
        vlan=st.one_of(st.none(), st.integers(1, 4094)), spoofchk=st.booleans(),
        trust=st.booleans(), link_state=st.sampled_from(["auto", "enable", "disable"]))),
)  # fmt: skip


@given(st.lists(nics, max_size=3), st.lists(nics, max_size=2))
def test_guest_plan_nics_round_trip(
    device_nics: list[GuestNic], interfaces: list[GuestNic]
) -> None:
    devices = tuple(
        GuestDevice(address=PciAddress(domain=0, bus=0x81, slot=2, function=i),
                    attach=AttachMode.INTERFACE_HOSTDEV, nic=nic)
        for i, nic in enumerate(device_nics)
    )  # fmt: skip
    plan = GuestPlan(name="vm", uuid="u", vcpus=1, memory_mib=1, devices=devices,
                     interfaces=tuple(interfaces))  # fmt: skip
    assert GuestPlan.from_json(plan.to_json()) == plan
    if device_nics:
        one = plan.only_port(device_nics[0].port)
        assert one.devices[0].nic == device_nics[0]
        assert plan.without_port(device_nics[0].port).merged(one).nics() != ()


@pytest.mark.parametrize(
    ("nic", "words"),
    [
        ({"port": "p", "mac": "m", "vnic_type": "direct"}, "'vif_type' must be a string"),
        ({"port": "p", "mac": "m", "vnic_type": "d", "vif_type": "v", "vlan": "100"},
         "'vlan' must be an integer or null"),
        ({"port": "p", "mac": "m", "vnic_type": "d", "vif_type": "v",
          "vf": {"pf": "e", "vf": 1, "mac": "m", "spoofchk": "yes", "trust": False,
                 "link_state": "auto"}}, "'spoofchk' must be true or false"),
    ],
)  # fmt: skip
def test_malformed_plan_nics_name_the_key(nic: dict[str, Any], words: str) -> None:
    plan = {"name": "vm", "uuid": "u", "vcpus": 1, "memory_mib": 1, "devices": [],
            "interfaces": [nic]}  # fmt: skip
    with pytest.raises(RequestError, match=words):
        GuestPlan.from_json(plan)


# --- the request a port makes (Nova §4.3) -------------------------------------------


def record(vnic: str, **kw: Any) -> PortRecord:
    return PortRecord(id="p", name="p1", project="x", network_id="n",
                      mac_address="fa:16:3e:00:00:01", vnic_type=VnicType(vnic), **kw)  # fmt: skip


def netrec(*segments: Segment) -> NetworkRecord:
    return NetworkRecord(id="n", name="net", project="x", segments=segments)


@pytest.mark.parametrize(
    ("port", "flavor", "policy", "specs"),
    [
        pytest.param(record("direct"), None, None,
                     [{"physical_network": "physnet1", "remote_managed": "false"}], id="direct"),
        pytest.param(record("direct-physical", numa_affinity_policy="required"),
                     NumaPolicy.PREFERRED, NumaPolicy.REQUIRED,
                     [{"physical_network": "physnet1", "remote_managed": "false",
                       "dev_type": "type-PF"}], id="port-policy-wins"),
        pytest.param(record("macvtap", profile={"trusted": "yes", "pci_group": "g"}),
                     NumaPolicy.SOCKET, NumaPolicy.SOCKET,
                     [{"physical_network": "physnet1", "remote_managed": "false",
                       "trusted": "true", "pci_group": "g"}], id="trusted-group-flavor-policy"),
        pytest.param(record("remote-managed"), None, None,
                     [{"physical_network": "physnet1", "remote_managed": "true"}],
                     id="remote-managed"),
    ],
)  # fmt: skip
def test_ports_make_novas_request(
    port: PortRecord, flavor: NumaPolicy | None, policy: NumaPolicy | None, specs: list[Any]
) -> None:
    request = port_request(port, netrec(seg("vlan", "physnet1", 100)), flavor)
    assert request is not None
    assert [s.as_dict() for s in request.specs] == specs
    assert (request.numa_policy, request.requester, request.label) == (
        policy, "p", "port 'p1' (physnet1)")  # fmt: skip


def test_port_requests_for_other_networks_and_types() -> None:
    multi = netrec(seg("vxlan", None, 3), seg("vlan", "physnet9", 9), seg("flat", "physnet1"))
    request = port_request(record("direct"), multi, None)
    assert request is not None
    assert [s.get("physical_network") for s in request.specs] == ["physnet9", "physnet1"]
    assert port_request(record("normal"), multi, None) is None
    with pytest.raises(RequestError, match="no SR-IOV device can reach network 'net'"):
        port_request(record("direct"), netrec(seg("vxlan", None, 3)), None)
    with pytest.raises(RequestError, match="needs Cyborg"):
        port_request(record("accelerator-direct"), multi, None)
