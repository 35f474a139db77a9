"""The one table from error classes to HTTP status, and the error body every answer uses.

Codes and titles are declared on the error classes (:mod:`pciplane.core.errors`); this
table adds only what is HTTP's: the status. Lookups walk the class's MRO, so a subclass
without a row gets its parent's. Every error body has the same shape:
``{"errors": [{"status", "code", "title", "detail"}]}`` (:class:`pciplane.wire.common.ErrorBody`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from pciplane.core import errors as e

STATUS: Mapping[type[e.PciplaneError], int] = {
    e.ConfigError: 400,
    e.AddressError: 400,
    e.RequestError: 400,
    e.InvalidJsonError: 400,
    e.MalformedRequestError: 422,
    e.UnsupportedMediaError: 415,
    e.BodyTooLargeError: 413,
    e.MethodNotAllowedError: 405,
    e.SnapshotError: 400,
    e.NotFoundError: 404,
    e.AlreadyExistsError: 409,
    e.InUseError: 409,
    e.DeviceStateError: 409,
    e.StateError: 409,
    e.NoFitError: 409,
    e.BindingFailedError: 409,
    e.ConflictError: 409,
    e.AuthError: 401,
    e.ForbiddenError: 403,
    e.UnreachableError: 502,
    e.HypervisorError: 502,
    e.UnsupportedOperationError: 501,
    e.PciplaneError: 400,
}


def status_of(cls: type[e.PciplaneError]) -> int:
    for klass in cls.__mro__:
        status = STATUS.get(klass)
        if status is not None:
            return status
    return STATUS[e.PciplaneError]  # pragma: no cover - PciplaneError is in the MRO


def render(error: e.PciplaneError, status: int | None = None) -> JSONResponse:
    status = status or status_of(type(error))
    body = {
        "errors": [
            {
                "status": str(status),
                "code": error.code,
                "title": error.title,
                "detail": str(error),
            }
        ]
    }
    headers = {"WWW-Authenticate": "Bearer"} if isinstance(error, e.AuthError) else None
    return JSONResponse(body, status_code=status, headers=headers)


Renderer = Callable[[e.PciplaneError, int], Response]
#: Error bodies by API, the first path prefix that matches: pciplane's envelope everywhere
#: else. The OpenStack-shaped APIs add their clients' shapes here (Neutron's
#: ``{"NeutronError": {...}}`` for ``/v2.0``), and the web UI its HTML page (``/ui``),
#: over the same classes and status table.
RENDERERS: dict[str, Renderer] = {}


def render_for(request: Request, error: e.PciplaneError, status: int | None = None) -> Response:
    path = request.url.path
    for prefix, renderer in RENDERERS.items():
        if path == prefix or path.startswith(prefix + "/"):
            return renderer(error, status or status_of(type(error)))
    return render(error, status)


async def domain_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, e.PciplaneError)
    return render_for(request, exc)


async def validation_error(request: Request, exc: Exception) -> Response:
    """422 with one line per problem: where in the request, and what is wrong there."""
    assert isinstance(exc, RequestValidationError)
    problems = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err.get("loc", ()) if p != "body") or "body"
        problems.append(f"{where}: {err.get('msg', 'invalid')}")
    return render_for(request, e.MalformedRequestError("; ".join(problems) or "invalid body"))


async def http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    if exc.status_code == 404:
        return render_for(request, e.RouteNotFoundError(str(exc.detail)))
    if exc.status_code == 405:
        return render_for(request, e.MethodNotAllowedError(str(exc.detail)))
    return render_for(request, e.PciplaneError(str(exc.detail)), exc.status_code)


#: A failure nobody foresaw, on a path whose API renders it (the web UI); elsewhere the
#: server's plain answer. Either way the traceback goes to the log, never to the client.
UNEXPECTED: dict[str, Callable[[], Response]] = {}


async def unexpected_error(request: Request, exc: Exception) -> Response:
    path = request.url.path
    for prefix, renderer in UNEXPECTED.items():
        if path == prefix or path.startswith(prefix + "/"):
            return renderer()
    return PlainTextResponse("Internal Server Error", status_code=500)
