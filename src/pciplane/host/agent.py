"""The host agent: reports its host to the service and carries out the host's work.

One loop per compute host (issue 4, "The host agent"): register the host (NUMA nodes and
devices in the fleet snapshot's shape, with its own ``[pci] device_spec``), reconcile
what libvirt holds against what the service claimed, then poll for work — start, stop,
attach, detach — drive libvirt, and report each outcome. A rescan that changes the
inventory (:func:`pciplane.host.inventory.diff`) is reported again. Everything it needs
is injected — the API client, the hypervisor adapter, the scanner and the clock — so
tests run it against a real service and libvirt's test driver, one step at a time.

A device that vanished from the host while a server holds it stays in the service's
books (store.inventory ``merge_report``) until that server is deleted; the agent then
reports again, so the freed device leaves the pool instead of being handed out.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from pciplane.client.errors import UnreachableError
from pciplane.client.records import HostSummary, Mismatch, Server, WorkItem
from pciplane.core.address import PciAddress
from pciplane.core.device import Inventory, PciDevice
from pciplane.core.errors import ConflictError, NotFoundError, PciplaneError
from pciplane.core.fleet import Host, NumaNode
from pciplane.core.snapshot import device_from_json
from pciplane.core.spec import DeviceSpec, resolve_specs
from pciplane.host import nodedev, sysfs
from pciplane.host.agent_work import WorkRunner
from pciplane.host.inventory import diff
from pciplane.host.libvirt_driver import DomainRecord
from pciplane.host.reconcile import claims_of, reconcile

log = logging.getLogger("pciplane.agent")


class AgentApi(Protocol):
    """The :class:`pciplane.client.Client` methods the agent calls."""

    def register_host(self, host: Host) -> HostSummary: ...
    def get_host_document(self, name: str) -> dict[str, Any]: ...
    def take_work(self, host: str) -> list[WorkItem]: ...
    def report_work(self, work_id: int, *, ok: bool, reason: str = "") -> Server: ...
    def report_mismatches(self, host: str, mismatches: Sequence[Mismatch]) -> list[Server]: ...


class Hypervisor(Protocol):
    """The :class:`pciplane.host.libvirt_driver.LibvirtDriver` methods the agent calls."""

    def define(self, domain: Any) -> DomainRecord: ...
    def start(self, name: str) -> DomainRecord: ...
    def destroy(self, name: str) -> DomainRecord | None: ...
    def undefine(self, name: str) -> None: ...
    def attach(self, name: str, device: Any, *, persistent: bool = True) -> DomainRecord: ...
    def detach(self, name: str, device: Any, *, persistent: bool = True) -> DomainRecord: ...
    def domain(self, name: str) -> DomainRecord: ...
    def list_domains(self) -> tuple[DomainRecord, ...]: ...


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
    #: The host's ``[pci] device_spec`` entries as written, and parsed.
    device_spec_raw: tuple[object, ...]
    device_spec: tuple[DeviceSpec, ...]
    #: Seconds between polls for work (also the heartbeat).
    interval: float = 2.0
    #: Seconds between rescans of the host's devices.
    rescan_interval: float = 30.0
    #: libvirt domain type for XML the agent renders itself (``test`` on test:///).
    virt_type: str = "kvm"


@dataclass(frozen=True, kw_only=True, slots=True)
class _Outcome:
    work_id: int
    ok: bool
    reason: str
    label: str


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
    ) -> None:
        self.config = config
        self.api = api
        self.hypervisor = hypervisor
        self.scanner = scanner
        self.clock = clock
        self.reported: tuple[PciDevice, ...] | None = None
        #: Addresses the service keeps for this host though the host no longer has them.
        self.kept: frozenset[PciAddress] = frozenset()
        self._next_scan = 0.0
        self._unsent: list[_Outcome] = []
        self._queue: list[WorkItem] = []
        self.work = WorkRunner(hypervisor, virt_type=config.virt_type, managed=self._managed)

    # --- inventory --------------------------------------------------------------------

    def _managed(self, address: PciAddress) -> bool:
        """``managed`` for a hot-plugged device, from the matching device_spec (Nova §6.7)."""
        devices = self.reported or ()
        specs = resolve_specs(self.config.device_spec, Inventory.of(devices))
        for dev in devices:
            if dev.address == address:
                spec = specs.match(dev)
                return spec.managed if spec is not None else True
        return True

    def _host(self, scan: HostScan) -> Host:
        return Host(
            name=self.config.name,
            numa_nodes=scan.numa_nodes,
            devices=scan.devices,
            device_spec=self.config.device_spec,
            device_spec_raw=self.config.device_spec_raw,
        )

    def register(self, scan: HostScan | None = None) -> HostSummary:
        """Report the host as found now; learn what the service keeps that is gone."""
        scan = scan if scan is not None else self.scanner()
        for warning in scan.warnings:
            log.warning("scan warning: %s", warning)
        summary = self.api.register_host(self._host(scan))
        self.reported = scan.devices
        self._next_scan = self.clock() + self.config.rescan_interval
        pools = sum(p.total for p in summary.pools)
        log.info(
            "registered %s: %d PCI functions (%d in pools), %d NUMA node(s), generation %d",
            self.config.name,
            len(scan.devices),
            pools,
            len(scan.numa_nodes),
            summary.generation,
        )
        self._note_kept(self._service_devices(), scan.devices)
        return summary

    def _service_devices(self) -> tuple[PciDevice, ...]:
        doc = self.api.get_host_document(self.config.name)
        where = f"host {self.config.name} as the service has it"
        return tuple(device_from_json(d, where=where) for d in doc.get("device_list", []))

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
        stored = self._service_devices()
        claims = claims_of(stored)
        domains = self.hypervisor.list_domains()
        names = {d.devname: d.address for d in self.reported or () if d.devname}
        found = reconcile(claims, domains, by_devname=names)
        if not found:
            log.info(
                "reconciled: %d domain(s), %d server(s) holding devices, no mismatch",
                len(domains),
                len(claims),
            )
            return found
        for mismatch in found:
            log.warning("mismatch: %s", mismatch.detail)
        servers = self.api.report_mismatches(self.config.name, found)
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
            ok, reason, label = self.work.run(item)
            self._unsent.append(_Outcome(work_id=item.id, ok=ok, reason=reason, label=label))
            done += 1
            if self._flush() and self.kept:
                self.register()
        return done

    def _flush(self) -> bool:
        """Report outcomes not yet sent (the API may have been away); True if a stop went."""
        stopped = False
        while self._unsent:
            outcome = self._unsent[0]
            try:
                server = self.api.report_work(outcome.work_id, ok=outcome.ok, reason=outcome.reason)
                state = server.state if server.task is None else f"{server.state} ({server.task})"
                log.info("%s -> server %s", outcome.label, state)
                stopped = stopped or outcome.label.startswith("stop")
            except (ConflictError, NotFoundError) as exc:
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
        nodes = tuple(NumaNode(id=n, socket=s) for n, s in sysfs.numa_nodes(root))
        return HostScan(
            numa_nodes=nodes or _nodes_of(devices),
            devices=devices,
            warnings=tuple(str(w) for w in found.warnings),
        )

    return scan


def libvirt_scanner(uri: str) -> Scanner:
    """Discovery through libvirt's node devices at ``uri``; NUMA nodes from the devices."""

    def scan() -> HostScan:
        found = nodedev.scan(uri)
        devices = found.pci_devices()
        return HostScan(
            numa_nodes=_nodes_of(devices),
            devices=devices,
            warnings=tuple(str(w) for w in found.warnings),
        )

    return scan
