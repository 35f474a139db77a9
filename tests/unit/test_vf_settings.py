"""VF settings plans: operations, ``ip link`` command lines, and applying them over netlink.

The apply path runs against :class:`MemoryNetlink`, which implements the two
``pyroute2.IPRoute`` calls the plan makes: each request goes through pyroute2's own
argument processing and ``ifinfmsg`` encoder and is decoded again, and the decoded
``IFLA_VF_*`` attributes update an in-memory VF table as the kernel's would.
"""

from __future__ import annotations

import copy
import os
from dataclasses import dataclass, field
from typing import Any

import pytest
from pyroute2.iproute.linux import get_arguments_processor
from pyroute2.netlink.exceptions import NetlinkError
from pyroute2.netlink.rtnl.ifinfmsg import ifinfmsg

from pciplane.cli.main import main
from pciplane.core.address import PciAddress
from pciplane.core.binding import AgentState, BindRequest, Bound, bind_port, default_drivers
from pciplane.core.device import DevType, PciDevice
from pciplane.core.errors import HypervisorError, NotFoundError, RequestError
from pciplane.core.guest import VfWiring
from pciplane.core.network import NetworkType, Segment
from pciplane.core.request import VnicType
from pciplane.host.vf_settings import (
    ZERO_MAC,
    LinkState,
    SetLinkState,
    SetMac,
    SetRate,
    SetSpoofCheck,
    SetTrust,
    SetVlan,
    VfOperation,
    VfPlan,
    VfSettings,
    apply,
    assign_plan,
    full_release_plan,
    plan_for_wiring,
    release_plan,
)
from pciplane.service.binding import device_nic
from pciplane.store.ports import PortRecord

MAC = "fa:16:3e:11:22:33"


@dataclass
class VfState:
    """What the kernel keeps per VF (as ``ip link show`` prints it)."""

    mac: str = ZERO_MAC
    vlan: int = 0
    qos: int = 0
    spoofchk: bool = True
    trust: bool = False
    link_state: int = 0
    max_tx_rate: int = 0
    min_tx_rate: int = 0


@dataclass
class MemoryNetlink:
    """``link_lookup`` and ``link("set", index=, vf=)`` of ``pyroute2.IPRoute``, in memory."""

    links: dict[str, int]
    total_vfs: dict[int, int]
    unsupported: frozenset[str] = frozenset()
    vfs: dict[tuple[int, int], VfState] = field(default_factory=dict)
    sent: list[dict[str, Any]] = field(default_factory=list)

    def link_lookup(self, *, ifname: str) -> list[int]:
        return [self.links[ifname]] if ifname in self.links else []

    def link(self, command: str, **kwargs: object) -> object:
        if command != "set":
            raise NetlinkError(95, f"MemoryNetlink implements only set, not {command}")
        index = kwargs["index"]
        assert isinstance(index, int)
        if index not in self.total_vfs:
            raise NetlinkError(19, "No such device")
        for nla, attrs in self._decode(kwargs):
            self._set(index, nla, attrs)
        return [{"index": index}]

    def _decode(self, kwargs: dict[str, object]) -> list[tuple[str, dict[str, Any]]]:
        """Encode with pyroute2 exactly as IPRoute would, decode, list the VF attrs."""
        args = get_arguments_processor("link", "set", copy.deepcopy(kwargs))
        msg = ifinfmsg()
        for key, value in args.items():
            nla = ifinfmsg.name2nla(key)
            if msg.valid_nla(nla):
                msg["attrs"].append([nla, value])
            else:
                msg[key] = value
        msg.encode()
        decoded = ifinfmsg(msg.data)
        decoded.decode()
        vflist = decoded.get_attr("IFLA_VFINFO_LIST")
        self.sent.append(dict(kwargs))
        out = []
        for info in vflist.get_attrs("IFLA_VF_INFO"):
            out.extend(
                (nla.name, dict(nla.value if isinstance(nla.value, dict) else nla))
                for nla in info["attrs"]
            )
        return out

    def _set(self, index: int, nla: str, attrs: dict[str, Any]) -> None:
        vf = attrs["vf"]
        if vf >= self.total_vfs[index]:
            raise NetlinkError(22, "Invalid argument")
        if nla in self.unsupported:
            raise NetlinkError(95, "Operation not supported")
        state = self.vfs.setdefault((index, vf), VfState())
        if nla == "IFLA_VF_MAC":
            state.mac = attrs["mac"]
        elif nla == "IFLA_VF_VLAN":
            state.vlan, state.qos = attrs["vlan"], attrs["qos"]
        elif nla == "IFLA_VF_SPOOFCHK":
            state.spoofchk = bool(attrs["spoofchk"])
        elif nla == "IFLA_VF_TRUST":
            state.trust = bool(attrs["trust"])
        elif nla == "IFLA_VF_LINK_STATE":
            state.link_state = attrs["link_state"]
        elif nla == "IFLA_VF_RATE":
            state.max_tx_rate, state.min_tx_rate = attrs["max_tx_rate"], attrs["min_tx_rate"]
        else:
            raise NetlinkError(95, f"unexpected attribute {nla}")


def host() -> MemoryNetlink:
    return MemoryNetlink(links={"lo": 1, "enp129s0f0": 4}, total_vfs={4: 8})


FULL = VfSettings(
    mac=MAC,
    vlan=100,
    qos=3,
    spoofchk=False,
    trust=True,
    link_state=LinkState.ENABLE,
    max_tx_rate=1000,
    min_tx_rate=100,
)


@pytest.mark.parametrize(
    ("settings", "commands"),
    [
        pytest.param(
            VfSettings(mac=MAC, vlan=100),
            [
                "ip link set enp129s0f0 vf 3 mac fa:16:3e:11:22:33",
                "ip link set enp129s0f0 vf 3 vlan 100",
                "ip link set enp129s0f0 vf 3 spoofchk on",
                "ip link set enp129s0f0 vf 3 trust off",
                "ip link set enp129s0f0 vf 3 state auto",
            ],
            id="vlan-defaults",
        ),
        pytest.param(
            VfSettings(mac=MAC),
            [
                "ip link set enp129s0f0 vf 3 mac fa:16:3e:11:22:33",
                "ip link set enp129s0f0 vf 3 vlan 0",
                "ip link set enp129s0f0 vf 3 spoofchk on",
                "ip link set enp129s0f0 vf 3 trust off",
                "ip link set enp129s0f0 vf 3 state auto",
            ],
            id="flat-untagged",
        ),
        pytest.param(
            FULL,
            [
                "ip link set enp129s0f0 vf 3 mac fa:16:3e:11:22:33",
                "ip link set enp129s0f0 vf 3 vlan 100 qos 3",
                "ip link set enp129s0f0 vf 3 spoofchk off",
                "ip link set enp129s0f0 vf 3 trust on",
                "ip link set enp129s0f0 vf 3 state enable",
                "ip link set enp129s0f0 vf 3 max_tx_rate 1000 min_tx_rate 100",
            ],
            id="everything",
        ),
        pytest.param(
            VfSettings(mac=MAC, link_state=LinkState.DISABLE, max_tx_rate=500),
            [
                "ip link set enp129s0f0 vf 3 mac fa:16:3e:11:22:33",
                "ip link set enp129s0f0 vf 3 vlan 0",
                "ip link set enp129s0f0 vf 3 spoofchk on",
                "ip link set enp129s0f0 vf 3 trust off",
                "ip link set enp129s0f0 vf 3 state disable",
                "ip link set enp129s0f0 vf 3 max_tx_rate 500 min_tx_rate 0",
            ],
            id="max-rate-only",
        ),
    ],
)
def test_assign_plan_command_lines(settings: VfSettings, commands: list[str]) -> None:
    plan = assign_plan(pf="enp129s0f0", vf=3, settings=settings)
    assert list(plan.commands()) == commands


@pytest.mark.parametrize(
    ("settings", "undo"),
    [
        pytest.param(
            VfSettings(mac=MAC, vlan=100, trust=True),
            [
                "ip link set enp129s0f0 vf 3 mac 00:00:00:00:00:00",
                "ip link set enp129s0f0 vf 3 vlan 0",
                "ip link set enp129s0f0 vf 3 spoofchk on",
                "ip link set enp129s0f0 vf 3 trust off",
                "ip link set enp129s0f0 vf 3 state auto",
            ],
            id="no-rates",
        ),
        pytest.param(
            FULL,
            [
                "ip link set enp129s0f0 vf 3 mac 00:00:00:00:00:00",
                "ip link set enp129s0f0 vf 3 vlan 0",
                "ip link set enp129s0f0 vf 3 spoofchk on",
                "ip link set enp129s0f0 vf 3 trust off",
                "ip link set enp129s0f0 vf 3 state auto",
                "ip link set enp129s0f0 vf 3 max_tx_rate 0 min_tx_rate 0",
            ],
            id="rates-reset",
        ),
    ],
)
def test_release_plan_undoes_the_assignment(settings: VfSettings, undo: list[str]) -> None:
    plan = assign_plan(pf="enp129s0f0", vf=3, settings=settings)
    assert list(release_plan(plan).commands()) == undo


@pytest.mark.parametrize(
    ("op", "words"),
    [
        pytest.param(SetMac(mac=MAC), ("mac", MAC), id="mac"),
        pytest.param(SetVlan(vlan=7, qos=0), ("vlan", "7"), id="vlan"),
        pytest.param(SetVlan(vlan=7, qos=5), ("vlan", "7", "qos", "5"), id="vlan-qos"),
        pytest.param(SetSpoofCheck(enabled=False), ("spoofchk", "off"), id="spoofchk"),
        pytest.param(SetTrust(enabled=True), ("trust", "on"), id="trust"),
        pytest.param(SetLinkState(state=LinkState.DISABLE), ("state", "disable"), id="state"),
        pytest.param(
            SetRate(max_tx_rate=10, min_tx_rate=1),
            ("max_tx_rate", "10", "min_tx_rate", "1"),
            id="rate",
        ),
    ],
)
def test_operation_words(op: VfOperation, words: tuple[str, ...]) -> None:
    plan = VfPlan(pf="eth0", vf=0, operations=(op,))
    assert plan.argv(op) == ("ip", "link", "set", "eth0", "vf", "0", *words)


@pytest.mark.parametrize(
    ("build", "message"),
    [
        pytest.param(lambda: VfSettings(mac="FA:16:3E:11:22:33"), "VF MAC", id="upper-mac"),
        pytest.param(lambda: VfSettings(mac=MAC, vlan=4095), "0 to 4094", id="vlan-4095"),
        pytest.param(lambda: VfSettings(mac=MAC, vlan=5, qos=8), "priority", id="qos-8"),
        pytest.param(lambda: VfSettings(mac=MAC, qos=1), "needs a VLAN", id="qos-untagged"),
        pytest.param(lambda: VfSettings(mac=MAC, max_tx_rate=-1), "max_tx_rate", id="neg-rate"),
        pytest.param(
            lambda: VfSettings(mac=MAC, max_tx_rate=10, min_tx_rate=20), "above", id="min>max"
        ),
        pytest.param(
            lambda: assign_plan(pf="a/b", vf=0, settings=VfSettings(mac=MAC)),
            "PF interface name",
            id="bad-pf",
        ),
        pytest.param(
            lambda: assign_plan(pf="x" * 16, vf=0, settings=VfSettings(mac=MAC)),
            "PF interface name",
            id="pf-too-long",
        ),
        pytest.param(
            lambda: assign_plan(pf="eth0", vf=-1, settings=VfSettings(mac=MAC)),
            "VF index",
            id="negative-vf",
        ),
    ],
)
def test_bad_settings_are_request_errors(build: Any, message: str) -> None:
    with pytest.raises(RequestError, match=message):
        build()


def test_apply_sets_every_vf_setting_and_release_undoes_it() -> None:
    netlink = host()
    plan = assign_plan(pf="enp129s0f0", vf=3, settings=FULL)
    apply(plan, netlink=netlink)
    assert netlink.vfs[(4, 3)] == VfState(
        mac=MAC,
        vlan=100,
        qos=3,
        spoofchk=False,
        trust=True,
        link_state=1,
        max_tx_rate=1000,
        min_tx_rate=100,
    )
    assert len(netlink.sent) == len(plan.operations)
    apply(release_plan(plan), netlink=netlink)
    assert netlink.vfs[(4, 3)] == VfState()


def test_apply_leaves_other_vfs_alone() -> None:
    netlink = host()
    apply(assign_plan(pf="enp129s0f0", vf=1, settings=VfSettings(mac=MAC)), netlink=netlink)
    assert set(netlink.vfs) == {(4, 1)}


def test_apply_on_a_missing_pf_is_not_found() -> None:
    netlink = host()
    with pytest.raises(NotFoundError, match="'enp9s0' does not exist"):
        apply(assign_plan(pf="enp9s0", vf=0, settings=VfSettings(mac=MAC)), netlink=netlink)
    assert netlink.sent == []


@pytest.mark.parametrize(
    ("netlink", "vf", "message"),
    [
        pytest.param(
            MemoryNetlink(
                links={"enp129s0f0": 4},
                total_vfs={4: 8},
                unsupported=frozenset({"IFLA_VF_RATE"}),
            ),
            3,
            r"`ip link set enp129s0f0 vf 3 max_tx_rate 1000 min_tx_rate 100` failed.*errno 95",
            id="rate-unsupported",
        ),
        pytest.param(host(), 8, r"vf 8 mac .* failed.*errno 22", id="vf-out-of-range"),
    ],
)
def test_apply_failures_name_the_command(netlink: MemoryNetlink, vf: int, message: str) -> None:
    with pytest.raises(HypervisorError, match=message):
        apply(assign_plan(pf="enp129s0f0", vf=vf, settings=FULL), netlink=netlink)


VF = PciDevice(
    address=PciAddress.parse("0000:81:02.3"),
    vendor_id="8086",
    product_id="154c",
    dev_type=DevType.VF,
    devname="enp129s2f3",
    parent_ifname="enp129s0f0",
    vf_num=3,
)
VLAN200 = Segment(network_type=NetworkType.VLAN, physical_network="physnet1", segmentation_id=200)
FLAT = Segment(network_type=NetworkType.FLAT, physical_network="physnet1")


def wiring(segment: Segment = VLAN200, **port: Any) -> VfWiring | None:
    """The VF settings a port's binding gives its VF (service/binding.py, binding §4)."""
    record = PortRecord(id="p9", name="", project="x", network_id="n", mac_address=MAC,
                        vnic_type=VnicType.DIRECT, **port)  # fmt: skip
    agent = AgentState(alive=True, device_mappings={"physnet1": ()})
    request = BindRequest(vnic_type=VnicType.DIRECT, segments=(segment,), agent=agent)
    result = bind_port(default_drivers(), request)
    assert isinstance(result, Bound)
    return device_nic(record, result, VF)[1].vf


@pytest.mark.parametrize(
    ("port", "segment", "expected"),
    [
        pytest.param({}, VLAN200, ("vlan 200", "spoofchk on", "trust off", "state enable"),
                     id="vlan-secure-up"),
        pytest.param({}, FLAT, ("vlan 0", "state enable"), id="flat-vlan-0-untagged"),
        pytest.param({"port_security_enabled": False, "profile": {"trusted": "yes"}}, VLAN200,
                     ("spoofchk off", "trust on"), id="trusted-no-port-security"),
        pytest.param({"admin_state_up": False}, VLAN200, ("state disable",), id="admin-down"),
        pytest.param({"admin_state_up": False, "propagate_uplink_status": True}, VLAN200,
                     ("state auto",), id="propagate-uplink-status"),
    ],
)  # fmt: skip
def test_a_ports_binding_gives_its_vf_settings(
    port: dict[str, Any], segment: Segment, expected: tuple[str, ...]
) -> None:
    found = wiring(segment, **port)
    assert found is not None
    commands = plan_for_wiring(found).commands()
    assert commands[0] == f"ip link set enp129s0f0 vf 3 mac {MAC}"
    for words in expected:
        assert f"ip link set enp129s0f0 vf 3 {words}" in commands


def test_a_vf_without_its_pf_netdev_or_number_gets_no_settings() -> None:
    orphan = PciDevice(address=VF.address, vendor_id="8086", product_id="154c", dev_type=DevType.VF)
    record = PortRecord(id="p9", name="", project="x", network_id="n", mac_address=MAC,
                        vnic_type=VnicType.DIRECT)  # fmt: skip
    result = bind_port(default_drivers(), BindRequest(
        vnic_type=VnicType.DIRECT, segments=(VLAN200,),
        agent=AgentState(alive=True, device_mappings={"physnet1": ()})))  # fmt: skip
    assert isinstance(result, Bound)
    assert device_nic(record, result, orphan)[1].vf is None


def test_full_release_resets_a_vf_whatever_was_set() -> None:
    netlink = host()
    apply(assign_plan(pf="enp129s0f0", vf=5, settings=FULL), netlink=netlink)
    apply(full_release_plan(pf="enp129s0f0", vf=5), netlink=netlink)
    assert netlink.vfs[(4, 5)] == VfState()


@pytest.mark.parametrize(
    ("argv", "status", "out", "err"),
    [
        pytest.param(
            ["vf", "ens1f0", "2", "--mac", "FA:16:3E:00:00:01", "--vlan", "7", "--qos", "2"],
            0,
            "ip link set ens1f0 vf 2 vlan 7 qos 2",
            "",
            id="plan",
        ),
        pytest.param(
            ["vf", "ens1f0", "2", "--mac", "fa:16:3e:00:00:01", "--trust", "on", "--state",
             "disable", "--spoofchk", "off"],
            0,
            "ip link set ens1f0 vf 2 state disable",
            "",
            id="trust-state",
        ),
        pytest.param(
            ["vf", "ens1f0", "2", "--release"],
            0,
            "ip link set ens1f0 vf 2 max_tx_rate 0 min_tx_rate 0",
            "",
            id="release",
        ),
        pytest.param(
            ["vf", "ens1f0", "2", "--mac", "fa:16:3e:00:00:01", "--vlan", "5000"],
            2,
            "",
            "VF VLAN 5000",
            id="bad-vlan",
        ),
        pytest.param(
            ["vf", "nosuchpf0", "1", "--mac", "fa:16:3e:00:00:01", "--apply"],
            2,
            "ip link set nosuchpf0 vf 1 mac",
            "nosuchpf0' does not exist" if os.geteuid() == 0 else "needs root",
            id="apply-missing-pf",
        ),
    ],
)  # fmt: skip
def test_cli_prints_the_plan(
    argv: list[str], status: int, out: str, err: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv) == status
    captured = capsys.readouterr()
    assert out in captured.out
    assert err in captured.err
