"""Turning stored records into response bodies: pools with use, servers, work items."""

from __future__ import annotations

from collections.abc import Sequence

from pciplane.api import schemas
from pciplane.core.device import TAKEN, Inventory
from pciplane.core.fleet import Host
from pciplane.core.pool import KindTable, is_free, pool_attrs
from pciplane.core.snapshot import device_to_json
from pciplane.core.spec import DeviceSpec, resolve_specs
from pciplane.store.inventory import HostRecord
from pciplane.store.servers import ServerRecord, WorkRecord


def pools(host: Host, default_specs: Sequence[DeviceSpec]) -> list[schemas.PoolOut]:
    """The host's allow-listed devices grouped by pool key (Nova §3.1), used and free."""
    inventory = Inventory.of(host.devices)
    specs = resolve_specs(
        host.device_spec if host.device_spec is not None else tuple(default_specs), inventory
    )
    kinds = KindTable()
    rows: dict[int, dict[str, object]] = {}
    for dev in inventory:
        spec = specs.match(dev)
        if spec is None:
            continue
        kind = kinds.intern(pool_attrs(dev, spec))
        row = rows.setdefault(
            kind.id,
            {
                "pool": kind.describe(),
                "vendor_id": dev.vendor_id,
                "product_id": dev.product_id,
                "dev_type": str(dev.dev_type),
                "numa_node": dev.numa_node,
                "physical_network": spec.physical_network,
                "total": 0,
                "used": 0,
                "free": 0,
            },
        )
        row["total"] = int(str(row["total"])) + 1
        row["used"] = int(str(row["used"])) + (dev.status in TAKEN)
        row["free"] = int(str(row["free"])) + is_free(inventory, dev)
    return [schemas.PoolOut.model_validate(r) for r in rows.values()]


def host_out(record: HostRecord, default_specs: Sequence[DeviceSpec]) -> schemas.HostOut:
    return schemas.HostOut(
        name=record.host.name,
        generation=record.generation,
        last_seen=record.last_seen,
        devices=len(record.host.devices),
        pools=pools(record.host, default_specs),
    )


def host_detail(record: HostRecord, default_specs: Sequence[DeviceSpec]) -> schemas.HostDetail:
    summary = host_out(record, default_specs)
    return schemas.HostDetail(
        **summary.model_dump(),
        numa_nodes=[{"id": n.id, "socket": n.socket} for n in record.host.numa_nodes],
        device_list=[device_to_json(d) for d in record.host.devices],  # type: ignore[misc]
    )


def server_out(server: ServerRecord) -> schemas.ServerOut:
    return schemas.ServerOut(
        id=server.id,
        name=server.name,
        project=server.project,
        flavor=server.flavor,
        vcpus=server.vcpus,
        ram=server.ram,
        extra_specs=dict(server.extra_specs),
        state=str(server.state),
        task=server.task,
        reason=server.reason,
        host=server.host,
        attempts=server.attempts,
        faults=[schemas.FaultOut(host=f.host, reason=f.reason) for f in server.faults],
        devices=list(server.devices),
        domain_xml=server.domain_xml,
        created_at=server.created_at,
        updated_at=server.updated_at,
    )


def work_out(work: WorkRecord, server: ServerRecord) -> schemas.WorkOut:
    return schemas.WorkOut(
        id=work.id,
        kind=str(work.kind),
        server_id=server.id,
        server_name=server.name,
        domain_name=f"{server.name}-{server.id[:8]}",
        domain_xml=server.domain_xml,
        devices=list(server.devices),
    )
