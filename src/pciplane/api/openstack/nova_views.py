"""Flavors, servers and hypervisors as Nova shows them, at the negotiated microversion.

The fields and their meanings follow Nova's API reference; where pciplane has nothing to
show (no keypairs, no volumes, no locks), the field carries Nova's empty value. A server's
addresses are its ports' networks; pciplane assigns no IP addresses, so each network lists
none (``{"net1": []}``, as Nova shows a port without a fixed IP), and ``os-interface``
shows each port's MAC and status.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import uuid
from collections.abc import Sequence

from pciplane.api.openstack.endpoints import COMPUTE
from pciplane.api.openstack.microversions import Microversion
from pciplane.core.guest import domain_name
from pciplane.core.lifecycle import ServerState
from pciplane.service.hosts import HostInfo
from pciplane.store.catalog import FlavorRecord
from pciplane.store.ports import PortRecord
from pciplane.store.servers import ServerRecord

#: Nova's power states (nova.compute.power_state).
NOSTATE, RUNNING, SHUTDOWN = 0, 1, 4

_VM_STATE = {
    ServerState.BUILD: "building",
    ServerState.ACTIVE: "active",
    ServerState.SHUTOFF: "stopped",
    ServerState.REBOOT: "active",
    ServerState.HARD_REBOOT: "active",
    ServerState.ERROR: "error",
    ServerState.DELETED: "deleted",
}
_POWER_STATE = {
    ServerState.ACTIVE: RUNNING,
    ServerState.REBOOT: RUNNING,
    ServerState.HARD_REBOOT: RUNNING,
    ServerState.SHUTOFF: SHUTDOWN,
}


def iso(epoch: float | None) -> str | None:
    """Nova's time format, ``2026-11-28T20:34:47Z``."""
    if epoch is None:
        return None
    return dt.datetime.fromtimestamp(epoch, tz=dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def links(base: str, collection: str, item_id: str) -> list[dict[str, str]]:
    return [
        {"rel": "self", "href": f"{base}{COMPUTE}/v2.1/{collection}/{item_id}"},
        {"rel": "bookmark", "href": f"{base}{COMPUTE}/{collection}/{item_id}"},
    ]


def next_link(base: str, path: str, marker: str, limit: int) -> list[dict[str, str]]:
    """A ``<collection>_links`` entry for the next page (the only pagination the clients
    follow besides a ``Link`` header)."""
    return [{"rel": "next", "href": f"{base}{COMPUTE}/v2.1/{path}?limit={limit}&marker={marker}"}]


# --- flavors -------------------------------------------------------------------------


def flavor_index(base: str, flavor: FlavorRecord, version: Microversion) -> dict[str, object]:
    out: dict[str, object] = {
        "id": flavor.id,
        "name": flavor.name,
        "links": links(base, "flavors", flavor.id),
    }
    if version.at_least("2.55"):
        out["description"] = flavor.description
    return out


def flavor_detail(base: str, flavor: FlavorRecord, version: Microversion) -> dict[str, object]:
    """Every flavor is public and enabled: pciplane has no flavor access lists."""
    out: dict[str, object] = {
        **flavor_index(base, flavor, version),
        "ram": flavor.ram,
        "vcpus": flavor.vcpus,
        "disk": flavor.disk,
        "OS-FLV-EXT-DATA:ephemeral": flavor.ephemeral,
        "swap": flavor.swap or "",
        "OS-FLV-DISABLED:disabled": False,
        "os-flavor-access:is_public": True,
        "rxtx_factor": 1.0,
    }
    if version.at_least("2.61"):
        out["extra_specs"] = dict(flavor.extra_specs)
    return out


# --- servers -------------------------------------------------------------------------


def status(server: ServerRecord) -> str:
    return str(server.state)


def _task_state(server: ServerRecord) -> str | None:
    """The task under way, with Nova's names (``powering-off``, ``rebooting_hard``)."""
    if server.task is not None:
        return str(server.task)
    if server.state is ServerState.BUILD:
        return "scheduling" if server.host is None else "spawning"
    return None


def _host_id(server: ServerRecord) -> str:
    """Nova's ``hostId``: the host, hashed with the project (so projects cannot compare)."""
    if server.host is None:
        return ""
    return hashlib.sha224((server.project + server.host).encode()).hexdigest()


def _fault(server: ServerRecord) -> dict[str, object] | None:
    if server.state is not ServerState.ERROR or not server.reason:
        return None
    return {
        "code": 500,
        "created": iso(server.updated_at),
        "message": server.reason[:255],
        "details": server.reason,
    }


def _flavor(
    base: str, server: ServerRecord, flavor: FlavorRecord | None, version: Microversion
) -> dict[str, object]:
    if not version.at_least("2.47"):
        flavor_id = server.flavor_id or server.flavor
        return {"id": flavor_id, "links": links(base, "flavors", flavor_id)[1:]}
    same = flavor is not None and flavor.id == server.flavor_id
    return {
        "original_name": server.flavor,
        "vcpus": server.vcpus,
        "ram": server.ram,
        "disk": flavor.disk if same and flavor else 0,
        "ephemeral": flavor.ephemeral if same and flavor else 0,
        "swap": flavor.swap if same and flavor else 0,
        "extra_specs": dict(server.extra_specs),
    }


def _image(base: str, server: ServerRecord) -> object:
    if not server.image:
        return ""
    return {"id": server.image, "links": links(base, "images", server.image)[1:]}


def server_index(base: str, server: ServerRecord) -> dict[str, object]:
    return {"id": server.id, "name": server.name, "links": links(base, "servers", server.id)}


def _admin_attributes(
    server: ServerRecord, version: Microversion, host_alive: bool | None
) -> dict[str, object]:
    out: dict[str, object] = {
        "OS-EXT-SRV-ATTR:host": server.host,
        "OS-EXT-SRV-ATTR:hypervisor_hostname": server.host,
        "OS-EXT-SRV-ATTR:instance_name": domain_name(server.name, server.id),
    }
    if version.at_least("2.3"):
        out.update(
            {
                "OS-EXT-SRV-ATTR:reservation_id": f"r-{server.id[:8]}",
                "OS-EXT-SRV-ATTR:launch_index": 0,
                "OS-EXT-SRV-ATTR:hostname": server.name,
                "OS-EXT-SRV-ATTR:kernel_id": "",
                "OS-EXT-SRV-ATTR:ramdisk_id": "",
                "OS-EXT-SRV-ATTR:root_device_name": None,
                "OS-EXT-SRV-ATTR:user_data": None,
            }
        )
    if version.at_least("2.16"):
        out["host_status"] = "" if host_alive is None else ("UP" if host_alive else "DOWN")
    return out


def server_detail(
    base: str,
    server: ServerRecord,
    version: Microversion,
    *,
    admin: bool,
    flavor: FlavorRecord | None = None,
    host_alive: bool | None = None,
    addresses: dict[str, list[object]] | None = None,
) -> dict[str, object]:
    """The server as ``GET /servers/{id}`` shows it; admins also see where it runs."""
    out: dict[str, object] = {
        **server_index(base, server),
        "status": status(server),
        "tenant_id": server.project,
        "user_id": server.user_id,
        "metadata": {},
        "hostId": _host_id(server),
        "image": _image(base, server),
        "flavor": _flavor(base, server, flavor, version),
        "created": iso(server.created_at),
        "updated": iso(server.updated_at),
        "addresses": addresses or {},
        "accessIPv4": "",
        "accessIPv6": "",
        "key_name": None,
        "config_drive": "",
        "OS-DCF:diskConfig": "MANUAL",
        "OS-EXT-AZ:availability_zone": "nova",
        "OS-EXT-STS:vm_state": _VM_STATE[server.state],
        "OS-EXT-STS:task_state": _task_state(server),
        "OS-EXT-STS:power_state": _POWER_STATE.get(server.state, NOSTATE),
        "OS-SRV-USG:launched_at": None,
        "OS-SRV-USG:terminated_at": None,
        "os-extended-volumes:volumes_attached": [],
    }
    if server.state is ServerState.BUILD:
        out["progress"] = 0
    fault = _fault(server)
    if fault is not None:
        out["fault"] = fault
    if admin:
        out.update(_admin_attributes(server, version, host_alive))
    if version.at_least("2.9"):
        out["locked"] = False
    if version.at_least("2.19"):
        out["description"] = server.description
    if version.at_least("2.26"):
        out["tags"] = []
    if version.at_least("2.63"):
        out["trusted_image_certificates"] = None
    return out


def addresses(ports: Sequence[PortRecord], networks: dict[str, str]) -> dict[str, list[object]]:
    """``{network name: [address, ...]}`` for the server's ports; ``networks`` names each
    network by id (a network the caller cannot see is shown by its id). No port has an IP
    address, so every list is empty."""
    out: dict[str, list[object]] = {}
    for port in ports:
        out.setdefault(networks.get(port.network_id) or port.network_id, [])
    return out


def interface(port: PortRecord, version: Microversion) -> dict[str, object]:
    """One ``interfaceAttachment``: the port, its network, MAC and status."""
    out: dict[str, object] = {
        "port_id": port.id,
        "net_id": port.network_id,
        "mac_addr": port.mac_address,
        "port_state": str(port.status),
        "fixed_ips": [],
    }
    if version.at_least("2.70"):
        out["tag"] = None
    return out


# --- hypervisors ---------------------------------------------------------------------


#: Hypervisor and service UUIDs (microversion 2.53) are derived from the host's name.
_HOST_NAMESPACE = uuid.UUID("5b0f4c1e-7d3a-4f6e-9c2b-8a1d0e3f4a5b")


def hypervisor_id(info: HostInfo, version: Microversion, kind: str = "hypervisor") -> object:
    """The host's row id before 2.53, a UUID named by the host from then on."""
    if not version.at_least("2.53"):
        return info.record.id
    return str(uuid.uuid5(_HOST_NAMESPACE, f"{kind}:{info.record.host.name}"))


def hypervisor_index(
    info: HostInfo, version: Microversion, servers: Sequence[ServerRecord] | None = None
) -> dict[str, object]:
    """``servers`` (2.53, ``with_servers``): the guests on the host, when asked for."""
    out: dict[str, object] = {
        "id": hypervisor_id(info, version),
        "hypervisor_hostname": info.record.host.name,
        "state": "up" if info.alive else "down",
        "status": "disabled" if info.record.disabled else "enabled",
    }
    if servers:
        out["servers"] = [{"name": domain_name(s.name, s.id), "uuid": s.id} for s in servers]
    return out


def hypervisor_detail(
    info: HostInfo,
    servers: Sequence[ServerRecord],
    version: Microversion,
    *,
    with_servers: bool = False,
) -> dict[str, object]:
    """Totals pciplane does not track (host CPUs, memory, disk) are 0; what its servers
    use is counted from them."""
    name = info.record.host.name
    service = hypervisor_id(info, version, "service")
    return {
        **hypervisor_index(info, version, servers if with_servers else None),
        "hypervisor_type": "QEMU",
        "hypervisor_version": 0,
        "host_ip": "",
        "service": {
            "host": name,
            "id": service,
            "disabled_reason": info.record.disabled_reason if info.record.disabled else None,
        },
        "running_vms": len(servers),
        "vcpus": 0,
        "vcpus_used": sum(s.vcpus for s in servers),
        "memory_mb": 0,
        "memory_mb_used": sum(s.ram for s in servers),
        "free_ram_mb": 0,
        "local_gb": 0,
        "local_gb_used": 0,
        "free_disk_gb": 0,
        "disk_available_least": 0,
        "current_workload": 0,
        "cpu_info": {} if version.at_least("2.28") else "{}",
    }
