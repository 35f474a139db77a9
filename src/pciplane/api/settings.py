"""The service's typed settings, built once at the entry point and passed down.

Sources, later ones winning: built-in defaults, a TOML file (``--config``), the
environment (``PCIPLANE_*``), then command-line flags. Core functions never see this
object; the service hands them plain values (DESIGN.md, "Rings").
"""

from __future__ import annotations

import enum
import json
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path

import platformdirs

from pciplane.core.errors import ConfigError


class Weigher(enum.StrEnum):
    """How hosts that fit are ordered: fill the fullest first, or the emptiest first."""

    PACK = "pack"
    SPREAD = "spread"


def default_db_url() -> str:
    """A SQLite file in the user's data directory: embedded, nothing to install."""
    data = Path(platformdirs.user_data_dir("pciplane"))
    return f"sqlite:///{data / 'pciplane.db'}"


@dataclass(frozen=True, kw_only=True, slots=True)
class Settings:
    """Everything the service reads from its configuration."""

    db_url: str = field(default_factory=default_db_url)
    bind_host: str = "127.0.0.1"
    port: int = 8774
    #: Bearer tokens: the admin's, a project's (token -> project), a host agent's
    #: (token -> host name).
    admin_token: str | None = None
    project_tokens: Mapping[str, str] = field(default_factory=dict)
    agent_tokens: Mapping[str, str] = field(default_factory=dict)
    weigher: Weigher = Weigher.PACK
    #: Hosts tried per server before it goes to ERROR (Nova's max_attempts).
    max_attempts: int = 3
    #: Claim retries after a lost generation race, per placement attempt.
    claim_retries: int = 20
    max_body_bytes: int = 1 << 20
    #: Fleet-wide ``[pci] device_spec`` entries for hosts that report none of their own.
    device_spec: tuple[object, ...] = ()
    #: A JSON file of ``[pci] alias`` entries loaded at start and on reload.
    alias_file: Path | None = None
    #: The libvirt domain type written into domain XML (``test`` for the test driver).
    virt_type: str = "kvm"
    migrate_on_start: bool = True

    def with_overrides(self, values: Mapping[str, object]) -> Settings:
        """A copy with the given non-None values, coerced to each field's type."""
        known = {f.name for f in fields(self)}
        changes: dict[str, object] = {}
        for key, value in values.items():
            if value is None:
                continue
            if key not in known:
                raise ConfigError(f"unknown setting {key!r}")
            changes[key] = _coerce(key, value)
        return replace(self, **changes)  # type: ignore[arg-type]


def _mapping(key: str, value: object) -> dict[str, str]:
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"setting {key!r}: not a JSON object: {exc}") from None
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    ):
        raise ConfigError(f"setting {key!r}: expected a table of token = name strings")
    return dict(value)


def _int(key: str, value: object) -> int:
    try:
        number = int(str(value))
    except (TypeError, ValueError):
        raise ConfigError(f"setting {key!r}: {value!r} is not an integer") from None
    if number < 0:
        raise ConfigError(f"setting {key!r}: {value!r} must not be negative")
    return number


def _device_spec(key: str, value: object) -> tuple[object, ...]:
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"setting {key!r}: not JSON: {exc}") from None
    if not isinstance(value, list):
        raise ConfigError(f"setting {key!r}: expected a list of device_spec entries")
    return tuple(value)


def _coerce(key: str, value: object) -> object:
    if key in ("project_tokens", "agent_tokens"):
        return _mapping(key, value)
    if key in ("port", "max_attempts", "claim_retries", "max_body_bytes"):
        return _int(key, value)
    if key == "weigher":
        try:
            return Weigher(str(value))
        except ValueError:
            raise ConfigError(f"setting 'weigher': {value!r} is not pack or spread") from None
    if key == "device_spec":
        return _device_spec(key, value)
    if key == "alias_file":
        return Path(str(value))
    if key == "migrate_on_start":
        return value if isinstance(value, bool) else str(value).lower() in ("1", "true", "yes")
    return str(value)


ENV_PREFIX = "PCIPLANE_"


def from_environment(env: Mapping[str, str]) -> dict[str, object]:
    """``PCIPLANE_DB_URL=...`` style variables; ``PCIPLANE_API``/``_TOKEN`` are the client's."""
    names = {f.name for f in fields(Settings)}
    out: dict[str, object] = {}
    for name in names:
        value = env.get(ENV_PREFIX + name.upper())
        if value is not None:
            out[name] = value
    return out


def from_toml(path: Path) -> dict[str, object]:
    """The ``[pciplane]`` table of a TOML file, or its top level when there is none."""
    try:
        doc = tomllib.loads(path.read_text())
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the settings file: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    table = doc.get("pciplane", doc)
    if not isinstance(table, dict):
        raise ConfigError(f"{path}: [pciplane] must be a table")
    return dict(table)


def build_settings(
    *,
    config: Path | None = None,
    env: Mapping[str, str] | None = None,
    flags: Mapping[str, object] | None = None,
) -> Settings:
    """Defaults, then the TOML file, then the environment, then the flags."""
    settings = Settings()
    if config is not None:
        settings = settings.with_overrides(from_toml(config))
    settings = settings.with_overrides(from_environment(os.environ if env is None else env))
    return settings.with_overrides(flags or {})
