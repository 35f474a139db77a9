"""The host page: the PCI tree as it is, NUMA cells, the agent's mappings, mismatches.

The tree is the host's devices as stored: each PF with its VFs under it, then the
functions that are neither (GPUs, bridges), each with its status and the server (and,
for an SR-IOV NIC, the port) holding it. Devices the allow-list does not name are shown
too, marked, since operators ask "why is this one not in a pool".
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from fastapi import Request
from starlette.responses import Response

from pciplane.api.auth import require_admin
from pciplane.api.paths import NameParam, services
from pciplane.api.ui.fleet import PoolBar, device_name, disabled_reason
from pciplane.api.ui.render import page
from pciplane.api.ui.session import signed_in
from pciplane.core.allocation import format_cpu_set
from pciplane.core.device import TAKEN, Inventory, PciDevice
from pciplane.core.fleet import Host, NumaNode
from pciplane.core.pool import is_free
from pciplane.core.spec import DeviceSpec, HostSpecs, resolve_specs
from pciplane.store.ports import PortRecord
from pciplane.store.servers import ServerRecord


@dataclass(frozen=True, kw_only=True, slots=True)
class DeviceRow:
    address: str
    dev_type: str
    vendor_product: str
    name: str
    numa: str
    status: str
    free: bool
    #: In a pool (some device_spec entry allows it), and the physnet it is tagged with.
    assignable: bool
    physnet: str | None
    devname: str | None
    vf_num: int | None
    server: ServerRecord | None
    owner: str | None
    port: PortRecord | None
    children: tuple[DeviceRow, ...] = ()


@dataclass(frozen=True, kw_only=True, slots=True)
class CellRow:
    """One NUMA cell: its PCI functions, and its CPUs and memory with what guests use."""

    id: str
    socket: str
    devices: int
    assignable: int
    free: int
    cpus: str | None
    memory: str | None


def _cpus(host: Host, node: NumaNode) -> str | None:
    """The cell's CPUs, and what guests hold of them: CPUs pinned (of the dedicated set
    when one is configured) and floating vCPUs of guests placed on the cell."""
    if not node.cpus:
        return None
    cpus = frozenset(node.cpus)
    pinned = len(host.usage.pinned & cpus)
    floating, _ = host.usage.cell(node.id)
    dedicated = host.allocation.cpu_dedicated_set
    parts = [f"{len(cpus)} ({format_cpu_set(cpus)})"]
    if dedicated is not None:
        parts.append(f"{pinned} of {len(cpus & dedicated)} dedicated pinned")
    elif pinned:
        parts.append(f"{pinned} pinned")
    parts.append(f"{floating} floating vCPUs")
    return "; ".join(parts)


def _memory(host: Host, node: NumaNode) -> str | None:
    if node.memory_mib is None:
        return None
    _, used = host.usage.cell(node.id)
    return f"{used} of {node.memory_mib} MiB used"


def numa_cells(host: Host, inventory: Inventory, specs: HostSpecs) -> list[CellRow]:
    ids: list[int | None] = [n.id for n in host.numa_nodes]
    if any(d.numa_node is None for d in inventory) or not ids:
        ids.append(None)
    nodes = {n.id: n for n in host.numa_nodes}
    rows = []
    for cell in ids:
        devs = [d for d in inventory if d.numa_node == cell]
        allowed = [d for d in devs if specs.match(d) is not None]
        node = nodes.get(cell) if cell is not None else None
        socket = "?" if node is None or node.socket is None else str(node.socket)
        rows.append(
            CellRow(
                id="?" if cell is None else str(cell),
                socket=socket,
                devices=len(devs),
                assignable=len(allowed),
                free=sum(is_free(inventory, d) for d in allowed),
                cpus=None if node is None else _cpus(host, node),
                memory=None if node is None else _memory(host, node),
            )
        )
    return [r for r in rows if r.id != "?" or r.devices]


def pci_tree(
    host: Host,
    specs: Sequence[DeviceSpec],
    servers: Mapping[str, ServerRecord],
    ports: Mapping[str, PortRecord],
) -> tuple[list[DeviceRow], HostSpecs, Inventory]:
    """PFs with their VFs, then the other functions, in address order."""
    inventory = Inventory.of(host.devices)
    resolved = resolve_specs(specs, inventory)

    def row(dev: PciDevice, children: tuple[DeviceRow, ...] = ()) -> DeviceRow:
        spec = resolved.match(dev)
        return DeviceRow(
            address=str(dev.address),
            dev_type=str(dev.dev_type),
            vendor_product=dev.vendor_info,
            name=device_name(dev.vendor_info),
            numa="?" if dev.numa_node is None else str(dev.numa_node),
            status=str(dev.status),
            free=spec is not None and is_free(inventory, dev),
            assignable=spec is not None,
            physnet=None if spec is None else spec.physical_network,
            devname=dev.devname,
            vf_num=dev.vf_num,
            server=None if dev.owner is None else servers.get(dev.owner),
            owner=dev.owner if dev.status in TAKEN else None,
            port=ports.get(str(dev.address)),
            children=children,
        )

    rows = []
    for dev in inventory:
        if dev.parent_addr is not None and dev.is_vf_like and dev.parent_addr in inventory:
            continue  # shown under its PF
        kids = tuple(row(inventory.get(a)) for a in inventory.children.get(dev.address, ()))
        rows.append(row(dev, kids))
    return rows, resolved, inventory


def show(request: Request, name: NameParam) -> Response:
    who = signed_in(request)
    require_admin(who)
    svc = services(request)
    info = svc.hosts.get(name)
    host = info.record.host
    on_host = svc.servers.find(None, host=name)
    servers = {s.id: s for s in on_host}
    ports = {
        str(p.bound_profile.get("pci_slot")): p
        for s in on_host
        for p in s.ports
        if p.bound_profile.get("pci_slot") is not None
    }
    specs = host.device_spec if host.device_spec is not None else svc.scheduler.default_specs
    tree, resolved, inventory = pci_tree(host, specs, servers, ports)
    agent = info.record.agent
    return page(
        "host.html",
        who=who,
        info=info,
        host=host,
        disabled=disabled_reason(info.record),
        pools=[PoolBar.of(p) for p in info.pools],
        tree=tree,
        cells=numa_cells(host, inventory, resolved),
        agent=agent.to_json() if agent else None,
        own_spec=None if host.device_spec_raw is None else list(host.device_spec_raw),
        default_spec=list(svc.settings.device_spec),
        mismatches=svc.reconcile.recent(name),
        servers=on_host,
        problems=[p.reason for p in resolved.problems],
    )
