"""The PCI device record, its statuses, and the status transition table.

A device's status changes only through :func:`transition`, which applies one row of
:data:`TRANSITIONS` to the device and the PF/VF rules to its relatives (Nova §2.4):
taking a VF makes its PF unusable, taking a PF makes all its VFs unusable, and a PF
comes back once none of its VFs is taken. Unlike Nova, the PF's status is derived from
all of its VFs each time, so it is never left ``unavailable`` by a VF that is only
claimed (and a freed PF always returns, Q2).
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace

from pciplane.core.address import PciAddress
from pciplane.core.errors import DeviceOwnerError, DeviceStateError, NotFoundError


class DevType(enum.StrEnum):
    """Nova's device types (§2.2): a PF can create VFs, a VF has a ``physfn``."""

    PCI = "type-PCI"
    PF = "type-PF"
    VF = "type-VF"
    VDPA = "vdpa"


class Status(enum.StrEnum):
    """How a device is used right now (Nova §2.4)."""

    AVAILABLE = "available"
    CLAIMED = "claimed"  # chosen for a server that is being built
    ALLOCATED = "allocated"  # held by a running server
    UNCLAIMABLE = "unclaimable"  # a relative (PF or VF) is claimed
    UNAVAILABLE = "unavailable"  # a relative (PF or VF) is allocated
    REMOVED = "removed"  # gone from the host, row kept until freed


class Action(enum.StrEnum):
    CLAIM = "claim"
    ALLOCATE = "allocate"
    FREE = "free"
    REMOVE = "remove"


@dataclass(frozen=True, slots=True)
class Rule:
    """One row of the transition table: from which statuses an action is allowed."""

    allowed_from: frozenset[Status]
    to: Status


TRANSITIONS: Mapping[Action, Rule] = {
    Action.CLAIM: Rule(frozenset({Status.AVAILABLE}), Status.CLAIMED),
    Action.ALLOCATE: Rule(frozenset({Status.AVAILABLE, Status.CLAIMED}), Status.ALLOCATED),
    Action.FREE: Rule(frozenset({Status.CLAIMED, Status.ALLOCATED}), Status.AVAILABLE),
    Action.REMOVE: Rule(
        frozenset({Status.AVAILABLE, Status.UNAVAILABLE, Status.UNCLAIMABLE}), Status.REMOVED
    ),
}

#: What a taken device makes of its relatives (a PF's VFs, a VF's PF).
RELATIVE_STATUS: Mapping[Status, Status] = {
    Status.CLAIMED: Status.UNCLAIMABLE,
    Status.ALLOCATED: Status.UNAVAILABLE,
}

#: Statuses a relative may have for a PF or VF to be taken; anything else is a conflict.
_RELATIVE_OK = frozenset({Status.AVAILABLE, Status.UNCLAIMABLE, Status.UNAVAILABLE})
#: Statuses that mean "in use by a server".
TAKEN = frozenset({Status.CLAIMED, Status.ALLOCATED})


@dataclass(frozen=True, kw_only=True, slots=True)
class PciDevice:
    """One PCI function of a host, as discovered and as tracked."""

    address: PciAddress
    vendor_id: str
    product_id: str
    dev_type: DevType = DevType.PCI
    numa_node: int | None = None
    parent_addr: PciAddress | None = None
    devname: str | None = None
    parent_ifname: str | None = None
    label: str | None = None
    class_id: str | None = None
    driver: str | None = None
    iommu_group: int | None = None
    capabilities: tuple[str, ...] = ()
    card_serial_number: str | None = None
    #: A VF's number N under its PF (the PF's ``virtfnN`` link); Neutron's ``vf_num``.
    vf_num: int | None = None
    #: The MAC of the function's network interface, when it has one (Nova §4.5 sends a
    #: PF's as ``device_mac_address`` and a VF's PF's as ``pf_mac_address``).
    mac_address: str | None = None
    status: Status = Status.AVAILABLE
    owner: str | None = None
    request_id: str | None = None

    @property
    def vendor_info(self) -> str:
        """``vendor:product``, as Neutron's ``pci_vendor_info``."""
        return f"{self.vendor_id}:{self.product_id}"

    @property
    def is_vf_like(self) -> bool:
        return self.dev_type in (DevType.VF, DevType.VDPA)


@dataclass(frozen=True, slots=True)
class Inventory:
    """A host's devices by address, with the PF -> VFs index; immutable.

    :meth:`apply` returns a new inventory; a failing action leaves this one untouched.
    """

    devices: Mapping[PciAddress, PciDevice]
    children: Mapping[PciAddress, tuple[PciAddress, ...]] = field(default_factory=dict)

    @classmethod
    def of(cls, devices: Iterable[PciDevice]) -> Inventory:
        by_addr = {d.address: d for d in sorted(devices, key=lambda d: d.address)}
        children: dict[PciAddress, list[PciAddress]] = {}
        for dev in by_addr.values():
            if dev.parent_addr is not None and dev.is_vf_like:
                children.setdefault(dev.parent_addr, []).append(dev.address)
        return cls(by_addr, {pf: tuple(vfs) for pf, vfs in children.items()})

    def __iter__(self) -> Iterator[PciDevice]:
        return iter(self.devices.values())

    def __len__(self) -> int:
        return len(self.devices)

    def __contains__(self, address: object) -> bool:
        return address in self.devices

    def get(self, address: PciAddress) -> PciDevice:
        try:
            return self.devices[address]
        except KeyError:
            raise NotFoundError(f"no PCI device {address} on this host") from None

    def parent_of(self, dev: PciDevice) -> PciDevice | None:
        if dev.parent_addr is None or not dev.is_vf_like:
            return None
        return self.devices.get(dev.parent_addr)

    def children_of(self, dev: PciDevice) -> tuple[PciDevice, ...]:
        return tuple(self.devices[a] for a in self.children.get(dev.address, ()))

    def is_pf(self, address: PciAddress) -> bool:
        dev = self.devices.get(address)
        return dev is not None and dev.dev_type == DevType.PF

    def by_devname(self, devname: str) -> PciDevice | None:
        for dev in self.devices.values():
            if dev.devname == devname:
                return dev
        return None

    def apply(
        self,
        action: Action,
        addresses: Iterable[PciAddress],
        *,
        owner: str | None,
        request_id: str | None = None,
    ) -> Inventory:
        """Apply ``action`` to every address in turn, all or nothing."""
        devices = dict(self.devices)
        view = Inventory(devices, self.children)
        for address in addresses:
            devices.update(transition(view, address, action, owner=owner, request_id=request_id))
        return Inventory(devices, self.children)


def _check_owner(dev: PciDevice, action: Action, owner: str | None) -> None:
    if owner is not None and dev.owner is not None and dev.owner != owner:
        raise DeviceOwnerError(
            f"cannot {action} PCI device {dev.address}: it is held by {dev.owner}, not {owner}"
        )


def _derived_pf_status(
    view: Inventory, pf: PciDevice, changed: Mapping[PciAddress, PciDevice]
) -> Status:
    """A PF's status from its VFs: allocated wins over claimed wins over free."""
    statuses = {changed.get(vf.address, vf).status for vf in view.children_of(pf)}
    if Status.ALLOCATED in statuses:
        return Status.UNAVAILABLE
    if Status.CLAIMED in statuses:
        return Status.UNCLAIMABLE
    return Status.AVAILABLE


def transition(
    view: Inventory,
    address: PciAddress,
    action: Action,
    *,
    owner: str | None,
    request_id: str | None = None,
) -> dict[PciAddress, PciDevice]:
    """The devices that ``action`` on ``address`` changes (itself and its relatives).

    Raises :class:`DeviceStateError` when the table does not allow the action from the
    device's status, or a relative is in a status that forbids it.
    """
    dev = view.get(address)
    rule = TRANSITIONS[action]
    if dev.status not in rule.allowed_from:
        allowed = ", ".join(sorted(rule.allowed_from))
        raise DeviceStateError(
            f"cannot {action} PCI device {dev.address}: it is {dev.status}, not one of {allowed}"
        )
    if action is Action.REMOVE and dev.owner is not None:
        raise DeviceOwnerError(f"cannot remove PCI device {dev.address}: held by {dev.owner}")
    if action is not Action.CLAIM:
        _check_owner(dev, action, owner)
    keep_owner = action in (Action.CLAIM, Action.ALLOCATE)
    new_owner = (owner if owner is not None else dev.owner) if keep_owner else None
    new_request = (request_id if request_id is not None else dev.request_id) if keep_owner else None
    changed: dict[PciAddress, PciDevice] = {
        address: replace(dev, status=rule.to, owner=new_owner, request_id=new_request)
    }
    if dev.dev_type == DevType.PF:
        _pf_relatives(view, dev, action, rule.to, changed)
    elif dev.is_vf_like:
        _vf_relatives(view, dev, action, changed)
    return changed


def _pf_relatives(
    view: Inventory, pf: PciDevice, action: Action, to: Status, changed: dict[PciAddress, PciDevice]
) -> None:
    vfs = view.children_of(pf)
    if action in (Action.CLAIM, Action.ALLOCATE):
        busy = [vf for vf in vfs if vf.status in TAKEN]
        if busy:
            names = ", ".join(f"{vf.address} ({vf.status})" for vf in busy[:4])
            raise DeviceStateError(
                f"cannot {action} PF {pf.address}: not all its VFs are free: {names}"
            )
        for vf in vfs:
            if vf.status != Status.REMOVED:
                changed[vf.address] = replace(vf, status=RELATIVE_STATUS[to])
    elif action is Action.FREE:
        for vf in vfs:
            if vf.status in (Status.UNCLAIMABLE, Status.UNAVAILABLE):
                changed[vf.address] = replace(vf, status=Status.AVAILABLE)


def _vf_relatives(
    view: Inventory, vf: PciDevice, action: Action, changed: dict[PciAddress, PciDevice]
) -> None:
    pf = view.parent_of(vf)
    if pf is None or pf.status == Status.REMOVED:
        return
    if action in (Action.CLAIM, Action.ALLOCATE) and pf.status not in _RELATIVE_OK:
        raise DeviceStateError(
            f"cannot {action} VF {vf.address}: its PF {pf.address} is {pf.status}"
        )
    if pf.status in _RELATIVE_OK:
        changed[pf.address] = replace(pf, status=_derived_pf_status(view, pf, changed))


def _settled(inventory: Inventory) -> dict[PciAddress, PciDevice]:
    """Relatives' statuses as the table's PF/VF rules derive them from the taken devices.

    A PF whose VFs are taken is unclaimable or unavailable (:func:`_derived_pf_status`);
    the VFs of a taken PF take :data:`RELATIVE_STATUS` of it. Devices taken themselves,
    and removed ones, keep their status.
    """
    changed: dict[PciAddress, PciDevice] = {}
    for dev in inventory:
        if dev.status in TAKEN or dev.status is Status.REMOVED:
            continue
        if dev.dev_type == DevType.PF and inventory.children.get(dev.address):
            status = _derived_pf_status(inventory, dev, {})
        else:
            parent = inventory.parent_of(dev)
            if parent is not None and parent.status in TAKEN:
                status = RELATIVE_STATUS[parent.status]
            else:
                status = Status.AVAILABLE
        if status is not dev.status:
            changed[dev.address] = replace(dev, status=status)
    return changed


def merge_report(stored: Inventory, reported: Iterable[PciDevice]) -> Inventory:
    """The host's devices after its agent's report: the hardware found, our bookkeeping.

    A reported device keeps the status and owner the service has for it (the database
    is the source of truth); a new one enters available. One that vanished leaves
    through :data:`TRANSITIONS` (``remove``) unless a server holds it: then it stays until
    that server frees it (Nova §2.6, "removed while allocated"). Relatives' statuses are
    then derived by the PF/VF rules, so a VF that appears under a taken PF is not free.
    """
    merged: dict[PciAddress, PciDevice] = {}
    for dev in reported:
        old = stored.devices.get(dev.address)
        if old is None:
            merged[dev.address] = replace(dev, status=Status.AVAILABLE, owner=None, request_id=None)
        else:
            merged[dev.address] = replace(
                dev, status=old.status, owner=old.owner, request_id=old.request_id
            )
    for dev in stored:
        if dev.address in merged:
            continue
        if dev.owner is not None:
            merged[dev.address] = dev
        elif dev.status is not Status.REMOVED:
            transition(stored, dev.address, Action.REMOVE, owner=None)  # checks the table
    inventory = Inventory.of(merged.values())
    return Inventory({**inventory.devices, **_settled(inventory)}, inventory.children)
