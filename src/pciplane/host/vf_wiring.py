"""Wiring a port's VF on its PF: applied through netlink where the host has the PF,
recorded where it has not (libvirt's ``test:///`` driver, a synthetic host).

The agent owns the VF settings (neutron-sriov-binding.md §4): before a guest gets a VF
its MAC, VLAN, spoof checking, trust and link state are set on the PF
(:func:`pciplane.host.vf_settings.plan_for_wiring`), and when the guest lets it go they
are reset (:func:`pciplane.host.vf_settings.release_plan`). Each step is reported as a
:class:`Wired` record: the ``ip link`` lines, and whether they reached the kernel.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from pciplane.core.errors import NotFoundError, PciplaneError
from pciplane.core.guest import VfWiring
from pciplane.host.vf_settings import Netlink, VfPlan, apply, plan_for_wiring, release_plan

log = logging.getLogger("pciplane.agent")


@dataclass(frozen=True, kw_only=True, slots=True)
class Wired:
    """One port's VF plan as the agent carried it out."""

    port: str
    action: str  # "assign" or "release"
    commands: tuple[str, ...]
    #: True: sent to the kernel; False: recorded only (``why`` says why not).
    applied: bool
    why: str = ""

    def summary(self) -> str:
        how = "applied" if self.applied else f"recorded ({self.why})"
        return f"port {self.port} {self.action} {how}: {' && '.join(self.commands)}"

    def to_json(self) -> dict[str, object]:
        return {
            "port": self.port,
            "action": self.action,
            "commands": list(self.commands),
            "applied": self.applied,
            "why": self.why,
        }


class VfWirer:
    """Carries out VF plans; ``netlink`` None means this host never touches its NICs."""

    def __init__(self, netlink: Netlink | None, *, reason: str = "") -> None:
        self.netlink = netlink
        self.reason = reason or "this agent's hypervisor has no host NICs (test driver)"

    def _carry_out(self, port: str, action: str, plan: VfPlan, *, strict: bool) -> Wired:
        commands = plan.commands()
        if self.netlink is None:
            return Wired(
                port=port, action=action, commands=commands, applied=False, why=self.reason
            )
        try:
            apply(plan, netlink=self.netlink)
        except NotFoundError as exc:  # the PF is not on this host: nothing to set
            return Wired(port=port, action=action, commands=commands, applied=False, why=str(exc))
        except PciplaneError as exc:
            if strict:
                raise
            log.warning("port %s: resetting its VF failed: %s", port, exc)
            return Wired(port=port, action=action, commands=commands, applied=False, why=str(exc))
        return Wired(port=port, action=action, commands=commands, applied=True)

    def assign(self, port: str, wiring: VfWiring) -> Wired:
        """Set the VF up for its port; a refusal by the kernel fails the work item."""
        return self._carry_out(port, "assign", plan_for_wiring(wiring), strict=True)

    def release(self, port: str, wiring: VfWiring) -> Wired:
        """Reset the VF (MAC zeroed, VLAN 0, spoof checking on, trust off, link auto)."""
        return self._carry_out(port, "release", release_plan(plan_for_wiring(wiring)), strict=False)
