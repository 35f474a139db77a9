"""``[pci] device_spec``: the allow-list of assignable devices, its tags, and matching.

Parsing follows Nova (nova-pci-semantics §1.2, §1.3, §1.6): each entry is a JSON object
or a list of objects, ``vendor_id``/``product_id`` are hex ids or ``*``, ``address`` is a
glob or regex pattern, ``devname`` a network interface, and every other key is a tag.
pciplane differs where Nova gives raw tracebacks or un-normalised booleans: any malformed
entry is a :class:`DeviceSpecError` naming the entry, key and value (Q15), and
``trusted``/``remote_managed`` are normalised like ``managed`` (Q5).

Resolution (:func:`resolve_specs`) binds the specs to one host's own inventory, never
to sysfs (Q1): a literal PF address or a PF's ``devname`` also matches that PF's VFs
(§1.4.3, §1.4.4), and remote-managed entries are checked against the VFs (§1.7).
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from pciplane.core.address import AddressPattern, GlobPattern, PciAddress, parse_pattern
from pciplane.core.boolean import accepted_list, strict_word
from pciplane.core.device import Inventory, PciDevice
from pciplane.core.errors import AddressError, DeviceSpecError, EntryRef

#: A tag value: a JSON scalar, or a JSON list of strings (kept as a tuple, to hash).
TagValue = str | int | float | bool | None | tuple[str, ...]

#: Tags parsed with the strict boolean parser and stored as "true"/"false" (§1.6, Q5).
BOOLEAN_TAGS = ("managed", "live_migratable", "one_time_use", "trusted", "remote_managed")
#: Tags that concern Placement only and stay out of the pool key (§3.1).
PLACEMENT_TAGS = frozenset({"resource_class", "traits", "rp_uuid", "rp_uuids"})
_HEX_ID = re.compile(r"(0[xX])?[0-9a-fA-F]+")


@dataclass(frozen=True, kw_only=True, slots=True)
class DeviceSpec:
    """One parsed ``device_spec`` object.

    ``index`` is its position in the parsed list, the order matching tries specs in
    (§1.2); ``entry`` is the position of the configuration entry it came from (the
    n-th value, as an operator counts them) and ``element`` its position inside that
    entry when the entry is a JSON list.
    """

    index: int
    text: str
    entry: int = 0
    element: int | None = None
    vendor_id: str | None = None
    product_id: str | None = None
    address: AddressPattern | None = None
    devname: str | None = None
    tags: tuple[tuple[str, TagValue], ...] = ()

    @property
    def position(self) -> str:
        """``2``, or ``2[1]`` for the second object of a list entry: the one numbering
        every message about a spec uses (lint, discover, resolution)."""
        return str(self.entry) if self.element is None else f"{self.entry}[{self.element}]"

    @property
    def label(self) -> str:
        return f"entry {self.position}"

    def tag(self, key: str) -> TagValue:
        for k, v in self.tags:
            if k == key:
                return v
        return None

    def pool_tags(self) -> tuple[tuple[str, TagValue], ...]:
        """The tags that enter the pool key: all but Placement's (Nova §3.1)."""
        return tuple((k, v) for k, v in self.tags if k not in PLACEMENT_TAGS)

    def _flag(self, key: str) -> bool | None:
        value = self.tag(key)
        return None if value is None else value == "true"

    @property
    def physical_network(self) -> str | None:
        value = self.tag("physical_network")
        return value if isinstance(value, str) else None

    @property
    def trusted(self) -> bool | None:
        return self._flag("trusted")

    @property
    def remote_managed(self) -> bool:
        return self._flag("remote_managed") is True

    @property
    def managed(self) -> bool:
        """Whether libvirt detaches the device from its host driver; true unless said."""
        return self._flag("managed") is not False

    @property
    def live_migratable(self) -> bool | None:
        return self._flag("live_migratable")

    def as_entry(self) -> dict[str, object]:
        """The entry as a JSON object that parses back to this spec."""
        out: dict[str, object] = {}
        if self.vendor_id is not None:
            out["vendor_id"] = self.vendor_id
        if self.product_id is not None:
            out["product_id"] = self.product_id
        if isinstance(self.address, GlobPattern):
            out["address"] = str(self.address)
        elif self.address is not None:
            a = self.address
            out["address"] = {
                "domain": a.domain,
                "bus": a.bus,
                "slot": a.slot,
                "function": a.function,
            }
        if self.devname is not None:
            out["devname"] = self.devname
        for k, v in self.tags:
            out[k] = list(v) if isinstance(v, tuple) else v
        return out


def _dump(value: object) -> str:
    try:
        return json.dumps(value, sort_keys=True)
    except (TypeError, ValueError, RecursionError):
        return "<entry that is not JSON>"


def _elements(entry: EntryRef) -> list[tuple[str, dict[str, object], int | None]]:
    """One entry's objects with their texts and list positions (§1.2: an object is a
    list of one; its position is None)."""
    raw = entry.raw
    if isinstance(raw, str):
        try:
            decoded = json.loads(raw)
        except (ValueError, RecursionError) as exc:
            entry.fail(f"not valid JSON ({exc})" if isinstance(exc, ValueError) else "too deep")
    elif isinstance(raw, dict | list):
        decoded = raw
    else:
        entry.fail(f"expected a JSON string, object or list of objects, got {type(raw).__name__}")
    if isinstance(decoded, dict):
        text = raw if isinstance(raw, str) else _dump(decoded)
        return [(text, decoded, None)]
    if not isinstance(decoded, list):
        entry.fail("expecting a JSON object or a list of objects")
    out: list[tuple[str, dict[str, object], int | None]] = []
    for pos, item in enumerate(decoded):
        if not isinstance(item, dict):
            entry.fail(f"list element {pos} ({_dump(item)}) is not an object")
        out.append((_dump(item), item, pos))
    return out


def _hex_id(entry: EntryRef, key: str, value: object) -> str | None:
    """A vendor or product id as 4 lower-case hex digits, or None for ``*`` (§1.3)."""
    if value is None:
        return None
    if not isinstance(value, str):
        entry.fail("must be a string: '*' or a hex id", key, value)
    text = value.strip()
    if text == "*":
        return None
    if _HEX_ID.fullmatch(text) is None:
        entry.fail("does not parse as a hex number", key, value)
    number = int(text, 16)
    if number > 0xFFFF:
        entry.fail("is greater than the maximum allowable value (FFFF)", key, value)
    return f"{number:04x}"


def _strict_bool(entry: EntryRef, key: str, value: object) -> str | None:
    """A boolean tag as "true"/"false" (§1.6); null stays null (the tag is unset)."""
    if value is None:
        return None
    word = strict_word(value)
    if word is None:
        entry.fail(
            f"Cannot parse tag '{key}': Unrecognized value '{value}', "
            f"acceptable values are: {accepted_list()}",
            key,
            value,
        )
    return word


def _tag(entry: EntryRef, key: str, value: object) -> TagValue:
    if key in BOOLEAN_TAGS:
        return _strict_bool(entry, key, value)
    if key == "physical_network" and not (value is None or isinstance(value, str)):
        entry.fail("must be a string or null", key, value)
    if value is None or isinstance(value, str | int | float | bool):
        return value
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return tuple(value)
    # pciplane: a request value is a string, so such a tag could never be asked for.
    entry.fail("a tag must be a string, number, boolean, null or list of strings", key, value)


def _location(entry: EntryRef, obj: dict[str, object]) -> tuple[AddressPattern | None, str | None]:
    address = obj.get("address")
    devname = obj.get("devname")
    if devname is not None and (not isinstance(devname, str) or not devname.strip()):
        entry.fail("must be a non-empty string", "devname", devname)
    if devname is not None and address:
        entry.fail("devname and address cannot both be given", "devname", devname)
    if not address:  # Nova §1.3: any falsy address (absent, "", {}, []) means every address
        return None, devname
    try:
        return parse_pattern(address), devname
    except AddressError as exc:
        entry.fail(str(exc), "address", address)


def _parse_object(
    entry: EntryRef, index: int, text: str, obj: dict[str, object], element: int | None
) -> DeviceSpec:
    for key in obj:
        if not isinstance(key, str):
            entry.fail("keys must be strings", repr(key), obj[key])
    address, devname = _location(entry, obj)
    tags = tuple(
        (k, _tag(entry, k, v))
        for k, v in obj.items()
        if k not in ("vendor_id", "product_id", "address", "devname")
    )
    spec = DeviceSpec(
        index=index,
        text=text,
        entry=entry.index,
        element=element,
        vendor_id=_hex_id(entry, "vendor_id", obj.get("vendor_id")),
        product_id=_hex_id(entry, "product_id", obj.get("product_id")),
        address=address,
        devname=devname,
        tags=tags,
    )
    if spec.tag("one_time_use") == "true":
        entry.fail(
            "one_time_use=true needs Placement reporting, which pciplane does not do",
            "one_time_use",
            obj.get("one_time_use"),
        )
    return spec


def parse_device_specs(entries: Sequence[object]) -> tuple[DeviceSpec, ...]:
    """Parse ``[pci] device_spec`` entries (JSON strings or decoded objects/lists).

    The result is in configuration order (entries in order, lists in list order), which
    is the order matching tries them in: the first match wins (§1.2).
    """
    out: list[DeviceSpec] = []
    for i, raw in enumerate(entries):
        entry = EntryRef(i, raw, DeviceSpecError)
        try:
            for text, obj, element in _elements(entry):
                out.append(_parse_object(entry, len(out), text, obj, element))
        except RecursionError:
            entry.fail("the entry is nested too deeply")
    return tuple(out)


# --- resolution against one host ------------------------------------------------------


@dataclass(frozen=True, kw_only=True, slots=True)
class _Matcher:
    """A spec bound to one host: ids, and where on the host's bus it applies."""

    spec: DeviceSpec
    vendor_id: str | None
    product_id: str | None
    needs_serial: bool
    pattern: AddressPattern | None = None
    exact: PciAddress | None = None
    parent: PciAddress | None = None

    def matches(self, dev: PciDevice) -> bool:
        if self.vendor_id is not None and dev.vendor_id != self.vendor_id:
            return False
        if self.product_id is not None and dev.product_id != self.product_id:
            return False
        if self.needs_serial and not dev.card_serial_number:
            return False
        if self.parent is not None:
            return dev.parent_addr == self.parent or dev.address == self.exact
        if self.exact is not None:
            return dev.address == self.exact
        return self.pattern is None or self.pattern.matches(dev.address)


@dataclass(frozen=True, kw_only=True, slots=True)
class SpecProblem:
    """Why a spec matches nothing on one host, and whether Nova would refuse it.

    ``fatal`` follows Nova: a remote-managed PF, or a remote-managed ``devname`` that is
    absent, stops its compute service (§1.7), so they are errors; a plain ``devname``
    that is absent is accepted and matches nothing (§1.4.4) — the interface may appear
    once its driver loads — so it is a warning, in lint and discover alike.
    """

    spec: DeviceSpec
    reason: str
    fatal: bool

    @property
    def severity(self) -> str:
        return "error" if self.fatal else "warning"

    def __str__(self) -> str:
        return f"device_spec {self.spec.label}: {self.reason}"


@dataclass(frozen=True, slots=True)
class HostSpecs:
    """The device specs as they apply to one host; hashable, equal when hosts agree.

    ``problems`` lists the entries that match nothing here and why (an absent
    ``devname``, a remote-managed PF).
    """

    matchers: tuple[_Matcher, ...]
    problems: tuple[SpecProblem, ...] = ()
    _hash: int = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_hash", hash((self.matchers, self.problems)))

    def __hash__(self) -> int:
        return self._hash

    def match(self, device: PciDevice) -> DeviceSpec | None:
        """The first spec that allows ``device`` (Nova §1.5), or None."""
        for matcher in self.matchers:
            if matcher.matches(device):
                return matcher.spec
        return None


def _remote_managed_pf(spec: DeviceSpec, pf: PciDevice, inventory: Inventory) -> str | None:
    """Why a remote-managed spec naming PF ``pf`` is refused, or None if it names its VFs.

    Nova §1.7: such a spec must carry the VFs' product id; remote-managed PFs themselves
    are not allowed.
    """
    vf_products = sorted({vf.product_id for vf in inventory.children_of(pf)})
    vendor_ok = spec.vendor_id in (None, pf.vendor_id)
    if vendor_ok and spec.product_id is not None and spec.product_id in vf_products:
        return None
    if vendor_ok and spec.product_id in (None, pf.product_id):
        return f"it names the PF {pf.address} and remote-managed PFs are not allowed"
    wanted = ", ".join(f"{pf.vendor_id}:{p}" for p in vf_products) or "none on this host"
    return (
        f"the ids {spec.vendor_id or '*'}:{spec.product_id or '*'} do not match the VFs "
        f"of the PF {pf.address} ({wanted})"
    )


def _matcher(
    spec: DeviceSpec,
    *,
    pattern: AddressPattern | None = None,
    exact: PciAddress | None = None,
    parent: PciAddress | None = None,
) -> _Matcher:
    return _Matcher(
        spec=spec,
        vendor_id=spec.vendor_id,
        product_id=spec.product_id,
        needs_serial=spec.remote_managed,  # Nova §1.5 step 4
        pattern=pattern,
        exact=exact,
        parent=parent,
    )


def _resolve_one(spec: DeviceSpec, inventory: Inventory) -> _Matcher | SpecProblem:
    """Bind one spec to this host: a matcher, or why it matches nothing here."""
    if spec.devname is not None:
        dev = inventory.by_devname(spec.devname)
        if dev is None:
            reason = f"devname {spec.devname} is not present on this host"
            return SpecProblem(spec=spec, reason=reason, fatal=spec.remote_managed)
        target = dev.address
    else:
        literal = spec.address.literal() if spec.address is not None else None
        if literal is None or not inventory.is_pf(literal):
            if literal is not None and isinstance(spec.address, GlobPattern):
                return _matcher(spec, exact=literal)
            return _matcher(spec, pattern=spec.address)
        target = literal
    if not inventory.is_pf(target):
        return _matcher(spec, exact=target)
    if spec.remote_managed:
        refusal = _remote_managed_pf(spec, inventory.get(target), inventory)
        if refusal is not None:
            return SpecProblem(spec=spec, reason=f"remote-managed: {refusal}", fatal=True)
        return _matcher(spec, parent=target)
    return _matcher(spec, parent=target, exact=target)


def resolve_specs(specs: Sequence[DeviceSpec], inventory: Inventory) -> HostSpecs:
    """Resolve the specs against one host's own inventory (never sysfs, Q1)."""
    matchers: list[_Matcher] = []
    problems: list[SpecProblem] = []
    for spec in specs:
        result = _resolve_one(spec, inventory)
        if isinstance(result, SpecProblem):
            problems.append(result)
        else:
            matchers.append(result)
    return HostSpecs(tuple(matchers), tuple(problems))
