"""Keystone's projects, read-only: what ``openstack quota show|set PROJECT`` looks a
project up by (``GET /v3/projects/{id}``, then ``GET /v3/projects?name=``).

pciplane's projects are names (a project's id is its name): those of ``project_tokens``,
the projects ``keystone_users`` have roles in, and ``admin``. The admin sees every one; a
project sees only itself (another answers 404, as Keystone's policy does for a member).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Query, Request

from pciplane.api.auth import ADMIN_PROJECT, Principal, Who, require_user
from pciplane.api.openstack.endpoints import IDENTITY, base_url
from pciplane.api.openstack.nova_common import IdParam
from pciplane.api.paths import services
from pciplane.core.errors import NotFoundError
from pciplane.service.identity import DOMAIN_ID


def _known(request: Request, who: Principal) -> list[str]:
    settings = services(request).settings
    names = {ADMIN_PROJECT, *settings.project_tokens.values()}
    for user in settings.keystone_users.values():
        names.update(user.roles)
    mine = require_user(who)
    return sorted(names if mine is None else names & {mine})


def _project(request: Request, name: str) -> dict[str, object]:
    return {
        "id": name,
        "name": name,
        "domain_id": DOMAIN_ID,
        "enabled": True,
        "is_domain": False,
        "parent_id": DOMAIN_ID,
        "description": "",
        "tags": [],
        "links": {"self": f"{base_url(request)}{IDENTITY}/v3/projects/{name}"},
    }


def list_projects(
    request: Request,
    who: Who,
    name: Annotated[str | None, Query(max_length=255, pattern=r"^[^\x00-\x1f]*$")] = None,
) -> dict[str, object]:
    found = [n for n in _known(request, who) if name is None or n == name]
    return {
        "projects": [_project(request, n) for n in found],
        "links": {"self": f"{base_url(request)}{IDENTITY}/v3/projects", "next": None,
                  "previous": None},
    }  # fmt: skip


def show_project(request: Request, project_id: IdParam, who: Who) -> dict[str, object]:
    if project_id not in _known(request, who):
        raise NotFoundError(f"Could not find project: {project_id}.")
    return {"project": _project(request, project_id)}
