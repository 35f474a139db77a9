"""The scheduler's index follows the database: cheap when nothing changed, exact when
another process wrote (``fleet_version`` shortcut in ``Scheduler.refresh``)."""

from __future__ import annotations

import time

from pciplane.core.fleet import replace_devices
from pciplane.core.snapshot import host_from_json
from pciplane.service.context import build_services
from pciplane.service.settings import Settings
from pciplane.sim.fleet import generate
from pciplane.sim.fleet_varied import generate_varied
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


def test_hosts_registered_here_are_learnt_as_a_fresh_load_reads_them(settings: Settings) -> None:
    """A registration through this process replaces the host's view at once: the next
    refresh reads no rows, and what was learnt is what another process loads."""
    services = build_services(settings, Database.open(settings.db_url, migrate=True))
    try:
        fleet = generate_varied(12, seed=5)["hosts"]
        for doc in fleet:  # type: ignore[union-attr]
            services.hosts.register(doc["name"], doc)
        assert services.scheduler.refresh() == 0

        reader = build_services(settings, Database.open(settings.db_url, migrate=False))
        try:
            assert reader.scheduler.refresh() == len(fleet)  # type: ignore[arg-type]
            for name, loaded in reader.scheduler.known.items():
                learnt = services.scheduler.known[name]
                assert learnt.generation == loaded.generation
                assert learnt.host == loaded.host
        finally:
            reader.db.dispose()
    finally:
        services.db.dispose()
