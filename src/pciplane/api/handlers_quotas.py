"""Per-project quotas on pciplane's own API: ``quota show [PROJECT]`` and ``quota set``.

A project sees its own quotas; the admin sees and sets any project's. Setting is the
admin's alone (Nova's policy for ``os-quota-sets`` updates)."""

from __future__ import annotations

from fastapi import Request

from pciplane.api.auth import Principal, Who, require_admin, require_user
from pciplane.api.paths import NameParam, services
from pciplane.core.errors import NotFoundError
from pciplane.service.quotas import QuotaLine
from pciplane.wire import quotas as wq


def quota_out(project: str, lines: list[QuotaLine]) -> wq.QuotaSetOut:
    return wq.QuotaSetOut(
        project=project,
        quotas=[
            wq.QuotaOut(resource=q.resource, limit=q.limit, in_use=q.in_use, own=q.own)
            for q in lines
        ],
    )


def readable(who: Principal, project: str) -> None:
    """The admin reads any project's quotas, a project only its own (404 otherwise, as
    another project's things do not exist for it)."""
    mine = require_user(who)
    if mine is not None and mine != project:
        raise NotFoundError(f"project {project!r} does not exist")


def show_quotas(request: Request, project: NameParam, who: Who) -> wq.QuotaSetOut:
    readable(who, project)
    return quota_out(project, services(request).quotas.show(project))


def my_quotas(request: Request, who: Who) -> wq.QuotaSetOut:
    require_user(who)
    return quota_out(who.home_project, services(request).quotas.show(who.home_project))


def set_quotas(
    request: Request, project: NameParam, body: wq.QuotaSetIn, who: Who
) -> wq.QuotaSetOut:
    require_admin(who)
    return quota_out(project, services(request).quotas.set(project, body.limits))
