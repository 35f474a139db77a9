"""Rules about whole hosts, outside the device pipeline: ``sriov_only``, and hosts an
operator disabled (``host disable --reason``: Nova's disabled compute service, which its
ComputeFilter rules out).

A host whose agent says ``sriov_only`` takes only servers with at least one SR-IOV port
(neutron-sriov-binding.md §5), however many of its other devices are free. The rule is
about the host, not about a pool, so it is applied to the fleet's verdicts after the fit
(by the scheduler and by the offline ``fit`` and ``capacity`` alike), each host it rules
out named with the reason.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from pciplane.core.capacity import FleetCapacity, HostCapacity
from pciplane.core.fit import GuestRequest
from pciplane.core.fleet import Host
from pciplane.core.index import FleetFit
from pciplane.core.request import RequestSource

SRIOV_ONLY_REASON = "the host takes only servers with an SR-IOV port (sriov_only)"
DISABLED_REASON = "host disabled by an operator"


def disabled_reason(reason: str | None) -> str:
    """``host disabled by an operator: maintenance``: the words of the rule."""
    return f"{DISABLED_REASON}: {reason}" if reason else DISABLED_REASON


def disabled_hosts(disabled: Mapping[str, str | None]) -> dict[str, str]:
    """Hosts an operator disabled (name -> their reason, or None), with why they take
    no new server."""
    return {name: disabled_reason(reason) for name, reason in disabled.items()}


def has_sriov_port(guest: GuestRequest) -> bool:
    return any(r.source is RequestSource.PORT for r in guest.pci)


def ruled_out(hosts: Iterable[Host], guest: GuestRequest) -> dict[str, str]:
    """Hosts the rules refuse for ``guest``, with why."""
    if has_sriov_port(guest):
        return {}
    return {h.name: SRIOV_ONLY_REASON for h in hosts if h.sriov_only}


def with_rules(result: FleetFit, refused: Mapping[str, str]) -> FleetFit:
    """``result`` with the refused hosts not fitting, each with its reason."""
    return result.overruled(refused)


def capacity_with_rules(result: FleetCapacity, refused: Mapping[str, str]) -> FleetCapacity:
    """``result`` with the refused hosts able to take none, limited by the rule."""
    if not refused:
        return result
    hosts = tuple(
        HostCapacity(host=h.host, servers=0, limited_by=refused[h.host]) if h.host in refused else h
        for h in result.hosts
    )
    return FleetCapacity(total=sum(h.servers for h in hosts), hosts=hosts)
