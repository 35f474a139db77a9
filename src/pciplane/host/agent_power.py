"""What the agent does for a stop, a start or a reboot of a server's guest.

The guest keeps its domain definition and its devices while stopped (the service keeps
them claimed), so a start starts that definition again, rendered afresh from the plan
(which holds whatever was hot-plugged since). A stop asks the guest to shut down and
powers it off after ``shutdown_timeout`` seconds if it did not (Nova's clean shutdown); a
soft reboot is that shutdown and a start (Nova's libvirt driver reboots the same way); a
hard reboot powers off at once and defines the domain afresh from the plan before
starting it, which also brings back a guest whose domain was lost. Each is safe to do
twice: a redelivered stop finds the guest shut off, a redelivered start finds it running.
"""

from __future__ import annotations

from collections.abc import Callable

from pciplane.core.errors import HypervisorError, NotFoundError
from pciplane.core.guest import GuestPlan
from pciplane.host.libvirt_driver import DomainRecord, Hypervisor, PowerState

Action = Callable[[GuestPlan], tuple[str, str | None]]
#: Nova's ``[DEFAULT] shutdown_timeout``: seconds a guest has to shut down cleanly.
SHUTDOWN_TIMEOUT = 60.0


class PowerWork:
    """The power work kinds, over the runner's own start and domain look-up."""

    def __init__(
        self,
        hypervisor: Hypervisor,
        *,
        start: Action,
        existing: Callable[[GuestPlan], DomainRecord | None],
        shutdown_timeout: float = SHUTDOWN_TIMEOUT,
    ) -> None:
        self.hypervisor = hypervisor
        self._start = start
        self._existing = existing
        self.shutdown_timeout = shutdown_timeout

    def actions(self) -> dict[str, Action]:
        return {
            "power_off": self.power_off,
            "power_on": self.power_on,
            "reboot": self.reboot,
            "hard_reboot": self.hard_reboot,
        }

    def _domain(self, plan: GuestPlan) -> DomainRecord:
        record = self._existing(plan)
        if record is None:
            raise NotFoundError(
                f"domain {plan.name} does not exist on this host (a hard reboot defines it "
                "again from the server's plan)"
            )
        return record

    def _shut_down(self, name: str) -> str:
        if self.hypervisor.shutdown(name, timeout=self.shutdown_timeout):
            return "shut down cleanly"
        return f"did not shut down within {self.shutdown_timeout:g}s, powered off"

    def power_off(self, plan: GuestPlan) -> tuple[str, str | None]:
        record = self._domain(plan)
        if record.state is not PowerState.RUNNING:
            return "already shut off", None
        return self._shut_down(record.name), None

    def power_on(self, plan: GuestPlan) -> tuple[str, str | None]:
        return self._start(plan)

    def reboot(self, plan: GuestPlan) -> tuple[str, str | None]:
        record = self._domain(plan)
        if record.state is not PowerState.RUNNING:
            raise HypervisorError(
                f"domain {plan.name} is shut off: a soft reboot needs a running guest "
                "(a hard reboot starts it)"
            )
        how = self._shut_down(record.name)
        done, xml = self._start(plan)
        return f"{how}, then {done}", xml

    def hard_reboot(self, plan: GuestPlan) -> tuple[str, str | None]:
        record = self._existing(plan)
        how = "no domain"
        if record is not None and record.state is PowerState.RUNNING:
            self.hypervisor.destroy(record.name)
            how = "powered off"
        elif record is not None:
            how = "was shut off"
        done, xml = self._start(plan)
        return f"{how}, then {done}", xml
