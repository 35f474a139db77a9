"""Device discovery from sysfs: ``<root>/sys/bus/pci/devices/*``.

Every entry is read as the kernel documents it (Documentation/ABI/testing/sysfs-bus-pci
and sysfs-class-net): ``vendor``/``device``/``class`` in ``0x`` hex, ``numa_node`` (-1
when firmware reports no affinity), the ``driver`` and ``iommu_group`` links, the SR-IOV
files ``sriov_totalvfs``/``sriov_numvfs`` and links ``virtfnN``/``physfn``, and the
interfaces under ``net/`` (or under a ``virtioN/net/`` child, where virtio-net puts
them). The device type follows Nova §2.2: a PF can create VFs (``sriov_totalvfs`` > 0),
a VF has a ``physfn``, anything else is ``type-PCI``.

Discovery never stops on one bad entry: a device that vanishes mid-scan, a missing or
unparsable file, or an address the core cannot hold (a 32-bit PCI domain such as
``10000:00:02.0`` behind an Intel VMD) becomes a :class:`ScanWarning` and the scan goes
on. ``root`` is injectable so tests build real trees in a temporary directory.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from pciplane.core.address import PciAddress
from pciplane.core.device import DevType, PciDevice
from pciplane.core.errors import AddressError
from pciplane.host.discovery import HostDevice, NetDev, Scan, ScanWarning
from pciplane.host.pciids import PciNames, names_at

PCI_DEVICES = Path("sys/bus/pci/devices")


class _Vanished(Exception):
    """The device directory disappeared while it was being read (hot unplug)."""


class _Skip(Exception):
    """The device cannot be tracked (no vendor or device id); the message says why."""


@dataclass(slots=True)
class _Raw:
    """What one device directory says, before relatives are linked."""

    address: PciAddress
    vendor_id: str
    product_id: str
    class_id: str | None = None
    driver: str | None = None
    numa_node: int | None = None
    iommu_group: int | None = None
    totalvfs: int | None = None
    numvfs: int | None = None
    physfn: PciAddress | None = None
    virtfns: dict[PciAddress, int] = field(default_factory=dict)
    netdevs: tuple[NetDev, ...] = ()


class _Reader:
    """Reads one device directory, recording what it cannot read as warnings."""

    def __init__(self, path: Path, entry: str, warnings: list[ScanWarning]) -> None:
        self.path = path
        self.entry = entry
        self.warnings = warnings

    def warn(self, message: str) -> None:
        self.warnings.append(ScanWarning(entry=self.entry, message=message))

    def text(self, name: str, *, required: bool = False) -> str | None:
        try:
            return (self.path / name).read_text().strip()
        except FileNotFoundError:
            if not self.path.exists():
                raise _Vanished from None
            if required:
                self.warn(f"no {name} file")
            return None
        except OSError as exc:
            self.warn(f"cannot read {name}: {exc.strerror or exc}")
            return None

    def hex_id(self, name: str, digits: int) -> str | None:
        raw = self.text(name, required=True)
        if raw is None:
            return None
        try:
            return f"{int(raw, 16):0{digits}x}"
        except ValueError:
            self.warn(f"{name} is {raw!r}, not a hex number")
            return None

    def required_id(self, name: str) -> str:
        """A 4-digit id the device cannot be tracked without; raises :class:`_Skip`."""
        try:
            raw = (self.path / name).read_text().strip()
        except FileNotFoundError:
            if not self.path.exists():
                raise _Vanished from None
            raise _Skip(f"no {name} file") from None
        except OSError as exc:
            raise _Skip(f"cannot read {name}: {exc.strerror or exc}") from None
        try:
            return f"{int(raw, 16):04x}"
        except ValueError:
            raise _Skip(f"{name} is {raw!r}, not a hex number") from None

    def integer(self, name: str) -> int | None:
        raw = self.text(name)
        if raw is None:
            return None
        try:
            return int(raw)
        except ValueError:
            self.warn(f"{name} is {raw!r}, not an integer")
            return None

    def link_name(self, name: str) -> str | None:
        try:
            return os.path.basename(os.readlink(self.path / name))
        except OSError:
            return None

    def link_address(self, name: str) -> PciAddress | None:
        target = self.link_name(name)
        if target is None:
            return None
        try:
            return PciAddress.parse(target)
        except AddressError as exc:
            self.warn(f"{name} link: {exc}")
            return None


def _read_netdev(path: Path) -> NetDev:
    def text(name: str) -> str | None:
        try:
            return (path / name).read_text().strip()
        except OSError:  # carrier cannot be read while the interface is down
            return None

    carrier = text("carrier")
    return NetDev(
        name=path.name,
        mac=text("address"),
        operstate=text("operstate"),
        carrier=None if carrier is None else carrier == "1",
    )


def _netdevs(path: Path, entries: set[str]) -> tuple[NetDev, ...]:
    dirs = [path / "net"] if "net" in entries else []
    dirs += [path / e / "net" for e in sorted(entries) if e.startswith("virtio")]
    found: list[NetDev] = []
    for net in dirs:
        try:
            found += [_read_netdev(net / name) for name in sorted(os.listdir(net))]
        except OSError:
            continue
    return tuple(found)


def _read_sriov(reader: _Reader, raw: _Raw, entries: set[str]) -> None:
    if "sriov_totalvfs" in entries:
        raw.totalvfs = reader.integer("sriov_totalvfs")
        raw.numvfs = reader.integer("sriov_numvfs")
    for name in entries:
        if name.startswith("virtfn") and name[6:].isdigit():
            vf = reader.link_address(name)
            if vf is not None:
                raw.virtfns[vf] = int(name[6:])
    if "physfn" in entries:
        raw.physfn = reader.link_address("physfn")


def _read_device(path: Path, address: PciAddress, reader: _Reader) -> _Raw:
    try:
        entries = set(os.listdir(path))
    except FileNotFoundError:
        raise _Vanished from None
    vendor_id, product_id = reader.required_id("vendor"), reader.required_id("device")
    raw = _Raw(address=address, vendor_id=vendor_id, product_id=product_id)
    raw.class_id = reader.hex_id("class", 6)
    raw.driver = reader.link_name("driver")
    numa = reader.integer("numa_node")
    raw.numa_node = None if numa is None or numa < 0 else numa
    group = reader.link_name("iommu_group")
    raw.iommu_group = int(group) if group is not None and group.isdigit() else None
    _read_sriov(reader, raw, entries)
    raw.netdevs = _netdevs(path, entries)
    return raw


def _read_all(base: Path, warnings: list[ScanWarning]) -> list[_Raw]:
    try:
        entries = sorted(os.listdir(base))
    except OSError as exc:
        warnings.append(ScanWarning(entry=str(base), message=f"cannot list: {exc.strerror}"))
        return []
    raws = []
    for entry in entries:
        reader = _Reader(base / entry, entry, warnings)
        try:
            address = PciAddress.parse(entry)
        except AddressError as exc:
            reader.warn(f"skipped: {exc} (a 32-bit PCI domain, as behind Intel VMD?)")
            continue
        try:
            raw = _read_device(base / entry, address, reader)
        except _Vanished:
            reader.warn("skipped: the device vanished during the scan")
            continue
        except _Skip as exc:
            reader.warn(f"skipped: {exc}")
            continue
        raws.append(raw)
    return raws


def _dev_type(raw: _Raw) -> DevType:
    if raw.totalvfs is not None and raw.totalvfs > 0:
        return DevType.PF
    if raw.physfn is not None:
        return DevType.VF
    return DevType.PCI


def _build(raw: _Raw, by_addr: dict[PciAddress, _Raw], names: PciNames) -> HostDevice:
    dev_type = _dev_type(raw)
    pf = by_addr.get(raw.physfn) if dev_type == DevType.VF and raw.physfn else None
    device = PciDevice(
        address=raw.address,
        vendor_id=raw.vendor_id,
        product_id=raw.product_id,
        dev_type=dev_type,
        numa_node=raw.numa_node,
        parent_addr=raw.physfn if dev_type == DevType.VF else None,
        devname=raw.netdevs[0].name if raw.netdevs else None,
        parent_ifname=pf.netdevs[0].name if pf is not None and pf.netdevs else None,
        label=f"label_{raw.vendor_id}_{raw.product_id}",
        class_id=raw.class_id,
        driver=raw.driver,
        iommu_group=raw.iommu_group,
    )
    return HostDevice(
        device=device,
        sriov_totalvfs=raw.totalvfs,
        sriov_numvfs=raw.numvfs,
        vf_index=pf.virtfns.get(raw.address) if pf is not None else None,
        netdevs=raw.netdevs,
        vendor_name=names.vendor(raw.vendor_id),
        product_name=names.device(raw.vendor_id, raw.product_id),
    )


def scan(root: Path = Path("/"), *, names: PciNames | None = None) -> Scan:
    """Discover every PCI function under ``root``'s sysfs, with warnings for odd ones."""
    warnings: list[ScanWarning] = []
    raws = _read_all(root / PCI_DEVICES, warnings)
    by_addr = {r.address: r for r in raws}
    lookup = names if names is not None else names_at()
    devices = tuple(_build(r, by_addr, lookup) for r in raws)
    return Scan(devices=tuple(sorted(devices, key=lambda d: d.address)), warnings=tuple(warnings))
