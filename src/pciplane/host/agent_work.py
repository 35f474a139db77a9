"""What the agent does for one work item: start, stop, attach or detach a server's domain
(and power it off, on, or reboot it: :mod:`pciplane.host.agent_power`).

Each item carries the server's guest plan (:class:`pciplane.core.guest.GuestPlan`); the
agent renders it as domain XML for this hypervisor and never re-decides what the
scheduler decided. Each item ends in an outcome for the service — ok, or failed with a
reason the server's fault will show, and for a start the XML it defined — and a one-line
label for the agent's log. Starts and stops are safe to do twice, because the service
hands out again what an agent took and never answered: a start whose domain already
runs with the right UUID is done; a stop whose domain is gone is done. A domain whose
UUID is not the server's is never touched (the plan's ``uuid`` is the server id).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from pciplane.core.address import PciAddress
from pciplane.core.errors import HypervisorError, NotFoundError, PciplaneError
from pciplane.core.guest import AttachMode, GuestPlan
from pciplane.host.agent_power import SHUTDOWN_TIMEOUT, PowerWork
from pciplane.host.disks import DiskStore
from pciplane.host.domain_xml import (
    HeldDevice,
    domain_device,
    domain_for_plan,
    interface_device,
    render_domain,
)
from pciplane.host.libvirt_driver import DomainRecord, Hypervisor, PowerState
from pciplane.host.vf_wiring import VfWirer, Wired
from pciplane.wire.hosts import WorkOut


def _show(addresses: Iterable[PciAddress | str]) -> str:
    listed = sorted(str(a) for a in addresses)
    return ", ".join(listed) if listed else "no PCI device"


def _held_keys(held: Iterable[HeldDevice]) -> frozenset[str]:
    """A domain's host devices: PCI addresses, and VF netdevs for macvtap interfaces."""
    return frozenset(str(h.address) if h.address is not None else f"{h.source_dev}" for h in held)


def _wanted_keys(plan: GuestPlan) -> frozenset[str]:
    keys = set()
    for device in plan.devices:
        direct = device.attach is AttachMode.INTERFACE_DIRECT and device.nic is not None
        keys.add(str(device.nic.source_dev) if direct and device.nic else str(device.address))
    return frozenset(keys)


@dataclass(frozen=True, kw_only=True, slots=True)
class Outcome:
    """How one work item ended, for the service and for the agent's log."""

    ok: bool
    reason: str
    label: str
    #: The domain XML a start defined, reported for the record.
    domain_xml: str | None = None
    #: The error's stable code when it failed (the service raises the same class).
    code: str | None = None
    #: Each port's VF settings, applied through netlink or recorded only.
    wired: tuple[Wired, ...] = ()


class WorkRunner:
    """Runs work items against one hypervisor, wiring VFs with ``wirer`` and giving
    guests their boot disks from ``disks``."""

    def __init__(
        self,
        hypervisor: Hypervisor,
        wirer: VfWirer | None = None,
        disks: DiskStore | None = None,
        *,
        shutdown_timeout: float = SHUTDOWN_TIMEOUT,
    ) -> None:
        self.hypervisor = hypervisor
        self.wirer = wirer if wirer is not None else VfWirer(None)
        self.disks = disks
        self._wired: list[Wired] = []
        self.power = PowerWork(
            hypervisor,
            start=self._start,
            existing=self._existing,
            shutdown_timeout=shutdown_timeout,
        )

    def run(self, item: WorkOut) -> Outcome:
        """The item's outcome; hypervisor errors and a malformed plan become a failure."""
        what = f"{item.kind} {item.server_name}"
        actions: dict[str, Callable[[GuestPlan], tuple[str, str | None]]] = {
            "start": self._start,
            "stop": self._stop,
            "attach": self._attach,
            "detach": self._detach,
            **self.power.actions(),
        }
        action = actions.get(item.kind)
        if action is None:
            reason = f"this agent does not know work of kind {item.kind!r}"
            return Outcome(ok=False, reason=reason, label=f"{what}: failed: {reason}")
        self._wired = []
        try:
            plan = GuestPlan.from_json(item.plan)
            what = f"{item.kind} {item.server_name} (domain {plan.name})"
            done, xml = action(plan)
        except PciplaneError as exc:
            return Outcome(ok=False, reason=str(exc), label=f"{what}: failed: {exc}", code=exc.code)
        wired = tuple(self._wired)
        if wired:
            done += "; VFs: " + "; ".join(w.summary() for w in wired)
        return Outcome(ok=True, reason="", label=f"{what}: {done}", domain_xml=xml, wired=wired)

    # --- helpers ------------------------------------------------------------------------

    def _existing(self, plan: GuestPlan) -> DomainRecord | None:
        """The server's domain if libvirt has one of that name and the server's UUID."""
        try:
            record = self.hypervisor.domain(plan.name)
        except NotFoundError:
            return None
        if record.uuid != plan.uuid:
            raise HypervisorError(
                f"a domain named {plan.name!r} exists with UUID {record.uuid}, "
                f"not server {plan.uuid}'s; left untouched"
            )
        return record

    def _check_held(self, record: DomainRecord, plan: GuestPlan) -> None:
        held = _held_keys(record.devices)
        wanted = _wanted_keys(plan)
        if held != wanted:
            raise HypervisorError(
                f"domain {record.name} holds {_show(held)}, not the claimed {_show(wanted)}"
            )

    def _wire(self, plan: GuestPlan) -> None:
        """Give each port's VF its settings before the guest gets it (§4)."""
        for device in plan.devices:
            if device.nic is not None and device.nic.vf is not None:
                self._wired.append(self.wirer.assign(device.nic.port, device.nic.vf))

    def _unwire(self, plan: GuestPlan) -> None:
        """Undo every VF setting of the plan's ports; a failure is logged, not raised
        (the guest is gone and its devices are freed either way)."""
        for device in plan.devices:
            if device.nic is not None and device.nic.vf is not None:
                self._wired.append(self.wirer.release(device.nic.port, device.nic.vf))

    def _make_disk(self, plan: GuestPlan) -> str | None:
        """The server's overlay of its image (fetched once, checked, cached); None for a
        guest without a disk."""
        if plan.disk is None:
            return None
        if self.disks is None:
            raise HypervisorError(
                f"the guest boots image {plan.disk.image}, but this agent keeps no images "
                "(it has no state directory)"
            )
        path = self.disks.prepare(plan)
        return None if path is None else str(path)

    def _has_disk(self, plan: GuestPlan) -> bool:
        """The server's overlay is there already (a power-on, a hard reboot)."""
        return (
            plan.disk is not None
            and self.disks is not None
            and self.disks.overlay_of(plan.uuid).is_file()
        )

    def _drop_disk(self, plan: GuestPlan) -> str:
        """Remove the server's overlay (the cached image stays); what was done, for the log."""
        if plan.disk is None or self.disks is None:
            return ""
        return "; its disk removed" if self.disks.remove(plan) else ""

    def _discard(self, name: str) -> None:
        """Undo a start that failed half way, so no domain keeps the freed devices."""
        try:
            record = self.hypervisor.domain(name)
            if record.state is PowerState.RUNNING:
                self.hypervisor.destroy(name)
            self.hypervisor.undefine(name)
        except PciplaneError:
            pass

    # --- the kinds of work --------------------------------------------------------------

    def _start(self, plan: GuestPlan) -> tuple[str, str | None]:
        existing = self._existing(plan)
        if existing is not None and existing.state is PowerState.RUNNING:
            self._check_held(existing, plan)
            return f"already running with {_show(_held_keys(existing.devices))}", None
        # A power-on or a hard reboot starts a guest whose disk holds its data: a failed
        # start removes only an overlay it made itself.
        kept = self._has_disk(plan)
        disk = self._make_disk(plan)

        def undo_disk() -> None:
            if not kept:
                self._drop_disk(plan)

        try:
            domain = domain_for_plan(plan, virt_type=self.hypervisor.virt_type, disk_path=disk)
            xml = render_domain(domain)
        except PciplaneError:
            undo_disk()
            raise
        self._wire(plan)
        try:
            record = self.hypervisor.define(xml)
        except PciplaneError:
            self._unwire(plan)
            undo_disk()
            raise
        try:
            record = self.hypervisor.start(record.name)
            self._check_held(record, plan)
        except PciplaneError:
            self._discard(record.name)
            self._unwire(plan)
            undo_disk()
            raise
        return f"defined and started, holding {_show(_held_keys(record.devices))}", xml

    def _stop(self, plan: GuestPlan) -> tuple[str, str | None]:
        try:
            existing = self._existing(plan)
        except HypervisorError:
            return "no domain of this server (a domain of that name belongs to another UUID)", None
        if existing is None:
            return "domain was already gone" + self._drop_disk(plan), None
        if existing.state is PowerState.RUNNING:
            self.hypervisor.destroy(existing.name)
        with contextlib.suppress(NotFoundError):  # transient: destroying it removed it
            self.hypervisor.undefine(existing.name)
        self._unwire(plan)
        released = _show(_held_keys(existing.devices))
        return f"destroyed and undefined, released {released}{self._drop_disk(plan)}", None

    def _running(self, plan: GuestPlan) -> DomainRecord:
        record = self._existing(plan)
        if record is None:
            raise NotFoundError(f"domain {plan.name} does not exist on this host")
        if record.state is not PowerState.RUNNING:
            raise HypervisorError(f"domain {plan.name} is not running; nothing to hot-plug into")
        return record

    def _attach(self, plan: GuestPlan) -> tuple[str, str | None]:
        """Hot-plug the plan's devices and interfaces; on a refusal, unplug what went in."""
        self._running(plan)
        devices = [
            *(domain_device(d) for d in plan.devices),
            *(interface_device(n) for n in plan.interfaces),
        ]
        self._wire(plan)
        done = []
        try:
            for device in devices:
                self.hypervisor.attach(plan.name, device)
                done.append(device)
        except PciplaneError:
            for device in reversed(done):
                with contextlib.suppress(PciplaneError):
                    self.hypervisor.detach(plan.name, device)
            self._unwire(plan)
            raise
        return f"attached {_show(_wanted_keys(plan)) if plan.devices else 'an interface'}", None

    def _detach(self, plan: GuestPlan) -> tuple[str, str | None]:
        self._running(plan)
        for device in plan.devices:
            self.hypervisor.detach(plan.name, domain_device(device))
        for nic in plan.interfaces:
            self.hypervisor.detach(plan.name, interface_device(nic))
        self._unwire(plan)
        return f"detached {_show(_wanted_keys(plan)) if plan.devices else 'an interface'}", None
