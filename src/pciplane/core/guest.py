"""The guest plan: what a server's guest is, decided once when its devices are claimed.

The scheduler builds the plan from the pools the devices were chosen from (so the
device spec that allowed each device is resolved once, there), the service stores it
with the server and sends it in the agent's work items, and the agent renders it as
libvirt domain XML. The control plane never writes XML, and the agent never re-decides
what the scheduler decided (DESIGN.md, "The guest is decided once").
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

from pciplane.core.address import PciAddress
from pciplane.core.cpu_policy import CpuPolicy
from pciplane.core.errors import AddressError, RequestError
from pciplane.core.explain import request_label
from pciplane.core.fit import GuestRequest, HostView, Verdict
from pciplane.core.numa_fit import CpuPlacement

#: libvirt domain names must be unique per host; the id keeps two servers of one name apart.
DOMAIN_ID_CHARS = 8


def domain_name(server_name: str, server_id: str) -> str:
    """The libvirt domain of a server: its name and the start of its id."""
    return f"{server_name}-{server_id[:DOMAIN_ID_CHARS]}"


class AttachMode(enum.StrEnum):
    """How a host device enters the guest (libvirt formatdomain, nova-pci-semantics §6)."""

    #: ``<hostdev mode='subsystem' type='pci'>``: a whole function (flavor alias, §6.7;
    #: a PF for a ``direct-physical`` port, §6.3).
    HOSTDEV = "hostdev"
    #: ``<interface type='hostdev'>``: a VF as the guest's NIC, MAC and VLAN set by
    #: libvirt (vnic ``direct``, §6.1).
    INTERFACE_HOSTDEV = "interface-hostdev"
    #: ``<interface type='direct'>`` in passthrough mode on the VF's netdev (vnic
    #: ``macvtap``, §6.2).
    INTERFACE_DIRECT = "interface-direct"


@dataclass(frozen=True, kw_only=True, slots=True)
class VfWiring:
    """The settings the host agent gives a VF on its PF (neutron-sriov-binding.md §4):
    MAC, VLAN (none when untagged), spoof checking from port security, trust from the
    profile, link state from ``admin_state_up`` and ``propagate_uplink_status``."""

    pf: str
    vf: int
    mac: str
    vlan: int | None
    spoofchk: bool
    trust: bool
    link_state: str

    def to_json(self) -> dict[str, object]:
        return {
            "pf": self.pf,
            "vf": self.vf,
            "mac": self.mac,
            "vlan": self.vlan,
            "spoofchk": self.spoofchk,
            "trust": self.trust,
            "link_state": self.link_state,
        }


@dataclass(frozen=True, kw_only=True, slots=True)
class GuestNic:
    """A Neutron port as the guest sees it: its MAC, how it was bound, and what wires it."""

    port: str
    mac: str
    vnic_type: str
    vif_type: str
    #: The 802.1Q tag to write; None for untagged (``"0"`` and ``"None"``, Q16).
    vlan: int | None = None
    #: The VF's netdev, for macvtap.
    source_dev: str | None = None
    #: The software switch's bridge, for a ``normal`` port (vif type ``ovs``).
    bridge: str | None = None
    vf: VfWiring | None = None

    def to_json(self) -> dict[str, object]:
        return {
            "port": self.port,
            "mac": self.mac,
            "vnic_type": self.vnic_type,
            "vif_type": self.vif_type,
            "vlan": self.vlan,
            "source_dev": self.source_dev,
            "bridge": self.bridge,
            "vf": None if self.vf is None else self.vf.to_json(),
        }


@dataclass(frozen=True, kw_only=True, slots=True)
class GuestDevice:
    """One host PCI function the guest gets, and what asked for it."""

    address: PciAddress
    attach: AttachMode = AttachMode.HOSTDEV
    #: libvirt detaches it from its host driver and back (the spec's ``managed`` tag).
    managed: bool = True
    #: The request it serves: an alias name or a port.
    request: str = ""
    #: The port it wires, for a port's device.
    nic: GuestNic | None = None

    def to_json(self) -> dict[str, object]:
        out: dict[str, object] = {
            "address": str(self.address),
            "attach": str(self.attach),
            "managed": self.managed,
            "request": self.request,
        }
        if self.nic is not None:
            out["nic"] = self.nic.to_json()
        return out


@dataclass(frozen=True, kw_only=True, slots=True)
class GuestCell:
    """One guest NUMA cell and the host NUMA cell it was placed on.

    ``pins`` runs beside ``vcpus``: the host CPU each vCPU is pinned to, or None for a
    vCPU that floats over the plan's ``shared_cpus`` (a shared guest, or the shared part
    of a mixed one).
    """

    cell: int
    host_cell: int
    vcpus: tuple[int, ...]
    memory_mib: int
    pins: tuple[int | None, ...]

    def __post_init__(self) -> None:
        if len(self.pins) != len(self.vcpus):
            raise RequestError(
                f"guest cell {self.cell}: {len(self.vcpus)} vCPUs but {len(self.pins)} pins"
            )

    def to_json(self) -> dict[str, object]:
        return {
            "cell": self.cell,
            "host_cell": self.host_cell,
            "vcpus": list(self.vcpus),
            "memory_mib": self.memory_mib,
            "pins": list(self.pins),
        }


@dataclass(frozen=True, kw_only=True, slots=True)
class GuestDisk:
    """The guest's boot disk: an image the agent fetches once, checks and caches, and a
    qcow2 overlay of it per server (``size_gib`` 0: the image's own size)."""

    image: str
    checksum: str
    format: str
    size_gib: int = 0

    def to_json(self) -> dict[str, object]:
        return {
            "image": self.image,
            "checksum": self.checksum,
            "format": self.format,
            "size_gib": self.size_gib,
        }

    @classmethod
    def from_json(cls, obj: object) -> GuestDisk:
        """Parse a disk as :meth:`to_json` writes it; errors name the key."""
        return _disk(obj, "guest disk")


@dataclass(frozen=True, kw_only=True, slots=True)
class GuestPlan:
    """A server's guest as the agent must create it."""

    name: str
    uuid: str
    vcpus: int
    memory_mib: int
    devices: tuple[GuestDevice, ...] = ()
    #: Ports that need no host device (``normal``: the software switch's interface).
    interfaces: tuple[GuestNic, ...] = ()
    cpu_policy: CpuPolicy = CpuPolicy.SHARED
    #: The guest's NUMA cells as placed; empty for a guest without a NUMA topology
    #: (its vCPUs and memory float over the whole host).
    cells: tuple[GuestCell, ...] = ()
    #: Host CPUs the floating vCPUs may run on (``cpu_shared_set`` within the chosen
    #: cells); empty means anywhere.
    shared_cpus: tuple[int, ...] = ()
    disk: GuestDisk | None = None

    def addresses(self) -> tuple[PciAddress, ...]:
        return tuple(d.address for d in self.devices)

    def with_devices(self, devices: Sequence[GuestDevice]) -> GuestPlan:
        return replace(self, devices=tuple(devices))

    def nics(self) -> tuple[GuestNic, ...]:
        """Every port of the guest, with a device or without."""
        return (*(d.nic for d in self.devices if d.nic is not None), *self.interfaces)

    def only_port(self, port: str) -> GuestPlan:
        """The plan narrowed to one port's device or interface (an attach or detach)."""
        return replace(
            self,
            devices=tuple(d for d in self.devices if d.nic is not None and d.nic.port == port),
            interfaces=tuple(n for n in self.interfaces if n.port == port),
        )

    def without_port(self, port: str) -> GuestPlan:
        return replace(
            self,
            devices=tuple(d for d in self.devices if d.nic is None or d.nic.port != port),
            interfaces=tuple(n for n in self.interfaces if n.port != port),
        )

    def merged(self, other: GuestPlan) -> GuestPlan:
        """This plan with ``other``'s devices and interfaces added (a hot plug done)."""
        return replace(
            self,
            devices=(*self.devices, *other.devices),
            interfaces=(*self.interfaces, *other.interfaces),
        )

    def to_json(self) -> dict[str, object]:
        out: dict[str, object] = {
            "name": self.name,
            "uuid": self.uuid,
            "vcpus": self.vcpus,
            "memory_mib": self.memory_mib,
            "devices": [d.to_json() for d in self.devices],
        }
        if self.interfaces:
            out["interfaces"] = [n.to_json() for n in self.interfaces]
        if self.cpu_policy is not CpuPolicy.SHARED:
            out["cpu_policy"] = str(self.cpu_policy)
        if self.cells:
            out["cells"] = [c.to_json() for c in self.cells]
        if self.shared_cpus:
            out["shared_cpus"] = list(self.shared_cpus)
        if self.disk is not None:
            out["disk"] = self.disk.to_json()
        return out

    @classmethod
    def from_json(cls, obj: object) -> GuestPlan:
        """Parse a plan as :meth:`to_json` writes it; errors name the key."""
        plan = _object(obj, "guest plan")
        devices = plan.get("devices", [])
        interfaces = plan.get("interfaces", [])
        if not isinstance(devices, list):
            raise RequestError(f"guest plan: 'devices' must be a list, got {devices!r}")
        if not isinstance(interfaces, list):
            raise RequestError(f"guest plan: 'interfaces' must be a list, got {interfaces!r}")
        cells = plan.get("cells", [])
        if not isinstance(cells, list):
            raise RequestError(f"guest plan: 'cells' must be a list, got {cells!r}")
        policy = plan.get("cpu_policy", CpuPolicy.SHARED.value)
        try:
            cpu_policy = CpuPolicy(str(policy))
        except ValueError:
            policies = ", ".join(p.value for p in CpuPolicy)
            raise RequestError(
                f"guest plan: cpu_policy {policy!r} is not one of {policies}"
            ) from None
        disk = plan.get("disk")
        return cls(
            name=_text(plan, "name", "guest plan"),
            uuid=_text(plan, "uuid", "guest plan"),
            vcpus=_count(plan, "vcpus", "guest plan"),
            memory_mib=_count(plan, "memory_mib", "guest plan"),
            devices=tuple(_device(d, i) for i, d in enumerate(devices)),
            interfaces=tuple(
                _nic(n, f"guest plan interfaces[{i}]") for i, n in enumerate(interfaces)
            ),
            cpu_policy=cpu_policy,
            cells=tuple(_cell(c, f"guest plan cells[{i}]") for i, c in enumerate(cells)),
            shared_cpus=_ints(plan, "shared_cpus", "guest plan"),
            disk=None if disk is None else _disk(disk, "guest plan disk"),
        )


def _object(obj: object, where: str) -> Mapping[str, object]:
    if not isinstance(obj, dict):
        raise RequestError(f"{where}: expected an object, got {obj!r}")
    return obj


def _text(obj: Mapping[str, object], key: str, where: str) -> str:
    value = obj.get(key)
    if not isinstance(value, str):
        raise RequestError(f"{where}: {key!r} must be a string, got {value!r}")
    return value


def _count(obj: Mapping[str, object], key: str, where: str) -> int:
    value = obj.get(key)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise RequestError(f"{where}: {key!r} must be a whole number, got {value!r}")
    return value


def _device(obj: object, index: int) -> GuestDevice:
    where = f"guest plan devices[{index}]"
    dev = _object(obj, where)
    try:
        address = PciAddress.parse(_text(dev, "address", where))
    except AddressError as exc:
        raise RequestError(f"{where}: {exc}") from None
    attach = _text(dev, "attach", where)
    try:
        mode = AttachMode(attach)
    except ValueError:
        modes = ", ".join(m.value for m in AttachMode)
        raise RequestError(f"{where}: attach {attach!r} is not one of {modes}") from None
    managed = dev.get("managed", True)
    if not isinstance(managed, bool):
        raise RequestError(f"{where}: 'managed' must be true or false, got {managed!r}")
    request = dev.get("request", "")
    nic = dev.get("nic")
    return GuestDevice(
        address=address,
        attach=mode,
        managed=managed,
        request=str(request or ""),
        nic=None if nic is None else _nic(nic, f"{where} nic"),
    )


def _opt_int(obj: Mapping[str, object], key: str, where: str) -> int | None:
    value = obj.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise RequestError(f"{where}: {key!r} must be an integer or null, got {value!r}")
    return value


def _opt_text(obj: Mapping[str, object], key: str, where: str) -> str | None:
    value = obj.get(key)
    if value is not None and not isinstance(value, str):
        raise RequestError(f"{where}: {key!r} must be a string or null, got {value!r}")
    return value


def _flag(obj: Mapping[str, object], key: str, where: str) -> bool:
    value = obj.get(key)
    if not isinstance(value, bool):
        raise RequestError(f"{where}: {key!r} must be true or false, got {value!r}")
    return value


def _ints(obj: Mapping[str, object], key: str, where: str) -> tuple[int, ...]:
    value = obj.get(key, [])
    if not isinstance(value, list) or any(
        isinstance(v, bool) or not isinstance(v, int) or v < 0 for v in value
    ):
        raise RequestError(f"{where}: {key!r} must be a list of whole numbers, got {value!r}")
    return tuple(value)


def _cell(obj: object, where: str) -> GuestCell:
    cell = _object(obj, where)
    pins = cell.get("pins", [])
    if not isinstance(pins, list) or any(
        p is not None and (isinstance(p, bool) or not isinstance(p, int) or p < 0) for p in pins
    ):
        raise RequestError(f"{where}: 'pins' must be a list of CPU ids or nulls, got {pins!r}")
    return GuestCell(
        cell=_count(cell, "cell", where),
        host_cell=_count(cell, "host_cell", where),
        vcpus=_ints(cell, "vcpus", where),
        memory_mib=_count(cell, "memory_mib", where),
        pins=tuple(pins),
    )


def _disk(obj: object, where: str) -> GuestDisk:
    disk = _object(obj, where)
    return GuestDisk(
        image=_text(disk, "image", where),
        checksum=_text(disk, "checksum", where),
        format=_text(disk, "format", where),
        size_gib=_count(disk, "size_gib", where),
    )


def _vf(obj: object, where: str) -> VfWiring:
    vf = _object(obj, where)
    return VfWiring(
        pf=_text(vf, "pf", where),
        vf=_count(vf, "vf", where),
        mac=_text(vf, "mac", where),
        vlan=_opt_int(vf, "vlan", where),
        spoofchk=_flag(vf, "spoofchk", where),
        trust=_flag(vf, "trust", where),
        link_state=_text(vf, "link_state", where),
    )


def _nic(obj: object, where: str) -> GuestNic:
    nic = _object(obj, where)
    vf = nic.get("vf")
    return GuestNic(
        port=_text(nic, "port", where),
        mac=_text(nic, "mac", where),
        vnic_type=_text(nic, "vnic_type", where),
        vif_type=_text(nic, "vif_type", where),
        vlan=_opt_int(nic, "vlan", where),
        source_dev=_opt_text(nic, "source_dev", where),
        bridge=_opt_text(nic, "bridge", where),
        vf=None if vf is None else _vf(vf, f"{where} vf"),
    )


def plan_for_claim(
    *,
    server_id: str,
    server_name: str,
    vcpus: int,
    memory_mib: int,
    guest: GuestRequest,
    view: HostView,
    verdict: Verdict,
) -> GuestPlan:
    """The plan for the devices ``verdict`` chose on the host ``view`` describes.

    ``managed`` comes from the pool each device was chosen from, whose key carries the
    matching device spec's normalised ``managed`` tag (absent means yes, Nova §6.7).
    """
    kind_of = {addr: pool.kind for pool in view.pools for addr in pool.devices}
    devices = []
    for request, addresses in zip(guest.pci, verdict.choice, strict=True):
        label = request_label(request)
        for address in addresses:
            kind = kind_of.get(address)
            managed = kind is None or kind.mapping.get("managed") != "false"
            devices.append(GuestDevice(address=address, managed=managed, request=label))
    plan = GuestPlan(
        name=domain_name(server_name, server_id),
        uuid=server_id,
        vcpus=vcpus,
        memory_mib=memory_mib,
        devices=tuple(devices),
    )
    return with_cpus(plan, guest, verdict.cpu)


def with_cpus(plan: GuestPlan, guest: GuestRequest, placement: CpuPlacement | None) -> GuestPlan:
    """The plan with the guest's CPU policy, its cells as placed (pins beside vCPUs) and
    the host CPUs its floating vCPUs may use."""
    if guest.cpu is None or placement is None:
        return plan
    return replace(
        plan,
        cpu_policy=guest.cpu.policy,
        cells=tuple(
            GuestCell(
                cell=c.cell,
                host_cell=c.host_cell,
                vcpus=c.vcpus,
                memory_mib=c.memory_mib,
                pins=c.pins,
            )
            for c in placement.cells
        ),
        shared_cpus=placement.shared_cpus,
    )


def wire_ports(
    plan: GuestPlan,
    ports: Mapping[PciAddress, tuple[AttachMode, GuestNic]],
    interfaces: Sequence[GuestNic] = (),
) -> GuestPlan:
    """The plan with each port's device attached as its binding says, and the ports that
    need no device as interfaces. A port's device is always ``managed`` (Nova §6.1, §6.3:
    the device spec's ``managed`` tag applies to flavor devices only, Q17)."""
    devices = []
    for device in plan.devices:
        wired = ports.get(device.address)
        if wired is None:
            devices.append(device)
        else:
            devices.append(replace(device, attach=wired[0], managed=True, nic=wired[1]))
    return replace(plan, devices=tuple(devices), interfaces=(*plan.interfaces, *interfaces))
