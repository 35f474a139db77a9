"""An agent's reconciliation report: where libvirt and the service's claims disagree.

After a restart the host agent compares what libvirt says each guest holds with what
the database says was claimed on its host, and reports every disagreement instead of
guessing which side is right (issue 4, "The host agent"). The service records it: a
server named in a mismatch goes to ERROR with the agent's words as its reason and a
fault, and keeps its devices, which only its deletion frees (the database stays the
source of truth; no device is released on an agent's say-so). A mismatch naming no
server (a domain holding devices nobody claimed) is logged for the operator.
"""

from __future__ import annotations

import json
import logging
import time
from typing import Annotated

from fastapi import Request
from pydantic import Field

from pciplane.api import views
from pciplane.api.auth import Who, require_host
from pciplane.api.context import ctx
from pciplane.api.schemas import ServerOut, Strict
from pciplane.core.errors import ConflictError
from pciplane.store import servers
from pciplane.store.servers import Fault, ServerState

log = logging.getLogger("pciplane.reconcile")


class MismatchIn(Strict):
    server_id: Annotated[str, Field(max_length=64)] | None = None
    domain: Annotated[str, Field(max_length=255)] | None = None
    detail: Annotated[str, Field(min_length=1, max_length=4000)]


class MismatchesIn(Strict):
    mismatches: Annotated[list[MismatchIn], Field(max_length=1000)]


class MismatchesOut(Strict):
    servers: list[ServerOut]


def report_mismatches(request: Request, name: str, body: MismatchesIn, who: Who) -> MismatchesOut:
    """Record the host's mismatches; the servers they put in ERROR come back."""
    require_host(who, name)
    context = ctx(request)
    touched: list[str] = []
    with context.db.write() as conn:
        for item in body.mismatches:
            log.warning(
                json.dumps(
                    {
                        "event": "mismatch",
                        "host": name,
                        "server": item.server_id,
                        "domain": item.domain,
                        "detail": item.detail,
                    }
                )
            )
            if item.server_id is None:
                continue
            server = servers.get_server(conn, item.server_id)
            if server.host != name:
                raise ConflictError(
                    f"server {item.server_id!r} is not on host {name!r}"
                    f" (the service has it on {server.host or 'no host'})"
                )
            if server.state is ServerState.DELETED:
                continue
            servers.update_server(
                conn,
                server.id,
                state=ServerState.ERROR,
                reason=f"host {name} reports: {item.detail}",
                faults=(*server.faults, Fault(host=name, reason=item.detail)),
                updated_at=time.time(),
            )
            touched.append(server.id)
    with context.db.read() as conn:
        out = [views.server_out(servers.get_server(conn, sid)) for sid in dict.fromkeys(touched)]
    return MismatchesOut(servers=out)
