"""The FastAPI application factory: settings in, a ready app out.

Migrations run and the alias file loads when the app is built (unless the settings say
not to); the service's housekeeping runs while the app serves. Before any handler, the
body guard refuses a body over ``max_body_bytes`` (413, whether or not the client sent
a Content-Length), one that is not JSON (415), and one that does not parse (400, saying
where); an image upload alone passes unread, streamed to disk by its handler under
``max_image_bytes``. ``/docs`` serves Swagger UI from pciplane's own assets, so it works on a
management network without internet access; ``/ui`` is the read-only web UI
(:mod:`pciplane.api.ui`).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import fastapi_offline
from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from pciplane import __version__
from pciplane.api import errors, ui
from pciplane.api.handlers_images import UPLOAD_PATH
from pciplane.api.openstack.microversions import ComputeVersions
from pciplane.api.routes import ROUTES
from pciplane.core.errors import (
    BodyTooLargeError,
    InvalidJsonError,
    MalformedRequestError,
    PciplaneError,
    UnsupportedMediaError,
)
from pciplane.service.context import Services, build_services
from pciplane.service.settings import Settings
from pciplane.store.db import Database
from pciplane.wire.common import ErrorBody

DOCS_ASSETS = Path(fastapi_offline.__file__).resolve().parent / "static"
_WITH_BODY = frozenset({"POST", "PUT", "PATCH"})


def _is_json(content_type: str) -> bool:
    media = content_type.split(";", 1)[0].strip().lower()
    return media == "application/json" or (
        media.startswith("application/") and media.endswith("+json")
    )


def _streamed(scope: Scope) -> bool:
    """An image upload: its handler streams the body to disk under its own limit."""
    return scope.get("method") == "POST" and scope.get("path") == UPLOAD_PATH


class BodyGuard:
    """Reads the whole body first; refuses it when too large, not JSON, or malformed."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or _streamed(scope):
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
                detail = f"the request body is over {self.limit} bytes (read {size} so far)"
                api = errors.api_of(scope.get("path", ""))
                response = errors.render(BodyTooLargeError(detail), api=api)
                response.headers["connection"] = "close"
                await response(scope, receive, send)
                return
            chunks.append(chunk)
            more = message.get("more_body", False)
        body = b"".join(chunks)
        refusal = self._refusal(scope, body)
        if refusal is not None:
            api = errors.api_of(scope.get("path", ""))
            await errors.render(refusal, api=api)(scope, receive, send)
            return
        sent = False

        async def replay() -> Message:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    @staticmethod
    def _refusal(scope: Scope, body: bytes) -> PciplaneError | None:
        raw_path = scope.get("raw_path") or b""
        if b"%2f" in raw_path.lower():
            # The server decodes %2F before routing: "cmp1%2Fwork" would reach another
            # endpoint. No name pciplane accepts contains "/".
            return MalformedRequestError("a name in the path cannot contain '/' (%2F)")
        if scope.get("method") not in _WITH_BODY or not body:
            return None
        if str(scope.get("path", "")).startswith(ui.PREFIX + "/"):
            return None  # the web UI's sign-in form posts a form, not JSON
        headers = dict(scope.get("headers") or [])
        content_type = headers.get(b"content-type", b"").decode("latin-1")
        if not _is_json(content_type):
            shown = content_type or "none"
            return UnsupportedMediaError(
                f"the body must be JSON (Content-Type: application/json), not {shown}"
            )
        try:
            json.loads(body)
        except json.JSONDecodeError as exc:
            return InvalidJsonError(
                f"the body is not valid JSON: {exc.msg} at line {exc.lineno}, "
                f"column {exc.colno} (character {exc.pos})"
            )
        except UnicodeDecodeError as exc:
            return InvalidJsonError(f"the body is not UTF-8: byte {exc.start} cannot be decoded")
        except RecursionError:
            return InvalidJsonError("the body is not valid JSON: it is nested too deeply")
        return None


#: Every error answer, as the OpenAPI document shows it.
_ERROR_RESPONSES: dict[int | str, dict[str, object]] = {
    "4XX": {"model": ErrorBody, "description": "The request was refused; `detail` says why."},
    "5XX": {"model": ErrorBody, "description": "The service or a hypervisor failed."},
}


def _add_docs(app: FastAPI) -> None:
    """Swagger UI from local assets (the package ``fastapi-offline`` ships them)."""
    app.mount("/docs/assets", StaticFiles(directory=DOCS_ASSETS), name="docs-assets")

    async def docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url="/openapi.json",
            title="pciplane API",
            swagger_js_url="/docs/assets/swagger-ui-bundle.js",
            swagger_css_url="/docs/assets/swagger-ui.css",
            swagger_favicon_url="data:,",
        )

    app.add_api_route("/docs", docs, methods=["GET"], include_in_schema=False)


def create_app(settings: Settings, *, db: Database | None = None) -> FastAPI:
    """The application: one route table, one error table, the body guard, the docs."""
    services: Services = build_services(settings, db)
    try:
        services.start()
    except BaseException:
        if db is None:  # ours to close: a service that cannot start holds no connections
            services.db.dispose()
        raise

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        services.scheduler.warm()
        services.housekeeper.start()
        try:
            yield
        finally:
            services.housekeeper.stop()
            services.scheduler.settle()

    app = FastAPI(
        title="pciplane",
        version=__version__,
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
    )
    app.state.services = services
    for route in ROUTES:
        app.add_api_route(
            route.path,
            route.handler,
            methods=[route.method],
            status_code=route.status,
            summary=route.summary or None,
            responses=_ERROR_RESPONSES,
            response_model_exclude_unset=route.exclude_unset,
        )
    _add_docs(app)
    ui.mount(app)
    app.add_exception_handler(PciplaneError, errors.domain_error)
    app.add_exception_handler(RequestValidationError, errors.validation_error)
    app.add_exception_handler(StarletteHTTPException, errors.http_error)
    app.add_middleware(ComputeVersions)
    app.add_exception_handler(Exception, errors.unexpected_error)
    app.add_middleware(BodyGuard, limit=settings.max_body_bytes)
    return app
