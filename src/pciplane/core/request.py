"""PCI requests: what a flavor or a Neutron port asks for, and how a request spec matches.

A request is ``count`` devices that match any one of its specs (alternatives, ORed); a
spec is a set of ``key: value`` constraints that must all hold (ANDed) against a pool's
attributes (Nova §3.3, §4.1). Request spec values are strings or null, as Nova's
``InstancePCIRequest.spec`` coerces them.

pciplane departs from Nova in two places, both so that the scheduler and the claim agree
and an operator's spelling does not matter:

* Q5: the boolean keys (``trusted``, ``remote_managed``, ``live_migratable``,
  ``managed``) are normalised on both sides, so JSON ``true``, ``"True"``, ``"yes"``,
  ``"1"`` and ``"on"`` are all ``"true"``.
* Q6: a spec ``trusted: "false"`` also matches a pool without a ``trusted`` tag: a VF
  nobody marked trusted is untrusted.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

from pciplane.core.boolean import normalise_word
from pciplane.core.device import DevType
from pciplane.core.errors import RequestError


class NumaPolicy(enum.StrEnum):
    """``hw:pci_numa_affinity_policy`` values (Nova §1.9, §3.6); null means legacy."""

    REQUIRED = "required"
    LEGACY = "legacy"
    PREFERRED = "preferred"
    SOCKET = "socket"


Choice = TypeVar("Choice", bound=enum.StrEnum)


def parse_choice(
    kind: type[Choice], value: object, *, what: str, fold_case: bool = False
) -> Choice:
    """One of an enum's values, or a :class:`RequestError` naming ``what`` and the choices."""
    if isinstance(value, kind):
        return value
    if isinstance(value, str):
        text = value.strip().lower() if fold_case else value.strip()
        try:
            return kind(text)
        except ValueError:
            pass
    accepted = ", ".join(member.value for member in kind)
    raise RequestError(f"invalid {what} {value!r}: expected one of {accepted}")


def parse_numa_policy(value: object, *, what: str) -> NumaPolicy:
    """Parse a NUMA affinity policy, naming ``what`` (the key it came from) on error."""
    return parse_choice(NumaPolicy, value, what=what)


class VnicType(enum.StrEnum):
    """Neutron's ``binding:vnic_type`` values (Nova §4.3)."""

    NORMAL = "normal"
    DIRECT = "direct"
    MACVTAP = "macvtap"
    DIRECT_PHYSICAL = "direct-physical"
    BAREMETAL = "baremetal"
    VIRTIO_FORWARDER = "virtio-forwarder"
    VDPA = "vdpa"
    ACCELERATOR_DIRECT = "accelerator-direct"
    ACCELERATOR_DIRECT_PHYSICAL = "accelerator-direct-physical"
    REMOTE_MANAGED = "remote-managed"
    SMART_NIC = "smart-nic"


#: The vnic types that need a host PCI device (Nova's ``VNIC_TYPES_SRIOV``, §4.3).
SRIOV_VNIC_TYPES: frozenset[VnicType] = frozenset(
    {
        VnicType.DIRECT,
        VnicType.MACVTAP,
        VnicType.DIRECT_PHYSICAL,
        VnicType.VIRTIO_FORWARDER,
        VnicType.VDPA,
        VnicType.REMOTE_MANAGED,
    }
)


def parse_vnic_type(value: object) -> VnicType:
    """Parse a ``binding:vnic_type``; an unknown one is a :class:`RequestError`."""
    return parse_choice(VnicType, value, what="vnic type")


class RequestSource(enum.StrEnum):
    """Where a request came from: a flavor alias or a Neutron port (Nova §4.1)."""

    FLAVOR = "flavor"
    PORT = "port"


#: Keys whose values are booleans, normalised on both sides of a match (Q5).
BOOLEAN_KEYS: frozenset[str] = frozenset(
    {"trusted", "remote_managed", "live_migratable", "managed"}
)
#: Keys that only concern Placement and never take part in matching (Nova §3.4 step 1).
IGNORED_KEYS: frozenset[str] = frozenset({"resource_class", "traits", "rp_uuids", "rp_uuid"})


def normalise_value(key: str, value: object) -> object:
    """The form a value is compared in: strings lower-cased, booleans as ``"true"/"false"``.

    Numbers and booleans kept in device spec tags are compared as their string form, as
    Nova's scheduler does once a pool is serialised (§3.1). Anything else (a list or
    object tag) is returned as is and so never equals a request's string: Nova's
    list-in-list rule (§3.3) cannot arise, because request values are strings (§4.1).
    """
    if isinstance(value, bool):
        return "true" if value else "false"
    if not isinstance(value, str | int | float):
        return value
    text = value if isinstance(value, str) else str(value)
    if key in BOOLEAN_KEYS:
        return normalise_word(text)
    return text.lower()


def _coerce(key: str, value: object) -> str | None:
    """A request spec value as a string (Nova §4.1 coerces ``True`` to ``"True"``)."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    raise RequestError(
        f"request spec key {key!r} has value {value!r}: expected a string, number, boolean or null"
    )


def _untagged_matches(key: str, value: str | None) -> bool:
    """Whether a pool without ``key`` satisfies ``key: value``.

    A missing key is None (Nova §3.3); and an untagged VF is untrusted, so it fits a
    request for an untrusted one (Q6).
    """
    if value is None:
        return True
    return key == "trusted" and normalise_word(value) == "false"


@dataclass(frozen=True, slots=True)
class RequestSpec:
    """One alternative of a request: sorted ``(key, value)`` constraints, all must hold.

    The normalised form used by :func:`spec_matches` is computed once here, not per
    match, because a fleet-wide fit compares each spec with every distinct pool.
    """

    items: tuple[tuple[str, str | None], ...]
    _match: tuple[tuple[str, object, bool, bool], ...] = field(
        init=False, repr=False, compare=False, hash=False
    )

    def __post_init__(self) -> None:
        items = tuple(sorted(self.items))
        keys = [k for k, _ in items]
        if len(set(keys)) != len(keys):
            raise RequestError(f"request spec {dict(items)!r} repeats a key")
        object.__setattr__(self, "items", items)
        object.__setattr__(
            self,
            "_match",
            tuple(
                (k, normalise_value(k, v), k in BOOLEAN_KEYS, _untagged_matches(k, v))
                for k, v in items
                if k not in IGNORED_KEYS
            ),
        )

    @classmethod
    def of(cls, mapping: Mapping[str, object]) -> RequestSpec:
        """Build a spec from a mapping, coercing values to strings (booleans lower-case)."""
        return cls(tuple((str(k), _coerce(str(k), v)) for k, v in mapping.items()))

    def get(self, key: str) -> str | None:
        for k, v in self.items:
            if k == key:
                return v
        return None

    def as_dict(self) -> dict[str, str | None]:
        return dict(self.items)

    @property
    def dev_type(self) -> DevType | None:
        """The requested device type, or None when not given (or not a known type)."""
        value = self.get("dev_type")
        if value is None:
            return None
        try:
            return DevType(value)
        except ValueError:
            return None

    def flag(self, key: str) -> bool | None:
        """A boolean key, normalised (Q5): True, False, or None when absent or not a bool."""
        value = self.get(key)
        if value is None:
            return None
        word = normalise_word(value)
        return True if word == "true" else False if word == "false" else None


def spec_matches(spec: RequestSpec, attrs: Mapping[str, object]) -> bool:
    """Whether every constraint of ``spec`` holds for a pool's ``attrs`` (Nova §3.3).

    A key missing from ``attrs`` counts as None, so a spec value of None asks for a pool
    without that key. Placement-only keys (:data:`IGNORED_KEYS`) are skipped.
    """
    get = attrs.get
    for key, want, boolean, none_ok in spec._match:
        have = get(key)
        if type(have) is str:
            have = normalise_word(have) if boolean else have.lower()
        elif have is not None:
            have = normalise_value(key, have)
        elif none_ok:
            continue
        if have != want:
            return False
    return True


@dataclass(frozen=True, kw_only=True, slots=True)
class PciRequest:
    """``count`` devices matching any of ``specs`` (Nova's InstancePCIRequest, §4.1)."""

    count: int
    specs: tuple[RequestSpec, ...]
    alias_name: str | None = None
    numa_policy: NumaPolicy | None = None
    requester: str | None = None
    source: RequestSource = RequestSource.FLAVOR
    #: How explanations name the request (``port web-1 (physnet1)``); empty: the alias
    #: name or the port's physical network.
    label: str = ""

    def __post_init__(self) -> None:
        if isinstance(self.count, bool) or not isinstance(self.count, int) or self.count < 0:
            raise RequestError(f"PCI request count {self.count!r} is not a non-negative integer")
        if not self.specs:
            raise RequestError("a PCI request needs at least one spec")

    @property
    def wants_pf(self) -> bool:
        """Whether an alternative asks for a whole PF (``direct-physical``, §4.3)."""
        return any(s.get("dev_type") == DevType.PF.value for s in self.specs)

    @property
    def is_live_migratable(self) -> bool:
        """True only when every alternative asks for ``live_migratable`` (Nova §4.1)."""
        return all(s.flag("live_migratable") is True for s in self.specs)


def pf_last_order(requests: Sequence[PciRequest]) -> list[int]:
    """The first order fit tries: requests for PFs last, the others as given (a VF taken
    first can still leave a PF whole; the other way round it cannot)."""
    return sorted(range(len(requests)), key=lambda r: requests[r].wants_pf)


def request_from_port(
    *,
    vnic_type: VnicType | str,
    physical_network: str | None,
    trusted: bool | None = None,
    numa_policy: NumaPolicy | None = None,
    flavor_numa_policy: NumaPolicy | None = None,
    port_id: str | None = None,
    also_physical_networks: tuple[str, ...] = (),
    pci_group: str | None = None,
    label: str = "",
) -> PciRequest | None:
    """The request one Neutron port makes, or None if its vnic type needs no device.

    Follows Nova's ``create_resource_requests`` (§4.3): one device, on the port's
    physical network, remote-managed only for ``remote-managed`` ports, a PF for
    ``direct-physical``, a vDPA device for ``vdpa``; the port's NUMA policy wins over
    the flavor's. Two additions: ``also_physical_networks`` are alternatives (a network
    whose segments span several physnets, core/network.py), and ``pci_group`` confines the
    device to hosts of that SR-IOV group (their device specs carry the tag, the agent's
    ``sriov_pci_group``).
    """
    vnic = parse_vnic_type(vnic_type)
    if vnic not in SRIOV_VNIC_TYPES:
        return None
    spec: dict[str, str | None] = {
        "physical_network": physical_network,
        "remote_managed": "true" if vnic is VnicType.REMOTE_MANAGED else "false",
    }
    if vnic is VnicType.DIRECT_PHYSICAL:
        spec["dev_type"] = DevType.PF.value
    elif vnic is VnicType.VDPA:
        spec["dev_type"] = DevType.VDPA.value
    if trusted is not None:
        spec["trusted"] = "true" if trusted else "false"
    if pci_group is not None:
        spec["pci_group"] = pci_group
    physnets = [physical_network, *(p for p in also_physical_networks if p != physical_network)]
    return PciRequest(
        count=1,
        specs=tuple(RequestSpec.of({**spec, "physical_network": p}) for p in physnets),
        alias_name=None,
        numa_policy=numa_policy if numa_policy is not None else flavor_numa_policy,
        requester=port_id,
        source=RequestSource.PORT,
        label=label,
    )
