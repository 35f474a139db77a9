"""Binding ports on hosts: ML2's mechanism drivers (configured, in order) over the host's
agent as the service last heard from it, and what a binding means for the guest.

The drivers are data (:mod:`pciplane.core.binding`); this module feeds them the host's
agent (alive when it reported within ``agent_down_time``; its
``physical_device_mappings``) and turns the result into the port's ``binding:*`` columns
and the guest plan's NIC: how the device is attached, its MAC and VLAN, and the VF
settings the agent gives it (neutron-sriov-binding.md §2, §4; nova-pci-semantics §6).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import replace

from pciplane.core.binding import (
    SOFTWARE_SWITCH,
    AgentState,
    BindRequest,
    Bound,
    MechanismDriver,
    NotBound,
    PortStatusAtBinding,
    VifType,
    bind_port,
    profile_trusted,
    sriov_nic_switch,
    whole_profile,
)
from pciplane.core.device import PciDevice
from pciplane.core.errors import BindingFailedError
from pciplane.core.guest import AttachMode, GuestNic, VfWiring
from pciplane.core.lifecycle import PortEvent
from pciplane.core.request import VnicType
from pciplane.service.settings import Settings
from pciplane.store.hosts import HostRecord
from pciplane.store.networks import NetworkRecord
from pciplane.store.ports import PortRecord

#: ``device_owner`` of a port a server uses (Nova writes ``compute:<availability zone>``).
COMPUTE_OWNER = "compute:nova"


def drivers_from(settings: Settings) -> tuple[MechanismDriver, ...]:
    """ML2's ``mechanism_drivers``, in the configured order."""
    known = {
        "sriovnicswitch": sriov_nic_switch(settings.vnic_type_prohibit_list),
        "openvswitch": SOFTWARE_SWITCH,
    }
    return tuple(known[name] for name in settings.mechanism_drivers)


class Binder:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.drivers = drivers_from(settings)

    def agent(self, record: HostRecord | None, *, alive: bool | None = None) -> AgentState | None:
        """The host's agent: None for a host no agent registered. ``alive`` overrides the
        record's ``last_seen`` (the scheduler has just checked it afresh)."""
        if record is None:
            return None
        if alive is None:
            alive = self.settings.agent_alive(record.last_seen, time.time())
        return AgentState(alive=alive, device_mappings=record.agent.physical_device_mappings)

    def bind(
        self,
        port: PortRecord,
        network: NetworkRecord,
        record: HostRecord | None,
        *,
        physnet: str | None = None,
        alive: bool | None = None,
    ) -> Bound | NotBound:
        """Bind ``port`` on the host of ``record``; ``physnet``: the device's, so only the
        segments it can reach are candidates (the claimed VF is wired to one physnet)."""
        segments = network.segments
        if physnet is not None:
            segments = tuple(s for s in segments if s.physical_network == physnet) or segments
        request = BindRequest(
            vnic_type=port.vnic_type,
            segments=segments,
            agent=self.agent(record, alive=alive),
            profile=whole_profile(port.profile, port.bound_profile),
            port_security=port.port_security_enabled,
        )
        return bind_port(self.drivers, request)


class PortBindingFailed(BindingFailedError):
    """A binding failure that knows its port and host (for the port's ``binding_failed``)."""

    def __init__(self, message: str, *, port_id: str, host: str) -> None:
        super().__init__(message)
        self.port_id = port_id
        self.host = host


def failure(port: PortRecord, host: str, result: NotBound) -> PortBindingFailed:
    return PortBindingFailed(
        f"{port.label()} ({port.vnic_type}) could not be bound on host {host}: {result.describe()}",
        port_id=port.id,
        host=host,
    )


def bound_values(host: str, result: Bound) -> dict[str, object]:
    """The port's binding columns for a binding made on ``host``."""
    return {
        "host_id": host,
        "vif_type": result.vif_type,
        "vif_details": result.vif_details.to_json(),
    }


def bound_event(result: Bound) -> PortEvent:
    """DOWN until the guest runs, except ``hostdev_physical``: ACTIVE at once (§2.6)."""
    if result.status is PortStatusAtBinding.ACTIVE:
        return PortEvent.BOUND_ACTIVE
    return PortEvent.BOUND_DOWN


def failed_values(host: str) -> dict[str, object]:
    return {"host_id": host, "vif_type": VifType.BINDING_FAILED, "vif_details": {}}


UNBOUND_VALUES: Mapping[str, object] = {
    "host_id": "",
    "vif_type": VifType.UNBOUND,
    "vif_details": {},
    "bound_profile": {},
}


def link_state(port: PortRecord) -> str:
    """``auto`` when the port propagates the uplink's status, else ``enable``/``disable``
    by ``admin_state_up`` (neutron-sriov-binding.md §4)."""
    if port.propagate_uplink_status:
        return "auto"
    return "enable" if port.admin_state_up else "disable"


def _wiring(port: PortRecord, device: PciDevice, vlan: int | None) -> VfWiring | None:
    """The VF's settings on its PF; None when discovery did not learn the PF's netdev or
    the VF's number (nothing for the agent to address)."""
    if not device.parent_ifname or device.vf_num is None:
        return None
    return VfWiring(
        pf=device.parent_ifname,
        vf=device.vf_num,
        mac=port.mac_address,
        vlan=vlan,
        spoofchk=port.port_security_enabled,
        trust=bool(profile_trusted(port.profile)),
        link_state=link_state(port),
    )


def device_nic(
    port: PortRecord, result: Bound, device: PciDevice, *, host: str = ""
) -> tuple[AttachMode, GuestNic]:
    """How the port's device enters the guest (Nova §6.1-§6.3) and what wires it."""
    nic = GuestNic(
        port=port.id,
        mac=port.mac_address,
        vnic_type=str(port.vnic_type),
        vif_type=str(result.vif_type),
    )
    if result.vif_type is VifType.HOSTDEV_PHYSICAL:
        return AttachMode.HOSTDEV, nic
    vlan = result.vif_details.vlan_tag
    nic = replace(nic, vlan=vlan, vf=_wiring(port, device, vlan))
    if port.vnic_type is not VnicType.MACVTAP:
        return AttachMode.INTERFACE_HOSTDEV, nic
    if not device.devname:
        raise PortBindingFailed(
            f"{port.label()}: macvtap needs the VF's network interface, and VF "
            f"{device.address} on host {host} has none (bound to "
            f"{device.driver or 'no driver'})",
            port_id=port.id,
            host=host,
        )
    return AttachMode.INTERFACE_DIRECT, replace(nic, source_dev=device.devname)


def switch_nic(port: PortRecord, result: Bound) -> GuestNic:
    """A ``normal`` port's interface on the software switch."""
    return GuestNic(
        port=port.id,
        mac=port.mac_address,
        vnic_type=str(port.vnic_type),
        vif_type=str(result.vif_type),
        bridge=result.vif_details.bridge_name,
    )
