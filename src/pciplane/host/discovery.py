"""What discovery finds on one host, and how two discoveries differ.

Both discovery paths (:mod:`pciplane.host.sysfs` and :mod:`pciplane.host.nodedev`)
return a :class:`Scan`: one :class:`HostDevice` per PCI function — the core
:class:`~pciplane.core.device.PciDevice` plus what only discovery knows (SR-IOV counts,
the VF index, network interfaces, human names) — and the warnings about entries that
could not be read. :func:`diff` compares two inventories as an operator would: devices
added or removed, and for the rest what changed (VF count, driver rebinding, interface
renames), from plain :class:`PciDevice` records so an earlier ``--json`` output works.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace

from pciplane.core.address import PciAddress
from pciplane.core.device import DevType, PciDevice


@dataclass(frozen=True, kw_only=True, slots=True)
class NetDev:
    """One kernel network interface of a PCI function (sysfs ``net/<ifname>``)."""

    name: str
    mac: str | None = None
    operstate: str | None = None
    #: ``net/<if>/carrier``; the kernel refuses the read while the link is down, and
    #: libvirt does not report it, so ``None`` means "not known".
    carrier: bool | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class HostDevice:
    """One discovered PCI function: the tracked record plus discovery-only facts."""

    device: PciDevice
    sriov_totalvfs: int | None = None
    sriov_numvfs: int | None = None
    #: N of the PF's ``virtfnN`` link that points at this VF.
    vf_index: int | None = None
    netdevs: tuple[NetDev, ...] = ()
    vendor_name: str | None = None
    product_name: str | None = None

    @property
    def address(self) -> PciAddress:
        return self.device.address


def _tracked(found: HostDevice) -> PciDevice:
    """Only a PF's MAC is kept: a VF's changes whenever a guest gets it (Nova §4.5 sends
    only PF MACs, as ``device_mac_address`` and ``pf_mac_address``)."""
    is_pf = found.device.dev_type is DevType.PF
    mac = next((n.mac for n in found.netdevs if n.mac), None) if is_pf else None
    if found.vf_index is None and mac is None:
        return found.device
    return replace(found.device, vf_num=found.vf_index, mac_address=mac)


@dataclass(frozen=True, kw_only=True, slots=True)
class ScanWarning:
    """An entry discovery could not read completely; the scan went on without it."""

    entry: str
    message: str

    def __str__(self) -> str:
        return f"{self.entry}: {self.message}"


@dataclass(frozen=True, kw_only=True, slots=True)
class Scan:
    """The result of one discovery: devices sorted by address, and warnings."""

    devices: tuple[HostDevice, ...]
    warnings: tuple[ScanWarning, ...] = ()

    def pci_devices(self) -> tuple[PciDevice, ...]:
        """The tracked records, with the VF number and the interface's MAC that binding
        sends in the profile (Nova §4.5)."""
        return tuple(_tracked(d) for d in self.devices)

    def get(self, address: PciAddress) -> HostDevice | None:
        for dev in self.devices:
            if dev.address == address:
                return dev
        return None


@dataclass(frozen=True, kw_only=True, slots=True)
class Change:
    """One device present in both inventories whose facts differ."""

    address: PciAddress
    what: tuple[str, ...]

    def __str__(self) -> str:
        return f"{self.address}: " + "; ".join(self.what)


@dataclass(frozen=True, kw_only=True, slots=True)
class InventoryDiff:
    added: tuple[PciDevice, ...]
    removed: tuple[PciDevice, ...]
    changed: tuple[Change, ...]

    def __bool__(self) -> bool:
        return bool(self.added or self.removed or self.changed)

    def lines(self) -> tuple[str, ...]:
        """Human lines, ``+`` added, ``-`` removed, ``~`` changed."""
        out = [f"+ {d.address} {d.dev_type} {d.vendor_info}" for d in self.added]
        out += [f"- {d.address} {d.dev_type} {d.vendor_info}" for d in self.removed]
        out += [f"~ {c}" for c in self.changed]
        return tuple(out)


#: Fields compared one by one, with the words used in the change line.
_COMPARED: tuple[tuple[str, str], ...] = (
    ("dev_type", "type"),
    ("vendor_id", "vendor"),
    ("product_id", "product"),
    ("class_id", "class"),
    ("driver", "driver"),
    ("devname", "interface"),
    ("parent_addr", "PF"),
    ("parent_ifname", "PF interface"),
    ("numa_node", "NUMA node"),
    ("iommu_group", "IOMMU group"),
)


def _vf_counts(devices: Mapping[PciAddress, PciDevice]) -> dict[PciAddress, int]:
    counts: dict[PciAddress, int] = {}
    for dev in devices.values():
        if dev.dev_type == DevType.VF and dev.parent_addr is not None:
            counts[dev.parent_addr] = counts.get(dev.parent_addr, 0) + 1
    return counts


def _show(value: object) -> str:
    return "none" if value is None else str(value)


def _change_line(attr: str, word: str, before: object, after: object) -> str:
    """``driver rebound i40e -> vfio-pci``, ``interface renamed eth2 -> ens1f0``, ..."""
    if attr in ("driver", "devname") and before is None:
        return f"{word} {after} appeared" if attr == "devname" else f"driver bound to {after}"
    if attr in ("driver", "devname") and after is None:
        return f"{word} {before} gone" if attr == "devname" else f"driver {before} unbound"
    if attr == "driver":
        word = "driver rebound"
    elif attr == "devname":
        word = "interface renamed"
    return f"{word} {_show(before)} -> {_show(after)}"


def _changes(old: PciDevice, new: PciDevice, old_vfs: int, new_vfs: int) -> tuple[str, ...]:
    what = []
    for attr, word in _COMPARED:
        before, after = getattr(old, attr), getattr(new, attr)
        if before != after:
            what.append(_change_line(attr, word, before, after))
    if old_vfs != new_vfs:
        what.append(f"VFs {old_vfs} -> {new_vfs}")
    return tuple(what)


def diff(old: Iterable[PciDevice], new: Iterable[PciDevice]) -> InventoryDiff:
    """What changed from ``old`` to ``new`` (a rescan, or an earlier ``--json``).

    A PF's VF count is the number of VFs naming it as ``parent_addr``, so it is seen
    from a snapshot too (the kernel's ``sriov_numvfs`` is that same number).
    """
    before = {d.address: d for d in old}
    after = {d.address: d for d in new}
    old_vfs, new_vfs = _vf_counts(before), _vf_counts(after)
    changed = []
    for address in sorted(before.keys() & after.keys()):
        what = _changes(
            before[address], after[address], old_vfs.get(address, 0), new_vfs.get(address, 0)
        )
        if what:
            changed.append(Change(address=address, what=what))
    return InventoryDiff(
        added=tuple(after[a] for a in sorted(after.keys() - before.keys())),
        removed=tuple(before[a] for a in sorted(before.keys() - after.keys())),
        changed=tuple(changed),
    )
