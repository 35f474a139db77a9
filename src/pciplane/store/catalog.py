"""Aliases and flavors: the operator's catalogue that requests are built from.

Alias entries are kept exactly as Nova's ``[pci] alias`` takes them (one JSON object per
row, several rows may share a name, nova-pci-semantics §1.8); the service validates the
whole set with the core's parser before any row is written.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from pciplane.core.errors import AlreadyExistsError, NotFoundError
from pciplane.store.tables import aliases, flavor_extra_specs, flavors


@dataclass(frozen=True, kw_only=True, slots=True)
class FlavorRecord:
    name: str
    vcpus: int
    ram: int
    extra_specs: tuple[tuple[str, str], ...] = ()
    #: Nova's flavor id; "" on a new flavor means one is generated (a UUID).
    id: str = ""
    disk: int = 0
    ephemeral: int = 0
    swap: int = 0
    description: str | None = None

    @property
    def extra_specs_map(self) -> dict[str, str]:
        return dict(self.extra_specs)


def alias_entries(conn: Connection) -> list[dict[str, object]]:
    """Every stored alias entry, in creation order."""
    rows = conn.execute(sa.select(aliases.c.entry).order_by(aliases.c.id))
    return [json.loads(entry) for (entry,) in rows]


def add_alias(conn: Connection, name: str, entry: Mapping[str, object]) -> None:
    conn.execute(sa.insert(aliases).values(name=name, entry=json.dumps(dict(entry))))


def replace_aliases(conn: Connection, entries: Sequence[Mapping[str, object]]) -> None:
    """Swap the whole set (a reload of the alias file)."""
    conn.execute(sa.delete(aliases))
    for entry in entries:
        add_alias(conn, str(entry.get("name", "")), entry)


def delete_alias(conn: Connection, name: str) -> None:
    if conn.execute(sa.delete(aliases).where(aliases.c.name == name)).rowcount == 0:
        raise NotFoundError(f"PCI alias {name!r} does not exist")


def _flavor_id(conn: Connection, name: str) -> int:
    row = conn.execute(sa.select(flavors.c.id).where(flavors.c.name == name)).first()
    if row is None:
        raise NotFoundError(f"flavor {name!r} does not exist")
    return int(row.id)


def get_flavor(conn: Connection, name: str) -> FlavorRecord:
    row = conn.execute(sa.select(flavors).where(flavors.c.name == name)).first()
    if row is None:
        raise NotFoundError(f"flavor {name!r} does not exist")
    return _flavor(conn, row)


def get_flavor_by_id(conn: Connection, flavor_id: str) -> FlavorRecord:
    """The flavor Nova's API names ``flavor_id``."""
    row = conn.execute(sa.select(flavors).where(flavors.c.flavorid == flavor_id)).first()
    if row is None:
        raise NotFoundError(f"flavor {flavor_id} could not be found")
    return _flavor(conn, row)


def _flavor(conn: Connection, row: sa.Row[tuple[object, ...]]) -> FlavorRecord:
    specs = conn.execute(
        sa.select(flavor_extra_specs.c.key, flavor_extra_specs.c.value)
        .where(flavor_extra_specs.c.flavor_id == row.id)
        .order_by(flavor_extra_specs.c.key)
    )
    pairs = tuple((str(k), str(v)) for k, v in specs)
    return FlavorRecord(
        name=row.name,
        vcpus=row.vcpus,
        ram=row.ram,
        extra_specs=pairs,
        id=row.flavorid,
        disk=row.disk,
        ephemeral=row.ephemeral,
        swap=row.swap,
        description=row.description,
    )


def list_flavors(conn: Connection) -> list[FlavorRecord]:
    names = conn.execute(sa.select(flavors.c.name).order_by(flavors.c.name)).scalars()
    return [get_flavor(conn, name) for name in list(names)]


def create_flavor(conn: Connection, flavor: FlavorRecord) -> str:
    """Write the flavor; its id (generated when the record has none)."""
    if conn.execute(sa.select(flavors.c.id).where(flavors.c.name == flavor.name)).first():
        raise AlreadyExistsError(f"flavor {flavor.name!r} already exists")
    nova_id = flavor.id or str(uuid.uuid4())
    if conn.execute(sa.select(flavors.c.id).where(flavors.c.flavorid == nova_id)).first():
        raise AlreadyExistsError(f"a flavor with id {nova_id!r} already exists")
    values = {
        "name": flavor.name,
        "vcpus": flavor.vcpus,
        "ram": flavor.ram,
        "flavorid": nova_id,
        "disk": flavor.disk,
        "ephemeral": flavor.ephemeral,
        "swap": flavor.swap,
        "description": flavor.description,
    }
    try:
        flavor_id = conn.execute(sa.insert(flavors).values(**values)).inserted_primary_key[0]  # type: ignore[index]
    except sa.exc.IntegrityError:  # another process created it since the check above
        raise AlreadyExistsError(f"flavor {flavor.name!r} already exists") from None
    set_extra_specs(conn, flavor_id, dict(flavor.extra_specs))
    return nova_id


def set_extra_specs(conn: Connection, flavor_id: int, specs: Mapping[str, str]) -> None:
    for key, value in specs.items():
        conn.execute(
            sa.delete(flavor_extra_specs).where(
                flavor_extra_specs.c.flavor_id == flavor_id, flavor_extra_specs.c.key == key
            )
        )
        conn.execute(
            sa.insert(flavor_extra_specs).values(flavor_id=flavor_id, key=key, value=value)
        )


def set_flavor_description(conn: Connection, name: str, description: str | None) -> None:
    conn.execute(
        sa.update(flavors)
        .where(flavors.c.id == _flavor_id(conn, name))
        .values(description=description)
    )


def update_flavor_specs(
    conn: Connection, name: str, *, set_: Mapping[str, str], unset: Sequence[str] = ()
) -> None:
    flavor_id = _flavor_id(conn, name)
    set_extra_specs(conn, flavor_id, set_)
    if unset:
        conn.execute(
            sa.delete(flavor_extra_specs).where(
                flavor_extra_specs.c.flavor_id == flavor_id,
                flavor_extra_specs.c.key.in_(list(unset)),
            )
        )


def delete_flavor(conn: Connection, name: str) -> None:
    flavor_id = _flavor_id(conn, name)
    conn.execute(sa.delete(flavor_extra_specs).where(flavor_extra_specs.c.flavor_id == flavor_id))
    conn.execute(sa.delete(flavors).where(flavors.c.id == flavor_id))
