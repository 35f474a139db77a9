"""An agent's reconciliation report: where libvirt and the service's claims disagree.

After a restart the host agent compares what libvirt says each guest holds with what
the service says was claimed on its host, and reports every disagreement instead of
guessing which side is right. The service records it: a server named in a mismatch goes
to ERROR with the agent's words as its reason and a fault (once: an agent that restarts
again does not add the same fault twice), and keeps its devices, which only its deletion
frees (the database stays the source of truth; no device is released on an agent's
say-so). A mismatch naming no server (a domain holding devices nobody claimed) is logged
for the operator. Every mismatch is also kept with its host and time, for the host page's
"recent mismatches".
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass

from pciplane.core.errors import ConflictError
from pciplane.core.lifecycle import Fault, ServerEvent, ServerState, add_fault
from pciplane.store import servers
from pciplane.store.db import Database
from pciplane.store.hosts import host_id_of
from pciplane.store.mismatches import MismatchRecord, add_mismatch, recent_mismatches
from pciplane.store.servers import ServerRecord

#: How many of a host's reports the host page shows.
RECENT = 20

log = logging.getLogger("pciplane.reconcile")


@dataclass(frozen=True, kw_only=True, slots=True)
class Mismatch:
    detail: str
    server_id: str | None = None
    domain: str | None = None


class ReconcileService:
    def __init__(self, db: Database) -> None:
        self.db = db

    def report(self, host: str, mismatches: list[Mismatch]) -> list[ServerRecord]:
        """Record the host's mismatches; the servers they put (or keep) in ERROR."""
        touched: list[str] = []
        now = time.time()
        with self.db.write() as conn:
            host_id = host_id_of(conn, host)
            for item in mismatches:
                log.warning(
                    json.dumps(
                        {
                            "event": "mismatch",
                            "host": host,
                            "server": item.server_id,
                            "domain": item.domain,
                            "detail": item.detail,
                        }
                    )
                )
                add_mismatch(
                    conn,
                    host_id,
                    MismatchRecord(
                        host=host,
                        detail=item.detail,
                        reported_at=now,
                        server_id=item.server_id,
                        domain=item.domain,
                    ),
                )
                if item.server_id is None:
                    continue
                server = servers.get_server(conn, item.server_id)
                if server.host != host:
                    raise ConflictError(
                        f"server {item.server_id!r} is not on host {host!r}"
                        f" (the service has it on {server.host or 'no host'})"
                    )
                if server.state is ServerState.DELETED:
                    continue
                reason = f"host {host} reports: {item.detail}"
                faults = add_fault(server.faults, Fault(host=host, reason=item.detail))
                if server.state is not ServerState.ERROR or faults != server.faults:
                    servers.move_server(
                        conn,
                        server.id,
                        ServerEvent.MISMATCH,
                        reason=reason,
                        faults=faults,
                        updated_at=time.time(),
                    )
                touched.append(server.id)
        with self.db.read() as conn:
            return [servers.get_server(conn, sid) for sid in dict.fromkeys(touched)]

    def recent(self, host: str, limit: int = RECENT) -> list[MismatchRecord]:
        """The host's last reports, newest first."""
        with self.db.read() as conn:
            return recent_mismatches(conn, host, limit=limit)
