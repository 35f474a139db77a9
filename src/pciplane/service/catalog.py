"""The operator's catalogue: PCI aliases and flavors, and the what-if guest they describe.

Aliases have one source of truth. Without ``alias_file`` they are managed through the
API and kept in the database. With it, the file is the only source (as ``[pci] alias``
is in Nova's config): it is loaded at start and by ``alias reload``, and the API refuses
to create or delete aliases, so a restart can never silently drop what the API added.
Either way, no change may strand a flavor: deleting or reloading away an alias that a
flavor's ``pci_passthrough:alias`` names is refused (409), naming the flavors.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from sqlalchemy.engine import Connection

from pciplane.conf.pci_entries import load_alias_entries
from pciplane.core.alias import ALIAS_KEY, parse_alias_names, parse_aliases, requests_from_flavor
from pciplane.core.errors import AliasError, ConfigError, InUseError, RequestError
from pciplane.core.fit import GuestRequest
from pciplane.core.flavor import check_extra_specs
from pciplane.core.guest_cpu import check_fits_fleet, cpu_ask
from pciplane.core.port_ask import PortAsk
from pciplane.service.nics import flavor_numa_policy
from pciplane.service.settings import Settings
from pciplane.store import catalog
from pciplane.store.catalog import FlavorRecord
from pciplane.store.db import Database
from pciplane.store.hosts import largest_cell

Entry = dict[str, object]


def _aliases_used(flavors: Sequence[FlavorRecord]) -> dict[str, list[str]]:
    """Alias name -> the flavors whose ``pci_passthrough:alias`` names it."""
    used: dict[str, list[str]] = {}
    for flavor in flavors:
        value = flavor.extra_specs_map.get(ALIAS_KEY)
        if value is None:
            continue
        for name in parse_alias_names(value):
            used.setdefault(name, []).append(flavor.name)
    return used


def _check_not_stranded(conn: Connection, remaining: Sequence[Entry], what: str) -> None:
    """Refuse a change after which a flavor names an alias that no longer exists."""
    left = {str(e.get("name")) for e in remaining}
    stranded = {
        name: flavors
        for name, flavors in _aliases_used(catalog.list_flavors(conn)).items()
        if name not in left
    }
    if stranded:
        detail = "; ".join(
            f"alias {name!r} is used by flavor(s) {', '.join(sorted(f))}"
            for name, f in sorted(stranded.items())
        )
        raise InUseError(f"{what} would strand flavors: {detail}")


def _size(size: tuple[int | None, int | None] | None, flavor: str | None) -> tuple[int, int] | None:
    """A what-if's own vcpus and ram: both or neither, and not with a flavor's."""
    if size is None:
        return None
    vcpus, ram = size
    if vcpus is None or ram is None:
        raise RequestError("give vcpus and ram together")
    if flavor is not None:
        raise RequestError(f"flavor {flavor!r} has its own vcpus and ram; give one or the other")
    return vcpus, ram


class CatalogService:
    def __init__(self, db: Database, settings: Settings) -> None:
        self.db = db
        self.settings = settings

    # --- aliases ----------------------------------------------------------------------

    @property
    def alias_source(self) -> str:
        """``api``, or the path of the alias file that is the only source."""
        path = self.settings.alias_file
        return "api" if path is None else str(path)

    def aliases(self) -> list[Entry]:
        with self.db.read() as conn:
            return catalog.alias_entries(conn)

    def _api_managed(self, action: str) -> None:
        if self.settings.alias_file is not None:
            raise InUseError(
                f"cannot {action} an alias through the API: aliases come from the alias file "
                f"{self.settings.alias_file}; edit it and run 'pciplane alias reload'"
            )

    def create_alias(self, entry: Mapping[str, object], *, name: str | None = None) -> Entry:
        """Add one ``[pci] alias`` entry; the set must still parse (Nova §1.8)."""
        self._api_managed("create")
        body = dict(entry)
        if name is not None and body.get("name", name) != name:
            raise AliasError(
                f"the entry names alias {body.get('name')!r}, not {name!r}", entry=body
            )
        with self.db.write() as conn:
            existing = catalog.alias_entries(conn)
            if body in existing:
                raise AliasError("this exact entry exists already", entry=body)
            parse_aliases(existing)
            try:
                parsed = parse_aliases([*existing, body])
            except AliasError as exc:
                # Number the error by the entry being added, not its place in the set.
                raise AliasError(exc.reason, entry=body, key=exc.key, value=exc.value) from None
            alias_name = next(n for n in parsed if n == body.get("name"))
            catalog.add_alias(conn, alias_name, body)
        return body

    def delete_alias(self, name: str) -> None:
        self._api_managed("delete")
        with self.db.write() as conn:
            remaining = [e for e in catalog.alias_entries(conn) if e.get("name") != name]
            _check_not_stranded(conn, remaining, f"deleting alias {name!r}")
            catalog.delete_alias(conn, name)

    def load_alias_file(self) -> list[Entry]:
        """Replace every alias with the alias file's entries (at start, and on reload)."""
        path = self.settings.alias_file
        if path is None:
            raise ConfigError("no alias file is configured (setting alias_file)")
        entries = load_alias_entries(path)
        with self.db.write() as conn:
            _check_not_stranded(conn, entries, f"loading the alias file {path}")
            catalog.replace_aliases(conn, entries)
        return entries

    # --- flavors ----------------------------------------------------------------------

    def _check_specs(
        self, conn: Connection, specs: Mapping[str, str], *, vcpus: int, ram: int
    ) -> None:
        """Extra specs must be known, build requests against today's aliases (§1.9), and
        describe a guest some host cell of the fleet could hold."""
        check_extra_specs(specs)
        requests_from_flavor(specs, parse_aliases(catalog.alias_entries(conn)))
        check_fits_fleet(cpu_ask(specs, vcpus=vcpus, memory_mib=ram), largest_cell(conn))

    def flavors(self) -> list[FlavorRecord]:
        with self.db.read() as conn:
            return catalog.list_flavors(conn)

    def flavor(self, name: str) -> FlavorRecord:
        with self.db.read() as conn:
            return catalog.get_flavor(conn, name)

    def flavor_by_id(self, flavor_id: str) -> FlavorRecord:
        """The flavor Nova's API names by its id (``flavorid``)."""
        with self.db.read() as conn:
            return catalog.get_flavor_by_id(conn, flavor_id)

    def create_flavor(self, flavor: FlavorRecord) -> FlavorRecord:
        with self.db.write() as conn:
            self._check_specs(conn, flavor.extra_specs_map, vcpus=flavor.vcpus, ram=flavor.ram)
            catalog.create_flavor(conn, flavor)
            return catalog.get_flavor(conn, flavor.name)

    def update_flavor(
        self, name: str, *, set_: Mapping[str, str], unset: Sequence[str]
    ) -> FlavorRecord:
        """``flavor set --property k=v`` / ``unset``: the result must still make sense."""
        with self.db.write() as conn:
            record = catalog.get_flavor(conn, name)
            merged = {**record.extra_specs_map, **set_}
            for key in unset:
                merged.pop(key, None)
            self._check_specs(conn, merged, vcpus=record.vcpus, ram=record.ram)
            catalog.update_flavor_specs(conn, name, set_=set_, unset=unset)
            return catalog.get_flavor(conn, name)

    def describe_flavor(self, name: str, description: str | None) -> FlavorRecord:
        """A flavor's description is the one thing that changes after it is made (Nova)."""
        with self.db.write() as conn:
            catalog.set_flavor_description(conn, name, description)
            return catalog.get_flavor(conn, name)

    def delete_flavor(self, name: str) -> None:
        with self.db.write() as conn:
            catalog.delete_flavor(conn, name)

    # --- what-if ----------------------------------------------------------------------

    def what_if(
        self,
        *,
        flavor: str | None,
        extra_specs: Mapping[str, str],
        numa_cells: Sequence[int] | None,
        ports: Sequence[PortAsk] = (),
        size: tuple[int | None, int | None] | None = None,
    ) -> GuestRequest:
        """The guest a what-if question describes: a flavor and/or extra specs, ports (after
        the flavor's requests, Nova's order §4.2; the flavor's NUMA policy unless a port has
        its own), NUMA cells."""
        sizes = _size(size, flavor)
        with self.db.read() as conn:
            specs = dict(extra_specs)
            if flavor is not None:
                record = catalog.get_flavor(conn, flavor)
                specs = {**record.extra_specs_map, **specs}
                sizes = (record.vcpus, record.ram)
            check_extra_specs(specs)
            aliases = parse_aliases(catalog.alias_entries(conn))
        # A flavor brings its vCPUs and RAM: its CPUs and memory are fitted too.
        cpu = None if sizes is None else cpu_ask(specs, vcpus=sizes[0], memory_mib=sizes[1])
        if numa_cells is not None and any(c < 0 for c in numa_cells):
            raise RequestError(f"NUMA cells {list(numa_cells)} must not be negative")
        cells = frozenset(numa_cells) if numa_cells is not None else None
        flavor_policy = flavor_numa_policy(specs)
        asked = tuple(r for p in ports if (r := p.request(flavor_policy)) is not None)
        pci = (*requests_from_flavor(specs, aliases), *asked)
        return GuestRequest(pci=pci, numa_cells=cells, cpu=cpu)
