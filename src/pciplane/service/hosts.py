"""Hosts and their agents: registration, heartbeats, work, and what operators are shown.

An agent registers its host (NUMA nodes and devices in the fleet snapshot's shape, and
its own device_spec when it has one; without one the fleet-wide ``device_spec`` setting
applies), polls for work (each poll is its heartbeat), and reports each outcome. The
database keeps its own statuses and owners for devices it knows
(:func:`pciplane.core.device.merge_report`); work delivered before and never answered is
handed out again when the agent registers after a restart.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

from pciplane.core.alias import parse_aliases
from pciplane.core.device import Inventory
from pciplane.core.errors import ConfigError, SnapshotError, StateError
from pciplane.core.fleet import Fleet, Host
from pciplane.core.guest import GuestPlan, domain_name
from pciplane.core.lifecycle import OPEN_WORK, WorkEvent, WorkKind
from pciplane.core.pool import PoolUsage, pool_usage
from pciplane.core.power import ACTION_OF_WORK
from pciplane.core.snapshot import dump_fleet, host_from_json
from pciplane.core.spec import resolve_specs
from pciplane.core.sriov_agent import SriovAgentConfig, apply_to_host
from pciplane.service.hotplug import HotPlugService
from pciplane.service.lifecycle import LifecycleService
from pciplane.service.metrics import Sample
from pciplane.service.retry import on_conflict
from pciplane.service.scheduler import Scheduler
from pciplane.service.servers import ServerService
from pciplane.service.settings import Settings
from pciplane.store import catalog, servers
from pciplane.store.db import Database
from pciplane.store.hosts import (
    HostRecord,
    host_id_of,
    last_seen_by_name,
    load_host,
    load_hosts,
    register_host,
    set_disabled,
    touch,
)
from pciplane.store.servers import ServerRecord, WorkRecord, server_counts


@dataclass(frozen=True, kw_only=True, slots=True)
class HostInfo:
    """A host as operators see it: as stored, whether its agent is alive, its pools."""

    record: HostRecord
    alive: bool
    pools: tuple[PoolUsage, ...]


@dataclass(frozen=True, kw_only=True, slots=True)
class WorkOrder:
    """A work item with the server it concerns (the agent needs its guest plan)."""

    work: WorkRecord
    server: ServerRecord

    @property
    def plan(self) -> GuestPlan:
        """The item's own plan (a hot plug's port), else the server's guest plan; a server
        stored without one (from before plans were kept) still names its domain, which is
        all a stop needs."""
        server = self.server
        if self.work.plan is not None:
            return self.work.plan
        if server.guest_plan is not None:
            return server.guest_plan
        return GuestPlan(
            name=domain_name(server.name, server.id),
            uuid=server.id,
            vcpus=server.vcpus,
            memory_mib=server.ram,
        )


class HostService:
    def __init__(
        self,
        db: Database,
        settings: Settings,
        scheduler: Scheduler,
        servers: ServerService,
        hotplug: HotPlugService,
        lifecycle: LifecycleService,
    ) -> None:
        self.db = db
        self.settings = settings
        self.scheduler = scheduler
        self.servers = servers
        self.hotplug = hotplug
        self.lifecycle = lifecycle
        #: ``name -> (generation, pools)``: a host's pools are counted once per generation.
        self._pools: dict[str, tuple[int, tuple[PoolUsage, ...]]] = {}

    # --- what operators see -----------------------------------------------------------

    def _info(self, record: HostRecord, now: float) -> HostInfo:
        host = record.host
        specs = host.device_spec if host.device_spec is not None else self.scheduler.default_specs
        inventory = Inventory.of(host.devices)
        return HostInfo(
            record=record,
            alive=self.settings.agent_alive(record.last_seen, now),
            pools=pool_usage(inventory, resolve_specs(specs, inventory)),
        )

    def all(self) -> list[HostInfo]:
        """Every host, by name: as the scheduler's index last read it (only hosts whose
        generation moved are read again), the pools counted once per generation, and
        ``last_seen`` read now (one column: heartbeats move no generation).

        Reading and counting every device instead took over 10 s on 10,000 hosts, longer
        than a metrics scrape waits (bench/bench_service.py, bench/bench_ui.py).
        """
        records = self.scheduler.records()
        with self.db.read() as conn:
            seen = last_seen_by_name(conn)
        now = time.time()
        if len(self._pools) > len(records):
            self._pools = {}
        out = []
        for record in records:
            name = record.host.name
            hit = self._pools.get(name)
            if hit is None or hit[0] != record.generation:
                hit = (record.generation, self._info(record, 0.0).pools)
                self._pools[name] = hit
            fresh = replace(record, last_seen=seen.get(name, record.last_seen))
            out.append(
                HostInfo(
                    record=fresh,
                    alive=self.settings.agent_alive(fresh.last_seen, now),
                    pools=hit[1],
                )
            )
        return out

    def get(self, name: str) -> HostInfo:
        with self.db.read() as conn:
            return self._info(load_host(conn, name), time.time())

    def set_disabled(self, name: str, *, disabled: bool, reason: str | None = None) -> HostInfo:
        """``host disable|enable``: no new server is placed on a disabled host (its
        servers run on, stop, start and reboot as before); the reason is what every
        "no valid host" names for it."""
        with self.db.write() as conn:
            set_disabled(conn, name, disabled=disabled, reason=reason)
        return self.get(name)

    def export(self) -> dict[str, object]:
        """The live state as a ``pciplane-fleet/1`` snapshot (shared/fleet-format.md)."""
        with self.db.read() as conn:
            records = load_hosts(conn)
            alias_raw = catalog.alias_entries(conn)
        fleet = Fleet(
            device_spec=self.scheduler.default_specs,
            aliases=parse_aliases(alias_raw),
            hosts=tuple(r.host for r in records),
            device_spec_raw=tuple(self.settings.device_spec),
            alias_raw=tuple(alias_raw),
        )
        return dump_fleet(fleet)

    # --- the agent's side -------------------------------------------------------------

    def register(self, name: str, document: Mapping[str, object]) -> tuple[HostInfo, int]:
        """An agent's report of its host; the host as stored, and how many items of work
        it had taken before and never answered are handed out again.

        The agent's network configuration (``network``: Neutron's SR-IOV agent options)
        is applied here, once (:func:`pciplane.core.sriov_agent.apply_to_host`):
        excluded VFs are not kept, ``sriov_auto_all`` and ``sriov_pci_group`` become the
        host's own allow-list, ``sriov_only`` a host rule.
        """
        if document.get("name", name) not in (None, name):
            raise SnapshotError(f"host {name!r}: the body names host {document.get('name')!r}")
        body = {k: v for k, v in document.items() if k != "network"}
        host: Host = host_from_json({**body, "name": name}, source=f"host {name!r}")
        network = document.get("network")
        try:
            agent = SriovAgentConfig() if network is None else SriovAgentConfig.from_json(network)
        except ConfigError as exc:
            raise SnapshotError(f"host {name!r}: {exc}") from None
        host = apply_to_host(host, self.settings.device_spec, agent)

        def attempt(_k: int) -> tuple[HostRecord, int]:
            with self.db.write() as conn:
                record = register_host(conn, host, now=time.time(), agent=agent)
                return record, servers.redeliver(conn, record.id)

        record, redelivered = on_conflict(
            attempt, retries=self.settings.claim_retries, metrics=self.scheduler.metrics
        )
        self.scheduler.learn(record)
        return self._info(record, time.time()), redelivered

    def take_work(self, name: str) -> list[WorkOrder]:
        """The host's pending work, oldest first; each call is also the agent's heartbeat."""
        with self.db.write() as conn:
            host_id = host_id_of(conn, name)
            touch(conn, host_id, time.time())
            items = servers.take_work(conn, host_id)
            return [WorkOrder(work=w, server=servers.get_server(conn, w.server_id)) for w in items]

    def work(self, work_id: int) -> WorkRecord:
        with self.db.read() as conn:
            return servers.get_work(conn, work_id)

    def report_work(
        self,
        work: WorkRecord,
        *,
        ok: bool,
        reason: str,
        domain_xml: str | None,
        code: str | None = None,
        wired: Sequence[Mapping[str, object]] = (),
    ) -> ServerRecord:
        """The outcome of one work item; the server as it is now."""
        if work.state not in OPEN_WORK:
            raise StateError(f"work item {work.id} is already {work.state}")
        if work.kind is WorkKind.START:
            self.servers.started(work, ok=ok, reason=reason, domain_xml=domain_xml, wired=wired)
        elif work.kind is WorkKind.STOP:
            self.servers.stopped(work, ok=ok, reason=reason)
        elif work.kind in ACTION_OF_WORK:
            self.lifecycle.finished(work, ok=ok, reason=reason, domain_xml=domain_xml, wired=wired)
        elif work.port_id is not None:
            self.hotplug.finish(work, ok=ok, reason=reason, code=code, wired=wired)
        else:
            with self.db.write() as conn:
                servers.move_work(conn, work, WorkEvent.FINISH, reason=reason or None, code=code)
        return self.servers.get(work.server_id)

    # --- metrics ----------------------------------------------------------------------

    def gauges(self) -> dict[str, list[Sample]]:
        """The fleet's gauges for ``/metrics``, read from the database at scrape time."""
        hosts = self.all()
        with self.db.read() as conn:
            states = server_counts(conn)
        pools: dict[tuple[str, str, str], list[int]] = {}
        for info in hosts:
            for p in info.pools:
                key = (p.pool, f"{p.vendor_id}:{p.product_id}", p.dev_type)
                row = pools.setdefault(key, [0, 0])
                row[0] += p.free
                row[1] += p.total - p.free
        return {
            "pciplane_hosts": [((), float(len(hosts)))],
            "pciplane_hosts_alive": [((), float(sum(h.alive for h in hosts)))],
            "pciplane_pool_devices": [
                (
                    (("pool", pool), ("vendor_product", vp), ("dev_type", t), ("free", free)),
                    float(n),
                )
                for (pool, vp, t), counts in sorted(pools.items())
                for free, n in (("true", counts[0]), ("false", counts[1]))
            ],
            "pciplane_servers": [((("state", s),), float(n)) for s, n in sorted(states.items())],
            "pciplane_agent_last_seen_seconds": [
                ((("host", h.record.host.name),), float(h.record.last_seen))
                for h in hosts
                if h.record.last_seen is not None
            ],
        }
