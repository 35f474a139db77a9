"""Neutron networks as binding and scheduling see them: segments and their rules.

A network has one or more segments, each ``{network_type, physical_network,
segmentation_id}`` (neutron-sriov-binding.md §1). A single-segment network is written with
the provider attributes (``provider:network_type`` ...), a multi-segment one as a
``segments`` list (the multi-provider extension). The checks are ML2's type drivers':
VLAN ids 1..4094 on a physical network, a flat segment on a physical network without an
id, tunnels (VXLAN, GRE, Geneve) without a physical network, ``local`` without either.

A network given no provider attributes is one ``local`` segment (ML2's default
``tenant_network_types``). A VLAN segment without an id is valid here, as in Neutron
(binding then writes ``"vlan": "None"``, §2.7); the service refuses to create one,
because it keeps no tenant VLAN ranges to allocate an id from (service/networks.py).
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from pciplane.core.errors import RequestError
from pciplane.core.request import parse_choice


class NetworkType(enum.StrEnum):
    """Neutron's ``provider:network_type`` values."""

    FLAT = "flat"
    VLAN = "vlan"
    VXLAN = "vxlan"
    GRE = "gre"
    GENEVE = "geneve"
    LOCAL = "local"


#: Overlay types: no physical network, so no SR-IOV VF can reach them (Nova §4.3 step 2).
TUNNELLED = frozenset({NetworkType.VXLAN, NetworkType.GRE, NetworkType.GENEVE})
#: The types a VF can be wired to: a physical network, tagged or not (binding §2 step 3).
PHYSICAL = frozenset({NetworkType.FLAT, NetworkType.VLAN})
#: The largest segmentation id of each type that takes one (ML2's type drivers:
#: 802.1Q VLANs, 24-bit VXLAN and Geneve VNIs, 32-bit GRE keys).
MAX_SEGMENT_ID: Mapping[NetworkType, int] = {
    NetworkType.VLAN: 4094,
    NetworkType.VXLAN: 2**24 - 1,
    NetworkType.GENEVE: 2**24 - 1,
    NetworkType.GRE: 2**32 - 1,
}
#: Neutron's limit on a physical network name (the ``physical_network`` column).
MAX_PHYSNET = 64


def parse_network_type(value: object) -> NetworkType:
    return parse_choice(NetworkType, value, what="network type", fold_case=True)


@dataclass(frozen=True, kw_only=True, slots=True)
class Segment:
    """One segment of a network; the constructor applies ML2's type-driver checks.

    ``where`` names the attribute the values came from in errors (``provider`` for a
    single-segment network, ``segments[1]`` for the second of a list).
    """

    network_type: NetworkType
    physical_network: str | None = None
    segmentation_id: int | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "network_type", parse_network_type(self.network_type))
        check_segment(self)

    @property
    def key(self) -> str | None:
        """What two networks may not share: a VLAN on a physnet, a flat physnet, a tunnel
        id (ML2 refuses a second network on them, "... is in use"); None for ``local``."""
        kind = self.network_type
        if kind is NetworkType.FLAT:
            return f"flat:{self.physical_network}"
        if kind is NetworkType.LOCAL:
            return None
        return f"{kind}:{self.physical_network or ''}:{self.segmentation_id}"

    def describe(self) -> str:
        parts = [str(self.network_type)]
        if self.physical_network is not None:
            parts.append(f"physnet {self.physical_network}")
        if self.segmentation_id is not None:
            parts.append(f"id {self.segmentation_id}")
        return " ".join(parts)

    def to_json(self) -> dict[str, object]:
        return {
            "provider:network_type": str(self.network_type),
            "provider:physical_network": self.physical_network,
            "provider:segmentation_id": self.segmentation_id,
        }


def _fail(where: str, key: str, message: str) -> RequestError:
    return RequestError(f"{where}provider:{key}: {message}")


def check_segment(segment: Segment, where: str = "") -> None:
    """ML2's checks of one segment; errors name the provider attribute at fault."""
    kind = segment.network_type
    physnet, seg_id = segment.physical_network, segment.segmentation_id
    prefix = f"{where}: " if where else ""
    if seg_id is not None and (isinstance(seg_id, bool) or not isinstance(seg_id, int)):
        raise _fail(prefix, "segmentation_id", f"{seg_id!r} is not an integer")
    if physnet is not None:
        if not isinstance(physnet, str) or not physnet.strip():
            raise _fail(prefix, "physical_network", f"{physnet!r} is not a name")
        if len(physnet) > MAX_PHYSNET:
            raise _fail(prefix, "physical_network", f"longer than {MAX_PHYSNET} characters")
    if kind in PHYSICAL and physnet is None:
        raise _fail(prefix, "physical_network", f"a {kind} network needs a physical network")
    if (kind in TUNNELLED or kind is NetworkType.LOCAL) and physnet is not None:
        raise _fail(prefix, "physical_network", f"a {kind} network has no physical network")
    if kind in (NetworkType.FLAT, NetworkType.LOCAL):
        if seg_id is not None:
            raise _fail(prefix, "segmentation_id", f"a {kind} network takes no segmentation id")
        return
    top = MAX_SEGMENT_ID[kind]
    if seg_id is not None and not 1 <= seg_id <= top:
        raise _fail(prefix, "segmentation_id", f"{seg_id} is not a {kind} id from 1 to {top}")


#: What a network is when no provider attribute is given (ML2's tenant_network_types).
DEFAULT_SEGMENT = Segment(network_type=NetworkType.LOCAL)


def check_segments(segments: Sequence[Segment]) -> None:
    """A network's segment list: at least one, none twice (multi-provider extension)."""
    if not segments:
        raise RequestError("segments: a network needs at least one segment")
    seen: set[tuple[object, ...]] = set()
    for i, seg in enumerate(segments):
        shape = (seg.network_type, seg.physical_network, seg.segmentation_id)
        if shape in seen:
            raise RequestError(
                f"segments[{i}]: the same segment is listed twice ({seg.describe()})"
            )
        seen.add(shape)


def request_physnets(segments: Sequence[Segment]) -> tuple[str, ...]:
    """The physical networks a VF for a port on these segments may come from, in order.

    Nova takes only the first segment's physnet (§4.3 step 2), so a port on a network
    spanning two physnets could only land where the first one is; pciplane asks for a
    device on any of them (alternatives of one request) and binds the segment of the
    device it got.
    """
    out: list[str] = []
    for seg in segments:
        physnet = seg.physical_network
        if seg.network_type in PHYSICAL and physnet is not None and physnet not in out:
            out.append(physnet)
    return tuple(out)


@dataclass(frozen=True, kw_only=True, slots=True)
class Network:
    """A network as binding and scheduling need it: its identity and its segments."""

    id: str
    name: str
    segments: tuple[Segment, ...]

    def __post_init__(self) -> None:
        check_segments(self.segments)

    @property
    def physical(self) -> tuple[Segment, ...]:
        return tuple(s for s in self.segments if s.network_type in PHYSICAL)

    def label(self) -> str:
        return f"network {self.name!r}" if self.name else f"network {self.id}"
