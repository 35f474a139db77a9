"""The fleet snapshot (``pciplane-fleet/1``, shared/fleet-format.md): parse and dump.

The snapshot is parsed once, here at the edge, into the frozen records of
:mod:`pciplane.core.fleet`; a malformed entry raises :class:`SnapshotError` naming the
host, the device address and the key. Unknown top-level, host and device keys are
ignored for forward compatibility.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

from pciplane.core.address import PciAddress
from pciplane.core.alias import parse_aliases
from pciplane.core.allocation import MAX_CPU, Allocation
from pciplane.core.device import DevType, PciDevice, Status
from pciplane.core.errors import AddressError, ConfigError, SnapshotError
from pciplane.core.fleet import Fleet, Host, NumaNode
from pciplane.core.resources import HostUsage
from pciplane.core.spec import DeviceSpec, parse_device_specs

FORMAT = "pciplane-fleet/1"
_HEX4 = frozenset("0123456789abcdef")


class _Parser:
    """Field readers sharing one address cache (addresses recur across hosts)."""

    def __init__(self) -> None:
        self.addresses: dict[str, PciAddress] = {}
        #: One record per address however it is spelt, so an address listed twice is found
        #: by identity (hashing the records is what a large snapshot spends most on).
        self.canonical: dict[PciAddress, PciAddress] = {}
        self.strings: dict[str, str] = {}
        #: Devices recur verbatim across hosts of one hardware model; records are immutable.
        self.devices: dict[tuple[object, ...], PciDevice] = {}
        #: By the decoded object's identity; the object is kept, so its id stays unique.
        self.objects: dict[int, tuple[object, PciDevice]] = {}
        #: Hosts of one rack share their own device_spec and NUMA layout; parsed once.
        self.specs: dict[str, tuple[DeviceSpec, ...]] = {}
        self.numa: dict[tuple[tuple[object, ...], ...], tuple[NumaNode, ...]] = {}

    def address(self, value: object, where: Callable[[str], str], key: str) -> PciAddress:
        if not isinstance(value, str):
            raise SnapshotError(f"{where(key)}: expected an address string, got {value!r}")
        cached = self.addresses.get(value)
        if cached is None:
            try:
                parsed = PciAddress.parse(value)
            except AddressError as exc:
                raise SnapshotError(f"{where(key)}: {exc}") from None
            cached = self.addresses[value] = self.canonical.setdefault(parsed, parsed)
        return cached

    def hex4(self, value: object, where: Callable[[str], str], key: str) -> str:
        if isinstance(value, str):
            low = value.lower()
            if len(low) == 4 and set(low) <= _HEX4:
                return self.strings.setdefault(low, low)
        raise SnapshotError(f"{where(key)}: expected 4 hex digits, got {value!r}")

    def device(self, obj: object, where_prefix: str) -> PciDevice:
        seen = self.objects.get(id(obj))
        if seen is not None:  # the very object again (a reader that shares equal ones)
            return seen[1]
        dev = self._device_of(obj, where_prefix)
        self.objects[id(obj)] = (obj, dev)
        return dev

    def _device_of(self, obj: object, where_prefix: str) -> PciDevice:
        if not isinstance(obj, dict):
            raise SnapshotError(f"{where_prefix}: a device must be an object, got {obj!r}")
        # Keyed with the values' types too: JSON's true, 1 and 1.0 are equal in Python,
        # and a malformed device must not pass for a well-formed one seen before.
        values = obj.values()
        key: tuple[object, ...] | None = (*obj.items(), *map(type, values))
        try:
            cached = self.devices.get(key)  # type: ignore[arg-type]
        except TypeError:  # a list value (capabilities): parse it every time
            key, cached = None, None
        if cached is not None:
            return cached
        dev = self._device(obj, where_prefix)
        if key is not None:
            self.devices[key] = dev
        return dev

    def _device(self, obj: dict[str, object], where_prefix: str) -> PciDevice:
        addr_text = obj.get("address")
        label = addr_text if isinstance(addr_text, str) else "?"

        def where(key: str) -> str:
            return f"{where_prefix} device {label} key {key!r}"

        if "address" not in obj:
            raise SnapshotError(f"{where_prefix}: a device has no 'address'")
        address = self.address(obj["address"], where, "address")
        extra: dict[str, Any] = {}
        for key, reader in _OPTIONAL.items():
            if key in obj and obj[key] is not None:
                extra[key] = reader(self, obj[key], where, key)
        try:
            return PciDevice(
                address=address,
                vendor_id=self.hex4(obj.get("vendor_id"), where, "vendor_id"),
                product_id=self.hex4(obj.get("product_id"), where, "product_id"),
                dev_type=_enum(DevType, obj.get("dev_type", "type-PCI"), where, "dev_type"),
                status=_enum(Status, obj.get("status", "available"), where, "status"),
                numa_node=_opt_int(obj.get("numa_node"), where, "numa_node", maximum=MAX_NUMA_NODE),
                **extra,
            )
        except TypeError as exc:  # pragma: no cover - guarded by the readers
            raise SnapshotError(f"{where_prefix} device {label}: {exc}") from None


def _enum(kind: Any, value: object, where: Callable[[str], str], key: str) -> Any:
    try:
        return kind(value)
    except ValueError:
        allowed = ", ".join(m.value for m in kind)
        raise SnapshotError(f"{where(key)}: {value!r} is not one of {allowed}") from None


#: NUMA node ids the kernel can have (Linux caps MAX_NUMNODES at 1 << 10).
MAX_NUMA_NODE = 1023
#: Other ids (sockets, IOMMU groups): what an INTEGER column holds.
MAX_ID = 2**31 - 1


def _opt_int(
    value: object, where: Callable[[str], str], key: str, *, maximum: int = MAX_ID
) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise SnapshotError(f"{where(key)}: expected an integer or null, got {value!r}")
    if not 0 <= value <= maximum:
        raise SnapshotError(f"{where(key)}: {value} is not between 0 and {maximum}")
    return value


def _str(_p: _Parser, value: object, where: Callable[[str], str], key: str) -> str:
    if not isinstance(value, str):
        raise SnapshotError(f"{where(key)}: expected a string, got {value!r}")
    return value


def _int(_p: _Parser, value: object, where: Callable[[str], str], key: str) -> int | None:
    return _opt_int(value, where, key)


def _parent(p: _Parser, value: object, where: Callable[[str], str], key: str) -> PciAddress:
    return p.address(value, where, key)


def _caps(_p: _Parser, value: object, where: Callable[[str], str], key: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise SnapshotError(f"{where(key)}: expected a list of strings, got {value!r}")
    return tuple(value)


_OPTIONAL: Mapping[str, Callable[[_Parser, object, Callable[[str], str], str], object]] = {
    "parent_addr": _parent,
    "devname": _str,
    "parent_ifname": _str,
    "label": _str,
    "class_id": _str,
    "driver": _str,
    "iommu_group": _int,
    "capabilities": _caps,
    "card_serial_number": _str,
    "vf_num": _int,
    "mac_address": _str,
    "owner": _str,
    "request_id": _str,
}


def _entries(value: object, what: str) -> tuple[object, ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        raise SnapshotError(f"{what}: expected a list of entries, got {type(value).__name__}")
    return tuple(value)


def _numa_nodes(value: object, where: str) -> tuple[NumaNode, ...]:
    nodes = []
    for i, item in enumerate(_entries(value, f"{where} numa_nodes")):
        if not isinstance(item, dict):
            raise SnapshotError(f"{where} numa_nodes[{i}]: expected an object, got {item!r}")
        prefix = f"{where} numa_nodes[{i}]"

        def at(key: str, prefix: str = prefix) -> str:
            return f"{prefix} key {key!r}"

        node_id = _opt_int(item.get("id"), at, "id", maximum=MAX_NUMA_NODE)
        if node_id is None:
            raise SnapshotError(f"{prefix}: 'id' is required")
        socket = _opt_int(item.get("socket"), at, "socket")
        cpus = _cpu_ids(item.get("cpus"), at, "cpus")
        siblings = _siblings(item.get("siblings"), at, cpus)
        memory = _opt_int(item.get("memory_mib"), at, "memory_mib")
        nodes.append(
            NumaNode(id=node_id, socket=socket, cpus=cpus, siblings=siblings, memory_mib=memory)
        )
    _no_shared_cpus(nodes, where)
    return tuple(nodes)


def _cpu_ids(value: object, where: Callable[[str], str], key: str) -> tuple[int, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or any(
        isinstance(c, bool) or not isinstance(c, int) or not 0 <= c <= MAX_CPU for c in value
    ):
        raise SnapshotError(
            f"{where(key)}: expected a list of CPU ids (0 to {MAX_CPU}), got {value!r}"
        )
    if len(set(value)) != len(value):
        raise SnapshotError(f"{where(key)}: a CPU id is listed twice in {value!r}")
    return tuple(sorted(value))


def _siblings(
    value: object, where: Callable[[str], str], cpus: tuple[int, ...]
) -> tuple[tuple[int, ...], ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        raise SnapshotError(f"{where('siblings')}: expected a list of CPU id lists, got {value!r}")
    groups = [_cpu_ids(g, where, "siblings") for g in value]
    known = set(cpus)
    seen: set[int] = set()
    for group in groups:
        for cpu in group:
            if cpu not in known:
                raise SnapshotError(
                    f"{where('siblings')}: CPU {cpu} is not one of the node's 'cpus'"
                )
            if cpu in seen:
                raise SnapshotError(f"{where('siblings')}: CPU {cpu} is in two sibling groups")
            seen.add(cpu)
    return tuple(sorted(groups))


def _no_shared_cpus(nodes: list[NumaNode], where: str) -> None:
    owner: dict[int, int] = {}
    for node in nodes:
        for cpu in node.cpus:
            if cpu in owner:
                raise SnapshotError(
                    f"{where} numa_nodes: CPU {cpu} is in node {owner[cpu]} and node {node.id}"
                )
            owner[cpu] = node.id


def _usage(value: object, where: str) -> HostUsage:
    """What the host's servers hold of its CPUs and memory (``export`` writes it)."""
    if value is None:
        return HostUsage()
    if not isinstance(value, dict):
        raise SnapshotError(f"{where} key 'usage': expected an object, got {value!r}")

    def at(key: str) -> str:
        return f"{where} usage key {key!r}"

    cells = []
    for i, row in enumerate(_entries(value.get("cells"), at("cells"))):
        if not isinstance(row, dict):
            raise SnapshotError(f"{at('cells')}[{i}]: expected an object, got {row!r}")
        cell = _opt_int(row.get("cell"), at, "cell", maximum=MAX_NUMA_NODE)
        if cell is None:
            raise SnapshotError(f"{at('cells')}[{i}]: 'cell' is required")
        cells.append(
            (cell, _opt_int(row.get("vcpus"), at, "vcpus") or 0,
             _opt_int(row.get("memory_mib"), at, "memory_mib") or 0)
        )  # fmt: skip
    return HostUsage(
        pinned=frozenset(_cpu_ids(value.get("pinned_cpus"), at, "pinned_cpus")),
        cells=tuple(sorted(cells)),
        floating_vcpus=_opt_int(value.get("floating_vcpus"), at, "floating_vcpus") or 0,
        floating_memory_mib=_opt_int(value.get("floating_memory_mib"), at, "floating_memory_mib")
        or 0,
    )


def usage_to_json(usage: HostUsage) -> dict[str, object]:
    return {
        "pinned_cpus": sorted(usage.pinned),
        "cells": [{"cell": c, "vcpus": v, "memory_mib": m} for c, v, m in usage.cells],
        "floating_vcpus": usage.floating_vcpus,
        "floating_memory_mib": usage.floating_memory_mib,
    }


def _allocation(value: object, where: str) -> Allocation:
    try:
        return Allocation.from_json(value, where=f"{where} allocation")
    except ConfigError as exc:
        raise SnapshotError(str(exc)) from None


def _host(obj: object, index: int, source: str, parser: _Parser) -> Host:
    if not isinstance(obj, dict):
        raise SnapshotError(f"{source}: hosts[{index}] must be an object")
    name = obj.get("name")
    if not isinstance(name, str) or not name:
        raise SnapshotError(f"{source}: hosts[{index}] has no 'name' string")
    where = f"{source}: host {name!r}"
    spec_raw = obj.get("device_spec")
    specs = None if spec_raw is None else _host_specs(spec_raw, where, parser)
    device = parser.device
    devices = tuple([device(d, where) for d in _entries(obj.get("devices"), where)])
    if len({id(d.address) for d in devices}) != len(devices):
        seen: set[PciAddress] = set()
        for dev in devices:
            if dev.address in seen:
                raise SnapshotError(f"{where} device {dev.address}: listed twice")
            seen.add(dev.address)
    sriov_only = obj.get("sriov_only", False)
    if not isinstance(sriov_only, bool):
        raise SnapshotError(f"{where} key 'sriov_only': expected true or false, got {sriov_only!r}")
    allocation = obj.get("allocation")
    return Host(
        name=name,
        numa_nodes=_host_numa(obj.get("numa_nodes"), where, parser),
        devices=devices,
        device_spec=specs,
        device_spec_raw=tuple(spec_raw) if isinstance(spec_raw, list) else None,
        sriov_only=sriov_only,
        allocation=Allocation() if allocation is None else _allocation(allocation, where),
        usage=_usage(obj.get("usage"), where),
    )


def _host_specs(raw: object, where: str, parser: _Parser) -> tuple[DeviceSpec, ...]:
    try:
        key = json.dumps(raw, sort_keys=True)
    except (TypeError, ValueError):  # not JSON-like: parse it (and fail) every time
        key = None
    cached = parser.specs.get(key) if key is not None else None
    if cached is None:
        try:
            cached = parse_device_specs(_entries(raw, f"{where} device_spec"))
        except ConfigError as exc:
            raise SnapshotError(f"{where}: {exc}") from None
        if key is not None:
            parser.specs[key] = cached
    return cached


def _host_numa(raw: object, where: str, parser: _Parser) -> tuple[NumaNode, ...]:
    try:
        key = tuple(_frozen(item) for item in raw) if isinstance(raw, list) else None
        cached = parser.numa.get(key) if key is not None else None
    except (AttributeError, TypeError):  # not a list of flat objects: no cache
        key, cached = None, None
    if cached is None:
        cached = _numa_nodes(raw, where)
        if key is not None:
            parser.numa[key] = cached
    return cached


def _frozen(item: dict[str, object]) -> tuple[object, ...]:
    """A NUMA node entry as a hashable key (its CPU lists as tuples), with value types."""
    out: list[object] = []
    for key, value in item.items():
        if isinstance(value, list):
            value = tuple(tuple(v) if isinstance(v, list) else (v, type(v)) for v in value)
        out.append((key, value, type(value)))
    return tuple(out)


def host_from_json(obj: object, *, source: str = "<host>") -> Host:
    return _host(obj, 0, source, _Parser())


def device_from_json(obj: object, *, where: str = "<device>") -> PciDevice:
    return _Parser().device(obj, where)


class DeviceReader:
    """Devices read one after another with what they share read once: addresses,
    strings, and whole devices that recur verbatim (the same card in the same slot on
    many hosts). The service reads its stored devices with one reader per load."""

    def __init__(self) -> None:
        self._parser = _Parser()

    def device(self, obj: object, *, where: str = "<device>") -> PciDevice:
        return self._parser.device(obj, where)


def load_fleet(
    doc: object, *, source: str = "<fleet>", progress: Callable[[int, int], None] | None = None
) -> Fleet:
    """Parse a ``pciplane-fleet/1`` document (already JSON-decoded)."""
    if not isinstance(doc, dict):
        raise SnapshotError(f"{source}: a fleet snapshot must be a JSON object")
    return load_fleet_members(doc.items(), source=source, progress=progress)


def load_fleet_members(
    members: Iterable[tuple[object, object]],
    *,
    source: str = "<fleet>",
    progress: Callable[[int, int], None] | None = None,
) -> Fleet:
    """Parse a snapshot given as its top-level members, in document order.

    The value of ``hosts`` may be an iterator that decodes one host at a time, so that a
    large snapshot is never held decoded all at once (JSON's dicts take about six times
    the file's size). ``progress`` gets ``(hosts done, total)``, the total 0 when the
    hosts arrive one by one.
    """
    parser = _Parser()
    top: dict[object, object] = {}
    hosts: list[Host] = []
    for key, value in members:
        top[key] = value
        if key == "hosts":
            top[key] = None
            hosts = _hosts(value, source, parser, progress)
    fmt = top.get("format", FORMAT)
    if fmt != FORMAT:
        raise SnapshotError(f"{source}: format {fmt!r} is not {FORMAT!r}")
    spec_raw = _entries(top.get("device_spec"), f"{source}: device_spec")
    alias_raw = _entries(top.get("alias"), f"{source}: alias")
    try:
        specs = parse_device_specs(spec_raw)
        aliases = parse_aliases(alias_raw)
    except ConfigError as exc:
        raise SnapshotError(f"{source}: {exc}") from None
    return Fleet(
        device_spec=specs,
        aliases=aliases,
        hosts=tuple(hosts),
        device_spec_raw=spec_raw,
        alias_raw=alias_raw,
    )


def _hosts(
    value: object,
    source: str,
    parser: _Parser,
    progress: Callable[[int, int], None] | None,
) -> list[Host]:
    if isinstance(value, Iterator):
        raw_hosts: Iterable[object] = value
        total = 0
    else:
        listed = _entries(value, f"{source}: hosts")
        raw_hosts, total = listed, len(listed)
    hosts = []
    names: set[str] = set()
    for i, raw in enumerate(raw_hosts):
        host = _host(raw, i, source, parser)
        if host.name in names:
            raise SnapshotError(f"{source}: host {host.name!r} is listed twice")
        names.add(host.name)
        hosts.append(host)
        if progress is not None and (i + 1) % 1000 == 0:
            progress(i + 1, total)
    return hosts


def device_to_json(dev: PciDevice) -> dict[str, object]:
    out: dict[str, object] = {
        "address": str(dev.address),
        "vendor_id": dev.vendor_id,
        "product_id": dev.product_id,
        "dev_type": str(dev.dev_type),
        "numa_node": dev.numa_node,
    }
    if dev.parent_addr is not None:
        out["parent_addr"] = str(dev.parent_addr)
    for key in ("devname", "parent_ifname", "label", "class_id", "driver", "iommu_group"):
        value = getattr(dev, key)
        if value is not None:
            out[key] = value
    if dev.capabilities:
        out["capabilities"] = list(dev.capabilities)
    if dev.card_serial_number is not None:
        out["card_serial_number"] = dev.card_serial_number
    if dev.vf_num is not None:
        out["vf_num"] = dev.vf_num
    if dev.mac_address is not None:
        out["mac_address"] = dev.mac_address
    out["status"] = str(dev.status)
    if dev.owner is not None:
        out["owner"] = dev.owner
    if dev.request_id is not None:
        out["request_id"] = dev.request_id
    return out


def host_to_json(host: Host) -> dict[str, object]:
    out: dict[str, object] = {"name": host.name}
    if host.numa_nodes:
        out["numa_nodes"] = [numa_node_to_json(n) for n in host.numa_nodes]
    if host.allocation != Allocation():
        out["allocation"] = host.allocation.to_json()
    if host.usage != HostUsage():
        out["usage"] = usage_to_json(host.usage)
    if host.device_spec_raw is not None:
        out["device_spec"] = list(host.device_spec_raw)
    if host.sriov_only:
        out["sriov_only"] = True
    out["devices"] = [device_to_json(d) for d in host.devices]
    return out


def numa_node_to_json(node: NumaNode) -> dict[str, object]:
    out: dict[str, object] = {"id": node.id}
    if node.socket is not None:
        out["socket"] = node.socket
    if node.cpus:
        out["cpus"] = list(node.cpus)
    if node.siblings:
        out["siblings"] = [list(g) for g in node.siblings]
    if node.memory_mib is not None:
        out["memory_mib"] = node.memory_mib
    return out


def dump_fleet(fleet: Fleet) -> dict[str, object]:
    return {
        "format": FORMAT,
        "device_spec": list(fleet.device_spec_raw),
        "alias": list(fleet.alias_raw),
        "hosts": [host_to_json(h) for h in fleet.hosts],
    }
