"""The host agent: reports its host to the service and carries out the host's work.

One loop per compute host: register the host (NUMA nodes and devices in the fleet
snapshot's shape, with its own ``[pci] device_spec`` when it has one), reconcile what
libvirt holds against what the service claimed, then poll for work — start, stop,
attach, detach — render each guest plan for libvirt, and report each outcome. Each poll
is also the agent's heartbeat. A rescan that changes the inventory
(:func:`pciplane.host.discovery.diff`) is reported again. Everything it needs is
injected — the API client, the hypervisor, the scanner and the clock — so tests run it
against a real service and libvirt's test driver, one step at a time.

A device that vanished from the host while a server holds it stays in the service's
books (:func:`pciplane.core.device.merge_report`) until that server is deleted; the
agent then reports again, so the freed device leaves the pool instead of being handed out.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from pciplane.core.address import PciAddress
from pciplane.core.allocation import Allocation
from pciplane.core.device import PciDevice
from pciplane.core.errors import (
    ConflictError,
    NotFoundError,
    PciplaneError,
    StateError,
    UnreachableError,
)
from pciplane.core.fleet import Host, NumaNode
from pciplane.core.snapshot import device_from_json
from pciplane.core.spec import DeviceSpec
from pciplane.core.sriov_agent import SriovAgentConfig
from pciplane.host import nodedev, sysfs, topology
from pciplane.host.agent_power import SHUTDOWN_TIMEOUT
from pciplane.host.agent_work import Outcome, WorkRunner
from pciplane.host.discovery import diff
from pciplane.host.disks import DiskStore
from pciplane.host.libvirt_driver import Hypervisor
from pciplane.host.reconcile import Mismatch, claims_of, reconcile
from pciplane.host.vf_wiring import VfWirer
from pciplane.wire.hosts import MismatchIn, Registration, WorkOut
from pciplane.wire.servers import ServerOut

log = logging.getLogger("pciplane.agent")


class AgentApi(Protocol):
    """The :class:`pciplane.client.Client` methods the agent calls."""

    def register_host(
        self, host: Host, *, network: Mapping[str, object] | None = None
    ) -> Registration: ...
    def take_work(self, host: str) -> list[WorkOut]: ...
    def report_work(
        self,
        work_id: int,
        *,
        ok: bool,
        reason: str = "",
        domain_xml: str | None = None,
        code: str | None = None,
        wired: Sequence[Mapping[str, object]] = (),
    ) -> ServerOut: ...
    def report_mismatches(self, host: str, mismatches: Sequence[MismatchIn]) -> list[ServerOut]: ...
    def download_image(self, image_id: str, dest: Path) -> str: ...


@dataclass(frozen=True, kw_only=True, slots=True)
class HostScan:
    """One discovery of the host: its NUMA nodes, its PCI functions, what was unreadable."""

    numa_nodes: tuple[NumaNode, ...]
    devices: tuple[PciDevice, ...]
    warnings: tuple[str, ...] = ()


Scanner = Callable[[], HostScan]


@dataclass(frozen=True, kw_only=True, slots=True)
class AgentConfig:
    name: str
    #: The host's own ``[pci] device_spec`` entries as written, and parsed; None: the
    #: service's fleet-wide ``device_spec`` applies to this host.
    device_spec_raw: tuple[object, ...] | None
    device_spec: tuple[DeviceSpec, ...] | None
    #: Seconds between polls for work (also the heartbeat).
    interval: float = 2.0
    #: Seconds between rescans of the host's devices.
    rescan_interval: float = 30.0
    #: Its network configuration (Neutron's SR-IOV agent options), reported with each
    #: registration.
    network: SriovAgentConfig = field(default_factory=SriovAgentConfig)
    #: The host's allocation settings (Nova's names), reported with each registration.
    allocation: Allocation = field(default_factory=Allocation)
    #: Seconds a guest has to shut down cleanly before it is powered off.
    shutdown_timeout: float = SHUTDOWN_TIMEOUT


@dataclass(frozen=True, kw_only=True, slots=True)
class _Sent:
    work_id: int
    outcome: Outcome


class Agent:
    """The loop of one host; :meth:`run` for a process, :meth:`start`/:meth:`step` for tests."""

    def __init__(
        self,
        *,
        config: AgentConfig,
        api: AgentApi,
        hypervisor: Hypervisor,
        scanner: Scanner,
        clock: Callable[[], float] = time.monotonic,
        wirer: VfWirer | None = None,
        disks: DiskStore | None = None,
    ) -> None:
        self.config = config
        self.api = api
        self.hypervisor = hypervisor
        self.scanner = scanner
        self.clock = clock
        self.reported: tuple[PciDevice, ...] | None = None
        #: The host's devices as the service has them, from the last registration.
        self.stored: tuple[PciDevice, ...] = ()
        #: Addresses the service keeps for this host though the host no longer has them.
        self.kept: frozenset[PciAddress] = frozenset()
        #: Servers of this host the service has stopped, or is stopping, starting or
        #: rebooting, from the last registration (their guests may be shut off).
        self.stopped: frozenset[str] = frozenset()
        self.changing: frozenset[str] = frozenset()
        self._next_scan = 0.0
        self._unsent: list[_Sent] = []
        self._queue: list[WorkOut] = []
        self.work = WorkRunner(hypervisor, wirer, disks, shutdown_timeout=config.shutdown_timeout)

    # --- inventory --------------------------------------------------------------------

    def _host(self, scan: HostScan) -> Host:
        return Host(
            name=self.config.name,
            numa_nodes=scan.numa_nodes,
            devices=scan.devices,
            device_spec=self.config.device_spec,
            device_spec_raw=self.config.device_spec_raw,
            allocation=self.config.allocation,
        )

    def register(self, scan: HostScan | None = None) -> Registration:
        """Report the host as found now; learn what the service keeps that is gone."""
        scan = scan if scan is not None else self.scanner()
        for warning in scan.warnings:
            log.warning("scan warning: %s", warning)
        network = self.config.network.to_json() if self.config.network else None
        answer = self.api.register_host(self._host(scan), network=network)
        self.reported = scan.devices
        self._next_scan = self.clock() + self.config.rescan_interval
        stored = answer.host
        pools = sum(p.total for p in stored.pools)
        log.info(
            "registered %s: %d PCI functions (%d in pools), %d NUMA node(s), generation %d%s",
            self.config.name,
            len(scan.devices),
            pools,
            len(scan.numa_nodes),
            stored.generation,
            f", {answer.redelivered} unanswered item(s) handed out again"
            if answer.redelivered
            else "",
        )
        where = f"host {self.config.name} as the service has it"
        self.stored = tuple(device_from_json(d, where=where) for d in stored.device_list)
        self.stopped = frozenset(answer.stopped)
        self.changing = frozenset(answer.changing)
        self._note_kept(self.stored, scan.devices)
        return answer

    def _note_kept(self, stored: Sequence[PciDevice], found: Sequence[PciDevice]) -> None:
        here = {d.address for d in found}
        kept = {d.address: d for d in stored if d.address not in here}
        for address in sorted(kept.keys() - self.kept):
            log.warning(
                "device %s is gone from the host but stays owned by server %s until it is freed",
                address,
                kept[address].owner,
            )
        self.kept = frozenset(kept)

    def rescan(self) -> bool:
        """Scan again; report when the inventory changed. True when it was reported."""
        scan = self.scanner()
        self._next_scan = self.clock() + self.config.rescan_interval
        change = diff(self.reported or (), scan.devices)
        if not change:
            return False
        log.info("inventory changed: %s", "; ".join(change.lines()))
        self.register(scan)
        return True

    # --- reconciliation ---------------------------------------------------------------

    def reconcile(self) -> tuple[Mismatch, ...]:
        """Compare libvirt's domains with the service's claims; report what disagrees."""
        claims = claims_of(self.stored)
        domains = self.hypervisor.list_domains()
        names = {d.devname: d.address for d in self.reported or () if d.devname}
        found = reconcile(
            claims, domains, by_devname=names, stopped=self.stopped, changing=self.changing
        )
        if not found:
            log.info(
                "reconciled: %d domain(s), %d server(s) holding devices, no mismatch",
                len(domains),
                len(claims),
            )
            return found
        for mismatch in found:
            log.warning("mismatch: %s", mismatch.detail)
        servers = self.api.report_mismatches(self.config.name, [_wire(m) for m in found])
        log.info(
            "reported %d mismatch(es); the service put %d server(s) in ERROR",
            len(found),
            len(servers),
        )
        return found

    def start(self) -> tuple[Mismatch, ...]:
        """Register, then reconcile: what a (re)started agent does first."""
        self.register()
        return self.reconcile()

    # --- work -------------------------------------------------------------------------

    def step(self) -> int:
        """One turn: rescan when due, send unsent outcomes, take and do work. Items done.

        Items taken stay queued until done and outcomes until sent, so an API that goes
        away mid-turn loses nothing: the next turn carries on where this one stopped.
        """
        if self.clock() >= self._next_scan:
            self.rescan()
        self._flush()
        self._queue.extend(self.api.take_work(self.config.name))
        done = 0
        while self._queue:
            item = self._queue.pop(0)
            self._unsent.append(_Sent(work_id=item.id, outcome=self.work.run(item)))
            done += 1
            if self._flush() and self.kept:
                self.register()
        return done

    def _flush(self) -> bool:
        """Report outcomes not yet sent (the API may have been away); True if a stop went."""
        stopped = False
        while self._unsent:
            sent = self._unsent[0]
            outcome = sent.outcome
            try:
                server = self.api.report_work(
                    sent.work_id,
                    ok=outcome.ok,
                    reason=outcome.reason,
                    domain_xml=outcome.domain_xml,
                    code=outcome.code,
                    wired=[w.to_json() for w in outcome.wired],
                )
                state = server.state if server.task is None else f"{server.state} ({server.task})"
                log.info("%s -> server %s", outcome.label, state)
                stopped = stopped or outcome.label.startswith("stop")
            except (ConflictError, NotFoundError, StateError) as exc:
                log.warning("%s: the service refused the outcome: %s", outcome.label, exc)
            self._unsent.pop(0)
        return stopped

    def run(self, stop: threading.Event, *, once: bool = False) -> None:
        """Until ``stop`` is set (SIGTERM, SIGINT): register, reconcile, then poll."""
        if not self._start_when_reachable(stop, once=once):
            return
        while not stop.is_set():
            try:
                busy = self.step()
            except PciplaneError as exc:
                if once:
                    raise
                log.warning("error, retrying in %.1fs: %s", self.config.interval, exc)
                busy = 0
            if once:
                break
            if not busy:
                stop.wait(self.config.interval)
        log.info("agent %s stopped", self.config.name)

    def _start_when_reachable(self, stop: threading.Event, *, once: bool) -> bool:
        while not stop.is_set():
            try:
                self.start()
                return True
            except UnreachableError as exc:
                if once:
                    raise
                log.warning("service unreachable, retrying in %.1fs: %s", self.config.interval, exc)
                stop.wait(self.config.interval)
        return False


def _wire(mismatch: Mismatch) -> MismatchIn:
    return MismatchIn(detail=mismatch.detail, server_id=mismatch.server_id, domain=mismatch.domain)


# --- scanners -------------------------------------------------------------------------


def _nodes_of(devices: Sequence[PciDevice]) -> tuple[NumaNode, ...]:
    """NUMA nodes named by the devices, when the source has no node list of its own."""
    found = sorted({d.numa_node for d in devices if d.numa_node is not None})
    return tuple(NumaNode(id=n) for n in found)


def sysfs_scanner(root: Path) -> Scanner:
    """Discovery from ``<root>/sys`` (kernel sysfs ABI), with sysfs's NUMA nodes."""

    def scan() -> HostScan:
        found = sysfs.scan(root)
        devices = found.pci_devices()
        nodes = topology.sysfs_cells(root)
        return HostScan(
            numa_nodes=nodes or _nodes_of(devices),
            devices=devices,
            warnings=tuple(str(w) for w in found.warnings),
        )

    return scan


def libvirt_scanner(uri: str) -> Scanner:
    """Discovery through libvirt's node devices at ``uri``; NUMA cells from libvirt's
    capabilities (from the devices when it reports none)."""

    def scan() -> HostScan:
        found = nodedev.scan(uri)
        devices = found.pci_devices()
        return HostScan(
            numa_nodes=topology.libvirt_cells(uri) or _nodes_of(devices),
            devices=devices,
            warnings=tuple(str(w) for w in found.warnings),
        )

    return scan
