"""nova.conf's ``[pci]`` section, read through oslo.config exactly as Nova reads it.

Nova declares ``[pci] device_spec`` and ``[pci] alias`` as multi-valued string options
(nova-pci-semantics §1.1): every ``device_spec =`` or ``alias =`` line adds one value, an
indented continuation line extends the value above it, ``#`` and ``;`` start comments,
and the deprecated names (``[pci] passthrough_whitelist``, ``[DEFAULT]
pci_passthrough_whitelist``, ``[DEFAULT] pci_alias``) still count, their values first.
oslo.config defines that format, so it reads the file here too, on a private
``ConfigOpts`` (never the process-global ``CONF``, which other code may own), with no
command line, no config directories and no environment: only the file named.

Each value is then one JSON document: a device_spec value an object or a list of objects
(§1.2), an alias value one object (§1.8). Errors name the file, the option and the
value's position among that option's values (0-based, as lint numbers entries). Lint
reads leniently instead: a value that is not what it should be stays as it is, for the
core's entry-by-entry check to report beside every other malformed entry.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from pciplane.core.errors import ConfigError

if TYPE_CHECKING:
    from oslo_config import cfg

GROUP = "pci"


@dataclass(frozen=True, kw_only=True, slots=True)
class PciSection:
    """The decoded values of one file's ``[pci] device_spec`` and ``[pci] alias``."""

    source: str
    device_spec: tuple[object, ...] = ()
    alias: tuple[object, ...] = ()


def _options() -> list[cfg.Opt]:
    """Nova's two options with their deprecated names (reference §1.1)."""
    from oslo_config import cfg

    return [
        cfg.MultiStrOpt(
            "device_spec",
            default=[],
            deprecated_opts=[
                cfg.DeprecatedOpt("passthrough_whitelist", group=GROUP),
                cfg.DeprecatedOpt("pci_passthrough_whitelist", group="DEFAULT"),
            ],
        ),
        cfg.MultiStrOpt(
            "alias", default=[], deprecated_opts=[cfg.DeprecatedOpt("pci_alias", group="DEFAULT")]
        ),
    ]


def _raw_values(path: Path) -> tuple[list[str], list[str]]:
    # Imported here, not at the top: every pciplane command loads this module, and only
    # the ones given a nova.conf need oslo.config (and its dependencies) in memory.
    from oslo_config import cfg

    conf = cfg.ConfigOpts()
    conf.register_opts(_options(), group=GROUP)
    _load(conf, path)
    try:
        return list(conf[GROUP].device_spec), list(conf[GROUP].alias)
    finally:
        conf.reset()


def _load(conf: cfg.ConfigOpts, path: Path) -> None:
    """Read ``path`` into ``conf`` (its options registered), or a ConfigError naming it."""
    from oslo_config import cfg

    try:
        conf(args=[], default_config_files=[str(path)], default_config_dirs=[], use_env=False)
    except cfg.ConfigFilesNotFoundError:
        raise ConfigError(f"nova.conf file {path}: cannot read: no such readable file") from None
    except cfg.ConfigFileParseError as exc:
        raise ConfigError(f"nova.conf file {path}: not an INI file: {exc.msg}") from None
    except OSError as exc:
        raise ConfigError(f"nova.conf file {path}: cannot read: {exc.strerror or exc}") from None


def _decode(path: Path, option: str, index: int, text: str) -> object:
    where = f"nova.conf file {path}: [{GROUP}] {option} value {index}"
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(
            f"{where}: not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno} "
            f"of the value {text!r})"
        ) from None
    except RecursionError:
        raise ConfigError(f"{where}: not valid JSON: nested too deeply") from None


def _device_spec_value(path: Path, index: int, text: str) -> object:
    value = _decode(path, "device_spec", index, text)
    if not isinstance(value, dict | list):
        raise ConfigError(
            f"nova.conf file {path}: [{GROUP}] device_spec value {index}: expected a JSON "
            f"object or a list of objects, got {type(value).__name__} (Nova §1.2)"
        )
    return value


def _alias_value(path: Path, index: int, text: str) -> object:
    value = _decode(path, "alias", index, text)
    if not isinstance(value, dict):
        raise ConfigError(
            f"nova.conf file {path}: [{GROUP}] alias value {index}: expected one JSON object, "
            f"got {type(value).__name__} (Nova §1.8)"
        )
    return value


def _lenient(text: str) -> object:
    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        return text


def read_pci_section(path: Path, *, strict: bool = True) -> PciSection:
    """The ``[pci]`` values of a nova.conf-style file, each decoded from JSON.

    ``strict=False`` keeps a value that is not JSON as its text (lint's reading).
    """
    specs, aliases = _raw_values(path)
    if not strict:
        return PciSection(
            source=str(path),
            device_spec=tuple(_lenient(t) for t in specs),
            alias=tuple(_lenient(t) for t in aliases),
        )
    return PciSection(
        source=str(path),
        device_spec=tuple(_device_spec_value(path, i, t) for i, t in enumerate(specs)),
        alias=tuple(_alias_value(path, i, t) for i, t in enumerate(aliases)),
    )


#: Nova's allocation options and their sections in a compute's nova.conf.
ALLOCATION_OPTIONS: tuple[tuple[str, str], ...] = (
    ("DEFAULT", "cpu_allocation_ratio"),
    ("DEFAULT", "ram_allocation_ratio"),
    ("DEFAULT", "reserved_host_memory_mb"),
    ("DEFAULT", "reserved_host_cpus"),
    ("compute", "cpu_dedicated_set"),
    ("compute", "cpu_shared_set"),
)


def read_allocation_options(path: Path) -> dict[str, str]:
    """The allocation options a nova.conf sets, as their text (core.allocation parses
    them): ``[DEFAULT]`` ratios and reservations, ``[compute]`` CPU sets."""
    from oslo_config import cfg

    conf = cfg.ConfigOpts()
    for group, name in ALLOCATION_OPTIONS:
        conf.register_opt(cfg.StrOpt(name), group=None if group == "DEFAULT" else group)
    _load(conf, path)
    try:
        found = {}
        for group, name in ALLOCATION_OPTIONS:
            value = conf[name] if group == "DEFAULT" else conf[group][name]
            if value is not None and value != "":
                found[name] = value
        return found
    finally:
        conf.reset()
