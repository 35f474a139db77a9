"""libvirt domain XML for guests that hold PCI devices, and reading it back.

Elements are built one by one with ``xml.etree`` as libvirt's domain format documents
them (libvirt formatdomain.html, "Host device assignment" and "Network interfaces":
``<hostdev mode='subsystem' type='pci'>``, ``<interface type='hostdev'>``,
``<interface type='direct'>``, ``<vlan>``, ``<virtualport type='802.1Qbh'>``), and the
device shapes follow Nova's libvirt VIF code (nova-pci-semantics §6). Where Nova writes
``<tag id='0'/>`` for the string ``"0"`` (Q16), a VLAN of 0 or none writes no ``<vlan>``.
Every shape here is checked against libvirt's own RelaxNG schema in the tests.
"""

from __future__ import annotations

import re
import uuid as uuidlib
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field

from pciplane.core.address import PciAddress
from pciplane.core.device import PciDevice
from pciplane.core.errors import RequestError
from pciplane.core.guest import AttachMode, GuestDevice, GuestNic, GuestPlan
from pciplane.host.domain_read import HeldDevice, HeldKind, devices_in_domain, held_addresses
from pciplane.host.guest_xml import (
    CpuTuning,
    DiskDevice,
    NumaCell,
    console_elements,
    cpu_element,
    cpu_ranges,
    cputune_element,
    disk_element,
    numatune_element,
    vcpu_element,
)

_MAC = re.compile(r"^[0-9a-f]{2}(:[0-9a-f]{2}){5}$")
_VIRT_TYPES = frozenset({"kvm", "qemu", "test"})


def _check_mac(mac: str) -> None:
    if not isinstance(mac, str) or _MAC.match(mac) is None:
        raise RequestError(f"MAC address {mac!r} is not of the form aa:bb:cc:dd:ee:ff (lower case)")


def _check_vlan(vlan: int | None) -> None:
    """802.1Q VLAN ids run 1-4094; 0 or None means untagged and writes no element (Q16)."""
    if vlan is None:
        return
    if isinstance(vlan, bool) or not isinstance(vlan, int) or not 0 <= vlan <= 4094:
        raise RequestError(f"VLAN id {vlan!r} is not an integer from 0 to 4094")


def _check_profileid(profileid: str | None) -> None:
    if profileid is not None and (not isinstance(profileid, str) or not profileid.strip()):
        raise RequestError(f"802.1Qbh profileid {profileid!r} must be a non-empty string")


@dataclass(frozen=True, kw_only=True, slots=True)
class HostdevDevice:
    """A whole PCI function given to the guest: a flavor (alias) device or a PF.

    ``managed`` lets libvirt detach the device from its host driver and reattach it
    afterwards; flavor devices take it from the device spec's ``managed`` tag, PFs for
    ``direct-physical`` ports always use yes (Nova §6.3, §6.7, Q17).
    """

    address: PciAddress
    managed: bool = True


@dataclass(frozen=True, kw_only=True, slots=True)
class HostdevInterface:
    """An SR-IOV VF given to the guest as a NIC (vnic ``direct``): MAC and VLAN set by libvirt.

    ``managed='yes'`` is always written, as Nova does (§6.1, Q17).
    """

    address: PciAddress
    mac: str
    vlan: int | None = None
    profileid: str | None = None

    def __post_init__(self) -> None:
        _check_mac(self.mac)
        _check_vlan(self.vlan)
        _check_profileid(self.profileid)


@dataclass(frozen=True, kw_only=True, slots=True)
class DirectInterface:
    """A VF's host netdev used through macvtap in passthrough mode (vnic ``macvtap``, §6.2)."""

    source_dev: str
    mac: str
    vlan: int | None = None
    profileid: str | None = None
    model: str = "virtio"

    def __post_init__(self) -> None:
        _check_mac(self.mac)
        _check_vlan(self.vlan)
        _check_profileid(self.profileid)
        if not self.source_dev or "/" in self.source_dev or " " in self.source_dev:
            raise RequestError(f"VF interface name {self.source_dev!r} is not a netdev name")


@dataclass(frozen=True, kw_only=True, slots=True)
class BridgeInterface:
    """A ``normal`` port on the software switch: ``<interface type='bridge'>`` with an
    Open vSwitch virtual port whose ``interfaceid`` is the port's id (Nova §6.6, os-vif)."""

    bridge: str
    mac: str
    interfaceid: str
    model: str = "virtio"

    def __post_init__(self) -> None:
        _check_mac(self.mac)
        if not self.bridge or "/" in self.bridge or " " in self.bridge:
            raise RequestError(f"bridge name {self.bridge!r} is not a netdev name")
        try:
            uuidlib.UUID(self.interfaceid)
        except (ValueError, TypeError, AttributeError):
            raise RequestError(f"interfaceid {self.interfaceid!r} is not a UUID") from None


DomainDevice = HostdevDevice | HostdevInterface | DirectInterface | BridgeInterface


@dataclass(frozen=True, kw_only=True, slots=True)
class Domain:
    """A server as libvirt defines it: identity, size, where its CPUs and memory run,
    guest NUMA cells, boot disk, console and PCI devices."""

    name: str
    uuid: str
    memory_mib: int
    vcpus: int
    devices: tuple[DomainDevice, ...] = ()
    numa_cells: tuple[NumaCell, ...] = ()
    virt_type: str = "kvm"
    tuning: CpuTuning = field(default_factory=CpuTuning)
    disk: DiskDevice | None = None
    #: A serial console on a pty.
    console: bool = True

    def __post_init__(self) -> None:
        if not self.name or "/" in self.name:
            raise RequestError(f"domain name {self.name!r} must be non-empty without '/'")
        try:
            uuidlib.UUID(self.uuid)
        except (ValueError, TypeError, AttributeError):
            raise RequestError(f"domain {self.name!r}: uuid {self.uuid!r} is not a UUID") from None
        if self.virt_type not in _VIRT_TYPES:
            raise RequestError(
                f"domain {self.name!r}: type {self.virt_type!r} is not one of "
                f"{', '.join(sorted(_VIRT_TYPES))}"
            )
        if self.memory_mib < 1 or self.vcpus < 1:
            raise RequestError(f"domain {self.name!r}: memory and vCPUs must be positive")
        if self.numa_cells:
            _check_cells(self)
        _check_pins(self)


def _check_pins(domain: Domain) -> None:
    """Each pinned vCPU exists and is pinned once."""
    vcpus = [v for v, _ in domain.tuning.pins]
    if len(set(vcpus)) != len(vcpus) or any(not 0 <= v < domain.vcpus for v in vcpus):
        raise RequestError(
            f"domain {domain.name!r}: vCPU pins {sorted(vcpus)} must name each of vCPUs "
            f"0..{domain.vcpus - 1} at most once"
        )


def _check_cells(domain: Domain) -> None:
    """Cells partition the vCPUs and the memory (libvirt formatdomain "NUMA topology")."""
    cpus = [c for cell in domain.numa_cells for c in cell.cpus]
    if sorted(cpus) != list(range(domain.vcpus)):
        raise RequestError(
            f"domain {domain.name!r}: NUMA cells must hold each of the {domain.vcpus} vCPUs "
            f"exactly once, got {sorted(cpus)}"
        )
    total = sum(cell.memory_mib for cell in domain.numa_cells)
    if total != domain.memory_mib:
        raise RequestError(
            f"domain {domain.name!r}: NUMA cell memory adds up to {total} MiB, "
            f"not the domain's {domain.memory_mib} MiB"
        )
    ids = [cell.id for cell in domain.numa_cells]
    if ids != list(range(len(ids))):
        raise RequestError(f"domain {domain.name!r}: NUMA cell ids must be 0..n-1, got {ids}")


# --- from the guest plan, claims and bindings -------------------------------------


def domain_device(device: GuestDevice) -> DomainDevice:
    """The libvirt device for one device of the guest plan, by its attach mode: a
    ``<hostdev>`` (flavor device, or the PF of a ``direct-physical`` port, §6.3, §6.7), an
    ``<interface type='hostdev'>`` (``direct``, §6.1) or an ``<interface type='direct'>``
    on the VF's netdev (``macvtap``, §6.2)."""
    if device.attach is AttachMode.HOSTDEV:
        return HostdevDevice(address=device.address, managed=device.managed)
    nic = device.nic
    if nic is None:
        raise RequestError(f"device {device.address}: attach mode {device.attach} needs its port")
    if device.attach is AttachMode.INTERFACE_HOSTDEV:
        return HostdevInterface(address=device.address, mac=nic.mac, vlan=nic.vlan)
    if not nic.source_dev:
        raise RequestError(
            f"port {nic.port}: macvtap needs the VF's netdev name, and device "
            f"{device.address} has none (is it bound to a network driver?)"
        )
    return DirectInterface(source_dev=nic.source_dev, mac=nic.mac, vlan=nic.vlan)


def interface_device(nic: GuestNic) -> DomainDevice:
    """The interface of a port that needs no host device (a ``normal`` port, vif ``ovs``)."""
    if nic.bridge is None:
        raise RequestError(f"port {nic.port}: vif type {nic.vif_type} has no bridge to plug into")
    return BridgeInterface(bridge=nic.bridge, mac=nic.mac, interfaceid=nic.port)


def plan_devices(plan: GuestPlan) -> tuple[DomainDevice, ...]:
    """Every libvirt device of a plan: its host devices, then its switch interfaces."""
    return (
        *(domain_device(d) for d in plan.devices),
        *(interface_device(n) for n in plan.interfaces),
    )


def plan_tuning(plan: GuestPlan, *, virt_type: str) -> CpuTuning:
    """Where the plan's vCPUs run: pinned ones each on its host CPU, floating ones over
    ``shared_cpus``; with any pin, the emulator threads over every CPU the guest holds
    (Nova's default). The host CPU is passed through on KVM only."""
    pins = tuple(
        (vcpu, pin)
        for cell in plan.cells
        for vcpu, pin in zip(cell.vcpus, cell.pins, strict=True)
        if pin is not None
    )
    emulator = tuple(sorted({*(p for _, p in pins), *plan.shared_cpus})) if pins else ()
    return CpuTuning(
        shared_cpus=plan.shared_cpus,
        pins=pins,
        emulator_cpus=emulator,
        mode="host-passthrough" if virt_type == "kvm" else None,
    )


def domain_for_plan(plan: GuestPlan, *, virt_type: str, disk_path: str | None = None) -> Domain:
    """The domain the agent defines for a guest plan; ``virt_type`` is the hypervisor's
    (``kvm``, ``qemu`` for software emulation, ``test`` on libvirt's test driver) and
    ``disk_path`` the server's overlay of its image, which only the host knows."""
    if plan.disk is not None and disk_path is None:
        raise RequestError(f"guest {plan.name} boots image {plan.disk.image}: no disk was made")
    cells = tuple(
        NumaCell(id=c.cell, cpus=c.vcpus, memory_mib=c.memory_mib, host_cell=c.host_cell)
        for c in plan.cells
    )
    return Domain(
        name=plan.name,
        uuid=plan.uuid,
        memory_mib=plan.memory_mib,
        vcpus=plan.vcpus,
        devices=plan_devices(plan),
        numa_cells=cells,
        virt_type=virt_type,
        tuning=plan_tuning(plan, virt_type=virt_type),
        disk=None if disk_path is None else DiskDevice(source=disk_path),
    )


def flavor_hostdev(device: PciDevice, *, managed: bool = True) -> HostdevDevice:
    """A flavor (alias) device; ``managed`` is the device spec's ``managed`` tag (Nova §6.7)."""
    return HostdevDevice(address=device.address, managed=managed)


# --- rendering --------------------------------------------------------------------


def _yes_no(value: bool) -> str:
    return "yes" if value else "no"


def _pci_source(parent: ET.Element, address: PciAddress, *, typed: bool) -> None:
    """``<source><address .../></source>``; interfaces carry ``type='pci'``, hostdevs don't."""
    source = ET.SubElement(parent, "source")
    attrs = {"type": "pci"} if typed else {}
    attrs.update(address.libvirt_attrs())
    ET.SubElement(source, "address", attrs)


def _vlan(parent: ET.Element, vlan: int | None) -> None:
    if vlan:
        ET.SubElement(ET.SubElement(parent, "vlan"), "tag", {"id": str(vlan)})


def _virtualport(parent: ET.Element, profileid: str | None) -> None:
    if profileid is not None:
        port = ET.SubElement(parent, "virtualport", {"type": "802.1Qbh"})
        ET.SubElement(port, "parameters", {"profileid": profileid})


def device_element(device: DomainDevice) -> ET.Element:
    """The ``<hostdev>`` or ``<interface>`` element for one guest device.

    With an 802.1Qbh port profile the switch assigns the VLAN, so no ``<vlan>`` is
    written (Nova §6.4).
    """
    if isinstance(device, HostdevDevice):
        attrs = {"mode": "subsystem", "type": "pci", "managed": _yes_no(device.managed)}
        element = ET.Element("hostdev", attrs)
        _pci_source(element, device.address, typed=False)
        return element
    if isinstance(device, BridgeInterface):
        element = ET.Element("interface", {"type": "bridge"})
        ET.SubElement(element, "mac", {"address": device.mac})
        ET.SubElement(element, "source", {"bridge": device.bridge})
        port = ET.SubElement(element, "virtualport", {"type": "openvswitch"})
        ET.SubElement(port, "parameters", {"interfaceid": device.interfaceid})
        ET.SubElement(element, "model", {"type": device.model})
        return element
    if isinstance(device, HostdevInterface):
        element = ET.Element("interface", {"type": "hostdev", "managed": "yes"})
        ET.SubElement(element, "mac", {"address": device.mac})
        _pci_source(element, device.address, typed=True)
    else:
        element = ET.Element("interface", {"type": "direct"})
        ET.SubElement(element, "mac", {"address": device.mac})
        ET.SubElement(element, "source", {"dev": device.source_dev, "mode": "passthrough"})
        ET.SubElement(element, "model", {"type": device.model})
    if device.profileid is None:
        _vlan(element, device.vlan)
    _virtualport(element, device.profileid)
    return element


def domain_element(domain: Domain) -> ET.Element:
    """The whole ``<domain>``: identity, memory, vCPUs and where they run, memory
    binding, ``os/type hvm``, ACPI, CPU and NUMA cells, then the devices: boot disk,
    console, host devices and interfaces."""
    root = ET.Element("domain", {"type": domain.virt_type})
    ET.SubElement(root, "name").text = domain.name
    ET.SubElement(root, "uuid").text = domain.uuid
    ET.SubElement(root, "memory", {"unit": "MiB"}).text = str(domain.memory_mib)
    root.append(vcpu_element(domain.vcpus, domain.tuning))
    for optional in (cputune_element(domain.tuning), numatune_element(domain.numa_cells)):
        if optional is not None:
            root.append(optional)
    ET.SubElement(ET.SubElement(root, "os"), "type").text = "hvm"
    features = ET.SubElement(root, "features")
    ET.SubElement(features, "acpi")
    ET.SubElement(features, "apic")
    cpu = cpu_element(domain.numa_cells, domain.tuning.mode)
    if cpu is not None:
        root.append(cpu)
    devices = ET.SubElement(root, "devices")
    if domain.disk is not None:
        devices.append(disk_element(domain.disk))
    if domain.console:
        devices.extend(console_elements())
    devices.extend(device_element(device) for device in domain.devices)
    return root


def _serialise(element: ET.Element) -> str:
    ET.indent(element, space="  ")
    return ET.tostring(element, encoding="unicode") + "\n"


def render_device(device: DomainDevice) -> str:
    """One device's XML, as ``virDomainAttachDeviceFlags`` takes it."""
    return _serialise(device_element(device))


def render_domain(domain: Domain) -> str:
    """The domain's XML, as ``virDomainDefineXML`` takes it."""
    return _serialise(domain_element(domain))


__all__ = [
    "BridgeInterface",
    "CpuTuning",
    "DirectInterface",
    "DiskDevice",
    "Domain",
    "DomainDevice",
    "HeldDevice",
    "HeldKind",
    "HostdevDevice",
    "HostdevInterface",
    "NumaCell",
    "cpu_ranges",
    "device_element",
    "devices_in_domain",
    "domain_device",
    "domain_element",
    "domain_for_plan",
    "flavor_hostdev",
    "held_addresses",
    "interface_device",
    "plan_devices",
    "plan_tuning",
    "render_device",
    "render_domain",
]
