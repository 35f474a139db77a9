"""Capacity: how many more servers of one kind a fleet can take, and what limits each host.

Servers are placed one by one with real claims on each host until the next one no longer
fits; the request that failed then names the device class that ran out. Hosts in the same
state (equal :attr:`HostView.signature`) have the same capacity, so each distinct state is
worked out once. Hosts do not share devices, so per-host answers add up to the fleet's.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, replace

from pciplane.core.claim import claim
from pciplane.core.device import Inventory
from pciplane.core.errors import RequestError
from pciplane.core.fit import CPU_LABEL, GuestRequest, HostView
from pciplane.core.fleet import Host, replace_devices
from pciplane.core.index import FleetIndex
from pciplane.core.numa_fit import HostResources
from pciplane.core.spec import DeviceSpec

#: A bound on servers per host, in case a request's devices never run out.
MAX_PER_HOST = 10_000


@dataclass(frozen=True, kw_only=True, slots=True)
class HostCapacity:
    host: str
    servers: int
    #: The request that no longer fits after the last placement ("" if the bound was hit).
    limited_by: str


@dataclass(frozen=True, kw_only=True, slots=True)
class FleetCapacity:
    total: int
    hosts: tuple[HostCapacity, ...]

    def limited_by(self) -> list[tuple[str, int]]:
        """Request labels by how many hosts they limit, most first."""
        counts = Counter(h.limited_by for h in self.hosts if h.limited_by)
        return counts.most_common()


def place_until_full(
    host: Host, specs: tuple[DeviceSpec, ...], guest: GuestRequest
) -> tuple[int, str]:
    """Claim ``guest`` on ``host`` again and again: how many fit, and what stopped it
    (a request's label, or ``CPUs and memory``)."""
    if not guest.pci and guest.cpu is None:
        raise RequestError("the request asks for no PCI device, so PCI capacity is unbounded")
    if not guest.pci and not HostResources.of(host).counted:
        return MAX_PER_HOST, ""  # nothing reported, nothing counted: unbounded here
    inventory = Inventory.of(host.devices)
    usage = host.usage
    for placed in range(MAX_PER_HOST):
        current = replace(replace_devices(host, tuple(inventory)), usage=usage)
        verdict = HostView.build(current, specs).fit(guest)
        if not verdict.fits:
            if verdict.stages and verdict.stages[-1].request == CPU_LABEL:
                return placed, CPU_LABEL
            return placed, verdict.reason.split(": ", 1)[0]
        inventory = claim(inventory, verdict, guest, owner=f"capacity-{placed}")
        if verdict.cpu is not None:
            usage = usage.plus(verdict.cpu.uses)
    return MAX_PER_HOST, ""


def fleet_capacity(hosts: Sequence[Host], index: FleetIndex, guest: GuestRequest) -> FleetCapacity:
    """Capacity of every host of ``index`` (``hosts`` in the index's order), once per state."""
    by_state: dict[tuple[object, ...], tuple[int, str]] = {}
    out = []
    for host in hosts:
        state = index.view(host.name).signature
        answer = by_state.get(state)
        if answer is None:
            specs = host.device_spec if host.device_spec is not None else index.default_specs
            answer = by_state[state] = place_until_full(host, specs, guest)
        out.append(HostCapacity(host=host.name, servers=answer[0], limited_by=answer[1]))
    return FleetCapacity(total=sum(h.servers for h in out), hosts=tuple(out))
