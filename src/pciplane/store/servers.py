"""Servers and the work items their hosts' agents take.

States change only through the tables of :mod:`pciplane.core.lifecycle`: each move is
one ``UPDATE ... WHERE id = :id AND state IN (allowed)``, so when two processes race to
move the same server or work item, exactly one wins and the other gets
:class:`StateError` inside its transaction, which then writes nothing.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from pciplane.core.errors import NotFoundError, StateError
from pciplane.core.guest import GuestDisk, GuestPlan
from pciplane.core.lifecycle import (
    SERVER_MOVES,
    WORK_MOVES,
    Fault,
    ServerEvent,
    ServerState,
    ServerTask,
    WorkEvent,
    WorkKind,
    WorkState,
    server_allowed_from,
    server_move,
    work_move,
)
from pciplane.store.ports import PortRecord, list_ports
from pciplane.store.tables import devices, hosts, servers, work_items


@dataclass(frozen=True, kw_only=True, slots=True)
class ServerRecord:
    id: str
    name: str
    project: str
    flavor: str
    vcpus: int
    ram: int
    extra_specs: tuple[tuple[str, str], ...]
    state: ServerState
    task: ServerTask | None = None
    reason: str | None = None
    host: str | None = None
    attempts: int = 0
    faults: tuple[Fault, ...] = ()
    guest_plan: GuestPlan | None = None
    domain_xml: str | None = None
    devices: tuple[str, ...] = ()
    created_at: float = 0.0
    updated_at: float = 0.0
    #: Its ports (Neutron's), in the order they were created.
    ports: tuple[PortRecord, ...] = ()
    #: The flavor's Nova id when the server was created (None before migration 0003).
    flavor_id: str | None = None
    description: str | None = None
    #: The Keystone user that created it (None for a static token).
    user_id: str | None = None
    #: The image reference it was asked to boot from, as given (shown).
    image: str | None = None
    #: The image it boots from (None: no disk, or the server is deleted).
    image_id: str | None = None
    #: Its boot disk, decided at create: the plan of every placement carries it.
    disk: GuestDisk | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class WorkRecord:
    id: int
    host: str
    kind: WorkKind
    server_id: str
    state: WorkState
    created_at: float = 0.0
    #: This item's own plan (a hot plug's port alone); None: the server's plan.
    plan: GuestPlan | None = None
    port_id: str | None = None
    reason: str | None = None
    code: str | None = None


def _faults_json(faults: tuple[Fault, ...]) -> str:
    return json.dumps([{"host": f.host, "reason": f.reason} for f in faults])


def _plan_json(plan: GuestPlan | None) -> str | None:
    return None if plan is None else json.dumps(plan.to_json(), sort_keys=True)


def _disk_json(disk: GuestDisk | None) -> str | None:
    return None if disk is None else json.dumps(disk.to_json(), sort_keys=True)


def _disk(text: str | None) -> GuestDisk | None:
    if text is None:
        return None
    return GuestDisk.from_json(json.loads(text))


def insert_server(conn: Connection, server: ServerRecord, *, host_id: int | None = None) -> None:
    conn.execute(
        sa.insert(servers).values(
            id=server.id,
            name=server.name,
            project=server.project,
            flavor=server.flavor,
            vcpus=server.vcpus,
            ram=server.ram,
            extra_specs=json.dumps(dict(server.extra_specs)),
            state=str(server.state),
            task=None if server.task is None else str(server.task),
            reason=server.reason,
            host_id=host_id,
            attempts=server.attempts,
            faults=_faults_json(server.faults),
            guest_plan=_plan_json(server.guest_plan),
            domain_xml=None,
            created_at=server.created_at,
            updated_at=server.updated_at,
            flavor_id=server.flavor_id,
            description=server.description,
            user_id=server.user_id,
            image_ref=server.image,
            image_id=server.image_id,
            disk=_disk_json(server.disk),
        )
    )


def _query() -> sa.Select[tuple[object, ...]]:
    return sa.select(servers, hosts.c.name.label("host_name")).outerjoin(
        hosts, servers.c.host_id == hosts.c.id
    )


def _record(conn: Connection, row: sa.Row[tuple[object, ...]]) -> ServerRecord:
    held = conn.execute(
        sa.select(devices.c.address).where(devices.c.owner == row.id).order_by(devices.c.address)
    ).scalars()
    plan = None if row.guest_plan is None else GuestPlan.from_json(json.loads(row.guest_plan))
    return ServerRecord(
        id=row.id,
        name=row.name,
        project=row.project,
        flavor=row.flavor,
        vcpus=row.vcpus,
        ram=row.ram,
        extra_specs=tuple(sorted(json.loads(row.extra_specs).items())),
        state=ServerState(row.state),
        task=None if row.task is None else ServerTask(row.task),
        reason=row.reason,
        host=row.host_name,
        attempts=row.attempts,
        faults=tuple(Fault(host=f["host"], reason=f["reason"]) for f in json.loads(row.faults)),
        guest_plan=plan,
        domain_xml=row.domain_xml,
        devices=tuple(held),
        created_at=row.created_at,
        updated_at=row.updated_at,
        ports=tuple(list_ports(conn, server_id=row.id)),
        flavor_id=row.flavor_id,
        description=row.description,
        user_id=row.user_id,
        image=row.image_ref,
        image_id=row.image_id,
        disk=_disk(row.disk),
    )


def get_server(conn: Connection, server_id: str, *, project: str | None = None) -> ServerRecord:
    """The server; another project's server is "not found", as if it did not exist."""
    query = _query().where(servers.c.id == server_id)
    if project is not None:
        query = query.where(servers.c.project == project)
    row = conn.execute(query).first()
    if row is None:
        raise NotFoundError(f"server {server_id!r} does not exist")
    return _record(conn, row)


def list_servers(
    conn: Connection,
    *,
    project: str | None = None,
    include_deleted: bool = False,
    name: str | None = None,
    host: str | None = None,
) -> list[ServerRecord]:
    query = _query().order_by(servers.c.created_at, servers.c.id)
    if host is not None:
        query = query.where(hosts.c.name == host)
    if project is not None:
        query = query.where(servers.c.project == project)
    if not include_deleted:
        query = query.where(servers.c.state != str(ServerState.DELETED))
    if name is not None:
        query = query.where(servers.c.name == name)
    return [_record(conn, row) for row in conn.execute(query)]


def _values(values: dict[str, object]) -> dict[str, object]:
    out = dict(values)
    if "faults" in out:
        faults = out["faults"]
        assert isinstance(faults, tuple)
        out["faults"] = _faults_json(faults)
    if "guest_plan" in out:
        plan = out["guest_plan"]
        assert plan is None or isinstance(plan, GuestPlan)
        out["guest_plan"] = _plan_json(plan)
    if "task" in out and out["task"] is not None:
        out["task"] = str(out["task"])
    return out


def move_server(
    conn: Connection,
    server_id: str,
    event: ServerEvent,
    *,
    unplaced: bool = False,
    **values: object,
) -> ServerState:
    """Apply ``event`` to the server and write ``values`` with it; the new state.

    The write is conditional on the server being in a state the table allows (with no
    task under way for a move that starts an action, and, with ``unplaced``, on it
    having no host yet), so a racing writer that moved it first makes
    this raise :class:`StateError` and the caller's transaction write nothing.
    """
    allowed = server_allowed_from(event)
    query = sa.update(servers).where(
        servers.c.id == server_id, servers.c.state.in_(sorted(allowed))
    )
    if unplaced:
        query = query.where(servers.c.host_id.is_(None))
    if SERVER_MOVES[event].idle:
        query = query.where(servers.c.task.is_(None))
    row = conn.execute(
        sa.select(servers.c.state, servers.c.task).where(servers.c.id == server_id)
    ).first()
    if row is None:
        raise NotFoundError(f"server {server_id!r} does not exist")
    task = None if row.task is None else ServerTask(row.task)
    to = server_move(ServerState(row.state), event, task)
    if to is ServerState.DELETED:
        values = {**values, "image_id": None}  # a deleted server no longer holds its image
    result = conn.execute(query.values(state=str(to), **_values(values)))
    if result.rowcount != 1:
        raise StateError(f"server {server_id} changed meanwhile; it cannot be {event} now")
    return to


def update_server(conn: Connection, server_id: str, **values: object) -> None:
    """Write fields that are not the state (the task, the domain XML the agent reported)."""
    if "state" in values:
        raise StateError("a server's state changes only through move_server")
    conn.execute(sa.update(servers).where(servers.c.id == server_id).values(**_values(values)))


# --- work items -------------------------------------------------------------------


def add_work(
    conn: Connection,
    *,
    host_id: int,
    server_id: str,
    kind: WorkKind,
    now: float,
    plan: GuestPlan | None = None,
    port_id: str | None = None,
) -> int:
    result = conn.execute(
        sa.insert(work_items).values(
            host_id=host_id,
            server_id=server_id,
            kind=str(kind),
            state=str(WorkState.PENDING),
            created_at=now,
            plan=_plan_json(plan),
            port_id=port_id,
        )
    )
    return int(result.inserted_primary_key[0])  # type: ignore[index]


def _work(row: sa.Row[tuple[object, ...]]) -> WorkRecord:
    return WorkRecord(
        id=row.id,
        host=row.host_name,
        kind=WorkKind(row.kind),
        server_id=row.server_id,
        state=WorkState(row.state),
        created_at=row.created_at,
        plan=None if row.plan is None else GuestPlan.from_json(json.loads(row.plan)),
        port_id=row.port_id,
        reason=row.reason,
        code=row.code,
    )


def _work_query() -> sa.Select[tuple[object, ...]]:
    return sa.select(work_items, hosts.c.name.label("host_name")).join(
        hosts, work_items.c.host_id == hosts.c.id
    )


def _move_work(conn: Connection, where: sa.ColumnElement[bool], event: WorkEvent) -> int:
    """Move every item ``where`` selects that the table allows; how many moved."""
    move = WORK_MOVES[event]
    result = conn.execute(
        sa.update(work_items)
        .where(where, work_items.c.state.in_(sorted(move.allowed_from)))
        .values(state=str(move.to))
    )
    return int(result.rowcount)


def take_work(conn: Connection, host_id: int, *, limit: int = 100) -> list[WorkRecord]:
    """The host's pending items, oldest first, now delivered."""
    rows = list(
        conn.execute(
            _work_query()
            .where(work_items.c.host_id == host_id, work_items.c.state == str(WorkState.PENDING))
            .order_by(work_items.c.id)
            .limit(limit)
        )
    )
    if rows:
        _move_work(conn, work_items.c.id.in_([r.id for r in rows]), WorkEvent.TAKE)
    return [replace(w, state=work_move(w.state, WorkEvent.TAKE)) for w in map(_work, rows)]


#: The largest value an INTEGER id column holds on every supported database
#: (PostgreSQL's ``integer`` is 4 bytes; SQLite's driver refuses more than 8).
MAX_ID = 2**31 - 1


def get_work(conn: Connection, work_id: int) -> WorkRecord:
    """The work item; an id no INTEGER column can hold is simply not found (not a 500)."""
    if not 0 < work_id <= MAX_ID:
        raise NotFoundError(f"work item {work_id} does not exist")
    row = conn.execute(_work_query().where(work_items.c.id == work_id)).first()
    if row is None:
        raise NotFoundError(f"work item {work_id} does not exist")
    return _work(row)


def move_work(
    conn: Connection,
    work: WorkRecord,
    event: WorkEvent,
    *,
    reason: str | None = None,
    code: str | None = None,
) -> WorkState:
    """Apply ``event`` to one item (recording the agent's reason and error code when
    given); :class:`StateError` if it moved meanwhile."""
    to = work_move(work.state, event)
    if _move_work(conn, work_items.c.id == work.id, event) != 1:
        raise StateError(f"work item {work.id} changed meanwhile; it cannot take {event} now")
    if reason is not None or code is not None:
        conn.execute(
            sa.update(work_items).where(work_items.c.id == work.id).values(reason=reason, code=code)
        )
    return to


def open_attach_work(conn: Connection, server_id: str) -> list[WorkRecord]:
    """Hot plugs of the server still waiting for its agent."""
    query = _work_query().where(
        work_items.c.server_id == server_id,
        work_items.c.kind.in_([str(WorkKind.ATTACH), str(WorkKind.DETACH)]),
        work_items.c.state.in_([str(WorkState.PENDING), str(WorkState.DELIVERED)]),
    )
    return [_work(r) for r in conn.execute(query)]


def cancel_pending(conn: Connection, server_id: str, kind: WorkKind) -> bool:
    """Withdraw a not yet delivered item; True when there was one (no agent acted on it)."""
    where = sa.and_(work_items.c.server_id == server_id, work_items.c.kind == str(kind))
    return _move_work(conn, where, WorkEvent.CANCEL) > 0


def redeliver(conn: Connection, host_id: int) -> int:
    """Delivered but unanswered items become pending again (the agent restarted)."""
    return _move_work(conn, work_items.c.host_id == host_id, WorkEvent.REDELIVER)


def overdue_starts(conn: Connection, *, before: float) -> list[WorkRecord]:
    """Open start items queued before ``before``: no agent answered them in time."""
    query = _work_query().where(
        work_items.c.kind == str(WorkKind.START),
        work_items.c.state.in_([str(WorkState.PENDING), str(WorkState.DELIVERED)]),
        work_items.c.created_at < before,
    )
    return [_work(r) for r in conn.execute(query.order_by(work_items.c.id))]


def unplaced_builds(conn: Connection, *, before: float) -> list[str]:
    """Servers in BUILD with no host, last changed before ``before``: a process that was
    rescheduling them died between freeing the old claim and placing them again."""
    query = sa.select(servers.c.id).where(
        servers.c.state == str(ServerState.BUILD),
        servers.c.host_id.is_(None),
        servers.c.updated_at < before,
    )
    return list(conn.execute(query.order_by(servers.c.created_at)).scalars())


def states_on_host(conn: Connection, host: str) -> list[tuple[str, ServerState, ServerTask | None]]:
    """``(id, state, task)`` of every live server placed on the host (one cheap query)."""
    query = (
        sa.select(servers.c.id, servers.c.state, servers.c.task)
        .join(hosts, servers.c.host_id == hosts.c.id)
        .where(hosts.c.name == host, servers.c.state != str(ServerState.DELETED))
    )
    return [
        (row.id, ServerState(row.state), None if row.task is None else ServerTask(row.task))
        for row in conn.execute(query)
    ]


def server_counts(conn: Connection) -> dict[str, int]:
    query = sa.select(servers.c.state, sa.func.count()).group_by(servers.c.state)
    return {state: n for state, n in conn.execute(query)}
