"""The FastAPI application factory: settings in, a ready app out.

Migrations run when the app starts (unless the settings say not to); the alias file,
when configured, is loaded then too. Bodies above ``max_body_bytes`` are refused with
413 before any handler runs, whether or not the client sent a Content-Length.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from pciplane import __version__
from pciplane.api import errors
from pciplane.api.context import AppContext
from pciplane.api.handlers_catalog import load_alias_file
from pciplane.api.metrics import Metrics
from pciplane.api.routes import ROUTES
from pciplane.api.scheduling import Scheduler
from pciplane.api.service import ServerService
from pciplane.api.settings import Settings
from pciplane.core.errors import PciplaneError
from pciplane.store import catalog
from pciplane.store.db import Database, upgrade


class BodyLimit:
    """Reads the whole body first and refuses it once it passes the limit (413)."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []
        size = 0
        more = True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.limit:
                await self._refuse(send, size)
                return
            chunks.append(chunk)
            more = message.get("more_body", False)
        body = b"".join(chunks)
        sent = False

        async def replay() -> Message:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    async def _refuse(self, send: Send, size: int) -> None:
        row = errors.ERROR_TABLE[errors.BodyTooLargeError]
        detail = f"the request body is over {self.limit} bytes (read {size} so far)"
        payload = json.dumps(
            {
                "errors": [
                    {
                        "status": str(row.status),
                        "code": row.code,
                        "title": row.title,
                        "detail": detail,
                    }
                ]
            }
        ).encode()
        await send(
            {
                "type": "http.response.start",
                "status": row.status,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(payload)).encode()),
                    (b"connection", b"close"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": payload})


def build_context(settings: Settings, db: Database | None = None) -> AppContext:
    db = db or Database.open(settings.db_url, migrate=False)
    metrics = Metrics()
    scheduler = Scheduler(db, settings, metrics)
    return AppContext(
        settings=settings,
        db=db,
        metrics=metrics,
        scheduler=scheduler,
        servers=ServerService(db, settings, scheduler),
    )


def _startup(context: AppContext) -> None:
    if context.settings.migrate_on_start:
        upgrade(context.db.engine)
    if context.settings.alias_file is not None:
        entries = load_alias_file(context.settings.alias_file)
        with context.db.write() as conn:
            catalog.replace_aliases(conn, entries)


def create_app(settings: Settings, *, db: Database | None = None) -> FastAPI:
    """The application: one route table, one error table, the body limit."""
    context = build_context(settings, db)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield

    _startup(context)
    app = FastAPI(title="pciplane", version=__version__, lifespan=lifespan)
    app.state.settings = settings
    app.state.ctx = context
    for route in ROUTES:
        app.add_api_route(
            route.path,
            route.handler,
            methods=[route.method],
            status_code=route.status,
            summary=route.summary or None,
        )
    app.add_exception_handler(PciplaneError, errors.domain_error)
    app.add_exception_handler(RequestValidationError, errors.validation_error)
    app.add_exception_handler(StarletteHTTPException, errors.http_error)
    app.add_middleware(BodyLimit, limit=settings.max_body_bytes)
    return app
