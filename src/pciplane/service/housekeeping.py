"""What the service does on its own, on a timer: starts no agent answered, and servers a
dead process left half-way.

* A start still open ``build_timeout`` seconds after it was queued: its host's agent is
  down or stuck. The item expires, the claim is freed, and the server is tried on another
  host (or goes to ERROR), exactly as when an agent reports a failed start.
* A server in BUILD without a host, unchanged for a while: a process died between
  freeing a failed start's claim and placing the server again. It is placed again.

Every API process runs this; the conditional state moves of :mod:`pciplane.store.servers`
let exactly one of them act on each item.
"""

from __future__ import annotations

import logging
import threading
import time

from pciplane.core.errors import PciplaneError
from pciplane.core.lifecycle import WorkEvent
from pciplane.service.servers import ServerService
from pciplane.service.settings import Settings
from pciplane.store import servers
from pciplane.store.db import Database

log = logging.getLogger("pciplane.housekeeping")


class Housekeeper:
    def __init__(self, db: Database, settings: Settings, service: ServerService) -> None:
        self.db = db
        self.settings = settings
        self.service = service
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def run_once(self, now: float | None = None) -> tuple[int, int]:
        """One round; ``(expired starts, servers placed again)``."""
        now = time.time() if now is None else now
        with self.db.read() as conn:
            overdue = servers.overdue_starts(conn, before=now - self.settings.build_timeout)
            orphans = servers.unplaced_builds(
                conn, before=now - 2 * self.settings.housekeeping_interval
            )
        expired = 0
        for work in overdue:
            reason = f"no agent on {work.host} started it within {self.settings.build_timeout:.0f}s"
            try:
                self.service.lost_host(work, reason, WorkEvent.EXPIRE)
            except PciplaneError as exc:  # another process acted first, or it moved on
                log.info("start %d not expired: %s", work.id, exc)
                continue
            self.service.scheduler.metrics.expired_starts.inc()
            expired += 1
        placed = 0
        for server_id in orphans:
            server = self.service.get(server_id)
            try:
                self.service.place_again(server, server.faults)
            except PciplaneError as exc:
                log.info("server %s not placed again: %s", server_id, exc)
                continue
            placed += 1
        return expired, placed

    def start(self) -> None:
        """Run :meth:`run_once` every ``housekeeping_interval`` seconds in a thread."""
        if self._thread is not None:
            return

        def loop() -> None:
            while not self._stop.wait(self.settings.housekeeping_interval):
                try:
                    self.run_once()
                except PciplaneError as exc:
                    log.warning("housekeeping failed, trying again later: %s", exc)

        self._thread = threading.Thread(target=loop, name="pciplane-housekeeping", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None
