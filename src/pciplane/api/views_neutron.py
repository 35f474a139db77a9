"""Networks, ports, extensions and agents as Neutron renders them (the v2.0 shapes)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import cast

from pydantic import JsonValue

from pciplane.core.binding import whole_profile
from pciplane.service.agents import AGENT_TYPE, BINARY, AgentInfo
from pciplane.store.networks import NetworkRecord
from pciplane.store.ports import PortRecord
from pciplane.wire import networks as wn
from pciplane.wire.servers import NicOut


def iso(timestamp: float | None) -> str | None:
    """Neutron's timestamps: ``2024-05-01T12:00:00Z``."""
    if timestamp is None:
        return None
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def network_out(record: NetworkRecord, *, admin: bool) -> wn.NetworkOut:
    """The provider attributes (or ``segments``) are shown to the admin only."""
    body: dict[str, object] = {
        "id": record.id,
        "name": record.name,
        "tenant_id": record.project,
        "project_id": record.project,
        "admin_state_up": record.admin_state_up,
        "status": "ACTIVE",
        "subnets": [],
        "shared": record.shared,
        "mtu": record.mtu,
        "port_security_enabled": record.port_security_enabled,
        "router:external": False,
        "availability_zone_hints": [],
        "availability_zones": [],
        "description": record.description,
        "tags": [],
        "created_at": iso(record.created_at),
        "updated_at": iso(record.updated_at),
        "revision_number": record.revision_number,
    }
    if admin:
        if len(record.segments) == 1:
            body.update(record.segments[0].to_json())
        else:
            body["segments"] = [s.to_json() for s in record.segments]
    return wn.NetworkOut.model_validate(body)


def port_out(port: PortRecord) -> wn.PortOut:
    return wn.PortOut.model_validate(
        {
            "id": port.id,
            "name": port.name,
            "network_id": port.network_id,
            "tenant_id": port.project,
            "project_id": port.project,
            "mac_address": port.mac_address,
            "admin_state_up": port.admin_state_up,
            "status": str(port.status),
            "device_id": port.device_id,
            "device_owner": port.device_owner,
            "fixed_ips": [],
            "allowed_address_pairs": [],
            "extra_dhcp_opts": [],
            "security_groups": [],
            "description": port.description,
            "port_security_enabled": port.port_security_enabled,
            "numa_affinity_policy": port.numa_affinity_policy,
            "propagate_uplink_status": port.propagate_uplink_status,
            "binding:vnic_type": str(port.vnic_type),
            "binding:host_id": port.host_id,
            "binding:profile": whole_profile(port.profile, port.bound_profile),
            "binding:vif_type": str(port.vif_type),
            "binding:vif_details": dict(port.vif_details),
            "tags": [],
            "created_at": iso(port.created_at),
            "updated_at": iso(port.updated_at),
            "revision_number": port.revision_number,
        }
    )


def nic_out(port: PortRecord) -> NicOut:
    """A server's NIC: ``server show`` lists port, network, vnic type, VF, VLAN, binding."""
    slot = port.bound_profile.get("pci_slot")
    physnet = port.bound_profile.get("physical_network")
    vlan = port.vif_details.get("vlan")
    return NicOut(
        port_id=port.id,
        port_name=port.name,
        network_id=port.network_id,
        mac_address=port.mac_address,
        vnic_type=str(port.vnic_type),
        status=str(port.status),
        host=port.host_id,
        vif_type=str(port.vif_type),
        pci_slot=None if slot is None else str(slot),
        physical_network=None if physnet is None else str(physnet),
        vlan=None if vlan is None else str(vlan),
        wired=[cast(dict[str, JsonValue], dict(w)) for w in port.wired],
    )


def agent_out(info: AgentInfo) -> wn.AgentOut:
    return wn.AgentOut(
        id=info.id,
        agent_type=AGENT_TYPE,
        binary=BINARY,
        host=info.host,
        alive=info.alive,
        configurations=info.config.to_json(),  # type: ignore[arg-type]
        heartbeat_timestamp=iso(info.heartbeat),
    )


#: The extensions pciplane implements, as ``GET /v2.0/extensions`` lists them (the
#: ``openstack`` CLI needs the list to exist before ``port create``, clients §7.7).
_EXTENSIONS = (
    ("agent", "agent", "The agent management extension."),
    ("binding", "Port Binding", "Expose port bindings of a virtual port to external application"),
    ("multi-provider", "Multi Provider Network",
     "Expose mapping of virtual networks to multiple physical networks"),
    ("net-mtu", "Network MTU", "Provides MTU attribute for a network resource."),
    ("port-numa-affinity-policy", "Port NUMA affinity policy",
     "Expose the port NUMA affinity policy"),
    ("port-security", "Port Security", "Provides port security"),
    ("provider", "Provider Network", "Expose mapping of virtual networks to physical networks"),
    ("uplink-status-propagation", "Uplink status propagation extension",
     "Provides ability to propagate uplink status of physical ports"),
)  # fmt: skip
EXTENSIONS: tuple[wn.ExtensionOut, ...] = tuple(
    wn.ExtensionOut(alias=a, name=n, description=d, updated="2024-01-01T00:00:00-00:00")
    for a, n, d in _EXTENSIONS
)
