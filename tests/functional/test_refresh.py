"""The scheduler's index follows the database: cheap when nothing changed, exact when
another process wrote (``fleet_version`` shortcut in ``Scheduler.refresh``)."""

from __future__ import annotations

import time

from pciplane.core.fleet import replace_devices
from pciplane.core.snapshot import host_from_json
from pciplane.service.context import build_services
from pciplane.service.settings import Settings
from pciplane.sim.fleet import generate
from pciplane.store.db import Database
from pciplane.store.hosts import register_host


def test_refresh_skips_when_unchanged_and_sees_other_writers(settings: Settings) -> None:
    db = Database.open(settings.db_url, migrate=True)
    other = Database.open(settings.db_url, migrate=False)
    try:
        hosts = [host_from_json(h) for h in generate(5, seed=2)["hosts"]]  # type: ignore[union-attr]
        with db.write() as conn:
            for host in hosts:
                register_host(conn, host, now=time.time())
        scheduler = build_services(settings, db).scheduler
        assert scheduler.refresh() == 5
        assert scheduler.refresh() == 0

        # Another process records a rescan of host 3 that lost its last device.
        rescanned = replace_devices(hosts[2], hosts[2].devices[:-1])
        with other.write() as conn:
            register_host(conn, rescanned, now=time.time())

        assert scheduler.refresh() == 1
        known = scheduler.known[hosts[2].name].host.devices
        assert [d.address for d in known] == [d.address for d in rescanned.devices]
        assert scheduler.refresh() == 0
    finally:
        other.dispose()
        db.dispose()
