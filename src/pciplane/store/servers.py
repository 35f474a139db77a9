"""Servers and the work items their hosts' agents take.

A work item goes ``pending`` -> ``delivered`` (an agent polled it) -> ``done`` (the agent
reported the outcome). When an agent registers again after a restart, what was delivered
to it and never answered is pending again, so no server waits forever in BUILD.
"""

from __future__ import annotations

import enum
import json
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from pciplane.core.errors import NotFoundError
from pciplane.store.tables import devices, hosts, servers, work_items


class ServerState(enum.StrEnum):
    BUILD = "BUILD"
    ACTIVE = "ACTIVE"
    ERROR = "ERROR"
    DELETED = "DELETED"


class WorkKind(enum.StrEnum):
    START = "start"
    STOP = "stop"
    ATTACH = "attach"
    DETACH = "detach"


@dataclass(frozen=True, kw_only=True, slots=True)
class Fault:
    """Why one placement attempt failed, and where."""

    host: str | None
    reason: str


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
    task: str | None = None
    reason: str | None = None
    host: str | None = None
    attempts: int = 0
    faults: tuple[Fault, ...] = ()
    domain_xml: str | None = None
    devices: tuple[str, ...] = ()
    created_at: float = 0.0
    updated_at: float = 0.0


@dataclass(frozen=True, kw_only=True, slots=True)
class WorkRecord:
    id: int
    host: str
    kind: WorkKind
    server_id: str
    state: str


def insert_server(conn: Connection, server: ServerRecord) -> None:
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
            task=server.task,
            reason=server.reason,
            host_id=None,
            attempts=server.attempts,
            faults="[]",
            domain_xml=None,
            created_at=server.created_at,
            updated_at=server.updated_at,
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
    return ServerRecord(
        id=row.id,
        name=row.name,
        project=row.project,
        flavor=row.flavor,
        vcpus=row.vcpus,
        ram=row.ram,
        extra_specs=tuple(sorted(json.loads(row.extra_specs).items())),
        state=ServerState(row.state),
        task=row.task,
        reason=row.reason,
        host=row.host_name,
        attempts=row.attempts,
        faults=tuple(Fault(host=f["host"], reason=f["reason"]) for f in json.loads(row.faults)),
        domain_xml=row.domain_xml,
        devices=tuple(held),
        created_at=row.created_at,
        updated_at=row.updated_at,
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
    conn: Connection, *, project: str | None = None, include_deleted: bool = False
) -> list[ServerRecord]:
    query = _query().order_by(servers.c.created_at, servers.c.id)
    if project is not None:
        query = query.where(servers.c.project == project)
    if not include_deleted:
        query = query.where(servers.c.state != str(ServerState.DELETED))
    return [_record(conn, row) for row in conn.execute(query)]


def update_server(conn: Connection, server_id: str, **values: object) -> None:
    if "faults" in values:
        faults = values["faults"]
        assert isinstance(faults, tuple)
        values["faults"] = json.dumps([{"host": f.host, "reason": f.reason} for f in faults])
    if "state" in values:
        values["state"] = str(values["state"])
    conn.execute(sa.update(servers).where(servers.c.id == server_id).values(**values))


def add_work(conn: Connection, *, host_id: int, server_id: str, kind: WorkKind, now: float) -> int:
    result = conn.execute(
        sa.insert(work_items).values(
            host_id=host_id, server_id=server_id, kind=str(kind), state="pending", created_at=now
        )
    )
    return int(result.inserted_primary_key[0])  # type: ignore[index]


def _work(row: sa.Row[tuple[object, ...]]) -> WorkRecord:
    return WorkRecord(
        id=row.id,
        host=row.host_name,
        kind=WorkKind(row.kind),
        server_id=row.server_id,
        state=row.state,
    )


def _work_query() -> sa.Select[tuple[object, ...]]:
    return sa.select(work_items, hosts.c.name.label("host_name")).join(
        hosts, work_items.c.host_id == hosts.c.id
    )


def take_work(conn: Connection, host_id: int, *, limit: int = 100) -> list[WorkRecord]:
    """The host's pending items, oldest first, now marked delivered."""
    rows = list(
        conn.execute(
            _work_query()
            .where(work_items.c.host_id == host_id, work_items.c.state == "pending")
            .order_by(work_items.c.id)
            .limit(limit)
        )
    )
    if rows:
        conn.execute(
            sa.update(work_items)
            .where(work_items.c.id.in_([r.id for r in rows]))
            .values(state="delivered")
        )
    return [_work(r) for r in rows]


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


def finish_work(conn: Connection, work_id: int) -> None:
    conn.execute(sa.update(work_items).where(work_items.c.id == work_id).values(state="done"))


def cancel_pending(conn: Connection, server_id: str, kind: WorkKind) -> bool:
    """Drop a not yet delivered item; True when there was one (no agent acted on it)."""
    result = conn.execute(
        sa.update(work_items)
        .where(
            work_items.c.server_id == server_id,
            work_items.c.kind == str(kind),
            work_items.c.state == "pending",
        )
        .values(state="cancelled")
    )
    return result.rowcount > 0


def redeliver(conn: Connection, host_id: int) -> int:
    """Delivered but unanswered items become pending again (the agent restarted)."""
    result = conn.execute(
        sa.update(work_items)
        .where(work_items.c.host_id == host_id, work_items.c.state == "delivered")
        .values(state="pending")
    )
    return int(result.rowcount)


def server_counts(conn: Connection) -> dict[str, int]:
    query = sa.select(servers.c.state, sa.func.count()).group_by(servers.c.state)
    return {state: n for state, n in conn.execute(query)}
