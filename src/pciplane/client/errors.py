"""Error answers back to domain errors, by the code each error class declares.

The API renders ``{"errors": [{"status", "code", "title", "detail"}]}``; the client
raises the class that declares the code (:func:`pciplane.core.errors.error_for_code`)
with the server's ``detail`` as message, so callers (the CLI, the agent) catch the same
classes whether they run in-process or over HTTP. Neutron's routes (``/v2.0``) answer in
Neutron's shape, ``{"NeutronError": {"type", "message", "detail"}}``, whose ``type`` is
the error class's name less ``Error``: the same class is raised. A code or type this
version does not know becomes :class:`ApiError`, which keeps the status and code.
"""

from __future__ import annotations

from pciplane.core import errors as e


class ApiError(e.PciplaneError):
    """An error answer from the service that no domain class of this version declares."""

    def __init__(self, message: str, *, status: int, code: str) -> None:
        super().__init__(message)
        self.status = status
        self.api_code = code


def _neutron(status: int, error: dict[str, object]) -> e.PciplaneError:
    kind = str(error.get("type") or "")
    message = str(error.get("message") or f"HTTP {status}")
    for cls in e.codes().values():
        if cls.__name__.removesuffix("Error") == kind:
            return cls.from_detail(message)
    return ApiError(f"{message} ({kind or status})", status=status, code=f"neutron.{kind}")


def from_body(status: int, body: object) -> e.PciplaneError:
    """The error an error response stands for."""
    code, detail = f"pciplane.http.{status}", f"HTTP {status}"
    if isinstance(body, dict) and isinstance(body.get("NeutronError"), dict):
        return _neutron(status, body["NeutronError"])
    if isinstance(body, dict) and isinstance(body.get("errors"), list) and body["errors"]:
        first = body["errors"][0]
        if isinstance(first, dict):
            code = str(first.get("code", code))
            detail = str(first.get("detail") or first.get("title") or detail)
    cls = e.error_for_code(code)
    if cls is None:
        return ApiError(f"{detail} ({code})", status=status, code=code)
    return cls.from_detail(detail)
