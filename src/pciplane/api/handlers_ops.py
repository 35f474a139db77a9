"""``/healthz`` and ``/metrics``: unauthenticated, read-only, cheap."""

from __future__ import annotations

import sqlalchemy as sa
from fastapi import Request
from fastapi.responses import PlainTextResponse

from pciplane.api import schemas
from pciplane.api.context import ctx
from pciplane.api.metrics import render
from pciplane.store.inventory import device_counts
from pciplane.store.servers import server_counts
from pciplane.store.tables import hosts

Samples = list[tuple[tuple[tuple[str, str], ...], float]]


def healthz(request: Request) -> schemas.Health:
    with ctx(request).db.read() as conn:
        conn.execute(sa.select(1))
    return schemas.Health(status="ok", database=ctx(request).db.dialect)


def metrics(request: Request) -> PlainTextResponse:
    context = ctx(request)
    with context.db.read() as conn:
        host_rows = list(conn.execute(sa.select(hosts.c.name, hosts.c.last_seen)))
        devices = device_counts(conn)
        states = server_counts(conn)
    gauges: dict[str, Samples] = {
        "pciplane_hosts": [((), float(len(host_rows)))],
        "pciplane_devices": [
            ((("dev_type", t), ("pool", f"{v}:{p}"), ("status", s)), float(n))
            for (s, v, p, t), n in sorted(devices.items())
        ],
        "pciplane_servers": [((("state", s),), float(n)) for s, n in sorted(states.items())],
        "pciplane_agent_last_seen_seconds": [
            ((("host", name),), float(seen)) for name, seen in host_rows if seen is not None
        ],
    }
    return PlainTextResponse(
        render(context.metrics, gauges), media_type="text/plain; version=0.0.4"
    )
