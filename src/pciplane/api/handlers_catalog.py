"""Aliases, flavors and what-if questions: body -> service call -> view."""

from __future__ import annotations

from fastapi import Request
from pydantic import JsonValue

from pciplane.api import views
from pciplane.api.auth import Who, require_admin, require_user
from pciplane.api.paths import NameParam, services
from pciplane.store.catalog import FlavorRecord
from pciplane.wire import catalog as wc
from pciplane.wire import whatif as ww


def list_aliases(request: Request, who: Who) -> wc.AliasList:
    require_user(who)
    catalog = services(request).catalog
    return wc.AliasList(
        aliases=[views.alias_out(e) for e in catalog.aliases()], source=catalog.alias_source
    )


def create_alias(request: Request, body: dict[str, JsonValue], who: Who) -> wc.AliasOut:
    """Add one ``[pci] alias`` entry, exactly as nova.conf takes it."""
    require_admin(who)
    return views.alias_out(services(request).catalog.create_alias(body))


def delete_alias(request: Request, name: NameParam, who: Who) -> None:
    require_admin(who)
    services(request).catalog.delete_alias(name)


def reload_aliases(request: Request, who: Who) -> wc.AliasList:
    """Replace every alias with the entries of the configured alias file."""
    require_admin(who)
    catalog = services(request).catalog
    entries = catalog.load_alias_file()
    return wc.AliasList(aliases=[views.alias_out(e) for e in entries], source=catalog.alias_source)


def list_flavors(request: Request, who: Who) -> wc.FlavorList:
    require_user(who)
    return wc.FlavorList(flavors=[views.flavor_out(f) for f in services(request).catalog.flavors()])


def show_flavor(request: Request, name: NameParam, who: Who) -> wc.FlavorOut:
    require_user(who)
    return views.flavor_out(services(request).catalog.flavor(name))


def create_flavor(request: Request, body: wc.FlavorIn, who: Who) -> wc.FlavorOut:
    require_admin(who)
    record = FlavorRecord(
        name=body.name,
        vcpus=body.vcpus,
        ram=body.ram,
        disk=body.disk,
        extra_specs=tuple(sorted(body.extra_specs.items())),
    )
    return views.flavor_out(services(request).catalog.create_flavor(record))


def update_flavor(
    request: Request, name: NameParam, body: wc.FlavorSpecsIn, who: Who
) -> wc.FlavorOut:
    """``flavor set --property k=v`` / ``--unset-property k``."""
    require_admin(who)
    flavor = services(request).catalog.update_flavor(name, set_=body.set, unset=body.unset)
    return views.flavor_out(flavor)


def delete_flavor(request: Request, name: NameParam, who: Who) -> None:
    require_admin(who)
    services(request).catalog.delete_flavor(name)


def fit(request: Request, body: ww.FitIn, who: Who) -> ww.FitOut:
    """What-if: which hosts could take this request now, and why not the others."""
    require_admin(who)
    svc = services(request)
    guest = svc.catalog.what_if(
        flavor=body.flavor,
        extra_specs=body.extra_specs,
        numa_cells=body.numa_cells,
        size=None if body.vcpus is None and body.ram is None else (body.vcpus, body.ram),
    )
    verdicts = svc.scheduler.fit(guest)
    return ww.FitOut(
        hosts=[views.verdict_out(v) for v in verdicts], fit_count=sum(v.fits for v in verdicts)
    )


def capacity(request: Request, body: ww.FitIn, who: Who) -> ww.CapacityOut:
    """What-if: how many more such servers each host could take now, and what limits it."""
    require_admin(who)
    svc = services(request)
    guest = svc.catalog.what_if(
        flavor=body.flavor,
        extra_specs=body.extra_specs,
        numa_cells=body.numa_cells,
        size=None if body.vcpus is None and body.ram is None else (body.vcpus, body.ram),
    )
    result = svc.scheduler.capacity(guest)
    return ww.CapacityOut(
        total=result.total,
        hosts=[
            ww.HostCapacityOut(name=h.host, servers=h.servers, limited_by=h.limited_by)
            for h in result.hosts
        ],
        limited_by=dict(result.limited_by()),
    )
