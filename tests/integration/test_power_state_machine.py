"""The lifecycle table as a state machine, run against the real service and agent.

Hypothesis drives one server through any sequence of stop, start, soft and hard reboot
requests, agent turns, guests that crash behind the service's back and agent restarts.
After every step: a request is accepted exactly when the table allows it from the
server's state with no action under way (else a 409 that changes nothing); once the
agent has answered, an ACTIVE server's guest runs and a SHUTOFF server's guest is shut
off; REBOOT and HARD_REBOOT only ever show with their task; the server never leaves its
host nor loses its device, whatever happens.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from gpu_world import HOST, World, gpu_world
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule, run_state_machine_as_test

from pciplane.core.errors import StateError
from pciplane.core.power import PowerAction, allowed_from
from pciplane.host import libvirt_schema
from pciplane.host.libvirt_driver import PowerState

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(
        not libvirt_schema.validator_available(), reason="virt-xml-validate is not installed"
    ),
]

TASK_OF = {"REBOOT": "rebooting", "HARD_REBOOT": "rebooting_hard"}


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    with gpu_world(tmp_path, "memory", shutdown_timeout=0.0) as made:
        made.flavor(1)
        yield made


class PowerMachine(RuleBasedStateMachine):
    world: World

    def __init__(self) -> None:
        super().__init__()
        world = self.world
        assert world.memory is not None
        world.memory.domains.clear()
        for old in world.user.list_servers():  # the previous example's server, if any
            world.user.delete_server(old.id)
        self.agent = world.agent()
        self.agent.start()
        self.agent.step()
        server = world.user.create_server("vm", flavor=world.flavor(1))
        self.agent.step()
        self.server = world.user.get_server(server.id)
        assert self.server.state == "ACTIVE", self.server.reason
        self.held = self.server.devices
        self.crashed = False

    def _domain_state(self) -> PowerState | None:
        for domain in self.world.driver.list_domains():
            if domain.uuid == self.server.id:
                return domain.state
        return None

    @rule(action=st.sampled_from(list(PowerAction)))
    def request(self, action: PowerAction) -> None:
        before = self.world.user.get_server(self.server.id)
        allowed = before.state in allowed_from(action) and before.task is None
        user = self.world.user
        call = {
            PowerAction.STOP: lambda: user.stop_server(before.id),
            PowerAction.START: lambda: user.start_server(before.id),
            PowerAction.REBOOT: lambda: user.reboot_server(before.id),
            PowerAction.HARD_REBOOT: lambda: user.reboot_server(before.id, hard=True),
        }[action]
        try:
            after = call()
        except StateError as exc:
            assert not allowed, exc
            assert before.state in str(exc)
            again = user.get_server(before.id)
            assert (again.state, again.task, again.updated_at) == (
                before.state,
                before.task,
                before.updated_at,
            )
            return
        assert allowed, f"{action} was accepted from {before.state} ({before.task})"
        assert after.task is not None

    @rule()
    def agent_turn(self) -> None:
        self.agent.step()

    @rule()
    def guest_crashes(self) -> None:
        """The guest powers off behind the service's back (the service learns of it when
        the agent restarts and reconciles, or when an action finds the guest off)."""
        for domain in self.world.driver.list_domains():
            if domain.uuid == self.server.id and domain.state is PowerState.RUNNING:
                self.world.driver.destroy(domain.name)
                self.crashed = True

    @rule()
    def agent_restarts(self) -> None:
        self.agent = self.world.agent()
        self.agent.start()

    @invariant()
    def consistent(self) -> None:
        server = self.world.user.get_server(self.server.id)
        assert (server.host, server.devices) == (HOST, self.held)
        assert server.state in ("ACTIVE", "SHUTOFF", "REBOOT", "HARD_REBOOT", "ERROR")
        if server.state in TASK_OF:
            assert server.task == TASK_OF[server.state]
        if server.task is not None:
            return  # the agent has not answered yet: the guest may be either way
        domain = self._domain_state()
        if server.state != "ACTIVE" or domain is PowerState.RUNNING:
            self.crashed = False
        if server.state == "SHUTOFF":
            assert domain is PowerState.SHUT_OFF  # stopped, still defined with its device
        if server.state == "ACTIVE" and not self.crashed:
            assert domain is PowerState.RUNNING


def test_power_actions_follow_the_table(world: World) -> None:
    PowerMachine.world = world
    run_state_machine_as_test(
        PowerMachine,
        settings=settings(
            max_examples=15,
            stateful_step_count=12,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow],
        ),
    )
