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
from dataclasses import dataclass

from pciplane.core.address import PciAddress
from pciplane.core.errors import AddressError, RequestError
from pciplane.core.explain import request_label
from pciplane.core.fit import GuestRequest, HostView, Verdict

#: libvirt domain names must be unique per host; the id keeps two servers of one name apart.
DOMAIN_ID_CHARS = 8


def domain_name(server_name: str, server_id: str) -> str:
    """The libvirt domain of a server: its name and the start of its id."""
    return f"{server_name}-{server_id[:DOMAIN_ID_CHARS]}"


class AttachMode(enum.StrEnum):
    """How a host device enters the guest (libvirt formatdomain, nova-pci-semantics §6)."""

    #: ``<hostdev mode='subsystem' type='pci'>``: a whole function (flavor alias, §6.7).
    HOSTDEV = "hostdev"


@dataclass(frozen=True, kw_only=True, slots=True)
class GuestDevice:
    """One host PCI function the guest gets, and what asked for it."""

    address: PciAddress
    attach: AttachMode = AttachMode.HOSTDEV
    #: libvirt detaches it from its host driver and back (the spec's ``managed`` tag).
    managed: bool = True
    #: The request it serves: an alias name or a port.
    request: str = ""

    def to_json(self) -> dict[str, object]:
        return {
            "address": str(self.address),
            "attach": str(self.attach),
            "managed": self.managed,
            "request": self.request,
        }


@dataclass(frozen=True, kw_only=True, slots=True)
class GuestPlan:
    """A server's guest as the agent must create it."""

    name: str
    uuid: str
    vcpus: int
    memory_mib: int
    devices: tuple[GuestDevice, ...] = ()

    def addresses(self) -> tuple[PciAddress, ...]:
        return tuple(d.address for d in self.devices)

    def with_devices(self, devices: Sequence[GuestDevice]) -> GuestPlan:
        return GuestPlan(
            name=self.name,
            uuid=self.uuid,
            vcpus=self.vcpus,
            memory_mib=self.memory_mib,
            devices=tuple(devices),
        )

    def to_json(self) -> dict[str, object]:
        return {
            "name": self.name,
            "uuid": self.uuid,
            "vcpus": self.vcpus,
            "memory_mib": self.memory_mib,
            "devices": [d.to_json() for d in self.devices],
        }

    @classmethod
    def from_json(cls, obj: object) -> GuestPlan:
        """Parse a plan as :meth:`to_json` writes it; errors name the key."""
        plan = _object(obj, "guest plan")
        devices = plan.get("devices", [])
        if not isinstance(devices, list):
            raise RequestError("guest plan: 'devices' must be a list")
        return cls(
            name=_text(plan, "name", "guest plan"),
            uuid=_text(plan, "uuid", "guest plan"),
            vcpus=_count(plan, "vcpus", "guest plan"),
            memory_mib=_count(plan, "memory_mib", "guest plan"),
            devices=tuple(_device(d, i) for i, d in enumerate(devices)),
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
    return GuestDevice(address=address, attach=mode, managed=managed, request=str(request or ""))


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
    return GuestPlan(
        name=domain_name(server_name, server_id),
        uuid=server_id,
        vcpus=vcpus,
        memory_mib=memory_mib,
        devices=tuple(devices),
    )
