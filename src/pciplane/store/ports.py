"""Ports in the database (Neutron's, with the binding extension).

The rules that two writers could break at once are the database's: a MAC address belongs
to one port per network (unique pair), and a port to one server (``UPDATE ports ... WHERE
server_id IS NULL``): the loser of a race gets a 409 and its transaction writes nothing.
Port statuses move through :data:`pciplane.core.lifecycle.PORT_MOVES` with ``WHERE status
IN (allowed)``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from pciplane.core.binding import VifType
from pciplane.core.errors import AlreadyExistsError, InUseError, NotFoundError, StateError
from pciplane.core.lifecycle import PORT_MOVES, PortEvent, PortStatus, port_move
from pciplane.core.request import VnicType
from pciplane.store.tables import ports


@dataclass(frozen=True, kw_only=True, slots=True)
class PortRecord:
    id: str
    name: str
    project: str
    network_id: str
    mac_address: str
    vnic_type: VnicType = VnicType.NORMAL
    admin_state_up: bool = True
    port_security_enabled: bool = True
    numa_affinity_policy: str | None = None
    propagate_uplink_status: bool = False
    description: str = ""
    device_id: str = ""
    device_owner: str = ""
    status: PortStatus = PortStatus.DOWN
    host_id: str = ""
    #: ``binding:profile`` is these two merged: the client's keys, and the keys binding
    #: added for the port's device (Nova §4.5), removed again when it is unbound.
    profile: Mapping[str, object] = field(default_factory=dict)
    bound_profile: Mapping[str, object] = field(default_factory=dict)
    vif_type: VifType = VifType.UNBOUND
    vif_details: Mapping[str, object] = field(default_factory=dict)
    server_id: str | None = None
    auto_delete: bool = False
    wired: tuple[Mapping[str, object], ...] = ()
    revision_number: int = 1
    created_at: float = 0.0
    updated_at: float = 0.0

    def label(self) -> str:
        return f"port {self.name!r}" if self.name else f"port {self.id}"


# --- ports ------------------------------------------------------------------------


def _port_values(port: PortRecord) -> dict[str, object]:
    return {
        "id": port.id,
        "name": port.name,
        "project": port.project,
        "network_id": port.network_id,
        "mac_address": port.mac_address,
        "admin_state_up": port.admin_state_up,
        "port_security_enabled": port.port_security_enabled,
        "numa_affinity_policy": port.numa_affinity_policy,
        "propagate_uplink_status": port.propagate_uplink_status,
        "description": port.description,
        "device_id": port.device_id,
        "device_owner": port.device_owner,
        "status": str(port.status),
        "vnic_type": str(port.vnic_type),
        "host_id": port.host_id,
        "profile": json.dumps(dict(port.profile), sort_keys=True),
        "bound_profile": json.dumps(dict(port.bound_profile), sort_keys=True),
        "vif_type": str(port.vif_type),
        "vif_details": json.dumps(dict(port.vif_details), sort_keys=True),
        "server_id": port.server_id,
        "auto_delete": port.auto_delete,
        "wired": json.dumps([dict(w) for w in port.wired]) if port.wired else None,
        "revision_number": port.revision_number,
        "created_at": port.created_at,
        "updated_at": port.updated_at,
    }


def mac_in_use(conn: Connection, network_id: str, mac: str) -> bool:
    query = sa.select(ports.c.id).where(
        ports.c.network_id == network_id, ports.c.mac_address == mac
    )
    return conn.execute(query.limit(1)).first() is not None


def insert_port(conn: Connection, port: PortRecord) -> None:
    try:
        conn.execute(sa.insert(ports).values(**_port_values(port)))
    except sa.exc.IntegrityError:
        raise AlreadyExistsError(
            f"MAC address {port.mac_address} is in use on network {port.network_id}"
        ) from None


def _port(row: sa.Row[tuple[object, ...]]) -> PortRecord:
    return PortRecord(
        id=row.id,
        name=row.name,
        project=row.project,
        network_id=row.network_id,
        mac_address=row.mac_address,
        vnic_type=VnicType(row.vnic_type),
        admin_state_up=row.admin_state_up,
        port_security_enabled=row.port_security_enabled,
        numa_affinity_policy=row.numa_affinity_policy,
        propagate_uplink_status=row.propagate_uplink_status,
        description=row.description,
        device_id=row.device_id,
        device_owner=row.device_owner,
        status=PortStatus(row.status),
        host_id=row.host_id,
        profile=json.loads(row.profile),
        bound_profile=json.loads(row.bound_profile),
        vif_type=VifType(row.vif_type),
        vif_details=json.loads(row.vif_details),
        server_id=row.server_id,
        auto_delete=row.auto_delete,
        wired=tuple(json.loads(row.wired)) if row.wired else (),
        revision_number=row.revision_number,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def list_ports(
    conn: Connection,
    *,
    project: str | None = None,
    ids: Sequence[str] | None = None,
    name: str | None = None,
    network_id: str | None = None,
    device_id: str | None = None,
    server_id: str | None = None,
    host_id: str | None = None,
) -> list[PortRecord]:
    query = sa.select(ports).order_by(ports.c.created_at, ports.c.id)
    for column, value in (
        (ports.c.project, project),
        (ports.c.name, name),
        (ports.c.network_id, network_id),
        (ports.c.device_id, device_id),
        (ports.c.server_id, server_id),
        (ports.c.host_id, host_id),
    ):
        if value is not None:
            query = query.where(column == value)
    if ids is not None:
        query = query.where(ports.c.id.in_(list(ids)))
    return [_port(r) for r in conn.execute(query)]


def get_port(conn: Connection, port_id: str, *, project: str | None = None) -> PortRecord:
    """The port; another project's port is "not found", as if it did not exist."""
    found = list_ports(conn, project=project, ids=[port_id])
    if not found:
        raise NotFoundError(f"port {port_id} could not be found")
    return found[0]


def _json_values(values: Mapping[str, object]) -> dict[str, object]:
    out = dict(values)
    for key in ("profile", "bound_profile", "vif_details"):
        if key in out:
            out[key] = json.dumps(dict(out[key]), sort_keys=True)  # type: ignore[call-overload]
    if "wired" in out:
        wired = out["wired"]
        out["wired"] = json.dumps([dict(w) for w in wired]) if wired else None  # type: ignore[attr-defined]
    for key in ("status", "vif_type", "vnic_type"):
        if key in out:
            out[key] = str(out[key])
    return out


def update_port(
    conn: Connection,
    port_id: str,
    *,
    now: float,
    server: str | bool | None = False,
    statuses: frozenset[str] | None = None,
    **values: object,
) -> None:
    """Write ``values``; with ``server`` (an id, or None) only while the port's server
    is that one, else :class:`InUseError` and nothing is written; with ``statuses`` only
    while its status is one of them (a move of :data:`PORT_MOVES`), else StateError."""
    query = sa.update(ports).where(ports.c.id == port_id)
    if server is not False:
        query = query.where(
            ports.c.server_id.is_(None) if server is None else ports.c.server_id == server
        )
    if statuses is not None:
        query = query.where(ports.c.status.in_(sorted(statuses)))
    result = conn.execute(
        query.values(
            revision_number=ports.c.revision_number + 1, updated_at=now, **_json_values(values)
        )
    )
    if result.rowcount != 1:
        owner = conn.execute(
            sa.select(ports.c.server_id, ports.c.status).where(ports.c.id == port_id)
        ).first()
        if owner is None:
            raise NotFoundError(f"port {port_id} could not be found")
        if statuses is not None and owner.status not in statuses:
            raise StateError(f"port {port_id} changed meanwhile (it is {owner.status})")
        raise InUseError(
            f"port {port_id} is in use by server {owner.server_id}"
            if owner.server_id
            else f"port {port_id} is not in use by server {server}"
        )


def move_port(
    conn: Connection, port_id: str, event: PortEvent, *, now: float, **values: object
) -> PortStatus:
    """Apply ``event`` to the port's status (and write ``values`` with it)."""
    row = conn.execute(sa.select(ports.c.status).where(ports.c.id == port_id)).first()
    if row is None:
        raise NotFoundError(f"port {port_id} could not be found")
    to = port_move(PortStatus(row.status), event)
    allowed = sorted(PORT_MOVES[event].allowed_from)
    result = conn.execute(
        sa.update(ports)
        .where(ports.c.id == port_id, ports.c.status.in_(allowed))
        .values(status=str(to), updated_at=now, **_json_values(values))
    )
    if result.rowcount != 1:
        raise StateError(f"port {port_id} changed meanwhile; it cannot be {event} now")
    return to


def delete_port(conn: Connection, port_id: str) -> None:
    """Refused while a server uses it (409): detach it first."""
    result = conn.execute(
        sa.delete(ports).where(ports.c.id == port_id, ports.c.server_id.is_(None))
    )
    if result.rowcount != 1:
        port = get_port(conn, port_id)
        raise InUseError(
            f"port {port_id} is in use by server {port.server_id}; remove it from the server first"
        )


def delete_server_ports(conn: Connection, server_id: str) -> None:
    """The ports a server created for itself (``--nic net-id=...``) go with it."""
    conn.execute(
        sa.delete(ports).where(ports.c.server_id == server_id, ports.c.auto_delete.is_(True))
    )
