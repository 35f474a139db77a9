"""Nova's ``os-quota-sets`` over pciplane's quota service, so ``openstack quota show``
and ``quota set --cores N`` work.

pciplane's ``instances``, ``cores`` and ``ram`` are Nova's; the quotas Nova keeps for
things pciplane has none of (key pairs, metadata items, server groups) are shown with
Nova's defaults and cannot be set. Per-alias and per-physnet quotas are pciplane's own
(``/v1/quotas``), not shown here. Reading is for the admin and the project itself;
setting is the admin's (Nova's policy).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Body, Request
from pydantic import JsonValue

from pciplane.api.auth import Who, require_admin
from pciplane.api.handlers_quotas import readable
from pciplane.api.openstack.nova_common import IdParam, Version
from pciplane.api.paths import services
from pciplane.core.errors import RequestError
from pciplane.core.quota import CORES, INSTANCES, RAM

#: Nova's own defaults for what pciplane does not have.
FIXED = {"key_pairs": 100, "metadata_items": 128, "server_groups": 10, "server_group_members": 10}
#: Removed from the API at 2.57 (Nova's microversion history).
BEFORE_2_57 = {"injected_files": 5, "injected_file_content_bytes": 10240,
               "injected_file_path_bytes": 255}  # fmt: skip
OURS = (INSTANCES, CORES, RAM)


def _fixed(version: Version) -> dict[str, int]:
    return {**FIXED, **({} if version.at_least("2.57") else BEFORE_2_57)}


def _quota_set(
    request: Request, project: str, version: Version, *, detail: bool
) -> dict[str, object]:
    lines = {q.resource: q for q in services(request).quotas.show(project)}
    out: dict[str, object] = {"id": project}
    for name in OURS:
        line = lines[name]
        out[name] = (
            {"limit": line.limit, "in_use": line.in_use, "reserved": 0} if detail else line.limit
        )
    for name, value in _fixed(version).items():
        out[name] = {"limit": value, "in_use": 0, "reserved": 0} if detail else value
    return out


def show_quota_set(
    request: Request, project_id: IdParam, who: Who, version: Version
) -> dict[str, object]:
    readable(who, project_id)
    return {"quota_set": _quota_set(request, project_id, version, detail=False)}


def show_quota_detail(
    request: Request, project_id: IdParam, who: Who, version: Version
) -> dict[str, object]:
    readable(who, project_id)
    return {"quota_set": _quota_set(request, project_id, version, detail=True)}


def show_quota_defaults(
    request: Request, project_id: IdParam, who: Who, version: Version
) -> dict[str, object]:
    readable(who, project_id)
    defaults = services(request).quotas.defaults()
    return {"quota_set": {"id": project_id, **{n: defaults[n] for n in OURS}, **_fixed(version)}}


def update_quota_set(
    request: Request,
    project_id: IdParam,
    who: Who,
    version: Version,
    body: Annotated[dict[str, JsonValue], Body()],
) -> dict[str, object]:
    """``PUT``: instances, cores and ram are set; Nova's other keys are taken only at
    their fixed value (nothing here enforces them)."""
    require_admin(who)
    quota_set = body.get("quota_set")
    if not isinstance(quota_set, dict):
        raise RequestError('the body must be {"quota_set": {...}}')
    changes: dict[str, int | None] = {}
    for key, value in quota_set.items():
        if key == "force":
            continue
        if isinstance(value, bool) or not isinstance(value, int):
            raise RequestError(f"quota_set.{key}: {value!r} is not an integer")
        if key in OURS:
            changes[key] = value
        elif key in _fixed(version):
            if value != _fixed(version)[key]:
                raise RequestError(f"quota_set.{key}: pciplane has no {key} to limit")
        else:
            raise RequestError(f"quota_set: unknown quota {key!r}")
    services(request).quotas.set(project_id, changes)
    shown = _quota_set(request, project_id, version, detail=False)
    shown.pop("id")
    return {"quota_set": shown}
