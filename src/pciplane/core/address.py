"""PCI addresses and the two address pattern syntaxes of ``[pci] device_spec``.

A device address is ``DDDD:BB:SS.F`` (domain 16 bits, bus 8, slot 5, function 3), as
the kernel names ``/sys/bus/pci/devices`` entries. Patterns follow Nova's semantics
(nova-pci-semantics §1.4): a glob string ``[[[[D]:]B]:][S][.[F]]`` whose fields are a hex
value or ``*``, or a dict of per-field regexes that match by prefix (``re.match``, Q13,
kept for compatibility). Unlike Nova, a device address is parsed strictly (Q14).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from pciplane.core.errors import AddressError

FIELDS = ("domain", "bus", "slot", "function")
_MAXIMA = {"domain": 0xFFFF, "bus": 0xFF, "slot": 0x1F, "function": 0x7}
_FORMATS = {"domain": "%04x", "bus": "%02x", "slot": "%02x", "function": "%1x"}
_STRICT = re.compile(r"^([0-9a-fA-F]{4}):([0-9a-fA-F]{2}):([0-9a-fA-F]{2})\.([0-7])$")
_HEX_DIGITS = frozenset("0123456789abcdefABCDEF")


@dataclass(frozen=True, order=True, slots=True)
class PciAddress:
    """One PCI function's address; ``str()`` gives the canonical lower-case form."""

    domain: int
    bus: int
    slot: int
    function: int

    @classmethod
    def parse(cls, text: str) -> PciAddress:
        """Parse ``DDDD:BB:SS.F`` strictly (upper case accepted, normalised on output)."""
        if not isinstance(text, str):
            raise AddressError(f"PCI address {text!r} is not a string")
        m = _STRICT.match(text.strip())
        if m is None:
            raise AddressError(
                f"PCI address {text!r} is not of the form DDDD:BB:SS.F "
                "(hex domain, bus, slot; function 0-7)"
            )
        d, b, s, f = (int(g, 16) for g in m.groups())
        if s > _MAXIMA["slot"]:
            raise AddressError(f"PCI address {text!r}: slot {s:#x} is above 0x1f")
        return cls(domain=d, bus=b, slot=s, function=f)

    def fields(self) -> tuple[str, str, str, str]:
        """The four normalised field strings (``0000``, ``3b``, ``00``, ``1``)."""
        return (
            f"{self.domain:04x}",
            f"{self.bus:02x}",
            f"{self.slot:02x}",
            f"{self.function:x}",
        )

    def __str__(self) -> str:
        return f"{self.domain:04x}:{self.bus:02x}:{self.slot:02x}.{self.function:x}"

    def libvirt_attrs(self) -> dict[str, str]:
        """Attributes of libvirt's ``<address type='pci'>`` (``0x``-prefixed hex)."""
        return {
            "domain": f"0x{self.domain:04x}",
            "bus": f"0x{self.bus:02x}",
            "slot": f"0x{self.slot:02x}",
            "function": f"0x{self.function:x}",
        }


def _parse_field(name: str, raw: str) -> str:
    """One glob field: ``*`` stays, anything else must be hex within the field's range."""
    value = raw.strip()
    if value in ("", "*"):
        return "*"
    try:
        number = int(value, 16)
    except ValueError:
        raise AddressError(f"property {name} ({raw!r}) does not parse as a hex number") from None
    if number < 0 or number > _MAXIMA[name]:
        raise AddressError(
            f"property {name} ({raw!r}) is greater than the maximum allowable value "
            f"({_MAXIMA[name]:X})"
        )
    return _FORMATS[name] % number


@dataclass(frozen=True, slots=True)
class GlobPattern:
    """A glob address: every field a normalised hex string or ``*`` (whole fields only)."""

    domain: str
    bus: str
    slot: str
    function: str

    @classmethod
    def parse(cls, text: str) -> GlobPattern:
        """Parse Nova's glob syntax (§1.4.1): ``*:0a:00.*``, ``0a:00.1``, ``1``, ``.1``."""
        before, dot, after = text.partition(".")
        function = "*"
        if dot and after != "":
            if not after.strip():
                raise AddressError(f"property function ({after!r}) does not parse as a hex number")
            function = _parse_field("function", after)
        parts = before.split(":")
        if len(parts) > 3:
            raise AddressError(f"the PCI address {text!r} has an incorrect format")
        parts = ["*"] * (3 - len(parts)) + parts
        domain, bus, slot = (
            _parse_field(name, raw) for name, raw in zip(FIELDS[:3], parts, strict=True)
        )
        return cls(domain=domain, bus=bus, slot=slot, function=function)

    def literal(self) -> PciAddress | None:
        """The single address this pattern names, when no field is a wildcard."""
        values = (self.domain, self.bus, self.slot, self.function)
        if "*" in values:
            return None
        d, b, s, f = (int(v, 16) for v in values)
        return PciAddress(domain=d, bus=b, slot=s, function=f)

    def matches(self, address: PciAddress) -> bool:
        mine = (self.domain, self.bus, self.slot, self.function)
        return all(p == "*" or p == v for p, v in zip(mine, address.fields(), strict=True))

    def __str__(self) -> str:
        return f"{self.domain}:{self.bus}:{self.slot}.{self.function}"


@dataclass(frozen=True, slots=True)
class RegexPattern:
    """Per-field regexes matched by prefix against lower-case fields (Nova §1.4.2, Q13)."""

    domain: str
    bus: str
    slot: str
    function: str

    @classmethod
    def parse(cls, spec: dict[str, object]) -> RegexPattern:
        values: dict[str, str] = {}
        for name in FIELDS:
            raw = spec.get(name, ".*")
            if not isinstance(raw, str):
                raise AddressError(
                    f"regex address field {name!r} must be a string, not {type(raw).__name__}"
                )
            try:
                re.compile(raw)
            except re.error as exc:
                raise AddressError(f"regex address field {name!r} ({raw!r}): {exc}") from None
            values[name] = raw
        return cls(**values)

    def literal(self) -> PciAddress | None:
        """The address named when every field is plain hex (Nova's PF check, §1.4.3)."""
        values = (self.domain, self.bus, self.slot, self.function)
        if not all(v and set(v) <= _HEX_DIGITS for v in values):
            return None
        try:
            d, b, s, f = (int(v, 16) for v in values)
        except ValueError:  # pragma: no cover - guarded by the digit check
            return None
        if d > 0xFFFF or b > 0xFF or s > 0x1F or f > 7:
            return None
        return PciAddress(domain=d, bus=b, slot=s, function=f)

    def matches(self, address: PciAddress) -> bool:
        mine = (self.domain, self.bus, self.slot, self.function)
        return all(re.match(p, v) is not None for p, v in zip(mine, address.fields(), strict=True))

    def __str__(self) -> str:
        return (
            f"{{domain: {self.domain}, bus: {self.bus}, slot: {self.slot}, "
            f"function: {self.function}}}"
        )


AddressPattern = GlobPattern | RegexPattern

ANY_ADDRESS = GlobPattern(domain="*", bus="*", slot="*", function="*")


def parse_pattern(value: object) -> AddressPattern:
    """Parse a device spec's ``address`` value: a glob string, a regex dict, or empty."""
    if not value and (isinstance(value, str | dict) or value is None):
        return ANY_ADDRESS
    if isinstance(value, str):
        return GlobPattern.parse(value)
    if isinstance(value, dict):
        return RegexPattern.parse(value)
    raise AddressError(f"the PCI address {value!r} has an incorrect format")
