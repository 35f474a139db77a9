"""``[pci] device_spec`` and ``[pci] alias`` entries from a file of either kind.

Operators keep these entries in nova.conf (an INI file whose ``[pci]`` section holds
them, :mod:`pciplane.conf.nova_conf`) or, for pciplane's own tools, in a JSON list of
entries (objects, or strings holding JSON as nova.conf does, shared/fleet-format.md).
Which one a file is follows from its name, then its content:

* ``*.json`` is JSON; ``*.conf``, ``*.ini`` and ``*.cfg`` are nova.conf;
* otherwise a file whose first significant line is a comment (``#``, ``;``) or a section
  header such as ``[pci]`` or ``[DEFAULT]`` is nova.conf, and anything else is JSON (a
  JSON list starts with ``[`` followed by ``{``, ``"``, ``[`` or ``]``, never a name).

The entries are parsed by the core here, once, so a malformed one is reported with the
file's name before anything uses it.
"""

from __future__ import annotations

import enum
import json
import re
from dataclasses import dataclass
from pathlib import Path

from pciplane.conf.json_file import STDIN, parse_json, read_text
from pciplane.conf.nova_conf import read_pci_section
from pciplane.core.alias import Alias, parse_aliases
from pciplane.core.errors import ConfigError, EntryError
from pciplane.core.spec import DeviceSpec, parse_device_specs


class FileKind(enum.Enum):
    JSON = "JSON list of entries"
    NOVA_CONF = "nova.conf"


_INI_SUFFIXES = frozenset({".conf", ".ini", ".cfg"})
_SECTION = re.compile(r"\[\s*[A-Za-z_][\w .-]*\]")

#: What ``--help`` says a FILE of entries may be.
FILE_HELP = (
    "a JSON list of entries, or a nova.conf-style INI file whose [pci] section holds them "
    "(by name: *.json, *.conf/*.ini/*.cfg; else by content: a [section] header or a "
    "comment first means INI)"
)


def file_kind(path: str | Path, text: str) -> FileKind:
    """Whether ``path`` (holding ``text``) is a JSON list of entries or a nova.conf."""
    suffix = Path(str(path)).suffix.lower()
    if suffix == ".json":
        return FileKind.JSON
    if suffix in _INI_SUFFIXES:
        return FileKind.NOVA_CONF
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped:
            continue
        if stripped[0] in "#;" or _SECTION.fullmatch(stripped):
            return FileKind.NOVA_CONF
        break
    return FileKind.JSON


@dataclass(frozen=True, kw_only=True, slots=True)
class PciEntries:
    """The raw entries of one file (decoded JSON values) and what they parse to."""

    source: str
    kind: FileKind
    device_spec_raw: tuple[object, ...] = ()
    alias_raw: tuple[object, ...] = ()

    def device_specs(self) -> tuple[DeviceSpec, ...]:
        """The parsed specs; an error keeps its class and names this file first."""
        try:
            return parse_device_specs(self.device_spec_raw)
        except EntryError as exc:
            raise exc.in_file(self._label("device_spec")) from None

    def aliases(self) -> dict[str, Alias]:
        try:
            return parse_aliases(self.alias_raw)
        except EntryError as exc:
            raise exc.in_file(self._label("alias")) from None

    def _label(self, option: str) -> str:
        what = "nova.conf" if self.kind is FileKind.NOVA_CONF else option
        return f"{what} file {self.source}"


def _json_entries(path: str | Path, text: str, option: str) -> tuple[object, ...]:
    doc = parse_json(text, path, option)
    if not isinstance(doc, list):
        raise ConfigError(
            f"{option} file {path}: expected a JSON list of [pci] {option} entries, "
            f"got {type(doc).__name__}"
        )
    return tuple(doc)


def read_entries_file(path: str | Path, option: str, *, strict: bool = True) -> PciEntries:
    """The ``option`` entries (``device_spec`` or ``alias``) of a JSON or nova.conf file.

    ``strict=False`` (lint) leaves a nova.conf value that is not JSON for the entry
    check to report, beside every other malformed entry, instead of stopping at it.
    """
    text = read_text(path, option)
    kind = file_kind(path, text)
    if kind is FileKind.JSON:
        entries = _json_entries(path, text, option)
        if option == "alias":
            return PciEntries(source=str(path), kind=kind, alias_raw=entries)
        return PciEntries(source=str(path), kind=kind, device_spec_raw=entries)
    section = read_nova_conf(path, strict=strict)
    if option == "alias":
        return PciEntries(source=str(path), kind=kind, alias_raw=section.alias_raw)
    return PciEntries(source=str(path), kind=kind, device_spec_raw=section.device_spec_raw)


def read_nova_conf(path: str | Path, *, strict: bool = True) -> PciEntries:
    """Both options of a nova.conf (``--nova-conf FILE``)."""
    if str(path) == STDIN:
        raise ConfigError("a nova.conf must be a file, not standard input")
    section = read_pci_section(Path(path), strict=strict)
    return PciEntries(
        source=str(path),
        kind=FileKind.NOVA_CONF,
        device_spec_raw=section.device_spec,
        alias_raw=section.alias,
    )


def load_device_specs(path: str | Path) -> tuple[tuple[object, ...], tuple[DeviceSpec, ...]]:
    """A device_spec file's raw entries and their parsed specs (agent, discover)."""
    entries = read_entries_file(path, "device_spec")
    return entries.device_spec_raw, entries.device_specs()


def load_alias_entries(path: str | Path) -> list[dict[str, object]]:
    """An alias file's entries as objects, validated together (the service's alias file).

    A JSON file may hold entries as strings of JSON, as nova.conf does; they come back
    decoded, one object per entry (Nova §1.8: an alias value is one object).
    """
    entries = read_entries_file(path, "alias")
    entries.aliases()
    return [e if isinstance(e, dict) else json.loads(str(e)) for e in entries.alias_raw]
