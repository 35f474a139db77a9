"""Agents' reconciliation reports, kept per host for operators to read.

The service acts on a mismatch once (service/reconcile.py); the row only records what the
agent said and when, so the host page can show the recent ones. Rows go with their host.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from pciplane.store.tables import hosts, mismatches


@dataclass(frozen=True, kw_only=True, slots=True)
class MismatchRecord:
    host: str
    detail: str
    reported_at: float
    server_id: str | None = None
    domain: str | None = None


def add_mismatch(conn: Connection, host_id: int, record: MismatchRecord) -> None:
    conn.execute(
        mismatches.insert().values(
            host_id=host_id,
            server_id=record.server_id,
            domain=record.domain,
            detail=record.detail,
            reported_at=record.reported_at,
        )
    )


def recent_mismatches(conn: Connection, host: str, *, limit: int) -> list[MismatchRecord]:
    """The host's last ``limit`` reports, newest first."""
    query = (
        sa.select(mismatches, hosts.c.name)
        .join(hosts, mismatches.c.host_id == hosts.c.id)
        .where(hosts.c.name == host)
        .order_by(mismatches.c.reported_at.desc(), mismatches.c.id.desc())
        .limit(limit)
    )
    return [
        MismatchRecord(
            host=row.name,
            detail=row.detail,
            reported_at=row.reported_at,
            server_id=row.server_id,
            domain=row.domain,
        )
        for row in conn.execute(query)
    ]
