"""Bearer tokens and the three roles: admin, project, host agent.

Tokens come from the settings (``admin_token``, ``project_tokens``, ``agent_tokens``). A
project sees and changes only its own servers (another project's server answers 404, as
if it did not exist); an agent speaks only for its own host. The check runs before a
handler touches anything, so a refused call changes nothing.
"""

from __future__ import annotations

import enum
import hmac
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from pciplane.core.errors import AuthError, ForbiddenError
from pciplane.service.settings import Settings

#: Declares the scheme in the OpenAPI document; the check itself is :func:`identify`.
BEARER = HTTPBearer(auto_error=False, description="pciplane token: admin, project or agent")


class Role(enum.StrEnum):
    ADMIN = "admin"
    PROJECT = "project"
    AGENT = "agent"


@dataclass(frozen=True, kw_only=True, slots=True)
class Principal:
    role: Role
    #: The project name for a project token, the host name for an agent token.
    name: str

    @property
    def is_admin(self) -> bool:
        return self.role is Role.ADMIN


def _match(token: str, known: str) -> bool:
    return hmac.compare_digest(token.encode(), known.encode())


def identify(settings: Settings, header: str | None) -> Principal:
    """The principal behind an ``Authorization: Bearer ...`` header, or AuthError."""
    if not header:
        raise AuthError("no bearer token: send 'Authorization: Bearer <token>'")
    scheme, _, token = header.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise AuthError("the Authorization header must be 'Bearer <token>'")
    if settings.admin_token and _match(token, settings.admin_token):
        return Principal(role=Role.ADMIN, name="admin")
    for known, project in settings.project_tokens.items():
        if _match(token, known):
            return Principal(role=Role.PROJECT, name=project)
    for known, host in settings.agent_tokens.items():
        if _match(token, known):
            return Principal(role=Role.AGENT, name=host)
    raise AuthError("the bearer token is not valid")


def principal(
    request: Request,
    _credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(BEARER)],
) -> Principal:
    """FastAPI dependency: who is calling."""
    settings: Settings = request.app.state.services.settings
    return identify(settings, request.headers.get("authorization"))


def require_admin(who: Principal) -> None:
    if not who.is_admin:
        raise ForbiddenError(f"this needs the admin token, not a {who.role} token")


def require_user(who: Principal) -> str | None:
    """Admin or project; the project to filter by (None: the admin sees every project)."""
    if who.role is Role.AGENT:
        raise ForbiddenError("an agent token cannot act on servers")
    return None if who.is_admin else who.name


def require_host(who: Principal, host: str) -> None:
    """An agent may report only for its own host; the admin for any."""
    if who.is_admin:
        return
    if who.role is not Role.AGENT:
        raise ForbiddenError("only a host agent token may report for a host")
    if who.name != host:
        raise ForbiddenError(f"this agent token belongs to host {who.name!r}, not {host!r}")


#: A handler parameter ``who: Who`` is the authenticated caller.
Who = Annotated[Principal, Depends(principal)]
