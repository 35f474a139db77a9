"""The settings a VF needs on its PF, as a plan: operations, ``ip link`` lines, netlink.

libvirt sets a VF's MAC and VLAN for ``<interface type='hostdev'>`` but nothing else, and
nothing at all for a plain ``<hostdev>``: spoof checking, trust, link state and transmit
rates are the host's job (Nova §6.1-§6.2 runs ``ip link set PF vf N trust on`` itself).
A plan is a list of frozen operations, each the same thing three ways: the record, the
``ip link set DEV vf N ...`` command line (ip-link(8)), and the ``IFLA_VF_*`` attributes
pyroute2 sends (``IPRoute.link("set", index=..., vf={...})``, linux/if_link.h).
:func:`apply` talks to the kernel only when asked; :func:`release_plan` undoes a plan.
"""

from __future__ import annotations

import enum
import re
import shlex
from dataclasses import dataclass
from typing import Protocol

from pciplane.core.errors import HypervisorError, NotFoundError, RequestError
from pciplane.core.guest import VfWiring

ZERO_MAC = "00:00:00:00:00:00"
_MAC = re.compile(r"^[0-9a-f]{2}(:[0-9a-f]{2}){5}$")
_IFNAME = re.compile(r"^[^/\s:]{1,15}$")  # IFNAMSIZ is 16 with the NUL (linux/if.h)


class LinkState(enum.StrEnum):
    """``ip link set ... vf N state``; values are ``IFLA_VF_LINK_STATE_*`` (if_link.h)."""

    AUTO = "auto"
    ENABLE = "enable"
    DISABLE = "disable"

    @property
    def netlink(self) -> int:
        return {"auto": 0, "enable": 1, "disable": 2}[self.value]


def _on_off(value: bool) -> str:
    return "on" if value else "off"


@dataclass(frozen=True, kw_only=True, slots=True)
class SetMac:
    mac: str

    def words(self) -> tuple[str, ...]:
        return ("mac", self.mac)

    def netlink(self) -> dict[str, object]:
        return {"mac": self.mac}


@dataclass(frozen=True, kw_only=True, slots=True)
class SetVlan:
    """VLAN 0 removes the tag; ``qos`` is the 802.1p priority (0-7)."""

    vlan: int
    qos: int = 0

    def words(self) -> tuple[str, ...]:
        return (
            ("vlan", str(self.vlan), "qos", str(self.qos)) if self.qos else ("vlan", str(self.vlan))
        )

    def netlink(self) -> dict[str, object]:
        return {"vlan": {"vlan": self.vlan, "qos": self.qos}}


@dataclass(frozen=True, kw_only=True, slots=True)
class SetSpoofCheck:
    enabled: bool

    def words(self) -> tuple[str, ...]:
        return ("spoofchk", _on_off(self.enabled))

    def netlink(self) -> dict[str, object]:
        return {"spoofchk": int(self.enabled)}


@dataclass(frozen=True, kw_only=True, slots=True)
class SetTrust:
    enabled: bool

    def words(self) -> tuple[str, ...]:
        return ("trust", _on_off(self.enabled))

    def netlink(self) -> dict[str, object]:
        return {"trust": int(self.enabled)}


@dataclass(frozen=True, kw_only=True, slots=True)
class SetLinkState:
    state: LinkState

    def words(self) -> tuple[str, ...]:
        return ("state", self.state.value)

    def netlink(self) -> dict[str, object]:
        return {"link_state": self.state.netlink}


@dataclass(frozen=True, kw_only=True, slots=True)
class SetRate:
    """Transmit rate limits in Mbps; 0 means no limit (ip-link(8) ``max_tx_rate``)."""

    max_tx_rate: int
    min_tx_rate: int

    def words(self) -> tuple[str, ...]:
        return ("max_tx_rate", str(self.max_tx_rate), "min_tx_rate", str(self.min_tx_rate))

    def netlink(self) -> dict[str, object]:
        return {"rate": {"max_tx_rate": self.max_tx_rate, "min_tx_rate": self.min_tx_rate}}


VfOperation = SetMac | SetVlan | SetSpoofCheck | SetTrust | SetLinkState | SetRate


@dataclass(frozen=True, kw_only=True, slots=True)
class VfPlan:
    """The operations for VF ``vf`` of the PF whose netdev is ``pf``, in order."""

    pf: str
    vf: int
    operations: tuple[VfOperation, ...]

    def argv(self, operation: VfOperation) -> tuple[str, ...]:
        return ("ip", "link", "set", self.pf, "vf", str(self.vf), *operation.words())

    def commands(self) -> tuple[str, ...]:
        """One ``ip link set PF vf N ...`` line per operation."""
        return tuple(shlex.join(self.argv(op)) for op in self.operations)


@dataclass(frozen=True, kw_only=True, slots=True)
class VfSettings:
    """What a VF assignment wants; ``None`` rates leave the VF's rate alone."""

    mac: str
    vlan: int | None = None
    qos: int = 0
    spoofchk: bool = True
    trust: bool = False
    link_state: LinkState = LinkState.AUTO
    max_tx_rate: int | None = None
    min_tx_rate: int | None = None

    def __post_init__(self) -> None:
        _check_mac(self.mac)
        if self.vlan is not None and not 0 <= self.vlan <= 4094:
            raise RequestError(f"VF VLAN {self.vlan!r} is not from 0 to 4094 (IEEE 802.1Q)")
        if not 0 <= self.qos <= 7:
            raise RequestError(f"VF VLAN qos {self.qos!r} is not an 802.1p priority 0-7")
        if self.qos and not self.vlan:
            raise RequestError(f"VF VLAN qos {self.qos} needs a VLAN to tag")
        for name in ("max_tx_rate", "min_tx_rate"):
            rate = getattr(self, name)
            if rate is not None and (isinstance(rate, bool) or rate < 0):
                raise RequestError(f"VF {name} {rate!r} must be a non-negative number of Mbps")
        top, bottom = self.max_tx_rate or 0, self.min_tx_rate or 0
        if top and bottom > top:
            raise RequestError(f"VF min_tx_rate {bottom} Mbps is above max_tx_rate {top} Mbps")


def _check_mac(mac: str) -> None:
    if not isinstance(mac, str) or _MAC.match(mac) is None:
        raise RequestError(f"VF MAC {mac!r} is not of the form aa:bb:cc:dd:ee:ff (lower case)")


def _check_vf(pf: str, vf: int) -> None:
    if not isinstance(pf, str) or _IFNAME.match(pf) is None:
        raise RequestError(f"PF interface name {pf!r} is not a netdev name (1-15 characters)")
    if isinstance(vf, bool) or not isinstance(vf, int) or vf < 0:
        raise RequestError(f"VF index {vf!r} of {pf} is not a non-negative integer")


def assign_plan(*, pf: str, vf: int, settings: VfSettings) -> VfPlan:
    """MAC, VLAN (+qos), spoof checking, trust, link state, then rates when given."""
    _check_vf(pf, vf)
    ops: list[VfOperation] = [SetMac(mac=settings.mac)]
    ops.append(SetVlan(vlan=settings.vlan or 0, qos=settings.qos))
    ops.append(SetSpoofCheck(enabled=settings.spoofchk))
    ops.append(SetTrust(enabled=settings.trust))
    ops.append(SetLinkState(state=settings.link_state))
    if settings.max_tx_rate is not None or settings.min_tx_rate is not None:
        ops.append(
            SetRate(max_tx_rate=settings.max_tx_rate or 0, min_tx_rate=settings.min_tx_rate or 0)
        )
    return VfPlan(pf=pf, vf=vf, operations=tuple(ops))


def release_plan(assigned: VfPlan) -> VfPlan:
    """Undo an assignment: MAC zeroed, VLAN 0, spoof checking on, trust off, and link
    state and rates back to their defaults when the assignment had set them."""
    ops: list[VfOperation] = [
        SetMac(mac=ZERO_MAC),
        SetVlan(vlan=0),
        SetSpoofCheck(enabled=True),
        SetTrust(enabled=False),
    ]
    kinds = {type(op) for op in assigned.operations}
    if SetLinkState in kinds:
        ops.append(SetLinkState(state=LinkState.AUTO))
    if SetRate in kinds:
        ops.append(SetRate(max_tx_rate=0, min_tx_rate=0))
    return VfPlan(pf=assigned.pf, vf=assigned.vf, operations=tuple(ops))


def full_release_plan(*, pf: str, vf: int) -> VfPlan:
    """Reset everything a plan may have set, when the assignment is not known (reconcile)."""
    everything = VfSettings(mac=ZERO_MAC, max_tx_rate=0, min_tx_rate=0)
    return release_plan(assign_plan(pf=pf, vf=vf, settings=everything))


def plan_for_wiring(wiring: VfWiring) -> VfPlan:
    """The assignment plan for a port's VF as the guest plan says (its PF's netdev, its VF
    number, and the settings the binding decided: neutron-sriov-binding.md §4)."""
    settings = VfSettings(
        mac=wiring.mac,
        vlan=wiring.vlan,
        spoofchk=wiring.spoofchk,
        trust=wiring.trust,
        link_state=LinkState(wiring.link_state),
    )
    return assign_plan(pf=wiring.pf, vf=wiring.vf, settings=settings)


class Netlink(Protocol):
    """The two ``pyroute2.IPRoute`` calls a plan needs."""

    def link_lookup(self, *, ifname: str) -> list[int]: ...

    def link(self, command: str, **kwargs: object) -> object: ...


def apply(plan: VfPlan, *, netlink: Netlink) -> None:
    """Send each operation as ``RTM_SETLINK`` with ``IFLA_VFINFO_LIST`` (needs root)."""
    from pyroute2.netlink.exceptions import NetlinkError

    indexes = netlink.link_lookup(ifname=plan.pf)
    if not indexes:
        raise NotFoundError(f"PF interface {plan.pf!r} does not exist on this host")
    for op in plan.operations:
        try:
            netlink.link("set", index=indexes[0], vf={"vf": plan.vf, **op.netlink()})
        except (NetlinkError, OSError) as exc:
            raise HypervisorError(
                f"`{shlex.join(plan.argv(op))}` failed: {exc} "
                f"(errno {getattr(exc, 'code', None) or getattr(exc, 'errno', '?')})"
            ) from exc
