"""Keystone v3, the part the OpenStack clients use: version documents and tokens.

``POST /identity/v3/auth/tokens`` checks a password against the users of the settings and
answers 201 with the token in ``X-Subject-Token`` and, in the body, its expiry, user,
project, roles and the service catalog (every OpenStack API of this server, in the
configured region). Users and projects live in one domain, ``Default``; an id is the name.
Tokens are project-scoped only (an unscoped or domain-scoped request is refused).
"""

from __future__ import annotations

import time
from typing import Annotated, Literal

from fastapi import Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from pciplane.api.auth import Who
from pciplane.api.openstack.endpoints import IDENTITY, base_url, catalog
from pciplane.api.paths import services
from pciplane.core.errors import AuthError, NotFoundError
from pciplane.service.identity import DOMAIN_ID, DOMAIN_NAME, Token, in_domain, iso_time
from pciplane.service.settings import KeystoneRole

#: The v3 minor version this subset follows (Keystone's own numbering).
V3_ID = "v3.14"

Text = Annotated[str, Field(min_length=1, max_length=255)]


class _Body(BaseModel):
    """Keystone ignores keys it does not know in these documents; so does pciplane."""

    model_config = ConfigDict(extra="ignore")


class DomainRef(_Body):
    id: Text | None = None
    name: Text | None = None


class UserRef(_Body):
    id: Text | None = None
    name: Text | None = None
    domain: DomainRef | None = None
    password: Annotated[str, Field(max_length=4096)]


class PasswordMethod(_Body):
    user: UserRef


class Identity(_Body):
    methods: Annotated[list[Literal["password"]], Field(min_length=1)]
    password: PasswordMethod


class ProjectRef(_Body):
    id: Text | None = None
    name: Text | None = None
    domain: DomainRef | None = None


class Scope(_Body):
    project: ProjectRef | None = None


class Auth(_Body):
    identity: Identity
    scope: Scope | None = None


class AuthRequest(_Body):
    auth: Auth


def _version(request: Request) -> dict[str, object]:
    return {
        "id": V3_ID,
        "status": "stable",
        "updated": "2020-04-07T00:00:00Z",
        "links": [{"rel": "self", "href": f"{base_url(request)}{IDENTITY}/v3/"}],
        "media-types": [
            {"base": "application/json", "type": "application/vnd.openstack.identity-v3+json"}
        ],
    }


def versions(request: Request) -> JSONResponse:
    """``GET /identity``: the one version, as Keystone lists its versions (300)."""
    return JSONResponse({"versions": {"values": [_version(request)]}}, status_code=300)


def version(request: Request) -> dict[str, object]:
    """``GET /identity/v3``: the v3 version document."""
    return {"version": _version(request)}


def _named(ref: UserRef | ProjectRef, what: str) -> str:
    domain = ref.domain or DomainRef()
    if not in_domain(domain.name, domain.id):
        raise AuthError(f"{what}'s domain is not {DOMAIN_NAME!r}, the only one pciplane has")
    if ref.name is not None and ref.id is not None and ref.name != ref.id:
        raise AuthError(f"{what} id {ref.id!r} and name {ref.name!r} differ (ids are names here)")
    name = ref.name or ref.id
    if name is None:
        raise AuthError(f"{what} has neither a name nor an id")
    return name


def _roles(role: KeystoneRole) -> list[dict[str, str]]:
    """The role and the ones it implies, as Keystone's defaults do (admin > member > reader)."""
    implied = ["admin", "member", "reader"] if role is KeystoneRole.ADMIN else ["member", "reader"]
    return [{"id": name, "name": name} for name in implied]


def token_body(request: Request, token: Token) -> dict[str, object]:
    domain = {"id": DOMAIN_ID, "name": DOMAIN_NAME}
    settings = services(request).settings
    return {
        "token": {
            "methods": ["password"],
            "user": {
                "id": token.user,
                "name": token.user,
                "domain": domain,
                "password_expires_at": None,
            },
            "audit_ids": [token.audit_id],
            "issued_at": iso_time(token.issued_at),
            "expires_at": iso_time(token.expires_at),
            "project": {"id": token.project, "name": token.project, "domain": domain},
            "is_domain": False,
            "roles": _roles(token.role),
            "catalog": catalog(base_url(request), settings.region_name, token.project),
        }
    }


def issue_token(request: Request, body: AuthRequest) -> JSONResponse:
    """``POST /identity/v3/auth/tokens``: password in, a project-scoped token out (201)."""
    auth = body.auth
    user = _named(auth.identity.password.user, "the user")
    project_ref = auth.scope.project if auth.scope is not None else None
    if project_ref is None:
        raise AuthError(
            "pciplane issues project-scoped tokens only: name a project (OS_PROJECT_NAME)"
        )
    project = _named(project_ref, "the project")
    token = services(request).identity.authenticate(
        user=user, password=auth.identity.password.user.password, project=project, now=time.time()
    )
    return JSONResponse(
        token_body(request, token), status_code=201, headers={"X-Subject-Token": token.id}
    )


def check_token(request: Request, _who: Who) -> JSONResponse:
    """``GET /identity/v3/auth/tokens``: the token in ``X-Subject-Token``, if it is valid."""
    subject = request.headers.get("x-subject-token", "")
    identity = services(request).identity
    try:
        if not identity.looks_like_token(subject):
            raise AuthError("not a Keystone token")
        token = identity.verify(subject, now=time.time())
    except AuthError as exc:
        raise NotFoundError(f"Could not find token: {exc}") from None
    return JSONResponse(token_body(request, token), headers={"X-Subject-Token": token.id})
