"""An in-memory hypervisor with the libvirt calls :class:`LibvirtDriver` makes.

libvirt's ``test:///`` driver (9.0) implements no device hot plug, so the hot-plug path
runs against this instead: in the tests, and for an agent started with ``--libvirt
memory:///`` (the demo's hot-plug host). It keeps libvirt's semantics where they matter to pciplane:
a persistent definition and a live copy while running (``VIR_DOMAIN_AFFECT_LIVE`` and
``_CONFIG``), a PCI device held by one running domain refused to any other (as the qemu
driver refuses "in use" hostdevs), ``VIR_ERR_NO_DOMAIN`` / ``VIR_ERR_DEVICE_MISSING`` /
``VIR_ERR_OPERATION_INVALID`` errors raised as real ``libvirt.libvirtError`` objects, and
every XML document it is handed checked against libvirt's schema (``virt-xml-validate``),
and a guest's disk files opened when it starts (a missing one fails the start, as in QEMU).
"""

from __future__ import annotations

import copy
import uuid as uuidlib
import xml.etree.ElementTree as ET
from pathlib import Path

import libvirt

from pciplane.core.errors import HypervisorError
from pciplane.host import libvirt_schema
from pciplane.host.domain_xml import HeldDevice, devices_in_domain
from pciplane.host.libvirt_driver import DomainHandle

URI = "memory:///"


def libvirt_error(code: int, message: str) -> libvirt.libvirtError:
    """A ``libvirtError`` carrying ``code``, as libvirt-python raises them."""
    exc = libvirt.libvirtError(message)
    exc.err = (
        code,
        libvirt.VIR_FROM_DOMAIN,
        message,
        libvirt.VIR_ERR_ERROR,
        None,
        None,
        None,
        0,
        0,
    )
    exc.args = (message,)
    return exc


def _validated(xml: str, *, device: bool) -> ET.Element:
    try:
        if device:
            libvirt_schema.validate_device(xml)
        else:
            libvirt_schema.validate(xml, "domain")
    except HypervisorError as exc:
        raise libvirt_error(libvirt.VIR_ERR_XML_DETAIL, str(exc)) from None
    return ET.fromstring(xml)


def _held(element: ET.Element) -> list[HeldDevice]:
    return devices_in_domain(ET.tostring(element, encoding="unicode"))


class MemoryDomain:
    """One domain: its definition and, while running, its live XML."""

    def __init__(self, hypervisor: MemoryHypervisor, config: ET.Element) -> None:
        self._hv = hypervisor
        self.config = config
        self.live: ET.Element | None = None
        self.persistent = True

    def name(self) -> str:
        return self.config.findtext("name") or ""

    def UUIDString(self) -> str:
        return self.config.findtext("uuid") or ""

    def isActive(self) -> int:
        self._check_exists()
        return int(self.live is not None)

    def _check_exists(self) -> None:
        if self._hv.domains.get(self.name()) is not self:
            raise libvirt_error(libvirt.VIR_ERR_NO_DOMAIN, f"Domain not found: {self.name()}")

    def XMLDesc(self, flags: int = 0) -> str:
        self._check_exists()
        inactive = flags & libvirt.VIR_DOMAIN_XML_INACTIVE
        element = self.live if self.live is not None and not inactive else self.config
        return ET.tostring(element, encoding="unicode")

    def create(self) -> int:
        self._check_exists()
        if self.live is not None:
            raise libvirt_error(libvirt.VIR_ERR_OPERATION_INVALID, "domain is already running")
        _check_disks(self.config)
        self._hv.check_free(self.config, owner=self)
        self.live = copy.deepcopy(self.config)
        return 0

    def shutdown(self) -> int:
        """The guest powers off at once (ACPI honoured), unless its name is in the
        hypervisor's ``ignores_shutdown``: then it goes on running, as a hung guest does."""
        self._check_exists()
        if self.live is None:
            raise libvirt_error(libvirt.VIR_ERR_OPERATION_INVALID, "domain is not running")
        if self.name() in self._hv.ignores_shutdown:
            return 0
        return self.destroy()

    def destroy(self) -> int:
        self._check_exists()
        if self.live is None:
            raise libvirt_error(libvirt.VIR_ERR_OPERATION_INVALID, "domain is not running")
        self.live = None
        if not self.persistent:
            del self._hv.domains[self.name()]
        return 0

    def undefine(self) -> int:
        """A running domain becomes transient and goes when destroyed, as in libvirt."""
        self._check_exists()
        if self.live is None:
            del self._hv.domains[self.name()]
        else:
            self.persistent = False
        return 0

    def _targets(self, flags: int) -> list[ET.Element]:
        self._check_exists()
        targets = []
        if flags & libvirt.VIR_DOMAIN_AFFECT_LIVE:
            if self.live is None:
                raise libvirt_error(libvirt.VIR_ERR_OPERATION_INVALID, "domain is not running")
            targets.append(self.live)
        if flags & libvirt.VIR_DOMAIN_AFFECT_CONFIG:
            targets.append(self.config)
        if not targets:
            raise libvirt_error(libvirt.VIR_ERR_INVALID_ARG, "no live or config flag given")
        return targets

    def attachDeviceFlags(self, xml: str, flags: int = 0) -> int:
        device = _validated(xml, device=True)
        targets = self._targets(flags)
        wanted = set(_held(_wrap(device)))
        if self.live is not None and flags & libvirt.VIR_DOMAIN_AFFECT_LIVE:
            self._hv.check_free(_wrap(device), owner=self)
        for target in targets:
            if wanted & set(_held(target)):
                raise libvirt_error(
                    libvirt.VIR_ERR_OPERATION_INVALID, f"device already attached to {self.name()}"
                )
        for target in targets:
            _devices(target).append(copy.deepcopy(device))
        return 0

    def detachDeviceFlags(self, xml: str, flags: int = 0) -> int:
        device = _validated(xml, device=True)
        targets = self._targets(flags)
        found = [(t, _find(t, device)) for t in targets]
        if any(element is None for _, element in found):
            raise libvirt_error(libvirt.VIR_ERR_DEVICE_MISSING, "device not found in domain")
        for target, element in found:
            assert element is not None
            _devices(target).remove(element)
        return 0


def _check_disks(domain: ET.Element) -> None:
    """Every disk's file must exist when the guest starts, as QEMU opens it then."""
    for source in domain.iterfind("devices/disk/source"):
        path = source.get("file")
        if path is not None and not Path(path).is_file():
            raise libvirt_error(
                libvirt.VIR_ERR_OPERATION_FAILED,
                f"Cannot access storage file '{path}': No such file or directory",
            )


def _wrap(device: ET.Element) -> ET.Element:
    root = ET.Element("domain")
    ET.SubElement(root, "devices").append(device)
    return root


def _devices(domain: ET.Element) -> ET.Element:
    devices = domain.find("devices")
    if devices is None:
        devices = ET.SubElement(domain, "devices")
    return devices


def _find(domain: ET.Element, device: ET.Element) -> ET.Element | None:
    """The element holding the same host device (by address or netdev), or for an
    interface holding none (a bridge), the interface with the same MAC."""
    wanted = _held(_wrap(device))
    keys = {(h.address, h.source_dev) for h in wanted}
    mac = device.find("mac")
    for element in _devices(domain):
        if any((h.address, h.source_dev) in keys for h in _held(_wrap(element))):
            return element
        theirs = element.find("mac")
        same_mac = (
            mac is not None and theirs is not None and theirs.get("address") == mac.get("address")
        )
        if not wanted and same_mac and element.tag == device.tag:
            return element
    return None


class MemoryHypervisor:
    """A ``virConnect`` look-alike holding domains in memory."""

    def __init__(self) -> None:
        self.domains: dict[str, MemoryDomain] = {}
        self.closed = False
        #: Names of domains whose guest ignores a shutdown request (a hung guest).
        self.ignores_shutdown: set[str] = set()

    def getURI(self) -> str:
        return URI

    def close(self) -> int:
        self.closed = True
        return 0

    def defineXML(self, xml: str) -> MemoryDomain:
        config = _validated(xml, device=False)
        if config.find("uuid") is None:
            ET.SubElement(config, "uuid").text = str(uuidlib.uuid4())
        name = config.findtext("name") or ""
        existing = self.domains.get(name)
        if existing is not None:
            if existing.UUIDString() != config.findtext("uuid"):
                raise libvirt_error(
                    libvirt.VIR_ERR_OPERATION_FAILED,
                    f"domain '{name}' is already defined with uuid {existing.UUIDString()}",
                )
            existing.config = config
            existing.persistent = True
            return existing
        domain = MemoryDomain(self, config)
        self.domains[name] = domain
        return domain

    def lookupByName(self, name: str) -> MemoryDomain:
        try:
            return self.domains[name]
        except KeyError:
            raise libvirt_error(
                libvirt.VIR_ERR_NO_DOMAIN,
                f"Domain not found: no domain with matching name '{name}'",
            ) from None

    def listAllDomains(self, flags: int = 0) -> list[DomainHandle]:
        return list(self.domains.values())

    def check_free(self, wanted: ET.Element, *, owner: MemoryDomain) -> None:
        """Refuse host devices a different running domain holds."""
        mine = {(h.address, h.source_dev) for h in _held(wanted)}
        for other in self.domains.values():
            if other is owner or other.live is None:
                continue
            for held in _held(other.live):
                if (held.address, held.source_dev) in mine:
                    what = held.address if held.address is not None else held.source_dev
                    raise libvirt_error(
                        libvirt.VIR_ERR_OPERATION_INVALID,
                        f"host device {what} is in use by domain {other.name()}",
                    )
