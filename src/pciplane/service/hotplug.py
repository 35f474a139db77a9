"""NIC hot plug: ``server add port`` and ``server remove port`` on a running server.

An add schedules a device for the port on the server's own host only (the port's NUMA
policy over the flavor's, as at boot), claims it with the host's generation check, binds
the port there and queues the agent's attach, all in one transaction; then it waits for
the agent (``attach_timeout``), as Nova's interface attach waits for its compute host.
The agent's answer finishes it: the device allocated, the port ACTIVE, the server's
guest plan holding the port; or, when the hypervisor refuses (libvirt's ``test:///``
driver cannot hot plug at all), everything undone and the agent's error raised, so the
server and the port are as they were. No free device, a port already in use, a dead
agent: refused before anything is written. A remove is the same in reverse: the agent
detaches, then the device is freed and the port unbound (and deleted, if the server
created it, as Nova does).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from typing import NoReturn

from sqlalchemy.engine import Connection

from pciplane.core.claim import allocate, claim
from pciplane.core.device import Action, Inventory
from pciplane.core.errors import (
    HotPlugUnsupportedError,
    HypervisorError,
    InUseError,
    NoFitError,
    NotFoundError,
    StateError,
    UnsupportedOperationError,
    error_for_code,
)
from pciplane.core.fit import GuestRequest, HostView
from pciplane.core.guest import GuestPlan, domain_name, plan_for_claim
from pciplane.core.lifecycle import (
    PortEvent,
    PortStatus,
    ServerState,
    WorkEvent,
    WorkKind,
    WorkState,
)
from pciplane.core.quota import PORT_PREFIX, server_request
from pciplane.service.binding import UNBOUND_VALUES, Binder
from pciplane.service.networks import Caller
from pciplane.service.nics import PlannedNic, PortClaim, flavor_numa_policy, port_request
from pciplane.service.quotas import Guard, QuotaService, nic_physnets
from pciplane.service.retry import on_conflict
from pciplane.service.scheduler import Scheduler
from pciplane.service.settings import Settings
from pciplane.store import networks as netstore
from pciplane.store import ports as portstore
from pciplane.store import servers
from pciplane.store.db import Database
from pciplane.store.hosts import load_host, write_devices
from pciplane.store.ports import PortRecord
from pciplane.store.servers import ServerRecord, WorkRecord

POLL_S = 0.05


class HotPlugService:
    def __init__(
        self,
        db: Database,
        settings: Settings,
        scheduler: Scheduler,
        binder: Binder,
        quotas: QuotaService | None = None,
    ) -> None:
        self.db = db
        self.settings = settings
        self.scheduler = scheduler
        self.binder = binder
        self.quotas = quotas

    # --- the user's side ----------------------------------------------------------

    def _running(self, conn: Connection, server_id: str, caller: Caller) -> ServerRecord:
        server = servers.get_server(conn, server_id, project=caller.scope)
        if server.state is not ServerState.ACTIVE or server.task is not None or not server.host:
            raise StateError(
                f"server {server.name!r} is {server.state}"
                f"{f' ({server.task})' if server.task else ''}: ports are hot-plugged into "
                "ACTIVE servers only"
            )
        return server

    def _alive(self, conn: Connection, host: str) -> None:
        agent = self.binder.agent(load_host(conn, host))
        if agent is None or not agent.alive:
            raise StateError(
                f"the agent of host {host} is down (no report within "
                f"{self.settings.agent_down_time:.0f}s): nothing can be hot-plugged there now"
            )

    def add_port(self, server_id: str, port_id: str, caller: Caller) -> PortRecord:
        with self.db.read() as conn:
            server = self._running(conn, server_id, caller)
            port = portstore.get_port(conn, port_id, project=caller.scope)
            if port.server_id is not None or port.device_id:
                raise InUseError(f"{port.label()} is in use by {port.server_id or port.device_id}")
            if port.project != server.project:
                raise InUseError(f"{port.label()} belongs to another project than the server")
            network = netstore.get_network(conn, port.network_id)
            self._alive(conn, str(server.host))
        request = port_request(port, network, flavor_numa_policy(dict(server.extra_specs)))
        nic = PlannedNic(port=port, network=network, new=False, owner=None, request=request)
        guard = self._quota_guard(server, nic)
        work_id = on_conflict(
            lambda _k: self._claim_and_queue(server, nic, guard),
            retries=self.settings.claim_retries,
            metrics=self.scheduler.metrics,
        )
        self._wait(work_id, server, f"add {port.label()} to")
        return self._port(port.id)

    def _quota_guard(self, server: ServerRecord, nic: PlannedNic) -> Guard | None:
        """An SR-IOV port counts against its project's quota for its physical network."""
        if self.quotas is None or nic.request is None:
            return None
        wanted = server_request(
            vcpus=0, ram=0, extra_specs={}, physnets=nic_physnets([nic.network])
        )
        wanted = {k: v for k, v in wanted.items() if k.startswith(PORT_PREFIX)}
        return self.quotas.checked(server.project, wanted)

    def _claim_and_queue(self, server: ServerRecord, nic: PlannedNic, guard: Guard | None) -> int:
        """One transaction: the device (generation-checked), the port bound, the attach."""
        with self.db.write() as conn:
            if guard is not None:
                guard(conn)
            record = load_host(conn, str(server.host))
            view = HostView.build(record.host, self.scheduler.default_specs)
            guest = GuestRequest(
                name=server.name, pci=() if nic.request is None else (nic.request,)
            )
            verdict = view.fit(guest)  # a fresh matcher: the kinds are this view's own
            if not verdict.fits:
                raise NoFitError(
                    f"cannot add {nic.port.label()} to server {server.name!r}: its host "
                    f"{record.host.name} has no device for it: {verdict.reason}"
                )
            before = Inventory.of(record.host.devices)
            ids = [f"{server.id}/{nic.port.id}"] if guest.pci else []
            after = claim(before, verdict, guest, owner=server.id, request_ids=ids)
            base = plan_for_claim(
                server_id=server.id, server_name=server.name, vcpus=server.vcpus,
                memory_mib=server.ram, guest=guest, view=view, verdict=verdict,
            )  # fmt: skip
            hook = PortClaim(self.binder, [nic], event=PortEvent.ATTACH_REQUESTED)
            plan, write = hook.prepare(server, record, view, guest, verdict, base)
            if guest.pci:
                write_devices(
                    conn, host_id=record.id, seen=record.generation, before=before, after=after
                )
            write(conn)
            return servers.add_work(
                conn, host_id=record.id, server_id=server.id, kind=WorkKind.ATTACH,
                now=time.time(), plan=plan, port_id=nic.port.id,
            )  # fmt: skip

    def remove_port(self, server_id: str, port_id: str, caller: Caller) -> PortRecord:
        with self.db.write() as conn:
            server = self._running(conn, server_id, caller)
            port = portstore.get_port(conn, port_id, project=caller.scope)
            if port.server_id != server.id:
                raise NotFoundError(f"{port.label()} is not attached to server {server.name!r}")
            if port.status is PortStatus.BUILD:
                raise StateError(f"{port.label()} is still being hot-plugged")
            self._alive(conn, str(server.host))
            plan = (server.guest_plan or _empty(server)).only_port(port.id)
            work_id = servers.add_work(
                conn, host_id=load_host(conn, str(server.host)).id, server_id=server.id,
                kind=WorkKind.DETACH, now=time.time(), plan=plan, port_id=port.id,
            )  # fmt: skip
        self._wait(work_id, server, f"remove {port.label()} from")
        try:
            return self._port(port.id)
        except NotFoundError:  # the server had created it: it is gone with the detach
            return replace(port, server_id=None, device_id="", device_owner="")

    def _port(self, port_id: str) -> PortRecord:
        with self.db.read() as conn:
            return portstore.get_port(conn, port_id)

    def _wait(self, work_id: int, server: ServerRecord, what: str) -> None:
        """Until the agent answered; its failure is raised as the error it hit."""
        deadline = time.monotonic() + self.settings.attach_timeout
        while True:
            with self.db.read() as conn:
                work = servers.get_work(conn, work_id)
            if work.state is WorkState.DONE:
                if work.reason:
                    kind = error_for_code(work.code or "") or HypervisorError
                    if kind is UnsupportedOperationError:
                        kind = HotPlugUnsupportedError
                    raise kind(f"cannot {what} server {server.name!r}: {work.reason}")
                return
            if time.monotonic() > deadline:
                self._give_up(work, server, what)
            time.sleep(POLL_S)

    def _give_up(self, work: WorkRecord, server: ServerRecord, what: str) -> NoReturn:
        host, waited = work.host, self.settings.attach_timeout
        if work.state is WorkState.PENDING:
            try:
                self.finish(work, ok=False, reason="cancelled: no agent took it", code=None)
            except StateError:
                pass  # the agent took it meanwhile: it goes on
            else:
                raise StateError(
                    f"cannot {what} server {server.name!r}: the agent of host {host} did not "
                    f"take the hot plug within {waited:.0f}s; nothing changed"
                )
        raise StateError(
            f"{what} server {server.name!r}: the agent of host {host} has not answered within "
            f"{waited:.0f}s; it goes on, and the port's status shows when it is done"
        )

    # --- the agent's side ---------------------------------------------------------

    def finish(
        self,
        work: WorkRecord,
        *,
        ok: bool,
        reason: str,
        code: str | None,
        wired: Sequence[Mapping[str, object]] = (),
    ) -> None:
        """The outcome of an attach or a detach (or the cancel of one no agent took)."""
        event = WorkEvent.FINISH if work.state is not WorkState.PENDING or ok else WorkEvent.CANCEL
        plan = work.plan or _empty_plan(work)
        port_id = str(work.port_id)
        attach = work.kind is WorkKind.ATTACH
        addresses = plan.addresses()
        server_id = work.server_id

        def change(inv: Inventory) -> Inventory:
            if attach and ok:
                return allocate(inv, owner=server_id)
            if attach or ok:  # a failed attach, or a done detach: the port's device goes
                held = [a for a in addresses if a in inv and inv.get(a).owner == server_id]
                return inv.apply(Action.FREE, held, owner=server_id)
            return inv

        def also(conn: Connection) -> None:
            servers.move_work(conn, work, event, reason=reason or None, code=code)
            now = time.time()
            if attach and ok:
                mine = tuple(w for w in wired if w.get("port") == port_id)
                portstore.move_port(conn, port_id, PortEvent.GUEST_UP, now=now, wired=mine)
                self._set_plan(conn, server_id, lambda p: p.merged(plan))
            elif attach or ok:
                self._release_port(conn, port_id, server_id, delete=ok)
                if ok:
                    self._set_plan(conn, server_id, lambda p: p.without_port(port_id))

        with self.db.read() as conn:
            host_id = load_host(conn, work.host).id
        self.scheduler.update_host(host_id, change, also)

    @staticmethod
    def _set_plan(conn: Connection, server_id: str, edit: Callable[[GuestPlan], GuestPlan]) -> None:
        """The server's guest plan holds what its guest holds (a start after a host
        restart renders it whole)."""
        server = servers.get_server(conn, server_id)
        if server.guest_plan is not None:
            servers.update_server(conn, server_id, guest_plan=edit(server.guest_plan))

    @staticmethod
    def _release_port(conn: Connection, port_id: str, server_id: str, *, delete: bool) -> None:
        port = portstore.get_port(conn, port_id)
        if delete and port.auto_delete:
            portstore.update_port(conn, port_id, now=time.time(), server=server_id, server_id=None)
            portstore.delete_port(conn, port_id)
            return
        portstore.move_port(
            conn, port_id, PortEvent.UNBOUND, now=time.time(), wired=(), server_id=None,
            device_id="", device_owner="", **UNBOUND_VALUES,
        )  # fmt: skip


def _empty(server: ServerRecord) -> GuestPlan:
    return GuestPlan(
        name=domain_name(server.name, server.id), uuid=server.id, vcpus=server.vcpus,
        memory_mib=server.ram,
    )  # fmt: skip


def _empty_plan(work: WorkRecord) -> GuestPlan:
    return GuestPlan(name="", uuid=work.server_id, vcpus=1, memory_mib=1)
