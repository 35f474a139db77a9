"""Reading libvirt domain XML back: the host devices a domain holds.

This is what the libvirt driver lists for every domain, the truth the service's claims are
reconciled against: ``<hostdev type='pci'>`` and ``<interface type='hostdev'>`` by PCI
address, ``<interface type='direct'>`` (macvtap) by the VF's netdev, which the agent
resolves to an address (libvirt formatdomain.html, "Host device assignment", "Network
interfaces").
"""

from __future__ import annotations

import enum
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass

from pciplane.core.address import PciAddress
from pciplane.core.errors import HypervisorError


class HeldKind(enum.StrEnum):
    """How a domain holds a host device."""

    HOSTDEV = "hostdev"
    INTERFACE_HOSTDEV = "interface-hostdev"
    INTERFACE_DIRECT = "interface-direct"


@dataclass(frozen=True, kw_only=True, slots=True)
class HeldDevice:
    """One host device a domain's XML refers to: a PCI address, or a VF netdev (macvtap)."""

    kind: HeldKind
    address: PciAddress | None = None
    source_dev: str | None = None
    mac: str | None = None


def _parse_address(element: ET.Element, *, where: str) -> PciAddress:
    try:
        fields = [int(element.attrib[k], 0) for k in ("domain", "bus", "slot", "function")]
        return PciAddress(domain=fields[0], bus=fields[1], slot=fields[2], function=fields[3])
    except (KeyError, ValueError) as exc:
        raise HypervisorError(
            f"{where}: source address {element.attrib!r} is not a PCI address"
        ) from exc


def _held(element: ET.Element, *, where: str) -> HeldDevice | None:
    mac_el = element.find("mac")
    mac = mac_el.get("address") if mac_el is not None else None
    kind = element.get("type")
    if element.tag == "hostdev" and kind == "pci":
        addr = element.find("source/address")
        if addr is None:
            raise HypervisorError(f"{where}: <hostdev type='pci'> without a source address")
        return HeldDevice(kind=HeldKind.HOSTDEV, address=_parse_address(addr, where=where))
    if element.tag == "interface" and kind == "hostdev":
        addr = element.find("source/address")
        if addr is None or addr.get("type", "pci") != "pci":
            return None
        address = _parse_address(addr, where=where)
        return HeldDevice(kind=HeldKind.INTERFACE_HOSTDEV, address=address, mac=mac)
    if element.tag == "interface" and kind == "direct":
        source = element.find("source")
        dev = source.get("dev") if source is not None else None
        if dev is None:
            return None
        return HeldDevice(kind=HeldKind.INTERFACE_DIRECT, source_dev=dev, mac=mac)
    return None


def devices_in_domain(xml: str, *, where: str = "domain XML") -> list[HeldDevice]:
    """The host PCI devices (and macvtap VF netdevs) a domain's XML holds, in order.

    This is what the libvirt driver lists, the truth claims are reconciled against.
    """
    try:
        root = ET.fromstring(xml)
    except ET.ParseError as exc:
        raise HypervisorError(f"{where} does not parse: {exc}") from exc
    devices = root if root.tag == "devices" else root.find("devices")
    if devices is None:
        return []
    held = (_held(element, where=where) for element in devices)
    return [h for h in held if h is not None]


def held_addresses(held: Sequence[HeldDevice]) -> tuple[PciAddress, ...]:
    """The PCI addresses among ``held`` (macvtap netdevs are resolved by the caller)."""
    return tuple(h.address for h in held if h.address is not None)
