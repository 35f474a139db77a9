"""The fleet as the scheduler sees it: hosts, their NUMA nodes and devices, and the config.

Frozen records only; reading and writing the ``pciplane-fleet/1`` snapshot is
:mod:`pciplane.core.snapshot`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from pciplane.core.alias import Alias
from pciplane.core.allocation import Allocation
from pciplane.core.device import PciDevice
from pciplane.core.resources import HostUsage
from pciplane.core.spec import DeviceSpec


@dataclass(frozen=True, kw_only=True, slots=True)
class NumaNode:
    """One host NUMA cell: its socket, CPUs, their thread siblings and memory.

    ``cpus`` empty and ``memory_mib`` None mean "not reported" (an older agent or
    snapshot): such a cell can take no pinned guest, and its memory is not counted.
    """

    id: int
    socket: int | None = None
    cpus: tuple[int, ...] = ()
    #: Groups of CPUs that are hardware threads of one core (SMT siblings).
    siblings: tuple[tuple[int, ...], ...] = ()
    memory_mib: int | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class Host:
    """One compute host as the scheduler sees it."""

    name: str
    numa_nodes: tuple[NumaNode, ...] = ()
    devices: tuple[PciDevice, ...] = ()
    #: The host's own allow-list; None means the fleet's default applies.
    device_spec: tuple[DeviceSpec, ...] | None = None
    #: Raw entries of the host's own device_spec, kept to write the snapshot back.
    device_spec_raw: tuple[object, ...] | None = None
    #: The host takes only servers with at least one SR-IOV port (its agent's
    #: ``sriov_only``, neutron-sriov-binding.md §5).
    sriov_only: bool = False
    #: Its allocation settings (Nova's names, core.allocation).
    allocation: Allocation = field(default_factory=Allocation)
    #: What its servers hold of its CPUs and memory (core.resources).
    usage: HostUsage = field(default_factory=HostUsage)


@dataclass(frozen=True, kw_only=True, slots=True)
class Fleet:
    device_spec: tuple[DeviceSpec, ...] = ()
    aliases: Mapping[str, Alias] = field(default_factory=dict)
    hosts: tuple[Host, ...] = ()
    device_spec_raw: tuple[object, ...] = ()
    alias_raw: tuple[object, ...] = ()

    def specs_for(self, host: Host) -> tuple[DeviceSpec, ...]:
        return host.device_spec if host.device_spec is not None else self.device_spec


def replace_devices(host: Host, devices: Sequence[PciDevice]) -> Host:
    """The same host with a new device list (after a claim or a rescan)."""
    return Host(
        name=host.name,
        numa_nodes=host.numa_nodes,
        devices=tuple(devices),
        device_spec=host.device_spec,
        device_spec_raw=host.device_spec_raw,
        sriov_only=host.sriov_only,
        allocation=host.allocation,
        usage=host.usage,
    )
