"""Error answers back to domain errors, by the code each error class declares.

The API renders ``{"errors": [{"status", "code", "title", "detail"}]}``; the client
raises the class that declares the code (:func:`pciplane.core.errors.error_for_code`)
with the server's ``detail`` as message, so callers (the CLI, the agent) catch the same
classes whether they run in-process or over HTTP. A code this version does not know
becomes :class:`ApiError`, which keeps the status and code.
"""

from __future__ import annotations

from pciplane.core import errors as e


class ApiError(e.PciplaneError):
    """An error answer from the service that no domain class of this version declares."""

    def __init__(self, message: str, *, status: int, code: str) -> None:
        super().__init__(message)
        self.status = status
        self.api_code = code


def from_body(status: int, body: object) -> e.PciplaneError:
    """The error an error response stands for."""
    code, detail = f"pciplane.http.{status}", f"HTTP {status}"
    if isinstance(body, dict) and isinstance(body.get("errors"), list) and body["errors"]:
        first = body["errors"][0]
        if isinstance(first, dict):
            code = str(first.get("code", code))
            detail = str(first.get("detail") or first.get("title") or detail)
    cls = e.error_for_code(code)
    if cls is None:
        return ApiError(f"{detail} ({code})", status=status, code=code)
    return cls.from_detail(detail)
