"""What every handler reaches through ``request.app.state.ctx``: one per process."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import Request

from pciplane.api.metrics import Metrics
from pciplane.api.scheduling import Scheduler
from pciplane.api.service import ServerService
from pciplane.api.settings import Settings
from pciplane.store.db import Database


@dataclass(frozen=True, kw_only=True, slots=True)
class AppContext:
    settings: Settings
    db: Database
    metrics: Metrics
    scheduler: Scheduler
    servers: ServerService


def ctx(request: Request) -> AppContext:
    context: AppContext = request.app.state.ctx
    return context
