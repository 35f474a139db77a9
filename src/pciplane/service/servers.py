"""Servers: create, list, show, delete, and what the agents' outcomes do to them.

A create validates everything first (nothing is written for a bad request), then the
scheduler writes the server with its claim in one transaction, or, when no host fits,
the server is written once, in ERROR with the reason. When an agent reports that a start
failed, the claim is freed and the server tried on another host, up to ``max_attempts``
hosts; then ERROR with the reason of every attempt. State changes go through the tables
of :mod:`pciplane.core.lifecycle`.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace

from sqlalchemy.engine import Connection

from pciplane.core.alias import parse_aliases, requests_from_flavor
from pciplane.core.claim import allocate, release
from pciplane.core.errors import (
    ConflictError,
    NoFitError,
    NotFoundError,
    PciplaneError,
    RequestError,
)
from pciplane.core.fit import GuestRequest
from pciplane.core.flavor import check_extra_specs
from pciplane.core.guest import GuestDisk
from pciplane.core.guest_cpu import cpu_ask
from pciplane.core.image import gib_needed
from pciplane.core.lifecycle import (
    Fault,
    ServerEvent,
    ServerState,
    ServerTask,
    WorkEvent,
    WorkKind,
    add_fault,
    server_move,
)
from pciplane.core.quota import server_request
from pciplane.service.binding import PortBindingFailed
from pciplane.service.nics import NicRequest, NicService, PlannedNic
from pciplane.service.quotas import QuotaService, nic_physnets
from pciplane.service.scheduler import Scheduler
from pciplane.service.settings import Settings
from pciplane.store import catalog, images, servers
from pciplane.store.catalog import FlavorRecord
from pciplane.store.db import Database
from pciplane.store.hosts import free_cell_claims, host_id_of
from pciplane.store.servers import ServerRecord, WorkRecord


def guest_request(
    conn: Connection, name: str, extra_specs: Mapping[str, str], *, vcpus: int, ram: int
) -> GuestRequest:
    """The server's PCI requests from its flavor's extra specs and today's aliases, and
    its CPUs and memory from the flavor's vCPUs, RAM and CPU/NUMA specs."""
    check_extra_specs(extra_specs)
    aliases = parse_aliases(catalog.alias_entries(conn))
    return GuestRequest(
        name=name,
        pci=requests_from_flavor(extra_specs, aliases),
        cpu=cpu_ask(extra_specs, vcpus=vcpus, memory_mib=ram),
    )


def boot_disk(conn: Connection, image: str | None, flavor: FlavorRecord) -> GuestDisk | None:
    """The server's boot disk: the image (by id or name) under a flavor whose root disk
    holds it. With no image the flavor must have no root disk: pciplane has no volumes
    to boot from, where Nova would take one (its "image or bootable volume is required").
    A flavor with ``disk`` 0 boots the image at its own size (Nova's zero-disk flavor)."""
    if image is None:
        if flavor.disk > 0:
            raise RequestError(
                f"flavor {flavor.name!r} has a {flavor.disk} GiB root disk: give an image to "
                "boot from (pciplane has no volumes), or use a flavor with disk 0"
            )
        return None
    found = images.find_image(conn, image)
    needed = gib_needed(found.virtual_size)
    if 0 < flavor.disk < needed:
        raise RequestError(
            f"flavor {flavor.name!r}'s root disk of {flavor.disk} GiB is smaller than image "
            f"{found.name!r} ({found.virtual_size} bytes, {needed} GiB): Nova's "
            "FlavorDiskSmallerThanImage"
        )
    return GuestDisk(
        image=found.id, checksum=found.sha256, format=str(found.disk_format), size_gib=flavor.disk
    )


def with_ports(guest: GuestRequest, planned: Sequence[PlannedNic]) -> GuestRequest:
    """The flavor's requests, then one per SR-IOV port (Nova's order, §4.2)."""
    ports = tuple(p.request for p in planned if p.request is not None)
    return replace(guest, pci=(*guest.pci, *ports))


class ServerService:
    def __init__(
        self,
        db: Database,
        settings: Settings,
        scheduler: Scheduler,
        nics: NicService,
        quotas: QuotaService | None = None,
    ) -> None:
        self.db = db
        self.settings = settings
        self.scheduler = scheduler
        self.nics = nics
        self.quotas = quotas

    # --- reads ----------------------------------------------------------------------

    def get(self, server_id: str, project: str | None = None) -> ServerRecord:
        with self.db.read() as conn:
            return servers.get_server(conn, server_id, project=project)

    def find(
        self,
        project: str | None,
        *,
        include_deleted: bool = False,
        name: str | None = None,
        host: str | None = None,
    ) -> list[ServerRecord]:
        with self.db.read() as conn:
            return servers.list_servers(
                conn, project=project, include_deleted=include_deleted, name=name, host=host
            )

    # --- create -----------------------------------------------------------------------

    def create(
        self,
        *,
        name: str,
        flavor: str,
        project: str,
        nics: Sequence[NicRequest] = (),
        user: str | None = None,
        description: str | None = None,
        image: str | None = None,
    ) -> ServerRecord:
        """Validate, then place; the server comes back BUILD (placed) or ERROR (why not).

        ``image`` (an id or a name) is the boot disk's image (:func:`boot_disk`); ``user``
        and ``description`` are kept and shown (Nova's API has them)."""
        with self.db.read() as conn:
            record = catalog.get_flavor(conn, flavor)
            guest = guest_request(
                conn, name, record.extra_specs_map, vcpus=record.vcpus, ram=record.ram
            )
            disk = boot_disk(conn, image, record)
            planned = self.nics.plan(conn, project, nics, record.extra_specs_map)
            guard = self._quota_guard(conn, project, record, planned)
        guest = with_ports(guest, planned)
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
            flavor_id=record.id,
            description=description,
            user_id=user,
            image=None if disk is None else disk.image,
            image_id=None if disk is None else disk.image,
            disk=disk,
        )
        hook = self.nics.hook(planned) if planned else None
        try:
            self.scheduler.place(server, guest, new=True, hook=hook, guard=guard)
        except (NoFitError, ConflictError, PortBindingFailed) as exc:
            failed = replace(
                server,
                state=server_move(ServerState.BUILD, ServerEvent.NO_VALID_HOST),
                reason=str(exc),
            )
            bad_port = exc if isinstance(exc, PortBindingFailed) else None
            with self.db.write() as conn:
                if guard is not None:
                    guard(conn)
                servers.insert_server(conn, failed)
                self.nics.attach_unplaced(conn, server.id, planned, bad_port)
        return self.get(server.id)

    def _quota_guard(
        self, conn: Connection, project: str, flavor: FlavorRecord, planned: Sequence[PlannedNic]
    ) -> Callable[[Connection], None] | None:
        """The project's quota check: now, in the create's first read (``conn``), and
        the guard that checks again in the claim's transaction."""
        if self.quotas is None:
            return None
        sriov = [p.network for p in planned if p.request is not None]
        wanted = server_request(
            vcpus=flavor.vcpus,
            ram=flavor.ram,
            extra_specs=flavor.extra_specs_map,
            physnets=nic_physnets(sriov),
        )
        return self.quotas.checked(project, wanted, conn)

    def place_again(self, server: ServerRecord, faults: tuple[Fault, ...]) -> None:
        """Place a server that lost its host, avoiding the hosts that failed it."""
        try:
            with self.db.read() as conn:
                guest = guest_request(
                    conn, server.name, dict(server.extra_specs), vcpus=server.vcpus, ram=server.ram
                )
                planned = self.nics.planned_for(conn, server)
        except PciplaneError as exc:
            self._give_up(server.id, f"cannot reschedule: {exc}", faults)
            return
        exclude = frozenset(f.host for f in faults if f.host is not None)
        hook = self.nics.hook(planned) if planned else None
        try:
            self.scheduler.place(server, with_ports(guest, planned), exclude, new=False, hook=hook)
        except (NoFitError, ConflictError, PortBindingFailed) as exc:
            self._give_up(server.id, str(exc), faults)
            if isinstance(exc, PortBindingFailed):
                with self.db.write() as conn:
                    self.nics.attach_unplaced(conn, server.id, planned, exc)

    def _give_up(self, server_id: str, reason: str, faults: tuple[Fault, ...]) -> None:
        if faults:
            earlier = "; ".join(f"attempt on {f.host}: {f.reason}" for f in faults)
            reason = f"{reason} (earlier: {earlier})"
        with self.db.write() as conn:
            servers.move_server(
                conn,
                server_id,
                ServerEvent.GAVE_UP,
                reason=reason,
                host_id=None,
                faults=faults,
                updated_at=time.time(),
            )

    # --- agent outcomes -------------------------------------------------------------

    def started(
        self,
        work: WorkRecord,
        *,
        ok: bool,
        reason: str,
        domain_xml: str | None,
        wired: Sequence[Mapping[str, object]] = (),
    ) -> None:
        """The agent's answer to a start: ACTIVE (its ports too), or free and try elsewhere."""
        host_id = self._host_id(work.host)
        if ok:

            def activate(conn: Connection) -> None:
                servers.move_work(conn, work, WorkEvent.FINISH)
                servers.move_server(
                    conn,
                    work.server_id,
                    ServerEvent.STARTED,
                    reason=None,
                    domain_xml=domain_xml,
                    updated_at=time.time(),
                )
                self.nics.guest_up(conn, work.server_id, wired)

            self.scheduler.update_host(
                host_id, lambda inv: allocate(inv, owner=work.server_id), activate
            )
            return
        self.lost_host(work, reason or "start failed", WorkEvent.FINISH)

    def lost_host(self, work: WorkRecord, reason: str, event: WorkEvent) -> None:
        """A start that will not happen (failed, or expired): free, record, try elsewhere."""
        server = self.get(work.server_id)
        faults = add_fault(server.faults, Fault(host=work.host, reason=reason))

        def record_fault(conn: Connection) -> None:
            servers.move_work(conn, work, event)
            free_cell_claims(conn, work.server_id)
            self.nics.unbind(conn, work.server_id)
            servers.move_server(
                conn,
                work.server_id,
                ServerEvent.START_FAILED,
                host_id=None,
                guest_plan=None,
                domain_xml=None,
                faults=faults,
                updated_at=time.time(),
            )

        self.scheduler.update_host(
            self._host_id(work.host), lambda inv: release(inv, owner=work.server_id), record_fault
        )
        self._retry(server, faults)

    def _retry(self, server: ServerRecord, faults: tuple[Fault, ...]) -> None:
        if server.task is ServerTask.DELETING:
            self._mark_deleted(server.id)
            return
        if len(faults) >= self.settings.max_attempts:
            self._give_up(server.id, f"start failed on {len(faults)} host(s)", faults)
            return
        self.scheduler.metrics.reschedules.inc()
        self.place_again(self.get(server.id), faults)

    def stopped(self, work: WorkRecord, *, ok: bool, reason: str) -> None:
        """The agent's answer to a stop: free the devices, or ERROR and keep them held."""
        if ok:
            self._free_and_delete(work.server_id, self._host_id(work.host), work)
            return
        with self.db.write() as conn:
            servers.move_work(conn, work, WorkEvent.FINISH)
            servers.move_server(
                conn,
                work.server_id,
                ServerEvent.DELETE_FAILED,
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
            if not cancelled and server.task is not ServerTask.DELETING:
                servers.add_work(
                    conn, host_id=host_id, server_id=server.id, kind=WorkKind.STOP, now=time.time()
                )
                servers.move_server(
                    conn,
                    server.id,
                    ServerEvent.DELETE_REQUESTED,
                    task=ServerTask.DELETING,
                    updated_at=time.time(),
                )
        if cancelled:
            self._free_and_delete(server.id, host_id, None)
        return self.get(server.id)

    def _free_and_delete(self, server_id: str, host_id: int, work: WorkRecord | None) -> None:
        def finish(conn: Connection) -> None:
            if work is not None:
                servers.move_work(conn, work, WorkEvent.FINISH)
            servers.move_server(
                conn, server_id, ServerEvent.DELETED, task=None, updated_at=time.time()
            )
            free_cell_claims(conn, server_id)
            self.nics.release(conn, server_id)

        self.scheduler.update_host(host_id, lambda inv: release(inv, owner=server_id), finish)

    def _mark_deleted(self, server_id: str) -> None:
        with self.db.write() as conn:
            servers.move_server(
                conn, server_id, ServerEvent.DELETED, task=None, updated_at=time.time()
            )
            self.nics.release(conn, server_id)
