"""Server lifecycle: create, place, start outcome, reschedule, delete.

The handlers stay thin; this is where a request becomes database writes. A server is
written BUILD before it is scheduled, so a placement that fails leaves an ERROR server
saying why. When an agent reports that the start failed, the claim is freed and the
server tried on another host, up to ``max_attempts`` hosts; then ERROR with the reason of
every attempt (issue 4, "Scheduling and claims").
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Mapping

from sqlalchemy.engine import Connection

from pciplane.api.scheduling import Scheduler
from pciplane.api.settings import Settings
from pciplane.core.alias import parse_aliases, requests_from_flavor
from pciplane.core.claim import allocate, release
from pciplane.core.errors import ConflictError, NoFitError, NotFoundError, PciplaneError
from pciplane.core.fit import GuestRequest
from pciplane.store import catalog, servers
from pciplane.store.db import Database
from pciplane.store.inventory import host_id_of
from pciplane.store.servers import Fault, ServerRecord, ServerState, WorkKind, WorkRecord


def guest_request(conn: Connection, name: str, extra_specs: Mapping[str, str]) -> GuestRequest:
    """The server's PCI requests from its flavor's extra specs and today's aliases."""
    aliases = parse_aliases(catalog.alias_entries(conn))
    return GuestRequest(name=name, pci=requests_from_flavor(extra_specs, aliases))


class ServerService:
    def __init__(self, db: Database, settings: Settings, scheduler: Scheduler) -> None:
        self.db = db
        self.settings = settings
        self.scheduler = scheduler

    def create(self, *, name: str, flavor: str, project: str) -> ServerRecord:
        """Validate everything first (nothing is written for a bad request), then place."""
        with self.db.read() as conn:
            record = catalog.get_flavor(conn, flavor)
            guest = guest_request(conn, name, record.extra_specs_map)
        now = time.time()
        server = ServerRecord(
            id=str(uuid.uuid4()),
            name=name,
            project=project,
            flavor=record.name,
            vcpus=record.vcpus,
            ram=record.ram,
            extra_specs=record.extra_specs,
            state=ServerState.BUILD,
            created_at=now,
            updated_at=now,
        )
        with self.db.write() as conn:
            servers.insert_server(conn, server)
        self._place(server, guest, ())
        return self.get(server.id)

    def get(self, server_id: str, project: str | None = None) -> ServerRecord:
        with self.db.read() as conn:
            return servers.get_server(conn, server_id, project=project)

    def _place(self, server: ServerRecord, guest: GuestRequest, faults: tuple[Fault, ...]) -> None:
        exclude = frozenset(f.host for f in faults if f.host is not None)
        try:
            self.scheduler.place(server, guest, exclude)
        except (NoFitError, ConflictError) as exc:
            self._fail(server.id, str(exc), faults)

    def _fail(self, server_id: str, reason: str, faults: tuple[Fault, ...]) -> None:
        if faults:
            earlier = "; ".join(f"attempt on {f.host}: {f.reason}" for f in faults)
            reason = f"{reason} (earlier: {earlier})"
        with self.db.write() as conn:
            servers.update_server(
                conn,
                server_id,
                state=ServerState.ERROR,
                reason=reason,
                host_id=None,
                faults=faults,
                updated_at=time.time(),
            )

    # --- agent outcomes -------------------------------------------------------------

    def started(self, work: WorkRecord, *, ok: bool, reason: str) -> None:
        """The agent's answer to a start: ACTIVE, or free and try elsewhere."""
        host_id = self._host_id(work.host)
        if ok:
            self.scheduler.update_host(
                host_id,
                lambda inv: allocate(inv, owner=work.server_id),
                lambda conn: self._activate(conn, work),
            )
            return
        server = self.get(work.server_id)
        faults = (*server.faults, Fault(host=work.host, reason=reason or "start failed"))

        def record_fault(conn: Connection) -> None:
            servers.finish_work(conn, work.id)
            servers.update_server(
                conn,
                work.server_id,
                host_id=None,
                domain_xml=None,
                faults=faults,
                updated_at=time.time(),
            )

        self.scheduler.update_host(
            host_id, lambda inv: release(inv, owner=work.server_id), record_fault
        )
        self._retry(server, faults)

    def _retry(self, server: ServerRecord, faults: tuple[Fault, ...]) -> None:
        if server.task == "deleting":
            self._mark_deleted(server.id)
            return
        if len(faults) >= self.settings.max_attempts:
            self._fail(server.id, f"start failed on {len(faults)} host(s)", faults)
            return
        self.scheduler.metrics.inc("pciplane_reschedules_total")
        try:
            with self.db.read() as conn:
                guest = guest_request(conn, server.name, dict(server.extra_specs))
        except PciplaneError as exc:
            self._fail(server.id, f"cannot reschedule: {exc}", faults)
            return
        fresh = self.get(server.id)
        self._place(fresh, guest, faults)

    def _activate(self, conn: Connection, work: WorkRecord) -> None:
        servers.finish_work(conn, work.id)
        servers.update_server(
            conn, work.server_id, state=ServerState.ACTIVE, reason=None, updated_at=time.time()
        )

    def stopped(self, work: WorkRecord, *, ok: bool, reason: str) -> None:
        """The agent's answer to a stop: free the devices, or ERROR and keep them held."""
        if ok:
            self._free_and_delete(work.server_id, self._host_id(work.host), work.id)
            return
        with self.db.write() as conn:
            servers.finish_work(conn, work.id)
            servers.update_server(
                conn,
                work.server_id,
                state=ServerState.ERROR,
                task=None,
                reason=f"delete failed on {work.host}: {reason}",
                updated_at=time.time(),
            )

    def _host_id(self, name: str) -> int:
        with self.db.read() as conn:
            return host_id_of(conn, name)

    # --- delete -----------------------------------------------------------------------

    def delete(self, server_id: str, project: str | None) -> ServerRecord:
        """Free at once when no agent acted yet; otherwise ask the agent to stop the guest."""
        server = self.get(server_id, project)
        if server.state is ServerState.DELETED:
            raise NotFoundError(f"server {server_id!r} does not exist")
        if server.host is None:
            self._mark_deleted(server.id)
            return self.get(server.id)
        host_id = self._host_id(server.host)
        with self.db.write() as conn:
            cancelled = servers.cancel_pending(conn, server.id, WorkKind.START)
            if not cancelled and server.task != "deleting":
                servers.add_work(
                    conn, host_id=host_id, server_id=server.id, kind=WorkKind.STOP, now=time.time()
                )
                servers.update_server(conn, server.id, task="deleting", updated_at=time.time())
        if cancelled:
            self._free_and_delete(server.id, host_id, None)
        return self.get(server.id)

    def _free_and_delete(self, server_id: str, host_id: int, work_id: int | None) -> None:
        def finish(conn: Connection) -> None:
            if work_id is not None:
                servers.finish_work(conn, work_id)
            servers.update_server(
                conn, server_id, state=ServerState.DELETED, task=None, updated_at=time.time()
            )

        self.scheduler.update_host(host_id, lambda inv: release(inv, owner=server_id), finish)

    def _mark_deleted(self, server_id: str) -> None:
        with self.db.write() as conn:
            servers.update_server(
                conn, server_id, state=ServerState.DELETED, task=None, updated_at=time.time()
            )
