"""What libvirt says each guest holds against what the service says was claimed.

After a restart the agent cannot know which of the two is right: a domain may have been
undefined behind the service's back, or a start may have been half done when the agent
died. So it judges nothing and reports every disagreement (issue 4, "The host agent");
the service records it on the server, and an operator decides. Domains are matched to
servers by UUID: the service writes the server's id as the domain's ``<uuid>``.

Rules, for each server holding devices on this host:

- devices only *claimed* (its start is still pending): no finding; the start is handed
  out again when the host registers and settles it;
- devices *allocated* (the server is ACTIVE) but no domain with its UUID: a mismatch;
- a domain whose PCI devices differ from the allocation: a mismatch naming both sets;
- a domain that holds the right devices but is shut off while the server is ACTIVE, or
  running while the server is SHUTOFF (stopped): a mismatch; while a stop, start or
  reboot is under way either is fine.

And a domain that holds PCI devices but matches no claim on this host is a mismatch
with no server named. Domains holding no PCI device are not the service's concern.
"""

from __future__ import annotations

import enum
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass

from pciplane.core.address import PciAddress
from pciplane.core.device import PciDevice, Status
from pciplane.host.domain_xml import HeldDevice
from pciplane.host.libvirt_driver import DomainRecord, PowerState


class Power(enum.Enum):
    """How the service wants a server's guest: running (ACTIVE), shut off (SHUTOFF), or
    either while a stop, start or reboot is under way."""

    RUNNING = "running"
    SHUT_OFF = "shut-off"
    CHANGING = "changing"


@dataclass(frozen=True, kw_only=True, slots=True)
class Mismatch:
    """One disagreement between libvirt and the service's claims on this host."""

    detail: str
    server_id: str | None = None
    domain: str | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class Claim:
    """The devices the service has given one server on this host."""

    server_id: str
    addresses: frozenset[PciAddress]
    #: Every device allocated (the start was confirmed); False while any is only claimed.
    active: bool


def claims_of(devices: Iterable[PciDevice]) -> dict[str, Claim]:
    """The service's claims on this host, by server id, from its device list."""
    held: dict[str, list[PciDevice]] = {}
    for dev in devices:
        if dev.owner is not None:
            held.setdefault(dev.owner, []).append(dev)
    return {
        owner: Claim(
            server_id=owner,
            addresses=frozenset(d.address for d in devs),
            active=all(d.status is Status.ALLOCATED for d in devs),
        )
        for owner, devs in sorted(held.items())
    }


def held_pci(
    held: Sequence[HeldDevice], by_devname: Mapping[str, PciAddress]
) -> frozenset[PciAddress]:
    """The PCI addresses a domain holds; a macvtap interface counts as its VF's address."""
    out = {h.address for h in held if h.address is not None}
    for h in held:
        if h.source_dev is not None and h.source_dev in by_devname:
            out.add(by_devname[h.source_dev])
    return frozenset(out)


def _show(addresses: Iterable[PciAddress]) -> str:
    listed = sorted(addresses)
    return ", ".join(str(a) for a in listed) if listed else "no PCI device"


def _judge(
    claim: Claim,
    domain: DomainRecord | None,
    held: frozenset[PciAddress],
    power: Power = Power.RUNNING,
) -> str | None:
    if not claim.active:
        return None
    if domain is None:
        return (
            f"server {claim.server_id} has {_show(claim.addresses)} allocated on this host "
            "but libvirt has no domain for it"
        )
    if held != claim.addresses:
        return (
            f"domain {domain.name} holds {_show(held)} but the service allocated "
            f"{_show(claim.addresses)} to its server"
        )
    if power is Power.CHANGING:
        return None
    if power is Power.SHUT_OFF and domain.state is PowerState.RUNNING:
        return f"domain {domain.name} is {domain.state} but its server is SHUTOFF"
    if power is Power.RUNNING and domain.state is not PowerState.RUNNING:
        return f"domain {domain.name} is {domain.state} but its server is ACTIVE"
    return None


def reconcile(
    claims: Mapping[str, Claim],
    domains: Sequence[DomainRecord],
    *,
    by_devname: Mapping[str, PciAddress] | None = None,
    stopped: Collection[str] = (),
    changing: Collection[str] = (),
) -> tuple[Mismatch, ...]:
    """Every disagreement between the claims and the domains, servers first.

    ``stopped``: servers whose guest the service has shut off (SHUTOFF); ``changing``:
    servers with a stop, start or reboot under way, whose guest may be either."""
    names = by_devname or {}
    by_uuid = {d.uuid: d for d in domains}
    found: list[Mismatch] = []
    for claim in claims.values():
        domain = by_uuid.get(claim.server_id)
        held = held_pci(domain.devices, names) if domain is not None else frozenset()
        power = (
            Power.CHANGING
            if claim.server_id in changing
            else Power.SHUT_OFF
            if claim.server_id in stopped
            else Power.RUNNING
        )
        detail = _judge(claim, domain, held, power)
        if detail is not None:
            name = domain.name if domain is not None else None
            found.append(Mismatch(server_id=claim.server_id, domain=name, detail=detail))
    owners = {a: c.server_id for c in claims.values() for a in c.addresses}
    for domain in domains:
        held = held_pci(domain.devices, names)
        if domain.uuid in claims or not held:
            continue
        others = sorted({owners[a] for a in held if a in owners})
        extra = f" (the service has them claimed by {', '.join(others)})" if others else ""
        found.append(
            Mismatch(
                domain=domain.name,
                detail=f"domain {domain.name} ({domain.uuid}) holds {_show(held)}, "
                f"which the service has not claimed for it{extra}",
            )
        )
    return tuple(found)
