"""Signing in to the web UI with a pciplane token, kept in a cookie.

The form posts the token once; the cookie then carries it (HttpOnly, SameSite=Strict,
scoped to ``/ui``), and each page identifies it exactly as the API identifies a bearer
token (:func:`pciplane.api.auth.identify`), so the admin and project roles mean the same
in both: a project sees only its own servers and ports. Agent tokens cannot sign in.
"""

from __future__ import annotations

from urllib.parse import parse_qs, quote

from fastapi import Request
from starlette.responses import RedirectResponse, Response

from pciplane.api.auth import Principal, Role, identify
from pciplane.api.paths import services
from pciplane.api.ui.render import page
from pciplane.core.errors import AuthError

COOKIE = "pciplane_ui_token"
#: Where each role lands after signing in.
HOME = {Role.ADMIN: "/ui/fleet", Role.PROJECT: "/ui/servers"}


class SignInRequired(Exception):
    """The page needs a signed-in caller; the answer is the sign-in form."""

    def __init__(self, path: str) -> None:
        super().__init__(path)
        self.path = path


def _principal(request: Request, token: str) -> Principal:
    return identify(services(request), f"Bearer {token}")


def signed_in(request: Request) -> Principal:
    """The caller behind the cookie; :class:`SignInRequired` when there is none."""
    token = request.cookies.get(COOKIE)
    path = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    if not token:
        raise SignInRequired(path)
    try:
        who = _principal(request, token)
    except AuthError:
        raise SignInRequired(path) from None
    if who.role is Role.AGENT:
        raise SignInRequired(path)
    return who


def to_sign_in(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, SignInRequired)
    return RedirectResponse(f"/ui/login?next={quote(exc.path, safe='')}", status_code=303)


def _safe_next(value: str | None) -> str | None:
    """Only a UI path of this service (never ``//host``: an open redirect)."""
    if value and value.startswith("/ui/") and not value.startswith("//"):
        return value
    return None


def login_form(request: Request) -> Response:
    return page(
        "login.html", who=None, next=_safe_next(request.query_params.get("next")) or "", error=""
    )


async def login(request: Request) -> Response:
    form = parse_qs((await request.body()).decode("utf-8", errors="replace"))
    token = (form.get("token") or [""])[0].strip()
    wanted = _safe_next((form.get("next") or [""])[0])
    error = ""
    try:
        who = _principal(request, token) if token else None
    except AuthError:
        who = None
    if who is None:
        error = "That token is not valid: use the admin token or a project's token."
    elif who.role is Role.AGENT:
        error = "A host agent's token cannot sign in: use the admin token or a project's token."
    if who is None or error:
        return page("login.html", who=None, next=wanted or "", error=error, status=401)
    response = RedirectResponse(wanted or HOME[who.role], status_code=303)
    response.set_cookie(
        COOKIE,
        token,
        httponly=True,
        samesite="strict",
        path="/ui",
        secure=request.url.scheme == "https",
    )
    return response


def logout(_request: Request) -> Response:
    response = RedirectResponse("/ui/login", status_code=303)
    response.delete_cookie(COOKIE, path="/ui")
    return response


def home(request: Request) -> Response:
    return RedirectResponse(HOME[signed_in(request).role], status_code=303)
