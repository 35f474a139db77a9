"""Pools: a host's free, allow-listed devices grouped by their scheduling key.

The key follows Nova (nova-pci-semantics §3.1): vendor, product, NUMA node, device
type, the matching spec's tags (less ``resource_class``/``traits``), ``parent_ifname``,
``remote_managed`` (``"false"`` by default for PFs, VFs and vdpa), and ``address`` — the
parent PF's for a VF, the device's own otherwise. So VFs of one PF share a pool, and a
PF shares its ``address`` with the pools of its own VFs: that *family* is the unit of
PF/VF exclusivity. Operators may name extra device attributes to group by
(``pool_tags``, the "PCI flavor attributes" idea).

Everything but the address is a :class:`PoolKind`; kinds recur across a fleet, so
request specs are matched against each kind once (:class:`KindTable`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from pciplane.core.address import PciAddress
from pciplane.core.device import TAKEN, DevType, Inventory, PciDevice, Status
from pciplane.core.errors import ConfigError
from pciplane.core.request import RequestSpec, spec_matches
from pciplane.core.spec import DeviceSpec, HostSpecs

#: Device attributes an operator may add to the pool key.
GROUPABLE_ATTRIBUTES = ("driver", "label", "class_id", "iommu_group", "devname")


def check_pool_tags(pool_tags: tuple[str, ...]) -> None:
    """Refuse a pool tag that names no groupable device attribute."""
    unknown = [t for t in pool_tags if t not in GROUPABLE_ATTRIBUTES]
    if unknown:
        allowed = ", ".join(GROUPABLE_ATTRIBUTES)
        raise ConfigError(f"pool_tags {unknown!r}: a pool tag must be one of {allowed}")


_REMOTE_MANAGED_DEFAULT = frozenset({DevType.PF, DevType.VF, DevType.VDPA})

AttrValue = str | int | float | bool | None | tuple[str, ...]


@dataclass(frozen=True, slots=True)
class PoolKind:
    """A pool key without its address; interned by :class:`KindTable`."""

    id: int
    attrs: tuple[tuple[str, AttrValue], ...]
    mapping: Mapping[str, AttrValue] = field(compare=False, hash=False, repr=False)
    #: Read from ``mapping`` once: the pipeline asks for them for every candidate.
    dev_type: DevType = field(init=False, compare=False, hash=False, repr=False)
    numa_node: int | None = field(init=False, compare=False, hash=False, repr=False)

    def __post_init__(self) -> None:
        node = self.mapping["numa_node"]
        object.__setattr__(self, "dev_type", DevType(str(self.mapping["dev_type"])))
        object.__setattr__(self, "numa_node", node if isinstance(node, int) else None)

    def describe(self) -> str:
        """``8086:154c type-VF NUMA 0 physical_network=physnet1``."""
        m = self.mapping
        numa = "NUMA ?" if m["numa_node"] is None else f"NUMA {m['numa_node']}"
        extras = " ".join(
            f"{k}={v}" for k, v in self.attrs if k not in _CORE_KEYS and k != "remote_managed"
        )
        base = f"{m['vendor_id']}:{m['product_id']} {m['dev_type']} {numa}"
        return f"{base} {extras}".rstrip()


_CORE_KEYS = frozenset({"vendor_id", "product_id", "dev_type", "numa_node"})


class KindMatcher:
    """Memo of "does this request spec match this pool kind", shared across hosts."""

    def __init__(self) -> None:
        self._memo: dict[tuple[int, RequestSpec], bool] = {}

    def matches(self, kind: PoolKind, specs: Sequence[RequestSpec]) -> bool:
        for spec in specs:
            key = (kind.id, spec)
            hit = self._memo.get(key)
            if hit is None:
                hit = self._memo[key] = spec_matches(spec, kind.mapping)
            if hit:
                return True
        return False


class KindTable:
    """Interns pool kinds so that equal keys share one object and one integer id."""

    def __init__(self) -> None:
        self._kinds: dict[tuple[tuple[str, AttrValue], ...], PoolKind] = {}
        self._by_id: list[PoolKind] = []
        self._by_shape: dict[tuple[object, ...], tuple[DeviceSpec, PoolKind]] = {}

    def intern(self, attrs: dict[str, AttrValue]) -> PoolKind:
        key = tuple(sorted(attrs.items(), key=lambda kv: kv[0]))
        kind = self._kinds.get(key)
        if kind is None:
            kind = PoolKind(len(self._kinds), key, dict(key))
            self._kinds[key] = kind
            self._by_id.append(kind)
        return kind

    def since(self, start: int) -> list[PoolKind]:
        """The kinds with ids from ``start`` on (kinds are never forgotten, ids only grow)."""
        return self._by_id[start:]

    def of_device(self, dev: PciDevice, spec: DeviceSpec, pool_tags: tuple[str, ...]) -> PoolKind:
        """The kind of ``dev`` allowed by ``spec``, memoised on what the key is made of."""
        if pool_tags:
            return self.intern(pool_attrs(dev, spec, pool_tags))
        # id(spec) is safe: the spec is kept alive in the value next to the kind.
        shape = (id(spec), dev.vendor_id, dev.product_id, dev.numa_node, dev.dev_type,
                 dev.parent_ifname)  # fmt: skip
        hit = self._by_shape.get(shape)
        if hit is None:
            hit = self._by_shape[shape] = (spec, self.intern(pool_attrs(dev, spec)))
        return hit[1]

    def __len__(self) -> int:
        return len(self._kinds)


@dataclass(frozen=True, kw_only=True, slots=True)
class Pool:
    """Free devices of one key. ``address`` is the family (the PF for VFs)."""

    kind: PoolKind
    address: PciAddress
    devices: tuple[PciAddress, ...]
    spec_index: int

    @property
    def count(self) -> int:
        return len(self.devices)


def is_free(inventory: Inventory, dev: PciDevice) -> bool:
    """Available, and no relative taken (tolerates snapshots with stale PF statuses)."""
    if dev.status is not Status.AVAILABLE:
        return False
    if dev.dev_type is DevType.PF:
        return not any(vf.status in TAKEN for vf in inventory.children_of(dev))
    parent = inventory.parent_of(dev)
    return parent is None or parent.status not in TAKEN


def pool_attrs(
    dev: PciDevice, spec: DeviceSpec, pool_tags: Iterable[str] = ()
) -> dict[str, AttrValue]:
    attrs: dict[str, AttrValue] = {
        "vendor_id": dev.vendor_id,
        "product_id": dev.product_id,
        "numa_node": dev.numa_node,
        "dev_type": str(dev.dev_type),
    }
    attrs.update(spec.pool_tags())
    if dev.parent_ifname is not None:
        attrs["parent_ifname"] = dev.parent_ifname
    if dev.dev_type in _REMOTE_MANAGED_DEFAULT and "remote_managed" not in attrs:
        attrs["remote_managed"] = "false"
    for name in pool_tags:
        value = getattr(dev, name, None)
        if value is not None:
            attrs[name] = value
    return attrs


class SpecMemo:
    """``HostSpecs.match`` results memoised across hosts that resolve alike."""

    def __init__(self) -> None:
        self._memo: dict[tuple[object, ...], DeviceSpec | None] = {}

    def match(self, specs: HostSpecs, dev: PciDevice) -> DeviceSpec | None:
        key = (
            specs,
            dev.vendor_id,
            dev.product_id,
            dev.address,
            dev.parent_addr,
            bool(dev.card_serial_number),
        )
        try:
            return self._memo[key]
        except KeyError:
            spec = self._memo[key] = specs.match(dev)
            return spec


def held_kinds(
    inventory: Inventory,
    specs: HostSpecs,
    *,
    kinds: KindTable,
    memo: SpecMemo,
    pool_tags: tuple[str, ...] = (),
) -> tuple[tuple[PoolKind, int], ...]:
    """Allow-listed devices that are not free, counted by kind (for explanations)."""
    counts: dict[PoolKind, int] = {}
    for dev in inventory:
        if dev.status is Status.AVAILABLE and is_free(inventory, dev):
            continue
        if dev.status is Status.REMOVED:
            continue
        spec = memo.match(specs, dev)
        if spec is not None:
            kind = kinds.of_device(dev, spec, pool_tags)
            counts[kind] = counts.get(kind, 0) + 1
    return tuple(counts.items())


def build_pools(
    inventory: Inventory,
    specs: HostSpecs,
    *,
    kinds: KindTable | None = None,
    memo: SpecMemo | None = None,
    pool_tags: tuple[str, ...] = (),
) -> tuple[Pool, ...]:
    """The host's pools of free, allow-listed devices, in address order."""
    kinds = kinds if kinds is not None else KindTable()
    memo = memo if memo is not None else SpecMemo()
    grouped: dict[tuple[int, PciAddress], tuple[PoolKind, list[PciAddress], int]] = {}
    for dev in inventory:
        spec = memo.match(specs, dev)
        if spec is None or not is_free(inventory, dev):
            continue
        kind = kinds.of_device(dev, spec, pool_tags)
        family = dev.parent_addr if dev.parent_addr is not None else dev.address
        entry = grouped.get((kind.id, family))
        if entry is None:
            grouped[(kind.id, family)] = (kind, [dev.address], spec.index)
        else:
            entry[1].append(dev.address)
    return tuple(
        Pool(kind=kind, address=family, devices=tuple(addrs), spec_index=index)
        for (_, family), (kind, addrs, index) in grouped.items()
    )


@dataclass(frozen=True, kw_only=True, slots=True)
class PoolUsage:
    """One pool of a host with how much of it is used: what operators are shown."""

    pool: str
    vendor_id: str
    product_id: str
    dev_type: str
    numa_node: int | None
    physical_network: str | None
    total: int
    used: int
    free: int


def pool_usage(inventory: Inventory, specs: HostSpecs) -> tuple[PoolUsage, ...]:
    """The host's allow-listed devices grouped by pool key (Nova §3.1), used and free.

    Devices no spec allows (bridges, root ports, the boot disk) are in no pool.
    """
    kinds = KindTable()
    physnet: dict[PoolKind, str | None] = {}
    counts: dict[PoolKind, list[int]] = {}  # kind -> [total, used, free]
    for dev in inventory:
        spec = specs.match(dev)
        if spec is None or dev.status is Status.REMOVED:
            continue
        kind = kinds.intern(pool_attrs(dev, spec))
        physnet.setdefault(kind, spec.physical_network)
        row = counts.setdefault(kind, [0, 0, 0])
        row[0] += 1
        row[1] += dev.status in TAKEN
        row[2] += is_free(inventory, dev)
    return tuple(
        PoolUsage(
            pool=kind.describe(),
            vendor_id=str(kind.mapping["vendor_id"]),
            product_id=str(kind.mapping["product_id"]),
            dev_type=str(kind.mapping["dev_type"]),
            numa_node=kind.numa_node,
            physical_network=physnet[kind],
            total=total,
            used=used,
            free=free,
        )
        for kind, (total, used, free) in counts.items()
    )
