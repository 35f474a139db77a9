"""Host views for a whole fleet, fast: what :meth:`HostView.build` computes, memoised.

Building a view matches every device against the host's device_spec, checks whether it
is free (its PF or VFs not taken) and groups it into a pool (pciplane.core.pool). On a
real fleet the same device records recur (the snapshot parser shares identical ones)
and most hosts share a device_spec, so the spec resolution and each device's spec and
pool kind are remembered by identity; what stays per host is one pass over its devices
for statuses and grouping. The result equals :meth:`HostView.build`'s (a property test
compares them).
"""

from __future__ import annotations

from dataclasses import dataclass

from pciplane.core.address import PciAddress
from pciplane.core.device import TAKEN, DevType, Inventory, PciDevice, Status
from pciplane.core.fit import HostView
from pciplane.core.fleet import Host
from pciplane.core.numa_fit import HostResources, LayoutMemo
from pciplane.core.pool import KindTable, Pool, PoolKind, SpecMemo
from pciplane.core.spec import DeviceSpec, HostSpecs, resolve_specs

#: Remembered (specs, device) pairs before the memo starts again: a service replacing
#: hosts for months must not keep every device record it ever saw.
MAX_REMEMBERED = 500_000


@dataclass(frozen=True, slots=True)
class _Device:
    """One device as the host's specs see it, remembered by identity."""

    dev: PciDevice
    key: int  # the address as a number: sorts and indexes like the address
    parent: int  # the parent's address as a number, -1 without one
    family: int  # the pool's family: the parent's number, else the device's own
    is_pf: bool
    vf_like: bool
    spec: DeviceSpec | None
    kind: PoolKind | None


def address_key(address: PciAddress) -> int:
    return address.domain << 16 | address.bus << 8 | address.slot << 3 | address.function


def specs_need_host(specs: tuple[DeviceSpec, ...]) -> bool:
    """Whether resolving ``specs`` reads the host's inventory (spec.resolve_specs): a
    ``devname``, or a literal address that may name a PF (then its VFs match too)."""
    return any(
        s.devname is not None or (s.address is not None and s.address.literal() is not None)
        for s in specs
    )


class ViewBuilder:
    """Builds :class:`HostView`s that share kinds, spec matches and resolutions."""

    def __init__(
        self,
        default_specs: tuple[DeviceSpec, ...],
        *,
        kinds: KindTable,
        memo: SpecMemo,
        pool_tags: tuple[str, ...] = (),
    ) -> None:
        self.default_specs = default_specs
        self.kinds = kinds
        self.memo = memo
        self.pool_tags = pool_tags
        self._resolved: dict[int, tuple[tuple[DeviceSpec, ...], HostSpecs | None]] = {}
        #: Per resolved specs (by id), per device (by id): what the specs make of it.
        #: Entries keep both objects alive, so their ids are not reused while remembered.
        self._devices: dict[int, tuple[HostSpecs, dict[int, _Device]]] = {}
        self._remembered = 0
        #: Pools recur verbatim across hosts (the same free VFs of one card model).
        self._pools: dict[tuple[int, int, int, tuple[int, ...]], Pool] = {}
        self._resources: dict[tuple[object, ...], tuple[object, HostResources]] = {}
        self._layouts: LayoutMemo = {}

    def build(self, host: Host) -> HostView:
        specs = host.device_spec if host.device_spec is not None else self.default_specs
        resolved = self._resolve(specs, host)
        if self._remembered > MAX_REMEMBERED:
            self._devices.clear()
            self._pools.clear()
            self._remembered = 0
        known = self._devices.get(id(resolved))
        if known is None:
            known = self._devices[id(resolved)] = (resolved, {})
        table = known[1]
        seen = [table.get(id(dev)) or self._device(resolved, dev, table) for dev in host.devices]
        seen.sort(key=_KEY)
        by_key = {d.key: d for d in seen}  # as Inventory.of: one device per address
        taken_parents = {d.parent for d in by_key.values() if d.vf_like and d.dev.status in TAKEN}
        groups: dict[tuple[int, int], list[_Device]] = {}
        held: dict[PoolKind, int] = {}
        for d in by_key.values():
            if d.kind is None:
                continue
            status = d.dev.status
            if status is Status.AVAILABLE and _relatives_free(d, by_key, taken_parents):
                # as pool.build_pools: free allow-listed devices by (kind, family)
                groups.setdefault((d.kind.id, d.family), []).append(d)
            elif status is not Status.REMOVED:  # as pool.held_kinds
                held[d.kind] = held.get(d.kind, 0) + 1
        pools = tuple(self._pool(family, members) for (_, family), members in groups.items())

        def used(address: PciAddress) -> bool:
            key = address_key(address)
            head = by_key.get(key)
            return head is not None and (head.dev.status in TAKEN or key in taken_parents)

        view = HostView.assemble(host.name, host.numa_nodes, pools, used, tuple(held.items()))
        return view.with_resources(self.resources(host))

    def resources(self, host: Host) -> HostResources:
        """The host's CPUs and memory; hosts of one model with the same claims share them."""
        key = (id(host.numa_nodes), host.allocation, host.usage)
        hit = self._resources.get(key)
        if hit is None or hit[0] is not host.numa_nodes:
            if len(self._resources) > MAX_REMEMBERED // 10:
                self._resources.clear()
            res = HostResources.of(host, self._layouts)
            self._resources[key] = (host.numa_nodes, res)
            return res
        return hit[1]

    def _resolve(self, specs: tuple[DeviceSpec, ...], host: Host) -> HostSpecs:
        """The specs bound to the host; once per spec list when no host can change that."""
        hit = self._resolved.get(id(specs))
        if hit is None or hit[0] is not specs:
            shared = None if specs_need_host(specs) else resolve_specs(specs, Inventory.of(()))
            hit = self._resolved[id(specs)] = (specs, shared)
        if hit[1] is None:
            return resolve_specs(specs, Inventory.of(host.devices))
        return hit[1]

    def _device(self, resolved: HostSpecs, dev: PciDevice, table: dict[int, _Device]) -> _Device:
        spec = self.memo.match(resolved, dev)
        kind = None if spec is None else self.kinds.of_device(dev, spec, self.pool_tags)
        key = address_key(dev.address)
        parent = -1 if dev.parent_addr is None else address_key(dev.parent_addr)
        entry = _Device(
            dev,
            key,
            parent,
            key if dev.parent_addr is None else parent,
            dev.dev_type is DevType.PF,
            dev.is_vf_like,
            spec,
            kind,
        )
        table[id(dev)] = entry
        self._remembered += 1
        return entry

    def _pool(self, family: int, members: list[_Device]) -> Pool:
        first = members[0]
        assert first.kind is not None and first.spec is not None
        key = (first.kind.id, first.spec.index, family, tuple(d.key for d in members))
        pool = self._pools.get(key)
        if pool is None:
            dev = first.dev
            pool = self._pools[key] = Pool(
                kind=first.kind,
                address=dev.parent_addr if dev.parent_addr is not None else dev.address,
                devices=tuple(d.dev.address for d in members),
                spec_index=first.spec.index,
            )
        return pool


def _relatives_free(d: _Device, by_key: dict[int, _Device], taken_parents: set[int]) -> bool:
    """As pool.is_free for an available device: no PF/VF relative taken."""
    if d.is_pf:
        return d.key not in taken_parents
    if not d.vf_like or d.parent < 0:
        return True
    parent = by_key.get(d.parent)
    return parent is None or parent.dev.status not in TAKEN


def _key(d: _Device) -> int:
    return d.key


_KEY = _key
