"""What the agent does for one work item: start, stop, attach or detach a server's domain.

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
from pciplane.core.guest import GuestPlan
from pciplane.host.domain_xml import domain_device, domain_for_plan, held_addresses, render_domain
from pciplane.host.libvirt_driver import DomainRecord, Hypervisor, PowerState
from pciplane.wire.hosts import WorkOut


def _show(addresses: Iterable[PciAddress]) -> str:
    listed = sorted(addresses)
    return ", ".join(str(a) for a in listed) if listed else "no PCI device"


@dataclass(frozen=True, kw_only=True, slots=True)
class Outcome:
    """How one work item ended, for the service and for the agent's log."""

    ok: bool
    reason: str
    label: str
    #: The domain XML a start defined, reported for the record.
    domain_xml: str | None = None


class WorkRunner:
    """Runs work items against one hypervisor."""

    def __init__(self, hypervisor: Hypervisor) -> None:
        self.hypervisor = hypervisor

    def run(self, item: WorkOut) -> Outcome:
        """The item's outcome; hypervisor errors and a malformed plan become a failure."""
        what = f"{item.kind} {item.server_name}"
        actions: dict[str, Callable[[GuestPlan], tuple[str, str | None]]] = {
            "start": self._start,
            "stop": self._stop,
            "attach": self._attach,
            "detach": self._detach,
        }
        action = actions.get(item.kind)
        if action is None:
            reason = f"this agent does not know work of kind {item.kind!r}"
            return Outcome(ok=False, reason=reason, label=f"{what}: failed: {reason}")
        try:
            plan = GuestPlan.from_json(item.plan)
            what = f"{item.kind} {item.server_name} (domain {plan.name})"
            done, xml = action(plan)
        except PciplaneError as exc:
            return Outcome(ok=False, reason=str(exc), label=f"{what}: failed: {exc}")
        return Outcome(ok=True, reason="", label=f"{what}: {done}", domain_xml=xml)

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
        held = frozenset(held_addresses(record.devices))
        wanted = frozenset(plan.addresses())
        if held != wanted:
            raise HypervisorError(
                f"domain {record.name} holds {_show(held)}, not the claimed {_show(wanted)}"
            )

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
            return f"already running with {_show(held_addresses(existing.devices))}", None
        xml = render_domain(domain_for_plan(plan, virt_type=self.hypervisor.virt_type))
        record = self.hypervisor.define(xml)
        try:
            record = self.hypervisor.start(record.name)
            self._check_held(record, plan)
        except PciplaneError:
            self._discard(record.name)
            raise
        return f"defined and started, holding {_show(held_addresses(record.devices))}", xml

    def _stop(self, plan: GuestPlan) -> tuple[str, str | None]:
        try:
            existing = self._existing(plan)
        except HypervisorError:
            return "no domain of this server (a domain of that name belongs to another UUID)", None
        if existing is None:
            return "domain was already gone", None
        if existing.state is PowerState.RUNNING:
            self.hypervisor.destroy(existing.name)
        with contextlib.suppress(NotFoundError):  # transient: destroying it removed it
            self.hypervisor.undefine(existing.name)
        return f"destroyed and undefined, released {_show(held_addresses(existing.devices))}", None

    def _attach(self, plan: GuestPlan) -> tuple[str, str | None]:
        if self._existing(plan) is None:
            raise NotFoundError(f"domain {plan.name} does not exist on this host")
        for device in plan.devices:
            self.hypervisor.attach(plan.name, domain_device(device))
        return f"attached {_show(plan.addresses())}", None

    def _detach(self, plan: GuestPlan) -> tuple[str, str | None]:
        if self._existing(plan) is None:
            raise NotFoundError(f"domain {plan.name} does not exist on this host")
        for device in plan.devices:
            self.hypervisor.detach(plan.name, domain_device(device))
        return f"detached {_show(plan.addresses())}", None
