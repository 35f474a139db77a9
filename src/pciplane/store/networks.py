"""Networks and their segments in the database.

A segment key (a VLAN on a physnet, a flat physnet, a tunnel id) belongs to one network:
the column is unique, so of two creates racing for one the loser gets a 409 and its
transaction writes nothing. Ports are :mod:`pciplane.store.ports`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from pciplane.core.errors import InUseError, NotFoundError
from pciplane.core.network import Network, NetworkType, Segment
from pciplane.store.tables import network_segments, networks, ports


@dataclass(frozen=True, kw_only=True, slots=True)
class NetworkRecord:
    id: str
    name: str
    project: str
    segments: tuple[Segment, ...]
    shared: bool = False
    admin_state_up: bool = True
    mtu: int = 1500
    port_security_enabled: bool = True
    description: str = ""
    revision_number: int = 1
    created_at: float = 0.0
    updated_at: float = 0.0

    def network(self) -> Network:
        return Network(id=self.id, name=self.name, segments=self.segments)


# --- networks ---------------------------------------------------------------------


def _segment_rows(network_id: str, segments: Sequence[Segment]) -> list[dict[str, object]]:
    return [
        {
            "network_id": network_id,
            "position": i,
            "network_type": str(s.network_type),
            "physical_network": s.physical_network,
            "segmentation_id": s.segmentation_id,
            "key": s.key,
        }
        for i, s in enumerate(segments)
    ]


def _in_use(segment: Segment) -> InUseError:
    if segment.network_type is NetworkType.VLAN:
        return InUseError(
            f"unable to create the network: the VLAN {segment.segmentation_id} on physical "
            f"network {segment.physical_network} is in use"
        )
    if segment.network_type is NetworkType.FLAT:
        return InUseError(
            f"unable to create the flat network: physical network "
            f"{segment.physical_network} is in use"
        )
    return InUseError(
        f"unable to create the network: {segment.network_type} id "
        f"{segment.segmentation_id} is in use"
    )


def insert_network(conn: Connection, record: NetworkRecord) -> None:
    """The network and its segments; a segment another network has is refused (409)."""
    keys = [s.key for s in record.segments if s.key is not None]
    if keys:
        taken = set(
            conn.execute(
                sa.select(network_segments.c.key).where(network_segments.c.key.in_(keys))
            ).scalars()
        )
        for segment in record.segments:
            if segment.key in taken:
                raise _in_use(segment)
    conn.execute(
        sa.insert(networks).values(
            id=record.id,
            name=record.name,
            project=record.project,
            shared=record.shared,
            admin_state_up=record.admin_state_up,
            mtu=record.mtu,
            port_security_enabled=record.port_security_enabled,
            description=record.description,
            revision_number=record.revision_number,
            created_at=record.created_at,
            updated_at=record.updated_at,
        )
    )
    try:
        conn.execute(sa.insert(network_segments), _segment_rows(record.id, record.segments))
    except sa.exc.IntegrityError:  # a concurrent create took one of the keys
        raise InUseError("unable to create the network: one of its segments is in use") from None


def _segments_of(conn: Connection, ids: Sequence[str]) -> dict[str, list[Segment]]:
    out: dict[str, list[Segment]] = {i: [] for i in ids}
    if not ids:
        return out
    query = (
        sa.select(network_segments)
        .where(network_segments.c.network_id.in_(ids))
        .order_by(network_segments.c.network_id, network_segments.c.position)
    )
    for row in conn.execute(query):
        out[row.network_id].append(
            Segment(
                network_type=NetworkType(row.network_type),
                physical_network=row.physical_network,
                segmentation_id=row.segmentation_id,
            )
        )
    return out


def _visible(
    query: sa.Select[tuple[object, ...]], project: str | None
) -> sa.Select[tuple[object, ...]]:
    """A project sees its own networks and shared ones; the admin (None) sees all."""
    if project is None:
        return query
    return query.where(sa.or_(networks.c.project == project, networks.c.shared.is_(True)))


def list_networks(
    conn: Connection,
    *,
    project: str | None = None,
    name: str | None = None,
    ids: Sequence[str] | None = None,
    shared: bool | None = None,
) -> list[NetworkRecord]:
    query = _visible(sa.select(networks), project).order_by(networks.c.created_at, networks.c.id)
    if name is not None:
        query = query.where(networks.c.name == name)
    if ids is not None:
        query = query.where(networks.c.id.in_(list(ids)))
    if shared is not None:
        query = query.where(networks.c.shared.is_(shared))
    rows = list(conn.execute(query))
    segments = _segments_of(conn, [r.id for r in rows])
    return [
        NetworkRecord(
            id=r.id,
            name=r.name,
            project=r.project,
            segments=tuple(segments[r.id]),
            shared=r.shared,
            admin_state_up=r.admin_state_up,
            mtu=r.mtu,
            port_security_enabled=r.port_security_enabled,
            description=r.description,
            revision_number=r.revision_number,
            created_at=r.created_at,
            updated_at=r.updated_at,
        )
        for r in rows
    ]


def get_network(conn: Connection, network_id: str, *, project: str | None = None) -> NetworkRecord:
    """The network; one the project may not see is "not found", as in Neutron."""
    found = list_networks(conn, project=project, ids=[network_id])
    if not found:
        raise NotFoundError(f"network {network_id} could not be found")
    return found[0]


def update_network(conn: Connection, network_id: str, *, now: float, **values: object) -> None:
    conn.execute(
        sa.update(networks)
        .where(networks.c.id == network_id)
        .values(revision_number=networks.c.revision_number + 1, updated_at=now, **values)
    )


def delete_network(conn: Connection, network_id: str) -> None:
    """Refused (409, Neutron's NetworkInUse) while any port is on it."""
    used = conn.execute(
        sa.select(sa.func.count()).select_from(ports).where(ports.c.network_id == network_id)
    ).scalar_one()
    if used:
        raise InUseError(
            f"unable to complete operation on network {network_id}: there are {used} port(s) "
            "on it; delete them first"
        )
    conn.execute(sa.delete(networks).where(networks.c.id == network_id))
