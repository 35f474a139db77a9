"""The scheduler: the core's fit over the live hosts, a weigher, and the checked claim.

The index of host views lives in this process and is refreshed host by host: each
decision first reads every host's generation (one small query) and rebuilds only the
views whose generation moved. Decisions in one process are serialised by a lock, so
lost races come only from other processes; those surface as :class:`ConflictError`
from the generation check and are retried on fresh data, a bounded number of times.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from sqlalchemy.engine import Connection

from pciplane.api.metrics import Metrics
from pciplane.api.settings import Settings, Weigher
from pciplane.core.capacity import FleetCapacity, fleet_capacity
from pciplane.core.claim import claim
from pciplane.core.device import Inventory, PciDevice
from pciplane.core.errors import ConflictError, NoFitError
from pciplane.core.fit import GuestRequest, HostView
from pciplane.core.fleet import replace_devices
from pciplane.core.index import FleetFit, FleetIndex
from pciplane.core.spec import DeviceSpec, parse_device_specs, resolve_specs
from pciplane.host.domain_xml import Domain, HostdevDevice, render_domain
from pciplane.store.db import Database
from pciplane.store.inventory import (
    HostRecord,
    fleet_version,
    generations,
    load_hosts,
    write_devices,
)
from pciplane.store.servers import ServerRecord, WorkKind, add_work, update_server

log = logging.getLogger("pciplane.scheduler")

#: How many host names a "no valid host" message names per reason.
NAMED_PER_REASON = 3


@dataclass(frozen=True, kw_only=True, slots=True)
class Placement:
    host: str
    devices: tuple[str, ...]
    retries: int


def free_devices(view: HostView) -> int:
    """Free assignable devices on the host: the PCI weigher's measure (Nova §5.2)."""
    return sum(pool.count for pool in view.pools)


class FreeCounts:
    """``free_devices`` per host, remembered until the index replaces the host's view.

    Ranking weighs every host that fits; recounting the pools of ~1,000 hosts on every
    create was a fifth of its time (bench/bench_service.py).
    """

    def __init__(self) -> None:
        self._seen: dict[str, tuple[HostView, int]] = {}

    def __call__(self, name: str, view: HostView) -> int:
        hit = self._seen.get(name)
        if hit is not None and hit[0] is view:
            return hit[1]
        count = free_devices(view)
        self._seen[name] = (view, count)
        return count

    def forget(self, name: str) -> None:
        self._seen.pop(name, None)


def rank(
    index: FleetIndex,
    result: FleetFit,
    guest: GuestRequest,
    exclude: frozenset[str],
    how: Weigher,
    free: Callable[[str, HostView], int] | None = None,
) -> list[str]:
    """Hosts that fit, best first.

    A server with PCI requests packs (fewest free devices first, less fragmentation) or
    spreads (most free first), as configured. A server without any goes to the hosts
    with the fewest free devices whatever the setting, to leave PCI-rich hosts to those
    who need them (Nova's PCIWeigher idea, nova-pci-semantics §5.2).
    """
    fitting = [name for name in result.hosts_that_fit() if name not in exclude]
    sign = -1 if bool(guest.pci) and how is Weigher.SPREAD else 1
    count = free or (lambda _name, view: free_devices(view))
    return sorted(fitting, key=lambda n: sign * count(n, index.view(n)))


def explain_no_fit(server: str, result: FleetFit, exclude: Iterable[str], total: int) -> str:
    """Per reason, how many hosts it ruled out and a few of their names."""
    excluded = set(exclude)
    groups: dict[str, list[tuple[str, str]]] = {}
    for verdict in result.verdicts():
        if verdict.host in excluded or verdict.fits:
            continue
        last = verdict.stages[-1] if verdict.stages else None
        key = f"{last.request} at stage {last.stage}" if last else "no devices"
        groups.setdefault(key, []).append((verdict.host, verdict.reason))
    if total == 0:
        return f"No valid host for server {server!r}: no hosts are registered"
    parts = []
    for key, hosts in sorted(groups.items(), key=lambda kv: -len(kv[1])):
        names = ", ".join(h for h, _ in hosts[:NAMED_PER_REASON])
        more = f" and {len(hosts) - NAMED_PER_REASON} more" if len(hosts) > NAMED_PER_REASON else ""
        parts.append(f"{len(hosts)} host(s) ruled out by {key} ({names}{more}), e.g. {hosts[0][1]}")
    if excluded:
        names = ", ".join(sorted(excluded)[:NAMED_PER_REASON])
        parts.append(f"{len(excluded)} host(s) excluded after failed attempts ({names})")
    return f"No valid host for server {server!r} (0 of {total} hosts fit): " + "; ".join(parts)


class Scheduler:
    """One per process: the index, its refresh, and placement with claim."""

    def __init__(self, db: Database, settings: Settings, metrics: Metrics) -> None:
        self.db = db
        self.settings = settings
        self.metrics = metrics
        self.default_specs: tuple[DeviceSpec, ...] = parse_device_specs(settings.device_spec)
        self.index = FleetIndex(self.default_specs)
        self.known: dict[str, HostRecord] = {}
        #: ``fleet_version`` when the index was last brought up to date.
        self.version: tuple[int, int, int] | None = None
        self.free = FreeCounts()
        self.lock = threading.Lock()

    # --- the index ----------------------------------------------------------------

    def _remember(self, record: HostRecord) -> None:
        self.known[record.host.name] = record
        self.index.replace_host(record.host)

    def refresh(self) -> int:
        """Reload the hosts whose generation changed; the number reloaded."""
        with self.db.read() as conn:
            version = fleet_version(conn)
            if version == self.version:
                return 0
            gens = generations(conn)
            stale = [
                host_id
                for name, (host_id, gen) in gens.items()
                if (rec := self.known.get(name)) is None or rec.generation != gen
            ]
            records = load_hosts(conn, stale) if stale else []
        for name in set(self.known) - set(gens):
            del self.known[name]
            self.index.remove_host(name)
            self.free.forget(name)
        for record in records:
            self._remember(record)
        self.version = version
        return len(records)

    def fit(self, guest: GuestRequest) -> FleetFit:
        with self.lock:
            self.refresh()
            return self.index.fit(guest)

    def capacity(self, guest: GuestRequest) -> FleetCapacity:
        """How many more such servers each live host could take (claims on copies only)."""
        with self.lock:
            self.refresh()
            hosts = [self.known[name].host for name in self.index.host_names()]
            return fleet_capacity(hosts, self.index, guest)

    # --- placement ----------------------------------------------------------------

    def place(
        self, server: ServerRecord, guest: GuestRequest, exclude: frozenset[str] = frozenset()
    ) -> Placement:
        """Choose a host, claim the devices and queue the start; NoFitError if none fits."""
        started = time.perf_counter()
        with self.lock:
            try:
                placement = self._place_locked(server, guest, exclude)
            except NoFitError as exc:
                self._decided(server, "no_valid_host", started, str(exc))
                raise
            except ConflictError as exc:
                self._decided(server, "conflict", started, str(exc))
                raise
        self._decided(server, "placed", started, f"host {placement.host}", placement)
        return placement

    def _place_locked(
        self, server: ServerRecord, guest: GuestRequest, exclude: frozenset[str]
    ) -> Placement:
        retries = self.settings.claim_retries
        for attempt in range(retries + 1):
            self.refresh()
            result = self.index.fit(guest)
            ranked = rank(self.index, result, guest, exclude, self.settings.weigher, self.free)
            if not ranked:
                raise NoFitError(
                    explain_no_fit(server.name, result, exclude, len(self.index)), result
                )
            # After k lost races, take the k-th best host: the writer that won is likely
            # still packing the best one, and re-picking it lost every retry to that
            # writer under load (tests/integration/test_service_load.py).
            host = ranked[min(attempt, len(ranked) - 1)]
            try:
                devices = self._claim(server, guest, host)
            except ConflictError:
                self.metrics.inc("pciplane_claim_conflicts_total")
                if attempt < retries:
                    self.metrics.inc("pciplane_claim_retries_total")
                continue
            return Placement(host=host, devices=devices, retries=attempt)
        raise ConflictError(
            f"server {server.name!r}: gave up after {retries} claim retries lost to other writers"
        )

    def _claim(self, server: ServerRecord, guest: GuestRequest, name: str) -> tuple[str, ...]:
        record = self.known[name]
        verdict = self.index.view(name).fit(guest, self.index.matcher)
        before = Inventory.of(record.host.devices)
        after = claim(before, verdict, guest, owner=server.id)
        held = tuple(d for d in after if d.owner == server.id)
        xml = self._domain_xml(server, record, held)
        now = time.time()
        with self.db.write() as conn:
            generation = write_devices(
                conn, host_id=record.id, seen=record.generation, before=before, after=after
            )
            update_server(
                conn,
                server.id,
                host_id=record.id,
                attempts=server.attempts + 1,
                domain_xml=xml,
                updated_at=now,
            )
            add_work(conn, host_id=record.id, server_id=server.id, kind=WorkKind.START, now=now)
        self._remember(
            HostRecord(
                id=record.id,
                generation=generation,
                last_seen=record.last_seen,
                host=replace_devices(record.host, tuple(after)),
            )
        )
        if self.version is not None:
            # Our own write, accounted for exactly; any other writer's change makes the
            # database's sums differ from this, and the next refresh reads every host.
            hosts_n, ids, gens = self.version
            self.version = (hosts_n, ids, gens + generation - record.generation)
        return tuple(str(d.address) for d in held)

    def _domain_xml(
        self, server: ServerRecord, record: HostRecord, held: Sequence[PciDevice]
    ) -> str:
        """The guest's libvirt XML, ``managed`` from the matching device_spec (Nova §6.7)."""
        inventory = Inventory.of(record.host.devices)
        specs = resolve_specs(
            record.host.device_spec if record.host.device_spec is not None else self.default_specs,
            inventory,
        )
        devices = []
        for dev in held:
            spec = specs.match(dev)
            managed = spec.managed if spec is not None else True
            devices.append(HostdevDevice(address=dev.address, managed=managed))
        domain = Domain(
            name=f"{server.name}-{server.id[:8]}",
            uuid=server.id,
            memory_mib=server.ram,
            vcpus=server.vcpus,
            devices=tuple(devices),
            virt_type=self.settings.virt_type,
        )
        return render_domain(domain)

    def _decided(
        self,
        server: ServerRecord,
        outcome: str,
        started: float,
        summary: str,
        placement: Placement | None = None,
    ) -> None:
        """One structured log line per scheduling decision, and its metrics."""
        seconds = time.perf_counter() - started
        self.metrics.observe_schedule(seconds)
        self.metrics.inc("pciplane_schedule_total", outcome=outcome)
        line = {
            "event": "schedule",
            "server": server.id,
            "name": server.name,
            "outcome": outcome,
            "host": placement.host if placement else None,
            "devices": list(placement.devices) if placement else [],
            "retries": placement.retries if placement else None,
            "ms": round(seconds * 1000, 3),
            "reason": summary,
        }
        log.info(json.dumps(line))

    # --- writes to one host's devices outside placement ----------------------------

    def update_host(
        self,
        host_id: int,
        change: Callable[[Inventory], Inventory],
        also: Callable[[Connection], None],
    ) -> None:
        """Apply ``change`` to the host's stored devices and run ``also`` in one transaction.

        The inventory is read inside the transaction and written back with the generation
        check; a lost race retries on fresh data.
        """
        for attempt in range(self.settings.claim_retries + 1):
            try:
                with self.db.write() as conn:
                    record = load_hosts(conn, [host_id])[0]
                    before = Inventory.of(record.host.devices)
                    write_devices(
                        conn,
                        host_id=host_id,
                        seen=record.generation,
                        before=before,
                        after=change(before),
                    )
                    also(conn)
                return
            except ConflictError:
                self.metrics.inc("pciplane_claim_conflicts_total")
                if attempt == self.settings.claim_retries:
                    raise
                self.metrics.inc("pciplane_claim_retries_total")
