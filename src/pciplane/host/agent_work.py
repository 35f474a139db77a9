"""What the agent does for one work item: start, stop, attach or detach a server's domain.

Each item ends in an outcome for the service — ok, or failed with a reason the server's
fault will show — and a one-line label for the agent's log. Starts and stops are safe to
do twice, because the service hands out again what an agent took and never answered
(store.servers ``redeliver``): a start whose domain already runs with the right UUID is
done; a stop whose domain is gone is done. A domain whose UUID is not the server's is
never touched (the service writes the server id as ``<uuid>``).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

from pciplane.client.records import WorkItem
from pciplane.core.address import PciAddress
from pciplane.core.errors import AddressError, HypervisorError, NotFoundError, PciplaneError
from pciplane.host.domain_xml import Domain, HostdevDevice, held_addresses
from pciplane.host.libvirt_driver import DomainRecord, PowerState

if TYPE_CHECKING:
    from pciplane.host.agent import Hypervisor

#: Guest size for a start item that carries devices but no domain XML (the work item
#: names no flavor); the service as built always sends the XML.
FALLBACK_MEMORY_MIB = 512
FALLBACK_VCPUS = 1


def _show(addresses: Iterable[PciAddress]) -> str:
    listed = sorted(addresses)
    return ", ".join(str(a) for a in listed) if listed else "no PCI device"


class WorkRunner:
    """Runs work items against one hypervisor; ``managed`` answers per device address."""

    def __init__(
        self,
        hypervisor: Hypervisor,
        *,
        virt_type: str,
        managed: Callable[[PciAddress], bool],
    ) -> None:
        self.hypervisor = hypervisor
        self.virt_type = virt_type
        self.managed = managed

    def run(self, item: WorkItem) -> tuple[bool, str, str]:
        """``(ok, reason, log label)`` for the item; hypervisor errors become a failure."""
        what = f"{item.kind} {item.server_name} (domain {item.domain_name})"
        actions: dict[str, Callable[[WorkItem], str]] = {
            "start": self._start,
            "stop": self._stop,
            "attach": self._attach,
            "detach": self._detach,
        }
        action = actions.get(item.kind)
        if action is None:
            reason = f"this agent does not know work of kind {item.kind!r}"
            return False, reason, f"{what}: failed: {reason}"
        try:
            done = action(item)
        except PciplaneError as exc:
            return False, str(exc), f"{what}: failed: {exc}"
        return True, "", f"{what}: {done}"

    # --- helpers ------------------------------------------------------------------------

    def _existing(self, item: WorkItem) -> DomainRecord | None:
        """The server's domain if libvirt has one of that name and the server's UUID."""
        try:
            record = self.hypervisor.domain(item.domain_name)
        except NotFoundError:
            return None
        if record.uuid != item.server_id:
            raise HypervisorError(
                f"a domain named {item.domain_name!r} exists with UUID {record.uuid}, "
                f"not server {item.server_id}'s; left untouched"
            )
        return record

    def _addresses(self, item: WorkItem) -> tuple[PciAddress, ...]:
        try:
            return tuple(PciAddress.parse(a) for a in item.devices)
        except AddressError as exc:
            raise HypervisorError(f"work item {item.id}: {exc}") from exc

    def _xml(self, item: WorkItem) -> str | Domain:
        if item.domain_xml is not None:
            return item.domain_xml
        return Domain(
            name=item.domain_name,
            uuid=item.server_id,
            memory_mib=FALLBACK_MEMORY_MIB,
            vcpus=FALLBACK_VCPUS,
            devices=tuple(
                HostdevDevice(address=a, managed=self.managed(a)) for a in self._addresses(item)
            ),
            virt_type=self.virt_type,
        )

    def _check_held(self, record: DomainRecord, item: WorkItem) -> None:
        held = frozenset(held_addresses(record.devices))
        wanted = frozenset(self._addresses(item))
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

    def _start(self, item: WorkItem) -> str:
        existing = self._existing(item)
        if existing is not None and existing.state is PowerState.RUNNING:
            self._check_held(existing, item)
            return f"already running with {_show(held_addresses(existing.devices))}"
        record = self.hypervisor.define(self._xml(item))
        try:
            record = self.hypervisor.start(record.name)
            self._check_held(record, item)
        except PciplaneError:
            self._discard(record.name)
            raise
        return f"defined and started, holding {_show(held_addresses(record.devices))}"

    def _stop(self, item: WorkItem) -> str:
        try:
            existing = self._existing(item)
        except HypervisorError:
            return "no domain of this server (a domain of that name belongs to another UUID)"
        if existing is None:
            return "domain was already gone"
        if existing.state is PowerState.RUNNING:
            self.hypervisor.destroy(existing.name)
        with contextlib.suppress(NotFoundError):  # transient: destroying it removed it
            self.hypervisor.undefine(existing.name)
        return f"destroyed and undefined, released {_show(held_addresses(existing.devices))}"

    def _attach(self, item: WorkItem) -> str:
        if self._existing(item) is None:
            raise NotFoundError(f"domain {item.domain_name} does not exist on this host")
        for address in self._addresses(item):
            device = HostdevDevice(address=address, managed=self.managed(address))
            self.hypervisor.attach(item.domain_name, device)
        return f"attached {_show(self._addresses(item))}"

    def _detach(self, item: WorkItem) -> str:
        if self._existing(item) is None:
            raise NotFoundError(f"domain {item.domain_name} does not exist on this host")
        for address in self._addresses(item):
            device = HostdevDevice(address=address, managed=self.managed(address))
            self.hypervisor.detach(item.domain_name, device)
        return f"detached {_show(self._addresses(item))}"
