"""Per-project quota limits and usage in the database, and the project's lock.

A create or a port attach counts the project's usage and checks it inside the claim's
own transaction, after :func:`lock`: on PostgreSQL ``SELECT ... FOR UPDATE`` of
the project's row, so concurrent creates of one project (in any API process) count one
after the other and each sees what the one before committed (READ COMMITTED); on SQLite
the writer's ``BEGIN IMMEDIATE`` serialises them already.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from pciplane.core.lifecycle import ServerState
from pciplane.core.network import request_physnets
from pciplane.core.quota import CORES, INSTANCES, PORT_PREFIX, RAM, add, alias_counts
from pciplane.core.request import SRIOV_VNIC_TYPES
from pciplane.store.networks import get_network
from pciplane.store.tables import ports, quota_limits, quota_projects, servers


def lock(conn: Connection, project: str) -> None:
    """Hold the project's quota row until the transaction ends (made on first use)."""
    insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
    conn.execute(
        insert(quota_projects)
        .values(project=project, generation=0)
        .on_conflict_do_nothing(index_elements=["project"])
    )
    conn.execute(
        sa.select(quota_projects.c.generation)
        .where(quota_projects.c.project == project)
        .with_for_update()
    )


def overrides(conn: Connection, project: str) -> dict[str, int]:
    query = sa.select(quota_limits.c.resource, quota_limits.c.hard_limit).where(
        quota_limits.c.project == project
    )
    return {resource: int(limit) for resource, limit in conn.execute(query)}


def set_overrides(conn: Connection, project: str, changes: Mapping[str, int | None]) -> None:
    """Write the project's own limits; None removes one (the default applies again)."""
    for resource, limit in changes.items():
        conn.execute(
            sa.delete(quota_limits).where(
                quota_limits.c.project == project, quota_limits.c.resource == resource
            )
        )
        if limit is not None:
            conn.execute(
                sa.insert(quota_limits).values(project=project, resource=resource, hard_limit=limit)
            )


def usage(conn: Connection, project: str) -> dict[str, int]:
    """What the project's live servers hold: servers, vCPUs, RAM, devices per alias,
    SR-IOV ports per physical network."""
    live = sa.and_(servers.c.project == project, servers.c.state != str(ServerState.DELETED))
    total: dict[str, int] = {INSTANCES: 0, CORES: 0, RAM: 0}
    # Summed by the database, one row per distinct set of extra specs (a project's
    # flavors): a create does not read every server of its project.
    by_specs = (
        sa.select(
            servers.c.extra_specs,
            sa.func.count(),
            sa.func.sum(servers.c.vcpus),
            sa.func.sum(servers.c.ram),
        )
        .where(live)
        .group_by(servers.c.extra_specs)
    )
    for specs, n, vcpus, ram in conn.execute(by_specs):
        add(total, {INSTANCES: int(n), CORES: int(vcpus), RAM: int(ram)})
        add(total, {k: v * int(n) for k, v in alias_counts(json.loads(specs)).items()})
    query = (
        sa.select(ports.c.network_id, sa.func.count())
        .join(servers, ports.c.server_id == servers.c.id)
        .where(live, ports.c.vnic_type.in_(sorted(str(v) for v in SRIOV_VNIC_TYPES)))
        .group_by(ports.c.network_id)
    )
    for network_id, n in list(conn.execute(query)):
        physnets = request_physnets(get_network(conn, network_id).segments)
        if physnets:
            add(total, {PORT_PREFIX + physnets[0]: int(n)})
    return total
