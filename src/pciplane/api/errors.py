"""The one table from error classes to HTTP status, and the error body of each API.

Codes and titles are declared on the error classes (:mod:`pciplane.core.errors`); this
table adds only what is HTTP's: the status. Lookups walk the class's MRO, so a subclass
without a row gets its parent's. Each API renders the same error in its own clients' shape,
chosen by the path (:data:`API_PREFIXES`):

- pciplane's own ``/v1``: ``{"errors": [{"status", "code", "title", "detail"}]}``
  (:class:`pciplane.wire.common.ErrorBody`);
- Nova (``/compute``): ``{"itemNotFound": {"message", "code"}}``, the key named after the
  status as Nova names it (``badRequest``, ``forbidden``, ``conflictingRequest``, ...);
- Neutron (``/v2.0``): ``{"NeutronError": {"type", "message", "detail"}}``, the type named
  after the error class as Neutron names its exceptions (``NotFound``, ``InUse``, ...), so
  pciplane's own client reads the class back;
- Glance (``/image``): webob's JSON error, ``{"code": "404 Not Found", "title", "message"}``;
- Keystone (``/identity``), and every 401 of the OpenStack APIs (keystonemiddleware answers
  those in front of Nova and Neutron): ``{"error": {"code", "title", "message"}}``.

Where an OpenStack API gives a class another status than pciplane's own, the override is
here too (:data:`STATUS_IN`): Nova, Neutron and Keystone refuse a body of the wrong shape
with 400, not 422; Nova refuses an interface attach the hypervisor cannot do, or for which
the host has no device, with 400 (its AttachInterfaceNotSupported and
InterfaceAttachPciClaimFailed).
"""

from __future__ import annotations

import enum
import http
from collections.abc import Callable, Mapping

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from pciplane.api.openstack.endpoints import COMPUTE, IDENTITY, IMAGE, NETWORK_V20, base_url
from pciplane.core import errors as e


class Api(enum.StrEnum):
    PCIPLANE = "pciplane"
    NOVA = "nova"
    NEUTRON = "neutron"
    KEYSTONE = "keystone"
    GLANCE = "glance"


#: Path prefixes of the OpenStack-shaped APIs; any other path is pciplane's own.
API_PREFIXES: tuple[tuple[str, Api], ...] = (
    (IDENTITY, Api.KEYSTONE),
    (COMPUTE, Api.NOVA),
    (NETWORK_V20, Api.NEUTRON),
    (IMAGE, Api.GLANCE),
)

STATUS: Mapping[type[e.PciplaneError], int] = {
    e.ConfigError: 400,
    e.AddressError: 400,
    e.RequestError: 400,
    e.InvalidJsonError: 400,
    e.MalformedRequestError: 422,
    e.UnsupportedMediaError: 415,
    e.BodyTooLargeError: 413,
    e.MethodNotAllowedError: 405,
    e.VersionNotSupportedError: 406,
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
    e.QuotaExceededError: 403,
    e.UnreachableError: 502,
    e.HypervisorError: 502,
    e.UnsupportedOperationError: 501,
    e.PciplaneError: 400,
}

#: Where an OpenStack API's clients expect another status than :data:`STATUS` gives.
STATUS_IN: Mapping[Api, Mapping[type[e.PciplaneError], int]] = {
    Api.NOVA: {
        e.MalformedRequestError: 400,
        e.HotPlugUnsupportedError: 400,
        e.NoFitError: 400,
    },
    Api.NEUTRON: {e.MalformedRequestError: 400},
    Api.KEYSTONE: {e.MalformedRequestError: 400},
    Api.GLANCE: {e.MalformedRequestError: 400},
}

#: Nova's name for each status (the key of its error body); any other is a computeFault.
NOVA_FAULTS: Mapping[int, str] = {
    400: "badRequest",
    401: "unauthorized",
    403: "forbidden",
    404: "itemNotFound",
    405: "badMethod",
    409: "conflictingRequest",
    413: "overLimit",
    415: "badMediaType",
    429: "overLimit",
    501: "notImplemented",
    503: "serviceUnavailable",
}


def api_of(path: str) -> Api:
    for prefix, api in API_PREFIXES:
        if path == prefix or path.startswith(prefix + "/"):
            return api
    return Api.PCIPLANE


def status_of(cls: type[e.PciplaneError], api: Api = Api.PCIPLANE) -> int:
    overrides = STATUS_IN.get(api, {})
    for klass in cls.__mro__:
        status = overrides.get(klass) or STATUS.get(klass)
        if status is not None:
            return status
    return STATUS[e.PciplaneError]  # pragma: no cover - PciplaneError is in the MRO


def _pciplane_body(error: e.PciplaneError, status: int) -> dict[str, object]:
    item = {"status": str(status), "code": error.code, "title": error.title, "detail": str(error)}
    return {"errors": [item]}


def _nova_body(error: e.PciplaneError, status: int) -> dict[str, object]:
    return {NOVA_FAULTS.get(status, "computeFault"): {"message": str(error), "code": status}}


def neutron_type(cls: type[e.PciplaneError]) -> str:
    """Neutron's ``type``: the exception's class name (pciplane's, less ``Error``)."""
    return cls.__name__.removesuffix("Error") or cls.__name__


def _neutron_body(error: e.PciplaneError) -> dict[str, object]:
    kind = neutron_type(type(error))
    return {"NeutronError": {"type": kind, "message": str(error), "detail": ""}}


def _phrase(status: int) -> str:
    try:
        return http.HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def _keystone_body(error: e.PciplaneError, status: int) -> dict[str, object]:
    return {"error": {"code": status, "title": _phrase(status), "message": str(error)}}


def _glance_body(error: e.PciplaneError, status: int) -> dict[str, object]:
    title = _phrase(status)
    return {"code": f"{status} {title}", "title": title, "message": str(error)}


def render(
    error: e.PciplaneError,
    status: int | None = None,
    *,
    api: Api = Api.PCIPLANE,
    identity_url: str | None = None,
) -> JSONResponse:
    """The error as ``api``'s clients expect it; ``identity_url`` goes in a 401's
    ``WWW-Authenticate`` on the OpenStack APIs (where to get a token)."""
    status = status or status_of(type(error), api)
    headers: dict[str, str] | None = None
    if api is Api.PCIPLANE:
        body = _pciplane_body(error, status)
        if isinstance(error, e.AuthError):
            headers = {"WWW-Authenticate": "Bearer"}
    elif status == 401 or api is Api.KEYSTONE:
        body = _keystone_body(error, status)
        if status == 401:
            where = f' uri="{identity_url}"' if identity_url else ""
            headers = {"WWW-Authenticate": f"Keystone{where}"}
    elif api is Api.NEUTRON:
        body = _neutron_body(error)
    elif api is Api.GLANCE:
        body = _glance_body(error, status)
    else:
        body = _nova_body(error, status)
    return JSONResponse(body, status_code=status, headers=headers)


Renderer = Callable[[e.PciplaneError, int], Response]
#: Error pages that are not JSON, by path prefix: the web UI's HTML page (``/ui``). Every
#: other path answers in its API's JSON shape (:func:`api_of`), over the same classes and
#: status table.
RENDERERS: dict[str, Renderer] = {}


def render_for(request: Request, error: e.PciplaneError, status: int | None = None) -> Response:
    """:func:`render` in the shape of the API the request's path belongs to."""
    path = request.url.path
    for prefix, renderer in RENDERERS.items():
        if path == prefix or path.startswith(prefix + "/"):
            return renderer(error, status or status_of(type(error)))
    api = api_of(path)
    identity = None
    if api is not Api.PCIPLANE:
        identity = base_url(request) + IDENTITY
    return render(error, status, api=api, identity_url=identity)


async def domain_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, e.PciplaneError)
    return render_for(request, exc)


async def validation_error(request: Request, exc: Exception) -> Response:
    """One line per problem: where in the request, and what is wrong there (422 on /v1,
    400 on the OpenStack APIs)."""
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
