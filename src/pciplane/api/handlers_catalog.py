"""Handlers for aliases, flavors and what-if fits: parse with the core, then write."""

from __future__ import annotations

from collections.abc import Mapping

from fastapi import Request

from pciplane.api import schemas
from pciplane.api.auth import Who, require_admin, require_user
from pciplane.api.context import ctx
from pciplane.conf.pci_entries import load_alias_entries
from pciplane.core.alias import parse_aliases, requests_from_flavor
from pciplane.core.errors import ConfigError
from pciplane.core.fit import GuestRequest
from pciplane.store import catalog


def _alias_out(entry: Mapping[str, object]) -> schemas.AliasOut:
    return schemas.AliasOut(name=str(entry.get("name", "")), entry=dict(entry))  # type: ignore[arg-type]


def list_aliases(request: Request, who: Who) -> schemas.AliasList:
    require_user(who)
    with ctx(request).db.read() as conn:
        entries = catalog.alias_entries(conn)
    return schemas.AliasList(aliases=[_alias_out(e) for e in entries])


def create_alias(
    request: Request, body: dict[str, schemas.JsonValue], who: Who
) -> schemas.AliasOut:
    """Add one ``[pci] alias`` entry; the whole set must still parse (Nova §1.8)."""
    require_admin(who)
    with ctx(request).db.write() as conn:
        entries = catalog.alias_entries(conn)
        parsed = parse_aliases([*entries, body])
        name = next(n for n in parsed if n == body.get("name"))
        catalog.add_alias(conn, name, body)
    return _alias_out(body)


def delete_alias(request: Request, name: str, who: Who) -> None:
    require_admin(who)
    with ctx(request).db.write() as conn:
        catalog.delete_alias(conn, name)


def reload_aliases(request: Request, who: Who) -> schemas.AliasList:
    """Replace every alias with the entries of the configured alias file."""
    require_admin(who)
    context = ctx(request)
    entries = load_alias_file(context.settings.alias_file)
    with context.db.write() as conn:
        catalog.replace_aliases(conn, entries)
    return schemas.AliasList(aliases=[_alias_out(e) for e in entries])


def load_alias_file(path: object) -> list[dict[str, object]]:
    """The alias file's entries (a JSON list or a nova.conf), read by pciplane.conf."""
    if path is None:
        raise ConfigError("no alias file is configured (setting alias_file)")
    return load_alias_entries(str(path))


def _flavor_out(flavor: catalog.FlavorRecord) -> schemas.FlavorOut:
    return schemas.FlavorOut(
        name=flavor.name, vcpus=flavor.vcpus, ram=flavor.ram, extra_specs=dict(flavor.extra_specs)
    )


def _check_specs(conn: object, specs: Mapping[str, str]) -> None:
    """Extra specs must build requests against today's aliases (Nova §1.9)."""
    aliases = parse_aliases(catalog.alias_entries(conn))  # type: ignore[arg-type]
    requests_from_flavor(specs, aliases)


def list_flavors(request: Request, who: Who) -> schemas.FlavorList:
    require_user(who)
    with ctx(request).db.read() as conn:
        return schemas.FlavorList(flavors=[_flavor_out(f) for f in catalog.list_flavors(conn)])


def show_flavor(request: Request, name: str, who: Who) -> schemas.FlavorOut:
    require_user(who)
    with ctx(request).db.read() as conn:
        return _flavor_out(catalog.get_flavor(conn, name))


def create_flavor(request: Request, body: schemas.FlavorIn, who: Who) -> schemas.FlavorOut:
    require_admin(who)
    with ctx(request).db.write() as conn:
        _check_specs(conn, body.extra_specs)
        record = catalog.FlavorRecord(
            name=body.name,
            vcpus=body.vcpus,
            ram=body.ram,
            extra_specs=tuple(sorted(body.extra_specs.items())),
        )
        catalog.create_flavor(conn, record)
        return _flavor_out(catalog.get_flavor(conn, body.name))


def update_flavor(
    request: Request, name: str, body: schemas.FlavorSpecsIn, who: Who
) -> schemas.FlavorOut:
    """``flavor set --property k=v`` / ``unset``: the result must still make sense."""
    require_admin(who)
    with ctx(request).db.write() as conn:
        current = catalog.get_flavor(conn, name).extra_specs_map
        merged = {**current, **body.set}
        for key in body.unset:
            merged.pop(key, None)
        _check_specs(conn, merged)
        catalog.update_flavor_specs(conn, name, set_=body.set, unset=body.unset)
        return _flavor_out(catalog.get_flavor(conn, name))


def delete_flavor(request: Request, name: str, who: Who) -> None:
    require_admin(who)
    with ctx(request).db.write() as conn:
        catalog.delete_flavor(conn, name)


def _what_if(request: Request, body: schemas.FitIn) -> GuestRequest:
    """The guest a what-if question describes: a flavor and/or extra specs, NUMA cells."""
    with ctx(request).db.read() as conn:
        specs = dict(body.extra_specs)
        if body.flavor is not None:
            specs = {**catalog.get_flavor(conn, body.flavor).extra_specs_map, **specs}
        aliases = parse_aliases(catalog.alias_entries(conn))
    cells = frozenset(body.numa_cells) if body.numa_cells is not None else None
    return GuestRequest(pci=requests_from_flavor(specs, aliases), numa_cells=cells)


def capacity(request: Request, body: schemas.FitIn, who: Who) -> schemas.CapacityOut:
    """What-if: how many more such servers each host could take now, and what limits it."""
    require_admin(who)
    result = ctx(request).scheduler.capacity(_what_if(request, body))
    return schemas.CapacityOut(
        total=result.total,
        hosts=[
            schemas.HostCapacityOut(name=h.host, servers=h.servers, limited_by=h.limited_by)
            for h in result.hosts
        ],
        limited_by=dict(result.limited_by()),
    )


def fit(request: Request, body: schemas.FitIn, who: Who) -> schemas.FitOut:
    """What-if: which hosts could take this request now, and why not the others."""
    require_admin(who)
    result = ctx(request).scheduler.fit(_what_if(request, body))
    verdicts = [
        schemas.VerdictOut(name=v.host, fits=v.fits, reason=v.reason) for v in result.verdicts()
    ]
    return schemas.FitOut(hosts=verdicts, fit_count=result.fit_count)
