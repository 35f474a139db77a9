"""A host's allocation settings, named as Nova names them in each compute's nova.conf.

``cpu_allocation_ratio`` and ``ram_allocation_ratio`` over-commit floating vCPUs and
memory; ``reserved_host_cpus`` and ``reserved_host_memory_mb`` keep some for the host;
``cpu_dedicated_set`` are the host CPUs pinned (dedicated) guests may take, one vCPU per
CPU, and ``cpu_shared_set`` the ones floating vCPUs run on. Defaults are Nova's own:
ratios 4.0 and 1.0 (its ``initial_*_allocation_ratio`` since Stein), 512 MiB and no
CPUs reserved, no sets (then every CPU serves both, pinned ones leaving the shared pool).

CPU sets are written in Nova's range syntax: ``0-7,^2,16-23`` (ranges, single ids, and
``^N`` or ``^N-M`` exclusions applied last).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from pciplane.core.errors import ConfigError

#: Nova's defaults (nova.conf [DEFAULT]).
DEFAULT_CPU_RATIO = 4.0
DEFAULT_RAM_RATIO = 1.0
DEFAULT_RESERVED_MEMORY_MB = 512
#: A CPU id the range syntax accepts (Linux's NR_CPUS tops out at 8192).
MAX_CPU = 8191

SETTING_NAMES = (
    "cpu_allocation_ratio",
    "ram_allocation_ratio",
    "reserved_host_memory_mb",
    "reserved_host_cpus",
    "cpu_dedicated_set",
    "cpu_shared_set",
)


def parse_cpu_set(text: str, *, key: str = "cpu set") -> frozenset[int]:
    """Nova's CPU range syntax: ``"0-3,8,^2"`` is {0, 1, 3, 8}; errors name ``key``."""
    included: set[int] = set()
    excluded: set[int] = set()
    parts = [p.strip() for p in text.split(",")]
    if not text.strip():
        raise ConfigError(f"{key}: an empty CPU set")
    for part in parts:
        if not part:
            raise ConfigError(f"{key}: {text!r} has an empty entry")
        target = included
        if part.startswith("^"):
            target, part = excluded, part[1:].strip()
        if "-" in part:
            low_text, _, high_text = part.partition("-")
            low, high = _cpu(low_text.strip(), key, text), _cpu(high_text.strip(), key, text)
            if low > high:
                raise ConfigError(f"{key}: range {part!r} in {text!r} runs backwards")
            target.update(range(low, high + 1))
        else:
            target.add(_cpu(part, key, text))
    result = frozenset(included - excluded)
    if not result:
        raise ConfigError(f"{key}: {text!r} leaves no CPU")
    return result


def _cpu(word: str, key: str, text: str) -> int:
    if not word.isdigit() or not word.isascii():
        raise ConfigError(f"{key}: {word!r} in {text!r} is not a CPU id")
    value = int(word)
    if value > MAX_CPU:
        raise ConfigError(f"{key}: CPU {value} in {text!r} is above {MAX_CPU}")
    return value


def format_cpu_set(cpus: frozenset[int] | set[int] | tuple[int, ...]) -> str:
    """The shortest range text for ``cpus`` (``0-3,8``); the inverse of :func:`parse_cpu_set`."""
    ordered = sorted(set(cpus))
    parts: list[str] = []
    i = 0
    while i < len(ordered):
        j = i
        while j + 1 < len(ordered) and ordered[j + 1] == ordered[j] + 1:
            j += 1
        parts.append(str(ordered[i]) if i == j else f"{ordered[i]}-{ordered[j]}")
        i = j + 1
    return ",".join(parts)


@dataclass(frozen=True, kw_only=True, slots=True)
class Allocation:
    """One host's allocation settings (see the module docstring for their meaning)."""

    cpu_allocation_ratio: float = DEFAULT_CPU_RATIO
    ram_allocation_ratio: float = DEFAULT_RAM_RATIO
    reserved_host_memory_mb: int = DEFAULT_RESERVED_MEMORY_MB
    reserved_host_cpus: int = 0
    cpu_dedicated_set: frozenset[int] | None = None
    cpu_shared_set: frozenset[int] | None = None

    def __post_init__(self) -> None:
        for key in ("cpu_allocation_ratio", "ram_allocation_ratio"):
            value = getattr(self, key)
            if not math.isfinite(value) or value <= 0:
                raise ConfigError(f"{key}: {value!r} must be a number above 0")
        for key in ("reserved_host_memory_mb", "reserved_host_cpus"):
            if getattr(self, key) < 0:
                raise ConfigError(f"{key}: {getattr(self, key)} must not be negative")
        both = (self.cpu_dedicated_set or frozenset()) & (self.cpu_shared_set or frozenset())
        if both:
            raise ConfigError(
                f"cpu_dedicated_set and cpu_shared_set overlap on CPUs {format_cpu_set(both)}"
            )

    def to_json(self) -> dict[str, object]:
        out: dict[str, object] = {
            "cpu_allocation_ratio": self.cpu_allocation_ratio,
            "ram_allocation_ratio": self.ram_allocation_ratio,
            "reserved_host_memory_mb": self.reserved_host_memory_mb,
            "reserved_host_cpus": self.reserved_host_cpus,
        }
        if self.cpu_dedicated_set is not None:
            out["cpu_dedicated_set"] = format_cpu_set(self.cpu_dedicated_set)
        if self.cpu_shared_set is not None:
            out["cpu_shared_set"] = format_cpu_set(self.cpu_shared_set)
        return out

    @classmethod
    def from_json(cls, obj: object, *, where: str = "allocation") -> Allocation:
        """Parse the settings from an object of Nova-named keys (strings or numbers, as
        nova.conf, an environment or JSON give them); errors name ``where`` and the key."""
        if obj is None:
            return cls()
        if not isinstance(obj, Mapping):
            raise ConfigError(f"{where}: expected an object of settings, got {obj!r}")
        unknown = sorted(str(k) for k in obj if k not in SETTING_NAMES)
        if unknown:
            raise ConfigError(
                f"{where}: unknown setting(s) {', '.join(unknown)} "
                f"(known: {', '.join(SETTING_NAMES)})"
            )
        values: dict[str, object] = {}
        for key in ("cpu_allocation_ratio", "ram_allocation_ratio"):
            if obj.get(key) is not None:
                values[key] = _number(obj[key], f"{where} {key}")
        for key in ("reserved_host_memory_mb", "reserved_host_cpus"):
            if obj.get(key) is not None:
                values[key] = _whole(obj[key], f"{where} {key}")
        for key in ("cpu_dedicated_set", "cpu_shared_set"):
            value = obj.get(key)
            if value is not None and value != "":
                if not isinstance(value, str):
                    raise ConfigError(f"{where} {key}: expected a CPU range text, got {value!r}")
                values[key] = parse_cpu_set(value, key=f"{where} {key}")
        try:
            return cls(**values)  # type: ignore[arg-type]
        except ConfigError as exc:
            raise ConfigError(f"{where}: {exc}") from None


def _number(value: object, key: str) -> float:
    if isinstance(value, bool):
        raise ConfigError(f"{key}: expected a number, got {value!r}")
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise ConfigError(f"{key}: expected a number, got {value!r}") from None
    if not math.isfinite(number) or number <= 0:
        raise ConfigError(f"{key}: {value!r} must be a number above 0")
    return number


def _whole(value: object, key: str) -> int:
    if isinstance(value, bool):
        raise ConfigError(f"{key}: expected a whole number, got {value!r}")
    if isinstance(value, int):
        number = value
    elif isinstance(value, str) and value.strip().isdigit():
        number = int(value.strip())
    else:
        raise ConfigError(f"{key}: expected a whole number, got {value!r}")
    if number < 0:
        raise ConfigError(f"{key}: {number} must not be negative")
    return number
