"""The scheduler: the core's fit over the live hosts, a weigher, and the checked claim.

The index of host views lives in this process and is refreshed host by host: each
decision first checks one aggregate row and, when it moved, reads every host's
generation and rebuilds only the views whose generation moved. Decisions in one process
are serialised by a lock, so lost races come only from other processes; those surface
as :class:`ConflictError` from the generation check and go through the one retry place
(:mod:`pciplane.service.retry`). Hosts whose agent has not reported within
``agent_down_time`` are ruled out, with that reason.

A claim is one transaction: the devices (generation-checked), the server row with its
guest plan, and the agent's start work item. So a process that dies mid-way leaves
either all of it or none of it.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from typing import Protocol

from sqlalchemy.engine import Connection

from pciplane.core.capacity import FleetCapacity, fleet_capacity
from pciplane.core.claim import claim
from pciplane.core.device import Inventory
from pciplane.core.errors import ConflictError, NoFitError
from pciplane.core.explain import group_by_reason
from pciplane.core.fit import GuestRequest, HostView, Outcome, Verdict
from pciplane.core.fleet import replace_devices
from pciplane.core.guest import GuestPlan, plan_for_claim
from pciplane.core.host_rules import capacity_with_rules, disabled_hosts, ruled_out
from pciplane.core.index import FleetFit, FleetIndex, HostReason
from pciplane.core.lifecycle import ServerEvent, WorkKind
from pciplane.core.spec import DeviceSpec, parse_device_specs
from pciplane.service.metrics import Metrics
from pciplane.service.retry import on_conflict
from pciplane.service.settings import Settings, Weigher
from pciplane.store.db import Database
from pciplane.store.hosts import (
    HostRecord,
    fleet_version,
    generations,
    load_hosts,
    silent_since,
    write_cell_claims,
    write_devices,
)
from pciplane.store.servers import ServerRecord, add_work, insert_server, move_server

log = logging.getLogger("pciplane.scheduler")

#: What limits a host whose agent is down, in a capacity answer.
AGENT_DOWN = "agent down"
#: How many host names a "no valid host" message names per reason.
NAMED_PER_REASON = 3


class ClaimHook(Protocol):
    """What a claim also needs besides devices (a server's ports): given the host and the
    devices chosen, the finished guest plan and a write for the claim's transaction.
    It may raise (a port no driver binds): then nothing of the claim is written."""

    def prepare(
        self,
        server: ServerRecord,
        record: HostRecord,
        view: HostView,
        guest: GuestRequest,
        verdict: Verdict,
        plan: GuestPlan,
    ) -> tuple[GuestPlan, Callable[[Connection], None]]: ...


@dataclass(frozen=True, kw_only=True, slots=True)
class Explanation:
    """Every host's verdict for one guest, and one host's stage records when asked."""

    reasons: tuple[HostReason, ...]
    host: str | None = None
    outcome: Outcome | None = None

    @property
    def fit_count(self) -> int:
        return sum(r.fits for r in self.reasons)


@dataclass(frozen=True, kw_only=True, slots=True)
class Placement:
    host: str
    plan: GuestPlan
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
    exclude: Iterable[str],
    how: Weigher,
    free: Callable[[str, HostView], int] | None = None,
) -> list[str]:
    """Hosts that fit, best first.

    A server with PCI requests packs (fewest free devices first, less fragmentation) or
    spreads (most free first), as configured. A server without any goes to the hosts
    with the fewest free devices whatever the setting, to leave PCI-rich hosts to those
    who need them (Nova's PCIWeigher idea, nova-pci-semantics §5.2). Equal hosts go by
    name, so the choice does not depend on which agent registered first.
    """
    skip = set(exclude)
    fitting = [name for name in result.hosts_that_fit() if name not in skip]
    sign = -1 if bool(guest.pci) and how is Weigher.SPREAD else 1
    count = free or (lambda _name, view: free_devices(view))
    return sorted(fitting, key=lambda n: (sign * count(n, index.view(n)), n))


def explain_no_fit(
    server: str, verdicts: Iterable[HostReason], excluded: Iterable[str], total: int
) -> str:
    """Hosts grouped by their exact reason, each group with a few of its hosts' names."""
    if total == 0:
        return f"No valid host for server {server!r}: no hosts are registered"
    skip = set(excluded)
    groups = group_by_reason(
        (v.host, v.reason) for v in verdicts if not v.fits and v.host not in skip
    )
    parts = []
    for reason, hosts in groups:
        names = ", ".join(hosts[:NAMED_PER_REASON])
        more = f" and {len(hosts) - NAMED_PER_REASON} more" if len(hosts) > NAMED_PER_REASON else ""
        parts.append(f"{len(hosts)} host(s): {reason} ({names}{more})")
    if skip:
        names = ", ".join(sorted(skip)[:NAMED_PER_REASON])
        parts.append(f"{len(skip)} host(s) excluded after failed attempts ({names})")
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
        #: The hosts the whole-host rules concern, kept with ``known`` (a create does not
        #: walk every host for them): ``sriov_only`` ones, and disabled ones with why.
        self._sriov_only: set[str] = set()
        self._disabled: dict[str, str | None] = {}
        #: ``fleet_version`` when the index was last brought up to date.
        self.version: tuple[int, int, int] | None = None
        self.free = FreeCounts()
        self.lock = threading.Lock()
        self._warming: threading.Thread | None = None

    # --- the index ----------------------------------------------------------------

    def _remember(self, record: HostRecord) -> None:
        self._know(record)
        self.index.replace_host(record.host)

    def _know(self, record: HostRecord) -> None:
        name = record.host.name
        self.known[name] = record
        if record.host.sriov_only:
            self._sriov_only.add(name)
        else:
            self._sriov_only.discard(name)
        if record.disabled:
            self._disabled[name] = record.disabled_reason
        else:
            self._disabled.pop(name, None)

    def _forget(self, name: str) -> None:
        del self.known[name]
        self._sriov_only.discard(name)
        self._disabled.pop(name, None)

    def learn(self, record: HostRecord) -> None:
        """A host this process has just written as its agent reported it: its view is
        replaced now, so the next create reads its generation, not its rows (a fleet of
        agents registering leaves no whole-fleet refresh to the first create)."""
        with self.lock:
            self._remember(record)

    def warm(self) -> None:
        """Load the fleet now, in a thread of its own, so a service restarted on a large
        fleet does not leave the read to its first create; a failure is logged and the
        first create reads instead."""

        def load() -> None:
            try:
                with self.lock:
                    loaded = self.refresh()
                log.info("scheduler index warmed: %d hosts", loaded)
            except Exception:
                log.warning("scheduler warm-up failed; the first request loads", exc_info=True)

        self._warming = threading.Thread(target=load, name="pciplane-scheduler-warm", daemon=True)
        self._warming.start()

    def settle(self, timeout: float = 30.0) -> None:
        """Wait for :meth:`warm` to finish (a stopping service, before its connections
        are closed: a load still reading would leave one open)."""
        if self._warming is not None:
            self._warming.join(timeout)
            self._warming = None

    def refresh(self) -> int:
        """Reload the hosts whose generation changed; the number reloaded."""
        with self.db.read() as conn:
            return self._refresh(conn)

    def _refresh(self, conn: Connection) -> int:
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
            self._forget(name)
            self.index.remove_host(name)
            self.free.forget(name)
        for record in records:
            self._know(record)
        self.index.replace_hosts(r.host for r in records)
        self.version = version
        return len(records)

    def down_hosts(self, conn: Connection | None = None) -> dict[str, str]:
        """Hosts whose agent has not reported within ``agent_down_time``, and why."""
        if conn is None:
            with self.db.read() as fresh:
                return self.down_hosts(fresh)
        now = time.time()
        limit = self.settings.agent_down_time
        down = {}
        for name, at in silent_since(conn, now - limit).items():
            if at is None:
                down[name] = "agent down: it never reported"
            else:
                down[name] = (
                    f"agent down: last report {now - at:.0f}s ago (agent_down_time {limit:.0f}s)"
                )
        return down

    def refused(self, guest: GuestRequest) -> dict[str, str]:
        """Hosts the host rules refuse ``guest`` (``sriov_only``; an operator disabled
        them), with why."""
        return {
            **ruled_out((self.known[n].host for n in self._sriov_only), guest),
            **disabled_hosts(self._disabled),
        }

    def _judged(self, guest: GuestRequest) -> FleetFit:
        """Every live host's answer; hosts a whole-host rule refuses (an agent that is
        down, ``sriov_only``) do not fit, each with its reason."""
        with self.db.read() as conn:
            self._refresh(conn)
            down = self.down_hosts(conn)
        return self.index.fit(guest).overruled({**self.refused(guest), **down})

    def fit(self, guest: GuestRequest) -> list[HostReason]:
        with self.lock:
            result = self._judged(guest)
        return list(result.reasons())

    def explain(self, guest: GuestRequest, host: str | None = None) -> Explanation:
        """Every live host's verdict and, for ``host``, what each stage left (the same
        answer :meth:`fit` gives, with the stage records of one host)."""
        with self.lock:
            result = self._judged(guest)
            reasons = tuple(result.reasons())
            outcome = None if host is None else result.outcome(host)
        return Explanation(reasons=reasons, host=host, outcome=outcome)

    def records(self) -> list[HostRecord]:
        """Every host as the index last read it (refreshed by generation), by name.

        ``last_seen`` is as of that read; :meth:`down_hosts` says which agents are down now.
        """
        with self.lock:
            self.refresh()
            return [self.known[name] for name in sorted(self.known)]

    def capacity(self, guest: GuestRequest) -> FleetCapacity:
        """How many more such servers each live host could take (claims on copies only);
        a host whose agent is down takes none, limited by ``agent down`` (as :meth:`fit`
        rules it out)."""
        with self.lock:
            with self.db.read() as conn:
                self._refresh(conn)
                down = dict.fromkeys(self.down_hosts(conn), AGENT_DOWN)
            hosts = [self.known[name].host for name in self.index.host_names()]
            return capacity_with_rules(
                fleet_capacity(hosts, self.index, guest), {**self.refused(guest), **down}
            )

    # --- placement ----------------------------------------------------------------

    def place(
        self,
        server: ServerRecord,
        guest: GuestRequest,
        exclude: frozenset[str] = frozenset(),
        *,
        new: bool,
        hook: ClaimHook | None = None,
        guard: Callable[[Connection], None] | None = None,
    ) -> Placement:
        """Choose a host, claim the devices and queue the start, in one transaction.

        ``new``: the server row is written with the claim (a create); otherwise the
        server exists without a host (a reschedule). ``hook``: the server's ports, bound
        and written in the same transaction. ``guard``: run first in that transaction
        (the project's quota check); what it raises writes nothing. NoFitError when no
        host fits.
        """
        started = time.perf_counter()
        with self.lock:
            try:
                placement = on_conflict(
                    lambda k: self._attempt(
                        server, guest, exclude, k, new=new, hook=hook, guard=guard
                    ),
                    retries=self.settings.claim_retries,
                    metrics=self.metrics,
                )
            except NoFitError as exc:
                self._decided(server, "no_valid_host", started, str(exc))
                raise
            except ConflictError as exc:
                self._decided(server, "conflict", started, str(exc))
                raise ConflictError(
                    f"server {server.name!r}: gave up after {self.settings.claim_retries} "
                    "claim retries lost to other writers"
                ) from exc
        self._decided(server, "placed", started, f"host {placement.host}", placement)
        return placement

    def _attempt(
        self,
        server: ServerRecord,
        guest: GuestRequest,
        exclude: frozenset[str],
        k: int,
        *,
        new: bool,
        hook: ClaimHook | None = None,
        guard: Callable[[Connection], None] | None = None,
    ) -> Placement:
        result = self._judged(guest)
        ranked = rank(self.index, result, guest, exclude, self.settings.weigher, self.free)
        if not ranked:
            raise NoFitError(
                explain_no_fit(server.name, result.reasons(), exclude, len(self.index)), result
            )
        # After k lost races, take the k-th best host: the writer that won is likely
        # still packing the best one, and re-picking it lost every retry to that writer
        # under load (tests/integration/test_service_load.py).
        host = ranked[min(k, len(ranked) - 1)]
        plan = self._claim(server, guest, host, new=new, hook=hook, guard=guard)
        return Placement(host=host, plan=plan, retries=k)

    def _claim(
        self,
        server: ServerRecord,
        guest: GuestRequest,
        name: str,
        *,
        new: bool,
        hook: ClaimHook | None = None,
        guard: Callable[[Connection], None] | None = None,
    ) -> GuestPlan:
        record = self.known[name]
        view = self.index.view(name)
        verdict = view.fit(guest, self.index.matcher)
        before = Inventory.of(record.host.devices)
        after = claim(before, verdict, guest, owner=server.id)
        plan = plan_for_claim(
            server_id=server.id,
            server_name=server.name,
            vcpus=server.vcpus,
            memory_mib=server.ram,
            guest=guest,
            view=view,
            verdict=verdict,
        )
        plan = replace(plan, disk=server.disk)
        also: Callable[[Connection], None] | None = None
        if hook is not None:
            plan, also = hook.prepare(server, record, view, guest, verdict, plan)
        now = time.time()
        with self.db.write() as conn:
            if guard is not None:
                guard(conn)
            # The server row first: the claims rows written with the devices refer to it.
            if new:
                placed = replace(server, attempts=1, guest_plan=plan, updated_at=now)
                insert_server(conn, placed, host_id=record.id)
            else:
                move_server(
                    conn,
                    server.id,
                    ServerEvent.PLACED,
                    unplaced=True,
                    host_id=record.id,
                    attempts=server.attempts + 1,
                    guest_plan=plan,
                    domain_xml=None,
                    updated_at=now,
                )
            generation = write_devices(
                conn, host_id=record.id, seen=record.generation, before=before, after=after
            )
            if verdict.cpu is not None:
                write_cell_claims(
                    conn, host_id=record.id, server_id=server.id, uses=verdict.cpu.uses
                )
            add_work(conn, host_id=record.id, server_id=server.id, kind=WorkKind.START, now=now)
            if also is not None:
                also(conn)
        host = replace_devices(record.host, tuple(after))
        if verdict.cpu is not None:
            host = replace(host, usage=host.usage.plus(verdict.cpu.uses))
        self._remember(replace(record, generation=generation, host=host))
        if self.version is not None:
            # Our own write, accounted for exactly; any other writer's change makes the
            # database's sums differ from this, and the next refresh reads every host.
            hosts_n, ids, gens = self.version
            self.version = (hosts_n, ids, gens + generation - record.generation)
        return plan

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
        self.metrics.schedule_seconds.observe(seconds)
        self.metrics.schedule.labels(outcome=outcome).inc()
        line = {
            "event": "schedule",
            "server": server.id,
            "name": server.name,
            "outcome": outcome,
            "host": placement.host if placement else None,
            "devices": [str(a) for a in placement.plan.addresses()] if placement else [],
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

        def attempt(_k: int) -> None:
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

        on_conflict(attempt, retries=self.settings.claim_retries, metrics=self.metrics)
