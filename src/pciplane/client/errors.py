"""Error bodies back to domain errors: the inverse of the API's error table, by code.

The API renders ``{"errors": [{"status", "code", "title", "detail"}]}``; the client raises
the domain class the code names with the server's ``detail`` as message, so callers
(the CLI, the agent) catch the same classes whether they run in-process or over HTTP.
Classes whose constructors take structured arguments map to their parent class.
"""

from __future__ import annotations

from collections.abc import Mapping

from pciplane.core import errors as e


class ApiError(e.PciplaneError):
    """An error answer from the service that no domain class describes."""

    def __init__(self, message: str, *, status: int, code: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code


class AuthError(ApiError):
    """401: no token or an unknown one."""


class ForbiddenError(ApiError):
    """403: the token's role may not do this."""


class UnreachableError(e.PciplaneError):
    """The service did not answer (connection refused, timeout, not HTTP)."""


#: Stable codes of the API's error table and the classes they come back as.
CODES: Mapping[str, type[e.PciplaneError]] = {
    "pciplane.device_spec.invalid": e.ConfigError,
    "pciplane.alias.invalid": e.ConfigError,
    "pciplane.config.invalid": e.ConfigError,
    "pciplane.address.invalid": e.AddressError,
    "pciplane.alias.unknown": e.RequestError,
    "pciplane.request.invalid": e.RequestError,
    "pciplane.snapshot.invalid": e.SnapshotError,
    "pciplane.not_found": e.NotFoundError,
    "pciplane.device.in_use": e.DeviceOwnerError,
    "pciplane.device.state": e.DeviceStateError,
    "pciplane.no_valid_host": e.NoFitError,
    "pciplane.conflict": e.ConflictError,
    "pciplane.hypervisor.unsupported": e.UnsupportedOperationError,
    "pciplane.hypervisor.failed": e.HypervisorError,
}


def from_body(status: int, body: object) -> e.PciplaneError:
    """The error an error response stands for."""
    code, detail = f"pciplane.http.{status}", f"HTTP {status}"
    if isinstance(body, dict) and isinstance(body.get("errors"), list) and body["errors"]:
        first = body["errors"][0]
        if isinstance(first, dict):
            code = str(first.get("code", code))
            detail = str(first.get("detail") or first.get("title") or detail)
    if status == 401:
        return AuthError(detail, status=status, code=code)
    if status == 403:
        return ForbiddenError(detail, status=status, code=code)
    cls = CODES.get(code)
    if cls is None:
        return ApiError(f"{detail} ({code})", status=status, code=code)
    return cls(detail)
