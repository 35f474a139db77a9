"""The services of one process, built once from the settings at the entry point."""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa

from pciplane.service.agents import AgentService
from pciplane.service.binding import Binder
from pciplane.service.catalog import CatalogService
from pciplane.service.hosts import HostService
from pciplane.service.hotplug import HotPlugService
from pciplane.service.housekeeping import Housekeeper
from pciplane.service.identity import IdentityService
from pciplane.service.images import ImageService
from pciplane.service.lifecycle import LifecycleService
from pciplane.service.metrics import FleetGauges, Metrics
from pciplane.service.networks import NetworkService
from pciplane.service.nics import NicService
from pciplane.service.ports import PortFactory, PortService
from pciplane.service.quotas import QuotaService
from pciplane.service.reconcile import ReconcileService
from pciplane.service.scheduler import Scheduler
from pciplane.service.servers import ServerService
from pciplane.service.settings import Settings
from pciplane.store.db import Database, upgrade


@dataclass(frozen=True, kw_only=True, slots=True)
class Services:
    settings: Settings
    db: Database
    metrics: Metrics
    scheduler: Scheduler
    servers: ServerService
    hosts: HostService
    catalog: CatalogService
    reconcile: ReconcileService
    housekeeper: Housekeeper
    networks: NetworkService
    ports: PortService
    hotplug: HotPlugService
    lifecycle: LifecycleService
    quotas: QuotaService
    agents: AgentService
    identity: IdentityService
    images: ImageService

    def start(self) -> None:
        """Migrate (when configured) and load the alias file (when there is one)."""
        if self.settings.migrate_on_start:
            upgrade(self.db.engine)
        if self.settings.alias_file is not None:
            self.catalog.load_alias_file()

    def health(self) -> str:
        """The database's dialect, once a query went through (raises if it cannot)."""
        with self.db.read() as conn:
            conn.execute(sa.select(1))
        return self.db.dialect

    def metrics_text(self) -> bytes:
        return self.metrics.render(FleetGauges(self.hosts.gauges))


def build_services(settings: Settings, db: Database | None = None) -> Services:
    db = db or Database.open(settings.db_url, migrate=False)
    metrics = Metrics()
    scheduler = Scheduler(db, settings, metrics)
    binder = Binder(settings)
    factory = PortFactory(settings)
    nics = NicService(binder, factory)
    quotas = QuotaService(db, settings)
    server_service = ServerService(db, settings, scheduler, nics, quotas)
    hotplug = HotPlugService(db, settings, scheduler, binder, quotas)
    lifecycle = LifecycleService(db, settings, nics)
    return Services(
        settings=settings,
        db=db,
        metrics=metrics,
        scheduler=scheduler,
        servers=server_service,
        hosts=HostService(db, settings, scheduler, server_service, hotplug, lifecycle),
        catalog=CatalogService(db, settings),
        reconcile=ReconcileService(db),
        housekeeper=Housekeeper(db, settings, server_service),
        networks=NetworkService(db, settings),
        ports=PortService(db, settings, binder, factory),
        hotplug=hotplug,
        lifecycle=lifecycle,
        quotas=quotas,
        agents=AgentService(db, settings),
        identity=IdentityService(settings),
        images=ImageService(db, settings),
    )
