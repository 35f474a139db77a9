"""Who is calling: bearer tokens, Keystone tokens, and the three roles admin, project, agent.

One token works everywhere: pciplane's own API reads ``Authorization: Bearer T`` and the
OpenStack-shaped APIs ``X-Auth-Token: T`` (each also takes the other header), and ``T`` may
be a static token of the settings (``admin_token``, ``project_tokens``, ``agent_tokens``),
a Keystone token issued by ``POST /identity/v3/auth/tokens`` (checked for its signature,
expiry and role on every call), or, only when the ``noauth`` setting is on, the literal
``notused`` that the openstack clients send with ``auth_type: none``.

A project sees and changes only its own servers (another project's server answers 404, as
if it did not exist); an agent speaks only for its own host. The check runs before a
handler touches anything, so a refused call changes nothing.
"""

from __future__ import annotations

import enum
import hmac
import time
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from pciplane.core.errors import AuthError, ForbiddenError
from pciplane.service.context import Services

#: Declares the scheme in the OpenAPI document; the check itself is :func:`identify`.
BEARER = HTTPBearer(
    auto_error=False, description="pciplane token (admin, project or agent) or a Keystone token"
)
#: What keystoneauth's ``none`` plugin sends as its token.
NOAUTH_TOKEN = "notused"
ADMIN_PROJECT = "admin"


class Role(enum.StrEnum):
    ADMIN = "admin"
    PROJECT = "project"
    AGENT = "agent"


@dataclass(frozen=True, kw_only=True, slots=True)
class Principal:
    role: Role
    #: The project name for a project token, the host name for an agent token.
    name: str
    #: The project it acts in (a Keystone token's scope); None for static admin and agents.
    project: str | None = None
    #: The Keystone user, when the token is one.
    user: str | None = None

    @property
    def is_admin(self) -> bool:
        return self.role is Role.ADMIN

    @property
    def home_project(self) -> str:
        """The project new servers belong to."""
        if self.project is not None:
            return self.project
        return ADMIN_PROJECT if self.is_admin else self.name


def _match(token: str, known: str) -> bool:
    return hmac.compare_digest(token.encode(), known.encode())


def _token_of(authorization: str | None, x_auth_token: str | None) -> str:
    if authorization:
        scheme, _, token = authorization.partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise AuthError("the Authorization header must be 'Bearer <token>'")
        return token
    if x_auth_token and x_auth_token.strip():
        return x_auth_token.strip()
    raise AuthError("no token: send 'Authorization: Bearer <token>' or 'X-Auth-Token: <token>'")


def identify(
    services: Services, authorization: str | None, x_auth_token: str | None = None
) -> Principal:
    """The principal behind the request's token, or AuthError saying why there is none."""
    token = _token_of(authorization, x_auth_token)
    settings = services.settings
    if settings.admin_token and _match(token, settings.admin_token):
        return Principal(role=Role.ADMIN, name=ADMIN_PROJECT)
    if services.identity.looks_like_token(token):
        issued = services.identity.verify(token, now=time.time())
        if issued.is_admin:
            return Principal(
                role=Role.ADMIN, name=ADMIN_PROJECT, project=issued.project, user=issued.user
            )
        return Principal(
            role=Role.PROJECT, name=issued.project, project=issued.project, user=issued.user
        )
    for known, project in settings.project_tokens.items():
        if _match(token, known):
            return Principal(role=Role.PROJECT, name=project)
    for known, host in settings.agent_tokens.items():
        if _match(token, known):
            return Principal(role=Role.AGENT, name=host)
    if token == NOAUTH_TOKEN:
        if settings.noauth:
            return Principal(role=Role.ADMIN, name=ADMIN_PROJECT)
        raise AuthError(
            "the token 'notused' (openstack clients with auth_type none) is accepted only "
            "when the service's noauth setting is on"
        )
    raise AuthError("the token is not valid")


def principal(
    request: Request,
    _credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(BEARER)],
) -> Principal:
    """FastAPI dependency: who is calling."""
    services: Services = request.app.state.services
    headers = request.headers
    return identify(services, headers.get("authorization"), headers.get("x-auth-token"))


def require_admin(who: Principal) -> None:
    if who.role is Role.PROJECT:
        raise ForbiddenError(f"this needs the admin role; the token acts for project {who.name!r}")
    if who.role is Role.AGENT:
        raise ForbiddenError(f"this needs the admin role, not host {who.name!r}'s agent token")


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
