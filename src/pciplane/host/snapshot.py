"""A discovered host in the fleet snapshot's host shape (shared/fleet-format.md).

``pciplane discover --json`` prints ``{"name", "numa_nodes", "devices"}`` (plus the
host's own ``device_spec`` when one was given) so the output drops into a
``pciplane-fleet/1`` snapshot, and ``--previous`` reads such an output back.
"""

from __future__ import annotations

from collections.abc import Sequence

from pciplane.core.address import PciAddress
from pciplane.core.device import DevType, PciDevice, Status
from pciplane.core.errors import AddressError, SnapshotError

_OPTIONAL = ("devname", "parent_ifname", "label", "class_id", "driver", "iommu_group")


def device_json(dev: PciDevice) -> dict[str, object]:
    """One device as the snapshot writes it: optional keys only when set."""
    out: dict[str, object] = {
        "address": str(dev.address),
        "vendor_id": dev.vendor_id,
        "product_id": dev.product_id,
        "dev_type": dev.dev_type.value,
        "numa_node": dev.numa_node,
    }
    if dev.parent_addr is not None:
        out["parent_addr"] = str(dev.parent_addr)
    for key in _OPTIONAL:
        value = getattr(dev, key)
        if value is not None:
            out[key] = value
    if dev.capabilities:
        out["capabilities"] = list(dev.capabilities)
    out["status"] = dev.status.value
    return out


def host_json(
    name: str,
    numa_nodes: Sequence[tuple[int, int | None]],
    devices: Sequence[PciDevice],
    device_spec: Sequence[object] | None = None,
) -> dict[str, object]:
    out: dict[str, object] = {"name": name}
    out["numa_nodes"] = [
        {"id": n, **({"socket": s} if s is not None else {})} for n, s in numa_nodes
    ]
    if device_spec is not None:
        out["device_spec"] = list(device_spec)
    out["devices"] = [device_json(d) for d in devices]
    return out


def _fail(where: str, key: str, value: object, why: str) -> SnapshotError:
    return SnapshotError(f"{where}: key {key!r} = {value!r}: {why}")


def _hex4(obj: dict[str, object], key: str, where: str) -> str:
    value = obj.get(key)
    if not isinstance(value, str) or len(value) != 4:
        raise _fail(where, key, value, "must be 4 hex digits")
    try:
        int(value, 16)
    except ValueError:
        raise _fail(where, key, value, "must be 4 hex digits") from None
    return value.lower()


def _address(obj: dict[str, object], key: str, where: str) -> PciAddress | None:
    value = obj.get(key)
    if value is None and key != "address":
        return None
    try:
        return PciAddress.parse(value)  # type: ignore[arg-type]
    except AddressError as exc:
        raise _fail(where, key, value, str(exc)) from None


def _opt(obj: dict[str, object], key: str, kind: type, where: str) -> object:
    value = obj.get(key)
    if value is not None and (not isinstance(value, kind) or isinstance(value, bool)):
        raise _fail(where, key, value, f"must be {kind.__name__} or null")
    return value


def device_from_json(obj: object, *, where: str) -> PciDevice:
    if not isinstance(obj, dict):
        raise SnapshotError(f"{where}: a device must be a JSON object")
    address = _address(obj, "address", where)
    assert address is not None
    where = f"{where} device {address}"
    try:
        dev_type = DevType(obj.get("dev_type", DevType.PCI.value))
        status = Status(obj.get("status", Status.AVAILABLE.value))
    except ValueError as exc:
        raise SnapshotError(f"{where}: {exc}") from None
    strings = {k: _opt(obj, k, str, where) for k in _OPTIONAL if k != "iommu_group"}
    return PciDevice(
        address=address,
        vendor_id=_hex4(obj, "vendor_id", where),
        product_id=_hex4(obj, "product_id", where),
        dev_type=dev_type,
        numa_node=_opt(obj, "numa_node", int, where),  # type: ignore[arg-type]
        parent_addr=_address(obj, "parent_addr", where),
        iommu_group=_opt(obj, "iommu_group", int, where),  # type: ignore[arg-type]
        status=status,
        **strings,  # type: ignore[arg-type]
    )


def devices_from_host_json(doc: object, *, source: str) -> tuple[PciDevice, ...]:
    """The devices of a host object (an earlier ``discover --json`` output)."""
    if not isinstance(doc, dict) or not isinstance(doc.get("devices"), list):
        raise SnapshotError(f"{source}: expected a host object with a 'devices' list")
    name = doc.get("name", "?")
    return tuple(
        device_from_json(d, where=f"{source}: host {name!r} device #{i}")
        for i, d in enumerate(doc["devices"])
    )
