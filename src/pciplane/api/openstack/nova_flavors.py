"""Nova's flavors and their extra specs, over pciplane's catalog service.

Flavors are named by Nova's flavor id (generated when a create sends none, as the CLI
does); the extra specs go through the same checks as ``/v1`` (unknown
``pci_passthrough:``/``hw:`` keys and aliases nobody defined are refused). Every flavor is
public: a private one (``os-flavor-access:is_public: false``) is refused, as pciplane has
no flavor access lists. Listing, showing and reading extra specs is for every user;
creating, deleting and changing them is the admin's (Nova's default policy).
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import Query, Request
from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictFloat, StrictInt

from pciplane.api.auth import Who, require_admin, require_user
from pciplane.api.openstack import nova_views as views
from pciplane.api.openstack.endpoints import base_url
from pciplane.api.openstack.nova_common import IdParam, Limit, LooseInt, Marker, Version, page
from pciplane.api.paths import services
from pciplane.core.errors import NotFoundError, RequestError
from pciplane.store.catalog import FlavorRecord
from pciplane.wire.common import INT32_MAX, NAME_PATTERN

#: Nova's flavor id: letters, digits, ``._-`` and inner spaces.
FLAVOR_ID_PATTERN = r"^[a-zA-Z0-9._-]([a-zA-Z0-9. _-]*[a-zA-Z0-9._-])?$"
#: Nova's extra spec key.
SPEC_KEY_PATTERN = r"^[a-zA-Z0-9-_:. ]{1,255}$"

SpecKey = Annotated[str, Field(pattern=SPEC_KEY_PATTERN)]
#: Nova's flavor description: printable text, up to 65535 characters.
Description = Annotated[str, Field(max_length=65535, pattern=r"^[^\x00-\x08\x0b-\x1f\x7f]*$")]
SpecValue = Annotated[str, Field(max_length=255)] | StrictInt | StrictFloat | StrictBool


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=False)


class FlavorBody(_Strict):
    name: Annotated[str, Field(min_length=1, max_length=255, pattern=NAME_PATTERN)]
    id: Annotated[str, Field(max_length=255, pattern=FLAVOR_ID_PATTERN)] | StrictInt | None = None
    ram: Annotated[LooseInt, Field(ge=1, le=INT32_MAX)]
    vcpus: Annotated[LooseInt, Field(ge=1, le=4096)]
    disk: Annotated[LooseInt, Field(ge=0, le=INT32_MAX)]
    ephemeral: Annotated[LooseInt, Field(ge=0, le=INT32_MAX)] = Field(
        0, alias="OS-FLV-EXT-DATA:ephemeral"
    )
    swap: Annotated[LooseInt, Field(ge=0, le=INT32_MAX)] | Literal[""] | None = None
    rxtx_factor: Annotated[float, Field(gt=0)] | None = None
    is_public: StrictBool = Field(True, alias="os-flavor-access:is_public")
    description: Description | None = None


class FlavorCreate(_Strict):
    flavor: FlavorBody


class FlavorChange(_Strict):
    description: Description | None


class FlavorUpdate(_Strict):
    flavor: FlavorChange


class ExtraSpecsBody(_Strict):
    extra_specs: Annotated[dict[SpecKey, SpecValue], Field(max_length=64)]


def _spec_text(value: SpecValue) -> str:
    return str(value)


def _flavor(request: Request, flavor_id: str) -> FlavorRecord:
    try:
        return services(request).catalog.flavor_by_id(flavor_id)
    except NotFoundError:
        raise NotFoundError(f"Flavor {flavor_id} could not be found.") from None


def _listed(
    request: Request,
    min_ram: int | None,
    min_disk: int | None,
    limit: int | None,
    marker: str | None,
) -> tuple[list[FlavorRecord], str | None]:
    flavors = [
        f
        for f in services(request).catalog.flavors()
        if (min_ram is None or f.ram >= min_ram) and (min_disk is None or f.disk >= min_disk)
    ]
    return page(flavors, lambda f: f.id, limit=limit, marker=marker, what="flavor")


MinRam = Annotated[int | None, Query(alias="minRam", ge=0)]
MinDisk = Annotated[int | None, Query(alias="minDisk", ge=0)]


def list_flavors(
    request: Request,
    who: Who,
    version: Version,
    min_ram: MinRam = None,
    min_disk: MinDisk = None,
    limit: Limit = None,
    marker: Marker = None,
) -> dict[str, object]:
    """``GET /flavors`` (``is_public`` may be anything: every flavor is public)."""
    require_user(who)
    found, more = _listed(request, min_ram, min_disk, limit, marker)
    base = base_url(request)
    body: dict[str, object] = {"flavors": [views.flavor_index(base, f, version) for f in found]}
    if more is not None and limit is not None:
        body["flavors_links"] = views.next_link(base, "flavors", more, limit)
    return body


def list_flavors_detail(
    request: Request,
    who: Who,
    version: Version,
    min_ram: MinRam = None,
    min_disk: MinDisk = None,
    limit: Limit = None,
    marker: Marker = None,
) -> dict[str, object]:
    """``GET /flavors/detail``: what the clients read to find a flavor by name."""
    require_user(who)
    found, more = _listed(request, min_ram, min_disk, limit, marker)
    base = base_url(request)
    body: dict[str, object] = {"flavors": [views.flavor_detail(base, f, version) for f in found]}
    if more is not None and limit is not None:
        body["flavors_links"] = views.next_link(base, "flavors/detail", more, limit)
    return body


def show_flavor(
    request: Request, flavor_id: IdParam, who: Who, version: Version
) -> dict[str, object]:
    require_user(who)
    return {"flavor": views.flavor_detail(base_url(request), _flavor(request, flavor_id), version)}


def create_flavor(
    request: Request, body: FlavorCreate, who: Who, version: Version
) -> dict[str, object]:
    """``POST /flavors`` (admin): 200 with the flavor, its id generated when none is sent."""
    require_admin(who)
    given = body.flavor
    if not given.is_public:
        raise RequestError(
            "os-flavor-access:is_public: private flavors are not supported "
            "(pciplane has no flavor access lists); every flavor is public"
        )
    if given.description is not None and not version.at_least("2.55"):
        raise RequestError("description: needs microversion 2.55")
    if given.rxtx_factor not in (None, 1.0):
        raise RequestError("rxtx_factor: only 1.0 is supported (pciplane shapes no traffic)")
    record = FlavorRecord(
        name=given.name,
        vcpus=given.vcpus,
        ram=given.ram,
        id="" if given.id is None else str(given.id),
        disk=given.disk,
        ephemeral=given.ephemeral,
        swap=given.swap or 0,
        description=given.description,
    )
    created = services(request).catalog.create_flavor(record)
    return {"flavor": views.flavor_detail(base_url(request), created, version)}


def update_flavor(
    request: Request, flavor_id: IdParam, body: FlavorUpdate, who: Who, version: Version
) -> dict[str, object]:
    """``PUT /flavors/{id}`` (admin, 2.55 on): change the description, the one thing a
    flavor lets change (the route does not exist before 2.55, as in Nova)."""
    if not version.at_least("2.55"):
        raise NotFoundError("The resource could not be found (PUT /flavors needs 2.55).")
    require_admin(who)
    flavor = _flavor(request, flavor_id)
    changed = services(request).catalog.describe_flavor(flavor.name, body.flavor.description)
    return {"flavor": views.flavor_detail(base_url(request), changed, version)}


def delete_flavor(request: Request, flavor_id: IdParam, who: Who) -> None:
    """``DELETE /flavors/{id}`` (admin): 202; servers keep the flavor they were built with."""
    require_admin(who)
    services(request).catalog.delete_flavor(_flavor(request, flavor_id).name)


# --- os-extra_specs ------------------------------------------------------------------


def list_extra_specs(request: Request, flavor_id: IdParam, who: Who) -> dict[str, object]:
    require_user(who)
    return {"extra_specs": dict(_flavor(request, flavor_id).extra_specs)}


def set_extra_specs(
    request: Request, flavor_id: IdParam, body: ExtraSpecsBody, who: Who
) -> dict[str, object]:
    """``POST .../os-extra_specs`` (admin): add or change these keys; the others stay."""
    require_admin(who)
    specs = {k: _spec_text(v) for k, v in body.extra_specs.items()}
    flavor = _flavor(request, flavor_id)
    services(request).catalog.update_flavor(flavor.name, set_=specs, unset=())
    return {"extra_specs": specs}


def show_extra_spec(
    request: Request, flavor_id: IdParam, key: IdParam, who: Who
) -> dict[str, object]:
    require_user(who)
    specs = dict(_flavor(request, flavor_id).extra_specs)
    if key not in specs:
        raise NotFoundError(f"Flavor {flavor_id} has no extra specs with key {key}.")
    return {key: specs[key]}


def update_extra_spec(
    request: Request,
    flavor_id: IdParam,
    key: IdParam,
    body: Annotated[dict[SpecKey, SpecValue], Field(min_length=1, max_length=1)],
    who: Who,
) -> dict[str, object]:
    """``PUT .../os-extra_specs/{key}`` (admin): the body is ``{key: value}`` for that key."""
    require_admin(who)
    ((given, value),) = body.items()
    if given != key:
        raise RequestError(f"the body names extra spec {given!r}, the URI {key!r}")
    flavor = _flavor(request, flavor_id)
    services(request).catalog.update_flavor(flavor.name, set_={key: _spec_text(value)}, unset=())
    return {key: _spec_text(value)}


def delete_extra_spec(request: Request, flavor_id: IdParam, key: IdParam, who: Who) -> None:
    """``DELETE .../os-extra_specs/{key}`` (admin); 404 for a key the flavor does not have."""
    require_admin(who)
    flavor = _flavor(request, flavor_id)
    if key not in flavor.extra_specs_map:
        raise NotFoundError(f"Flavor {flavor_id} has no extra specs with key {key}.")
    services(request).catalog.update_flavor(flavor.name, set_={}, unset=[key])
