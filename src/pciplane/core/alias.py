"""``[pci] alias`` entries and the flavor extra spec ``pci_passthrough:alias``.

An alias names the devices a flavor may ask for; entries that share a name are
alternatives (their specs are ORed). Validation follows Nova's schema (nova-pci-semantics
§1.8) with pciplane's fixes: readable errors where Nova raises ``'dev_type'`` (Q8) or a
raw ``ValueError`` (Q9), ``capability_type`` refused because it could never match (Q10),
and, as pciplane has no Placement, every spec needs a vendor and a product id.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import NoReturn

from pciplane.core.boolean import accepted_list, strict_word
from pciplane.core.device import DevType
from pciplane.core.errors import AliasError, EntryRef, RequestError, UnknownAliasError
from pciplane.core.request import (
    NumaPolicy,
    PciRequest,
    RequestSource,
    RequestSpec,
    parse_numa_policy,
)

ALIAS_KEY = "pci_passthrough:alias"
NUMA_POLICY_KEY = "hw:pci_numa_affinity_policy"

_ID = re.compile(r"[0-9a-fA-F]{4}")
#: The longest alias name (Nova §1.8; the aliases table holds it).
MAX_NAME_LENGTH = 256
_NAME_SEPARATORS = frozenset(",:")
_DEVICE_TYPES = (DevType.PCI.value, DevType.PF.value, DevType.VF.value)
_KEYS = frozenset(
    {
        "name",
        "vendor_id",
        "product_id",
        "device_type",
        "numa_policy",
        "resource_class",
        "traits",
        "live_migratable",
    }
)


@dataclass(frozen=True, kw_only=True, slots=True)
class Alias:
    """One alias name: its NUMA policy, device type and alternative specs (§1.8)."""

    name: str
    numa_policy: NumaPolicy
    dev_type: DevType | None
    specs: tuple[RequestSpec, ...]

    def as_entries(self) -> list[dict[str, str]]:
        """The ``[pci] alias`` entries (one per spec) that parse back to this alias."""
        out = []
        for spec in self.specs:
            entry = {"name": self.name, "numa_policy": self.numa_policy.value}
            for key, value in spec.items:
                if value is not None:
                    entry["device_type" if key == "dev_type" else key] = value
            out.append(entry)
        return out


def _decode(entry: EntryRef) -> dict[str, object]:
    raw = entry.raw
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except ValueError as exc:
            entry.fail(f"Invalid PCI alias definition: {exc}")
        except RecursionError:
            entry.fail("Invalid PCI alias definition: nested too deeply")
    if not isinstance(raw, dict):
        entry.fail(f"an alias entry must be one JSON object, not {type(raw).__name__}")
    return raw


def _string(entry: EntryRef, obj: Mapping[str, object], key: str) -> str | None:
    value = obj.get(key)
    if value is not None and not isinstance(value, str):
        entry.fail(f"must be a string, not {type(value).__name__}", key, value)
    return value


def _choice(
    entry: EntryRef, obj: Mapping[str, object], key: str, allowed: Sequence[str]
) -> str | None:
    value = _string(entry, obj, key)
    if value is not None and value not in allowed:
        entry.fail(f"must be one of {', '.join(allowed)}", key, value)
    return value


def _name(entry: EntryRef, obj: Mapping[str, object]) -> str:
    if "name" not in obj:
        entry.fail("'name' is required")
    name = _string(entry, obj, "name")
    if name is None or not 1 <= len(name) <= MAX_NAME_LENGTH:
        entry.fail(f"must be a string of 1 to {MAX_NAME_LENGTH} characters", "name", name)
    if not name.strip():
        entry.fail("must not be blank", "name", name)
    if any(ord(c) < 32 or 0xD800 <= ord(c) <= 0xDFFF for c in name):
        entry.fail("must not contain control characters or lone surrogates", "name", name)
    bad = sorted(set(name) & _NAME_SEPARATORS)
    if bad:
        entry.fail(
            f"must not contain {' or '.join(repr(c) for c in bad)}: {ALIAS_KEY} separates "
            "items with ',' and a name from its count with ':', so no flavor could use it",
            "name",
            name,
        )
    return name.strip()


def _spec(entry: EntryRef, obj: Mapping[str, object]) -> dict[str, str]:
    """The request spec of one entry: the alias minus name and policy (§1.8)."""
    spec: dict[str, str] = {}
    for key in ("vendor_id", "product_id"):
        value = _string(entry, obj, key)
        if value is not None:
            if _ID.fullmatch(value) is None:
                entry.fail("must be 4 hex digits", key, value)
            spec[key] = value
    for key in ("resource_class", "traits"):
        value = _string(entry, obj, key)
        if value is not None:
            spec[key] = value
    live = _string(entry, obj, "live_migratable")
    if live is not None:
        word = strict_word(live)
        if word is None:
            entry.fail(f"acceptable values are: {accepted_list()}", "live_migratable", live)
        spec["live_migratable"] = word
    device_type = _choice(entry, obj, "device_type", _DEVICE_TYPES)
    if device_type is not None:
        spec["dev_type"] = device_type
    return spec


def _check_keys(entry: EntryRef, obj: Mapping[str, object]) -> None:
    for key in obj:
        if key == "capability_type":
            entry.fail(
                "capability_type is not supported: it stays in the request and no device "
                "ever has it, so the alias could never match",
                key,
                obj[key],
            )
        if key not in _KEYS:
            entry.fail(f"unknown key {key!r}", str(key), obj[key])


@dataclass(frozen=True, slots=True)
class _Parsed:
    name: str
    numa_policy: NumaPolicy
    dev_type: DevType | None
    spec: RequestSpec


def _parse_entry(entry: EntryRef) -> _Parsed:
    obj = _decode(entry)
    _check_keys(entry, obj)
    name = _name(entry, obj)
    policy = _choice(entry, obj, "numa_policy", [p.value for p in NumaPolicy])
    spec = _spec(entry, obj)
    dev_type = spec.get("dev_type")
    return _Parsed(
        name=name,
        numa_policy=NumaPolicy(policy) if policy is not None else NumaPolicy.LEGACY,
        dev_type=DevType(dev_type) if dev_type is not None else None,
        spec=RequestSpec.of(spec),
    )


def _shown(dev_type: DevType | None) -> str:
    return "none" if dev_type is None else repr(dev_type.value)


def _merge(entry: EntryRef, alias: Alias | None, parsed: _Parsed) -> Alias:
    """Add one entry to the alias of its name; entries must agree (§1.8, Q8)."""
    if alias is None:
        return Alias(
            name=parsed.name,
            numa_policy=parsed.numa_policy,
            dev_type=parsed.dev_type,
            specs=(parsed.spec,),
        )
    if alias.numa_policy is not parsed.numa_policy:
        entry.fail(
            f"NUMA policy mismatch for alias {parsed.name!r}: earlier entries say "
            f"{alias.numa_policy.value!r}, this one {parsed.numa_policy.value!r}"
        )
    if alias.dev_type != parsed.dev_type:
        entry.fail(
            f"device_type mismatch for alias {parsed.name!r}: earlier entries say "
            f"{_shown(alias.dev_type)}, this one {_shown(parsed.dev_type)}"
        )
    if parsed.spec in alias.specs:
        entry.fail(f"alias {parsed.name!r} already has an entry matching exactly these devices")
    return Alias(
        name=alias.name,
        numa_policy=alias.numa_policy,
        dev_type=alias.dev_type,
        specs=(*alias.specs, parsed.spec),
    )


def parse_aliases(entries: Sequence[object]) -> dict[str, Alias]:
    """Parse ``[pci] alias`` entries (JSON strings or decoded objects) into aliases by name."""
    aliases: dict[str, Alias] = {}
    for index, raw in enumerate(entries):
        entry = EntryRef(index, raw, AliasError)
        parsed = _parse_entry(entry)
        aliases[parsed.name] = _merge(entry, aliases.get(parsed.name), parsed)
    incomplete = sorted(
        name
        for name, alias in aliases.items()
        if any(s.get("vendor_id") is None or s.get("product_id") is None for s in alias.specs)
    )
    if incomplete:
        raise AliasError(
            f"the PCI alias(es) {', '.join(incomplete)} do not set both vendor_id and "
            "product_id, which pciplane needs (it has no Placement to match resource_class)"
        )
    return aliases


def _request_item(item: str, value: str) -> tuple[str, int]:
    def fail(reason: str) -> NoReturn:
        raise RequestError(f"invalid {ALIAS_KEY} {value!r}: item {item!r} {reason}")

    parts = item.split(":")
    if len(parts) != 2:
        fail("is not of the form name:count")
    name, count = parts[0].strip(), parts[1].strip()
    if not name:
        fail("has no alias name")
    if not count.isascii() or not count.isdigit():
        fail("has a count that is not a whole number")
    if int(count) == 0:
        fail("has count 0: count must be at least 1")
    return name, int(count)


def parse_alias_names(value: str) -> tuple[str, ...]:
    """The alias names a ``pci_passthrough:alias`` value uses, whether defined or not."""
    return tuple(_request_item(item, value)[0] for item in value.split(","))


def parse_alias_request(value: str, aliases: Mapping[str, Alias]) -> tuple[tuple[Alias, int], ...]:
    """Parse ``pci_passthrough:alias`` (``"a:1, b:2"``) into (alias, count) pairs, in order.

    Unlike Nova (Q9), a malformed item is a :class:`RequestError` naming it, and a count
    of 0, which Nova turns into a request that takes nothing, is refused.
    """
    if not isinstance(value, str):
        raise RequestError(f"invalid {ALIAS_KEY} {value!r}: expected a string")
    out = []
    for item in value.split(","):
        name, count = _request_item(item, value)
        alias = aliases.get(name)
        if alias is None:
            raise UnknownAliasError(name)
        out.append((alias, count))
    return tuple(out)


def flavor_numa_policy(extra_specs: Mapping[str, str]) -> NumaPolicy | None:
    """The flavor's ``hw:pci_numa_affinity_policy``, validated; None when unset."""
    value = extra_specs.get(NUMA_POLICY_KEY)
    return None if value is None else parse_numa_policy(value, what=NUMA_POLICY_KEY)


def requests_from_flavor(
    extra_specs: Mapping[str, str], aliases: Mapping[str, Alias]
) -> tuple[PciRequest, ...]:
    """One request per ``pci_passthrough:alias`` item, in order (§1.9).

    The flavor's NUMA policy, when set, overrides each alias's own.
    """
    policy = flavor_numa_policy(extra_specs)
    value = extra_specs.get(ALIAS_KEY)
    if value is None:
        return ()
    return tuple(
        PciRequest(
            count=count,
            specs=alias.specs,
            alias_name=alias.name,
            numa_policy=policy if policy is not None else alias.numa_policy,
            requester=None,
            source=RequestSource.FLAVOR,
        )
        for alias, count in parse_alias_request(value, aliases)
    )
