"""Hosts and their devices in the database, and the generation-checked device write.

Every write that changes a host's devices first runs
``UPDATE hosts SET generation = generation + 1 WHERE id = :id AND generation = :seen``
(DESIGN.md): when another writer got there first the update matches no row and the
write raises :class:`ConflictError` before touching anything; on PostgreSQL the update
also locks the host row until commit, so writers of one host queue behind each other.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from pciplane.core.allocation import Allocation
from pciplane.core.device import Inventory, PciDevice, merge_report
from pciplane.core.errors import ConflictError, NotFoundError
from pciplane.core.fleet import Host, NumaNode
from pciplane.core.resources import CellUse, HostUsage
from pciplane.core.snapshot import DeviceReader, device_to_json
from pciplane.core.spec import parse_device_specs
from pciplane.core.sriov_agent import SriovAgentConfig
from pciplane.store.tables import cell_claims, claims, cpu_pins, devices, hosts, numa_nodes

#: Device keys kept in their own columns; the rest of the device JSON goes to ``attrs``.
_COLUMNS = ("address", "vendor_id", "product_id", "dev_type", "numa_node", "parent_addr")
_TRACKED = ("status", "owner", "request_id")


@dataclass(frozen=True, kw_only=True, slots=True)
class HostRecord:
    """A host as stored: its row identity and version, and the domain record."""

    id: int
    generation: int
    last_seen: float | None
    host: Host
    #: The agent's network configuration as it last reported it (empty: none).
    agent: SriovAgentConfig = field(default_factory=SriovAgentConfig)
    #: An operator disabled it (``host disable``): no new servers go there.
    disabled: bool = False
    disabled_reason: str | None = None


def fleet_version(conn: Connection) -> tuple[int, int, int]:
    """``(hosts, sum of ids, sum of generations)``: one row, computed by the database.

    Generations only grow and ids are never reused, so if this triple is unchanged no
    host was added, removed or written since it was last read. Far cheaper than
    :func:`generations` on every scheduling decision.
    """
    row = conn.execute(
        sa.select(
            sa.func.count(hosts.c.id),
            sa.func.coalesce(sa.func.sum(hosts.c.id), 0),
            sa.func.coalesce(sa.func.sum(hosts.c.generation), 0),
        )
    ).one()
    return (int(row[0]), int(row[1]), int(row[2]))


def generations(conn: Connection) -> dict[str, tuple[int, int]]:
    """``name -> (id, generation)`` for every host: the cheap query that drives refreshes."""
    rows = conn.execute(sa.select(hosts.c.name, hosts.c.id, hosts.c.generation))
    return {name: (host_id, gen) for name, host_id, gen in rows}


#: The device columns a load reads, in this order (``host_id`` first, then the record's).
_READ = ("attrs", *_COLUMNS, *_TRACKED)


class _StoredDevices:
    """Device rows to records, each distinct row read once: a fleet's rows repeat (the
    same card in the same slot, free, on many hosts), and reading 10,000 hosts' devices
    one by one was most of a scheduler's first refresh."""

    def __init__(self) -> None:
        self.reader = DeviceReader()
        self.seen: dict[tuple[object, ...], PciDevice] = {}

    def __call__(self, values: tuple[object, ...]) -> PciDevice:
        """``values``: the columns of :data:`_READ`."""
        dev = self.seen.get(values)
        if dev is None:
            obj: dict[str, object] = json.loads(str(values[0]))
            for name, value in zip(_READ[1:], values[1:], strict=True):
                if value is not None:
                    obj[name] = value
            where = f"stored device {values[1]}"
            dev = self.seen[values] = self.reader.device(obj, where=where)
        return dev


class _StoredCells:
    """NUMA node rows to records and allocation texts to settings, each distinct one
    parsed once (hosts of one model report the same cells and settings)."""

    def __init__(self) -> None:
        self.nodes: dict[tuple[object, ...], NumaNode] = {}
        self.layouts: dict[tuple[NumaNode, ...], tuple[NumaNode, ...]] = {}
        self.allocations: dict[str | None, Allocation] = {None: Allocation()}

    def node(self, values: tuple[object, ...]) -> NumaNode:
        """``values``: node, socket, cpus, siblings, memory_mib."""
        node = self.nodes.get(values)
        if node is None:
            ident, socket, cpus, siblings, memory = values
            node = self.nodes[values] = NumaNode(
                id=int(ident),  # type: ignore[call-overload]
                socket=socket,  # type: ignore[arg-type]
                cpus=tuple(json.loads(str(cpus))) if cpus is not None else (),
                siblings=tuple(tuple(g) for g in json.loads(str(siblings)))
                if siblings is not None
                else (),
                memory_mib=memory,  # type: ignore[arg-type]
            )
        return node

    def layout(self, nodes: list[NumaNode]) -> tuple[NumaNode, ...]:
        """One tuple per distinct layout: views of look-alike hosts are shared by it."""
        key = tuple(nodes)
        return self.layouts.setdefault(key, key)

    def allocation(self, text: str | None) -> Allocation:
        found = self.allocations.get(text)
        if found is None:
            found = self.allocations[text] = Allocation.from_json(
                json.loads(str(text)), where="stored allocation"
            )
        return found


_NODE_COLUMNS = (
    numa_nodes.c.host_id,
    numa_nodes.c.node,
    numa_nodes.c.socket,
    numa_nodes.c.cpus,
    numa_nodes.c.siblings,
    numa_nodes.c.memory_mib,
)


def load_usage(conn: Connection, ids: Sequence[int]) -> dict[int, HostUsage]:
    """What the servers hold of each host's CPUs and memory (hosts without claims left out)."""
    uses: dict[int, list[CellUse]] = {}
    pins: dict[int, list[int]] = {}
    for chunk in _chunks(ids, 500):
        query = sa.select(
            cell_claims.c.host_id, cell_claims.c.cell, cell_claims.c.vcpus, cell_claims.c.memory_mib
        ).where(cell_claims.c.host_id.in_(chunk))
        for host_id, cell, vcpus, memory in conn.execute(query):
            uses.setdefault(host_id, []).append(CellUse(cell=cell, vcpus=vcpus, memory_mib=memory))
        pin_query = sa.select(cpu_pins.c.host_id, cpu_pins.c.cpu).where(
            cpu_pins.c.host_id.in_(chunk)
        )
        for host_id, cpu in conn.execute(pin_query):
            pins.setdefault(host_id, []).append(cpu)
    out = {}
    for host_id in uses.keys() | pins.keys():
        usage = HostUsage.of(uses.get(host_id, ()))
        out[host_id] = replace(usage, pinned=frozenset(pins.get(host_id, ())))
    return out


def load_hosts(conn: Connection, ids: Sequence[int] | None = None) -> list[HostRecord]:
    """The hosts with these ids (all when None), with their NUMA nodes, devices, settings
    and what their servers hold of their CPUs and memory."""
    query = sa.select(hosts)
    if ids is not None:
        query = query.where(hosts.c.id.in_(ids))
    rows = list(conn.execute(query.order_by(hosts.c.name)))
    wanted = [r.id for r in rows]
    read = _StoredDevices()
    cells = _StoredCells()
    devs: dict[int, list[PciDevice]] = {i: [] for i in wanted}
    nodes: dict[int, list[NumaNode]] = {i: [] for i in wanted}
    for chunk in _chunks(wanted, 500):
        columns = [devices.c.host_id, *(devices.c[name] for name in _READ)]
        for host_id, *values in conn.execute(
            sa.select(*columns).where(devices.c.host_id.in_(chunk))
        ):
            devs[host_id].append(read(tuple(values)))
        query_nodes = sa.select(*_NODE_COLUMNS).where(numa_nodes.c.host_id.in_(chunk))
        for host_id, *values in conn.execute(query_nodes.order_by(numa_nodes.c.node)):
            nodes[host_id].append(cells.node(tuple(values)))
    usage = load_usage(conn, wanted)
    out = []
    for r in rows:
        agent = _agent(r.network)
        host = _host(r.name, r.device_spec, cells.layout(nodes[r.id]), devs[r.id], agent.sriov_only)
        host = replace(
            host,
            allocation=cells.allocation(r.allocation),
            usage=usage.get(r.id, HostUsage()),
        )
        out.append(
            HostRecord(
                id=r.id,
                generation=r.generation,
                last_seen=r.last_seen,
                host=host,
                agent=agent,
                disabled=bool(r.disabled),
                disabled_reason=r.disabled_reason,
            )
        )
    return out


def _agent(text: str | None) -> SriovAgentConfig:
    if text is None:
        return SriovAgentConfig()
    return SriovAgentConfig.from_json(json.loads(text), where="stored agent configuration")


def _host(
    name: str,
    spec_text: str | None,
    nodes: Sequence[NumaNode],
    devs: Sequence[PciDevice],
    sriov_only: bool = False,
) -> Host:
    raw = None if spec_text is None else tuple(json.loads(spec_text))
    return Host(
        name=name,
        numa_nodes=tuple(nodes),
        devices=tuple(sorted(devs, key=lambda d: d.address)),
        device_spec=None if raw is None else parse_device_specs(raw),
        device_spec_raw=raw,
        sriov_only=sriov_only,
    )


def _chunks(items: Sequence[int], size: int) -> Iterable[Sequence[int]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def load_host(conn: Connection, name: str) -> HostRecord:
    row = conn.execute(sa.select(hosts.c.id).where(hosts.c.name == name)).first()
    if row is None:
        raise NotFoundError(f"host {name!r} is not registered")
    return load_hosts(conn, [row.id])[0]


def bump_generation(conn: Connection, host_id: int, seen: int) -> int:
    """The generation check; raises :class:`ConflictError` when someone wrote first."""
    result = conn.execute(
        sa.update(hosts)
        .where(hosts.c.id == host_id, hosts.c.generation == seen)
        .values(generation=hosts.c.generation + 1)
    )
    if result.rowcount != 1:
        raise ConflictError(f"host #{host_id} changed since generation {seen}; retry")
    return seen + 1


def _row_values(dev: PciDevice) -> dict[str, object]:
    obj = device_to_json(dev)
    values: dict[str, object] = {key: obj.pop(key, None) for key in (*_COLUMNS, *_TRACKED)}
    values["attrs"] = json.dumps(obj, sort_keys=True)
    return values


def write_devices(
    conn: Connection, *, host_id: int, seen: int, before: Inventory, after: Inventory
) -> int:
    """Persist the devices that differ between ``before`` and ``after``; the new generation.

    Claims rows follow the owners: a device that gains an owner gets a row in ``claims``
    (whose primary key refuses a second owner), one that loses it loses the row.
    """
    generation = bump_generation(conn, host_id, seen)
    changed = [d for d in after if before.devices.get(d.address) != d]
    if not changed:
        return generation
    for dev in changed:
        old = before.devices.get(dev.address)
        dev_id = conn.execute(
            sa.update(devices)
            .where(devices.c.host_id == host_id, devices.c.address == str(dev.address))
            .values(status=str(dev.status), owner=dev.owner, request_id=dev.request_id)
            .returning(devices.c.id)
        ).scalar_one()
        if old is not None and old.owner is not None and old.owner != dev.owner:
            conn.execute(sa.delete(claims).where(claims.c.device_id == dev_id))
        if dev.owner is not None and (old is None or old.owner != dev.owner):
            _insert_claim(conn, dev_id, dev)
    return generation


def _insert_claim(conn: Connection, dev_id: int, dev: PciDevice) -> None:
    """The claims row; a refusal aborts the caller's whole transaction (no savepoint:
    a claim that cannot be written in full is not written at all)."""
    try:
        conn.execute(sa.insert(claims).values(device_id=dev_id, server_id=dev.owner))
    except sa.exc.IntegrityError:
        raise ConflictError(
            f"PCI device {dev.address} cannot be claimed for {dev.owner}: "
            "another server holds it, or that server does not exist"
        ) from None


def register_host(
    conn: Connection, host: Host, *, now: float, agent: SriovAgentConfig | None = None
) -> HostRecord:
    """Create or update a host from its agent's report, checked by generation."""
    row = conn.execute(sa.select(hosts).where(hosts.c.name == host.name)).first()
    spec_text = None if host.device_spec_raw is None else json.dumps(list(host.device_spec_raw))
    agent = agent if agent is not None else SriovAgentConfig()
    network = json.dumps(agent.to_json(), sort_keys=True) if agent else None
    allocation = (
        None
        if host.allocation == Allocation()
        else json.dumps(host.allocation.to_json(), sort_keys=True)
    )
    values = {
        "device_spec": spec_text,
        "last_seen": now,
        "network": network,
        "allocation": allocation,
    }
    if row is None:
        host_id = conn.execute(
            sa.insert(hosts).values(name=host.name, generation=1, **values)
        ).inserted_primary_key[0]  # type: ignore[index]
        generation, stored = 1, Inventory.of(())
    else:
        host_id, stored = row.id, Inventory.of(load_hosts(conn, [row.id])[0].host.devices)
        generation = bump_generation(conn, host_id, row.generation)
        conn.execute(sa.update(hosts).where(hosts.c.id == host_id).values(**values))
    merged = merge_report(stored, host.devices)
    _replace_rows(conn, host_id, host.numa_nodes, stored, merged)
    usage = load_usage(conn, [host_id]).get(host_id, HostUsage())
    return HostRecord(
        id=host_id,
        generation=generation,
        last_seen=now,
        host=replace(host, devices=tuple(sorted(merged, key=lambda d: d.address)), usage=usage),
        agent=agent,
    )


def _replace_rows(
    conn: Connection,
    host_id: int,
    nodes: Sequence[NumaNode],
    stored: Inventory,
    merged: Inventory,
) -> None:
    conn.execute(sa.delete(numa_nodes).where(numa_nodes.c.host_id == host_id))
    if nodes:
        conn.execute(
            sa.insert(numa_nodes),
            [_node_row(host_id, n) for n in nodes],
        )
    keep = {str(d.address) for d in merged}
    gone = [str(d.address) for d in stored if str(d.address) not in keep]
    if gone:
        conn.execute(
            sa.delete(devices).where(devices.c.host_id == host_id, devices.c.address.in_(gone))
        )
    new_rows = [{"host_id": host_id, **_row_values(d)} for d in merged if d.address not in stored]
    if new_rows:
        conn.execute(sa.insert(devices), new_rows)
    for dev in merged:
        old = stored.devices.get(dev.address)
        if old is not None and old != dev:
            conn.execute(
                sa.update(devices)
                .where(devices.c.host_id == host_id, devices.c.address == str(dev.address))
                .values(**_row_values(dev))
            )


def _node_row(host_id: int, node: NumaNode) -> dict[str, object]:
    return {
        "host_id": host_id,
        "node": node.id,
        "socket": node.socket,
        "cpus": json.dumps(list(node.cpus)) if node.cpus else None,
        "siblings": json.dumps([list(g) for g in node.siblings]) if node.siblings else None,
        "memory_mib": node.memory_mib,
    }


def write_cell_claims(
    conn: Connection, *, host_id: int, server_id: str, uses: Sequence[CellUse]
) -> None:
    """A server's CPUs and memory on the host, in the caller's (generation-checked)
    transaction; a CPU another server holds aborts it (the ``cpu_pins`` primary key)."""
    rows = [
        {
            "host_id": host_id,
            "server_id": server_id,
            "cell": u.cell,
            "vcpus": u.vcpus,
            "memory_mib": u.memory_mib,
        }
        for u in uses
    ]
    if rows:
        conn.execute(sa.insert(cell_claims), rows)
    pins = sorted({cpu for u in uses for cpu in u.pinned})
    if not pins:
        return
    try:
        conn.execute(
            sa.insert(cpu_pins),
            [{"host_id": host_id, "cpu": cpu, "server_id": server_id} for cpu in pins],
        )
    except sa.exc.IntegrityError:
        raise ConflictError(
            f"host #{host_id}: CPUs {pins} cannot be pinned for {server_id}: another server "
            "holds one of them"
        ) from None


def free_cell_claims(conn: Connection, server_id: str) -> int:
    """Free a server's CPUs and memory; how many rows were freed."""
    freed = conn.execute(sa.delete(cpu_pins).where(cpu_pins.c.server_id == server_id)).rowcount
    freed += conn.execute(
        sa.delete(cell_claims).where(cell_claims.c.server_id == server_id)
    ).rowcount
    return int(freed)


def largest_cell(conn: Connection) -> tuple[int, int] | None:
    """The most CPUs and the most memory (MiB) any host NUMA cell has; None when no host
    reported its cells' CPUs."""
    cpus = 0
    memory = 0
    query = sa.select(numa_nodes.c.cpus, numa_nodes.c.memory_mib).where(
        numa_nodes.c.cpus.is_not(None)
    )
    for text, mib in conn.execute(query):
        cpus = max(cpus, len(json.loads(text)))
        memory = max(memory, mib or 0)
    return (cpus, memory) if cpus else None


def touch(conn: Connection, host_id: int, now: float) -> None:
    conn.execute(sa.update(hosts).where(hosts.c.id == host_id).values(last_seen=now))


def host_id_of(conn: Connection, name: str) -> int:
    row = conn.execute(sa.select(hosts.c.id).where(hosts.c.name == name)).first()
    if row is None:
        raise NotFoundError(f"host {name!r} is not registered")
    return int(row.id)


def agent_reports(
    conn: Connection, name: str | None = None
) -> list[tuple[str, float | None, SriovAgentConfig]]:
    """``(name, last_seen, network configuration)`` of every host (or ``name``), by name."""
    query = sa.select(hosts.c.name, hosts.c.last_seen, hosts.c.network).order_by(hosts.c.name)
    if name is not None:
        query = query.where(hosts.c.name == name)
    return [(n, seen, _agent(text)) for n, seen, text in conn.execute(query)]


def last_seen_by_name(conn: Connection) -> dict[str, float | None]:
    """``name -> last_seen`` for every host: one column, read on every host listing."""
    return {name: seen for name, seen in conn.execute(sa.select(hosts.c.name, hosts.c.last_seen))}


def set_disabled(conn: Connection, name: str, *, disabled: bool, reason: str | None) -> None:
    """Disable or enable the host; the generation moves, so every scheduler's index reads
    the host again and a claim racing with this write retries on the new state."""
    result = conn.execute(
        sa.update(hosts)
        .where(hosts.c.name == name)
        .values(
            disabled=disabled,
            disabled_reason=reason if disabled else None,
            generation=hosts.c.generation + 1,
        )
    )
    if result.rowcount != 1:
        raise NotFoundError(f"host {name!r} is not registered")


def last_seen_of(conn: Connection, name: str) -> float | None:
    """When the host's agent last called in (None: never)."""
    row = conn.execute(sa.select(hosts.c.last_seen).where(hosts.c.name == name)).first()
    if row is None:
        raise NotFoundError(f"host {name!r} is not registered")
    return None if row.last_seen is None else float(row.last_seen)


def silent_since(conn: Connection, cutoff: float) -> dict[str, float | None]:
    """``name -> last_seen`` of the hosts whose agent has not called in since ``cutoff``
    (or never): usually none, so the scheduler reads a handful of rows, not the fleet."""
    query = sa.select(hosts.c.name, hosts.c.last_seen).where(
        sa.or_(hosts.c.last_seen.is_(None), hosts.c.last_seen < cutoff)
    )
    return {name: seen for name, seen in conn.execute(query)}
