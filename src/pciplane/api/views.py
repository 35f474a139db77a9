"""Service records into wire models: what each answer body holds."""

from __future__ import annotations

from collections.abc import Mapping

from pciplane.api.views_neutron import nic_out
from pciplane.core.index import HostReason
from pciplane.core.pool import PoolUsage
from pciplane.core.snapshot import device_to_json, numa_node_to_json, usage_to_json
from pciplane.service.hosts import HostInfo, WorkOrder
from pciplane.store.catalog import FlavorRecord
from pciplane.store.servers import ServerRecord
from pciplane.wire import catalog as wc
from pciplane.wire import hosts as wh
from pciplane.wire import servers as ws
from pciplane.wire import whatif as ww


def alias_out(entry: Mapping[str, object]) -> wc.AliasOut:
    return wc.AliasOut.model_validate({"name": str(entry.get("name", "")), "entry": dict(entry)})


def flavor_out(flavor: FlavorRecord) -> wc.FlavorOut:
    return wc.FlavorOut(
        name=flavor.name,
        vcpus=flavor.vcpus,
        ram=flavor.ram,
        disk=flavor.disk,
        extra_specs=dict(flavor.extra_specs),
    )


def server_out(server: ServerRecord) -> ws.ServerOut:
    return ws.ServerOut(
        id=server.id,
        name=server.name,
        project=server.project,
        flavor=server.flavor,
        vcpus=server.vcpus,
        ram=server.ram,
        extra_specs=dict(server.extra_specs),
        image=server.image,
        state=str(server.state),
        task=None if server.task is None else str(server.task),
        reason=server.reason,
        host=server.host,
        attempts=server.attempts,
        faults=[ws.FaultOut(host=f.host, reason=f.reason) for f in server.faults],
        devices=list(server.devices),
        nics=[nic_out(p) for p in server.ports],
        guest_plan=None if server.guest_plan is None else server.guest_plan.to_json(),  # type: ignore[arg-type]
        domain_xml=server.domain_xml,
        created_at=server.created_at,
        updated_at=server.updated_at,
    )


def pool_out(pool: PoolUsage) -> wh.PoolOut:
    return wh.PoolOut(
        pool=pool.pool,
        vendor_id=pool.vendor_id,
        product_id=pool.product_id,
        dev_type=pool.dev_type,
        numa_node=pool.numa_node,
        physical_network=pool.physical_network,
        total=pool.total,
        used=pool.used,
        free=pool.free,
    )


def host_out(info: HostInfo) -> wh.HostOut:
    record = info.record
    return wh.HostOut(
        name=record.host.name,
        generation=record.generation,
        last_seen=record.last_seen,
        alive=info.alive,
        devices=len(record.host.devices),
        pools=[pool_out(p) for p in info.pools],
        network=record.agent.to_json() if record.agent else None,  # type: ignore[arg-type]
        disabled=record.disabled,
        disabled_reason=record.disabled_reason,
    )


def host_server_out(server: ServerRecord) -> wh.HostServerOut:
    return wh.HostServerOut(
        id=server.id,
        name=server.name,
        project=server.project,
        state=str(server.state),
        task=None if server.task is None else str(server.task),
        devices=list(server.devices),
        ports=[
            wh.HostPortOut(
                id=p.id,
                name=p.name,
                vnic_type=str(p.vnic_type),
                status=str(p.status),
                pci_slot=_pci_slot(p.bound_profile),
            )
            for p in server.ports
        ],
    )


def _pci_slot(profile: Mapping[str, object]) -> str | None:
    slot = profile.get("pci_slot")
    return None if slot is None else str(slot)


def host_detail(info: HostInfo) -> wh.HostDetail:
    host = info.record.host
    return wh.HostDetail.model_validate(
        {
            **host_out(info).model_dump(),
            "numa_nodes": [{"socket": None, **numa_node_to_json(n)} for n in host.numa_nodes],
            "device_list": [device_to_json(d) for d in host.devices],
            "allocation": host.allocation.to_json(),
            "usage": usage_to_json(host.usage),
        }
    )


def work_out(order: WorkOrder) -> wh.WorkOut:
    return wh.WorkOut.model_validate(
        {
            "id": order.work.id,
            "kind": str(order.work.kind),
            "server_id": order.server.id,
            "server_name": order.server.name,
            "plan": order.plan.to_json(),
        }
    )


def verdict_out(verdict: HostReason) -> ww.VerdictOut:
    return ww.VerdictOut(name=verdict.host, fits=verdict.fits, reason=verdict.reason)
