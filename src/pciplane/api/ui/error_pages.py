"""Errors on the web UI's pages: an HTML page saying what went wrong, never a traceback.

The status and the words are the API's (the one error table, the error's own code and
detail); only the body differs. A failure nobody foresaw gets a page that says so, and
its traceback goes to the service's log.
"""

from __future__ import annotations

from starlette.responses import Response

from pciplane.api.ui.render import page
from pciplane.core.errors import ForbiddenError, NotFoundError, PciplaneError

#: What to do next, by kind of error.
_HINTS: tuple[tuple[type[PciplaneError], str], ...] = (
    (ForbiddenError, "Sign in with the admin token to see the fleet, hosts and what-if pages."),
    (NotFoundError, "It may have been deleted, or belong to another project."),
)


def render(error: PciplaneError, status: int) -> Response:
    hint = next((text for cls, text in _HINTS if isinstance(error, cls)), "")
    return page(
        "error.html",
        who=None,
        status=status,
        http_status=status,
        title=error.title,
        code=error.code,
        detail=str(error),
        hint=hint,
    )


def unexpected() -> Response:
    return page(
        "error.html",
        who=None,
        status=500,
        http_status=500,
        title="Something went wrong on the service",
        code="internal_error",
        detail="The page could not be made. The service's log has the details.",
        hint="",
    )
