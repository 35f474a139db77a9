"""The one table from error classes to HTTP status and stable code, and its rendering.

Domain errors carry no status (DESIGN.md); this table gives each class one, plus a code
clients can switch on (``pciplane.device.in_use``). Lookups walk the class's MRO, so a
subclass without a row gets its parent's. Every error body has the same shape:
``{"errors": [{"status", "code", "title", "detail"}]}``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from pciplane.core import errors as e


class AuthError(e.PciplaneError):
    """No bearer token, or one the service does not know (401)."""


class ForbiddenError(e.PciplaneError):
    """A known token whose role may not do this (403)."""


class BodyTooLargeError(e.PciplaneError):
    """The request body is larger than the service accepts (413)."""


class MalformedRequestError(e.PciplaneError):
    """The body is not JSON, or not the shape the endpoint takes (422)."""


@dataclass(frozen=True, kw_only=True, slots=True)
class ErrorRow:
    status: int
    code: str
    title: str


ERROR_TABLE: Mapping[type[e.PciplaneError], ErrorRow] = {
    e.DeviceSpecError: ErrorRow(
        status=400, code="pciplane.device_spec.invalid", title="Invalid device_spec entry"
    ),
    e.AliasError: ErrorRow(status=400, code="pciplane.alias.invalid", title="Invalid PCI alias"),
    e.ConfigError: ErrorRow(
        status=400, code="pciplane.config.invalid", title="Invalid configuration"
    ),
    e.AddressError: ErrorRow(
        status=400, code="pciplane.address.invalid", title="Invalid PCI address"
    ),
    e.UnknownAliasError: ErrorRow(
        status=400, code="pciplane.alias.unknown", title="Unknown PCI alias"
    ),
    e.RequestError: ErrorRow(status=400, code="pciplane.request.invalid", title="Invalid request"),
    e.SnapshotError: ErrorRow(
        status=400, code="pciplane.snapshot.invalid", title="Invalid host or fleet document"
    ),
    e.NotFoundError: ErrorRow(status=404, code="pciplane.not_found", title="Not found"),
    e.DeviceOwnerError: ErrorRow(
        status=409, code="pciplane.device.in_use", title="Device held by another server"
    ),
    e.DeviceStateError: ErrorRow(
        status=409, code="pciplane.device.state", title="Device status does not allow this"
    ),
    e.NoFitError: ErrorRow(status=409, code="pciplane.no_valid_host", title="No valid host"),
    e.ConflictError: ErrorRow(status=409, code="pciplane.conflict", title="Concurrent change"),
    e.UnsupportedOperationError: ErrorRow(
        status=501, code="pciplane.hypervisor.unsupported", title="Not supported by the hypervisor"
    ),
    e.HypervisorError: ErrorRow(
        status=502, code="pciplane.hypervisor.failed", title="Hypervisor failure"
    ),
    AuthError: ErrorRow(
        status=401, code="pciplane.auth.unauthenticated", title="Authentication required"
    ),
    ForbiddenError: ErrorRow(status=403, code="pciplane.auth.forbidden", title="Forbidden"),
    BodyTooLargeError: ErrorRow(
        status=413, code="pciplane.request.too_large", title="Request body too large"
    ),
    MalformedRequestError: ErrorRow(
        status=422, code="pciplane.request.malformed", title="Malformed request"
    ),
    e.PciplaneError: ErrorRow(status=400, code="pciplane.error", title="Request failed"),
}

#: Framework errors that never reach a domain class: routing and method mismatches.
HTTP_ROWS: Mapping[int, ErrorRow] = {
    404: ErrorRow(status=404, code="pciplane.route.not_found", title="No such endpoint"),
    405: ErrorRow(status=405, code="pciplane.route.method_not_allowed", title="Method not allowed"),
}


def row_for(error: e.PciplaneError) -> ErrorRow:
    for cls in type(error).__mro__:
        row = ERROR_TABLE.get(cls)
        if row is not None:
            return row
    return ERROR_TABLE[e.PciplaneError]  # pragma: no cover - PciplaneError is in the MRO


def render(row: ErrorRow, detail: str, headers: Mapping[str, str] | None = None) -> JSONResponse:
    body = {
        "errors": [
            {"status": str(row.status), "code": row.code, "title": row.title, "detail": detail}
        ]
    }
    return JSONResponse(body, status_code=row.status, headers=dict(headers or {}))


async def domain_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, e.PciplaneError)
    headers = {"WWW-Authenticate": "Bearer"} if isinstance(exc, AuthError) else None
    return render(row_for(exc), str(exc), headers)


async def validation_error(_request: Request, exc: Exception) -> JSONResponse:
    """422 with one line per problem: where in the body, and what is wrong there."""
    assert isinstance(exc, RequestValidationError)
    problems = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err.get("loc", ()) if p != "body") or "body"
        problems.append(f"{where}: {err.get('msg', 'invalid')}")
    return render(ERROR_TABLE[MalformedRequestError], "; ".join(problems) or "invalid body")


async def http_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    row = HTTP_ROWS.get(exc.status_code) or ErrorRow(
        status=exc.status_code, code=f"pciplane.http.{exc.status_code}", title="HTTP error"
    )
    return render(row, str(exc.detail), exc.headers)
