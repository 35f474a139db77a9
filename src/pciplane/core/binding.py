"""Port binding as Neutron's ML2 does it: mechanism drivers, as data, tried in order.

A port is bound on a host by the first driver that accepts it (neutron-sriov-binding.md
§2). The SR-IOV NIC switch driver binds ``direct``, ``macvtap``, ``direct-physical`` and
``accelerator-direct`` on the first flat or VLAN segment, in network order, whose
physical network the host's alive agent maps; ``direct-physical`` ignores the agent; a
``direct`` port whose profile lists the ``switchdev`` capability is left to OVS hardware
offload; types on ``vnic_type_prohibit_list`` are declined. The software switch binds
``normal`` ports. What no driver binds ends ``binding_failed``, with each driver's reason.

The result's ``vif_details`` are Neutron's to the letter: ``{"port_filter": false,
"connectivity": "l2", "vlan": "100"}`` with the VLAN as a string, ``"0"`` for flat and
``"None"`` for a VLAN segment without an id (§2.7); the domain XML turns those two into no
``<vlan>`` at all (Nova writes ``<tag id='0'/>``, Q16).

The profile the compute side adds after the claim is Nova's (§4.5); unbinding removes all
of it, ``capabilities`` included (Nova leaves that one behind, Q12).
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from pciplane.core.device import DevType, PciDevice
from pciplane.core.errors import ConfigError, RequestError
from pciplane.core.network import PHYSICAL, NetworkType, Segment
from pciplane.core.request import VnicType


class VifType(enum.StrEnum):
    """``binding:vif_type`` values (Neutron's portbindings, §1)."""

    UNBOUND = "unbound"
    BINDING_FAILED = "binding_failed"
    HW_VEB = "hw_veb"
    HOSTDEV_PHYSICAL = "hostdev_physical"
    OVS = "ovs"


#: vif types of a port that is bound to a host.
BOUND_VIF_TYPES = frozenset({VifType.HW_VEB, VifType.HOSTDEV_PHYSICAL, VifType.OVS})
#: The integration bridge the software switch plugs ``normal`` ports into (OVS's default).
INTEGRATION_BRIDGE = "br-int"


@dataclass(frozen=True, kw_only=True, slots=True)
class VifDetails:
    """``binding:vif_details`` as the driver that bound the port writes it."""

    port_filter: bool
    connectivity: str = "l2"
    #: The segment's VLAN as Neutron writes it (a string); None: no ``vlan`` key.
    vlan: str | None = None
    bridge_name: str | None = None

    def to_json(self) -> dict[str, object]:
        out: dict[str, object] = {
            "port_filter": self.port_filter,
            "connectivity": self.connectivity,
        }
        if self.vlan is not None:
            out["vlan"] = self.vlan
        if self.bridge_name is not None:
            out["bridge_name"] = self.bridge_name
        return out

    @property
    def vlan_tag(self) -> int | None:
        """The 802.1Q tag a VF or interface must carry: None for ``"0"`` and ``"None"``
        (untagged; Nova would write ``<tag id='0'/>`` for ``"0"``, Q16)."""
        return vlan_tag(self.vlan)


def vlan_tag(value: object) -> int | None:
    """A ``vif_details.vlan`` value as a tag: 1..4094, or None when untagged or absent."""
    if isinstance(value, bool) or value is None:
        return None
    text = str(value).strip()
    if not text.isdigit():
        return None
    tag = int(text)
    return tag if 1 <= tag <= 4094 else None


def vlan_string(segment: Segment) -> str:
    """§2.7: ``"0"`` for flat (even with an id), the id for VLAN, ``"None"`` without one."""
    if segment.network_type is NetworkType.FLAT:
        return "0"
    return str(segment.segmentation_id)


@dataclass(frozen=True, kw_only=True, slots=True)
class AgentState:
    """The host's agent as binding sees it: whether it reported within
    ``agent_down_time`` and its ``physical_device_mappings`` (physnet -> PF interfaces)."""

    alive: bool
    device_mappings: Mapping[str, tuple[str, ...]] = field(default_factory=dict)


class PortStatusAtBinding(enum.StrEnum):
    DOWN = "DOWN"
    ACTIVE = "ACTIVE"


@dataclass(frozen=True, kw_only=True, slots=True)
class MechanismDriver:
    """One ML2 mechanism driver, as data (the loop in :func:`bind_port` runs them)."""

    name: str
    vnic_types: frozenset[VnicType]
    segment_types: frozenset[NetworkType]
    vif_types: Mapping[VnicType, VifType]
    #: The agent must be alive (and, with ``needs_mapping``, map the segment's physnet).
    needs_agent: bool
    needs_mapping: bool
    #: Vnic types bound whatever the agent (``direct-physical``: §2 step 5).
    agentless: frozenset[VnicType] = frozenset()
    #: A vnic type declined when the profile's ``capabilities`` list this word.
    veto_capability: Mapping[VnicType, str] = field(default_factory=dict)
    #: ``port_filter``: a fixed value, or None to follow the port's port security.
    port_filter: bool | None = False
    vlan_in_details: bool = True
    bridge_name: str | None = None


#: What the SR-IOV driver can bind at most (§2 step 1).
SRIOV_BINDABLE = frozenset(
    {VnicType.DIRECT, VnicType.MACVTAP, VnicType.DIRECT_PHYSICAL, VnicType.ACCELERATOR_DIRECT}
)


def sriov_nic_switch(prohibit: Sequence[str] = ()) -> MechanismDriver:
    """The ``sriovnicswitch`` driver without the prohibited vnic types; refuses, as Neutron's
    driver refuses to start, a list naming another type or all four (§2 step 8)."""
    listed = []
    for value in prohibit:
        try:
            vnic = VnicType(str(value).strip())
        except ValueError:
            vnic = None
        if vnic not in SRIOV_BINDABLE:
            allowed = ", ".join(sorted(SRIOV_BINDABLE))
            raise ConfigError(
                f"vnic_type_prohibit_list: {value!r} is not a vnic type the SR-IOV driver "
                f"binds ({allowed})"
            )
        listed.append(vnic)
    supported = SRIOV_BINDABLE - set(listed)
    if not supported:
        raise ConfigError("vnic_type_prohibit_list: it prohibits every vnic type the driver binds")
    return MechanismDriver(
        name="sriovnicswitch",
        vnic_types=frozenset(supported),
        segment_types=PHYSICAL,
        vif_types={
            v: VifType.HOSTDEV_PHYSICAL if v is VnicType.DIRECT_PHYSICAL else VifType.HW_VEB
            for v in supported
        },
        needs_agent=True,
        needs_mapping=True,
        agentless=frozenset({VnicType.DIRECT_PHYSICAL}) & supported,
        veto_capability={VnicType.DIRECT: "switchdev"} if VnicType.DIRECT in supported else {},
    )


#: Binds ``normal`` ports into the host's software switch (Neutron's ``openvswitch``
#: driver, without its bridge mappings: pciplane does not program the switch).
SOFTWARE_SWITCH = MechanismDriver(
    name="openvswitch",
    vnic_types=frozenset({VnicType.NORMAL}),
    segment_types=frozenset(NetworkType),
    vif_types={VnicType.NORMAL: VifType.OVS},
    needs_agent=True,
    needs_mapping=False,
    port_filter=None,
    vlan_in_details=False,
    bridge_name=INTEGRATION_BRIDGE,
)


def default_drivers(prohibit: Sequence[str] = ()) -> tuple[MechanismDriver, ...]:
    """ML2's ``mechanism_drivers = sriovnicswitch,openvswitch``, in that order."""
    return (sriov_nic_switch(prohibit), SOFTWARE_SWITCH)


@dataclass(frozen=True, kw_only=True, slots=True)
class BindRequest:
    """What a driver looks at: the port's vnic type, profile and security, the
    network's segments, and the host's agent (None when it has none)."""

    vnic_type: VnicType
    segments: tuple[Segment, ...]
    agent: AgentState | None
    profile: Mapping[str, object] = field(default_factory=dict)
    port_security: bool = True


@dataclass(frozen=True, kw_only=True, slots=True)
class Bound:
    driver: str
    segment: Segment
    vif_type: VifType
    vif_details: VifDetails
    status: PortStatusAtBinding


@dataclass(frozen=True, kw_only=True, slots=True)
class NotBound:
    """No driver bound the port; one reason per driver, in order."""

    reasons: tuple[str, ...]

    def describe(self) -> str:
        return "; ".join(self.reasons) if self.reasons else "no mechanism driver is configured"


def _capabilities(profile: Mapping[str, object]) -> tuple[str, ...]:
    caps = profile.get("capabilities")
    if isinstance(caps, list | tuple):
        return tuple(str(c) for c in caps)
    return ()


def _agent_refusal(driver: MechanismDriver, segment: Segment, agent: AgentState | None) -> str:
    """Why the agent rule rejects ``segment`` ("" when it accepts it, §2 step 4)."""
    if agent is None:
        return "the host has no agent"
    if not agent.alive:
        return "the host's agent is not alive"
    if driver.needs_mapping and (
        segment.physical_network is None or segment.physical_network not in agent.device_mappings
    ):
        return f"the agent maps no device to physical network {segment.physical_network!r}"
    return ""


def try_driver(driver: MechanismDriver, request: BindRequest) -> Bound | str:
    """The binding ``driver`` makes, or why it declines."""
    vnic = request.vnic_type
    if vnic not in driver.vnic_types:
        return f"{driver.name}: does not bind vnic type {vnic}"
    veto = driver.veto_capability.get(vnic)
    if veto is not None and veto in _capabilities(request.profile):
        return f"{driver.name}: a {vnic} port with the {veto!r} capability is for OVS offload"
    candidates = [s for s in request.segments if s.network_type in driver.segment_types]
    if not candidates:
        kinds = ", ".join(sorted(driver.segment_types))
        return f"{driver.name}: the network has no segment of type {kinds}"
    refusals = []
    for segment in candidates:
        why = ""
        if vnic not in driver.agentless and driver.needs_agent:
            why = _agent_refusal(driver, segment, request.agent)
        if why:
            refusals.append(why)
            continue
        vif_type = driver.vif_types[vnic]
        details = VifDetails(
            port_filter=request.port_security if driver.port_filter is None else driver.port_filter,
            vlan=vlan_string(segment) if driver.vlan_in_details else None,
            bridge_name=driver.bridge_name,
        )
        status = (
            PortStatusAtBinding.ACTIVE
            if vif_type is VifType.HOSTDEV_PHYSICAL
            else PortStatusAtBinding.DOWN
        )
        return Bound(
            driver=driver.name,
            segment=segment,
            vif_type=vif_type,
            vif_details=details,
            status=status,
        )
    return f"{driver.name}: " + "; ".join(dict.fromkeys(refusals))


def bind_port(drivers: Sequence[MechanismDriver], request: BindRequest) -> Bound | NotBound:
    """The first driver's binding, in order; NotBound with every driver's reason."""
    reasons = []
    for driver in drivers:
        result = try_driver(driver, request)
        if isinstance(result, Bound):
            return result
        reasons.append(result)
    return NotBound(reasons=tuple(reasons))


# --- the profile (Nova §4.5) --------------------------------------------------------

#: Every profile key the compute side adds on binding, removed again on unbind (Nova
#: §4.5; ``capabilities`` too, which Nova leaves behind, Q12).
BOUND_PROFILE_KEYS: frozenset[str] = frozenset(
    {
        "pci_slot",
        "pci_vendor_info",
        "physical_network",
        "card_serial_number",
        "capabilities",
        "vf_num",
        "pf_mac_address",
        "device_mac_address",
        "allocation",
        "arq_uuid",
    }
)


#: What only binding writes: a client may write these back unchanged, never set them.
#: ``capabilities`` is not among them: a client sets it too (``["switchdev"]`` asks for
#: OVS hardware offload, §2 step 2), so binding adds it only when the client did not.
SERVICE_KEYS: frozenset[str] = BOUND_PROFILE_KEYS - {"capabilities"}


def device_profile(
    device: PciDevice,
    spec_physnet: str | None,
    pf: PciDevice | None = None,
    *,
    user: Mapping[str, object] | None = None,
) -> dict[str, object]:
    """The keys binding adds for the port's device: ``pci_slot``, ``pci_vendor_info``, the
    device spec's ``physical_network``; for a VF its card serial, PF MAC, VF number and
    capabilities when known (and the client's ``user`` profile has none); for a PF its
    MAC (``device_mac_address``)."""
    out: dict[str, object] = {
        "pci_slot": str(device.address),
        "pci_vendor_info": device.vendor_info,
        "physical_network": spec_physnet,
    }
    if device.dev_type is DevType.VF:
        if device.card_serial_number is not None:
            out["card_serial_number"] = device.card_serial_number
        if pf is not None and pf.mac_address is not None:
            out["pf_mac_address"] = pf.mac_address
        if device.vf_num is not None:
            out["vf_num"] = device.vf_num
        if device.capabilities and "capabilities" not in (user or {}):
            out["capabilities"] = list(device.capabilities)
    elif device.dev_type is DevType.PF and device.mac_address is not None:
        out["device_mac_address"] = device.mac_address
    return out


def whole_profile(user: Mapping[str, object], bound: Mapping[str, object]) -> dict[str, object]:
    """``binding:profile`` as shown: the client's keys and the ones binding added. The two
    are kept apart, so unbinding removes exactly what binding added (Nova leaves
    ``capabilities`` behind, Q12) and the client's own keys stay."""
    return {**user, **bound}


def merge_user_profile(
    user: Mapping[str, object], bound: Mapping[str, object], given: Mapping[str, object]
) -> dict[str, object]:
    """The client's keys after it writes ``given`` as the whole ``binding:profile``.

    ``openstack port set --binding-profile k=v`` reads the whole profile and writes it
    all back, binding's keys included (openstack-clients §7.6): those may come back
    unchanged and are kept as binding's; setting one of :data:`SERVICE_KEYS` otherwise
    is refused.
    """
    out: dict[str, object] = {}
    for key, value in given.items():
        if key in bound and bound[key] == value:
            continue
        if key in SERVICE_KEYS:
            raise RequestError(
                f"binding:profile: {key!r} is written by the service when the port is bound "
                "to a device, not by clients"
            )
        out[key] = value
    del user  # the client replaces its own keys as a whole (Neutron's PUT)
    return out


def profile_trusted(profile: Mapping[str, object]) -> bool | None:
    """``binding:profile.trusted`` as Nova reads it (§4.3 step 1): non-strictly, so
    ``"yes"`` and ``"1"`` are true and any other string false; absent or null is None."""
    value = profile.get("trusted")
    if value is None:
        return None
    if isinstance(value, bool):
        return value
    return str(value).strip().lower() in {"1", "t", "true", "on", "y", "yes"}
