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

import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule, run_state_machine_as_test
from load_helpers import ADMIN

with warnings.catch_warnings():
    warnings.simplefilter("ignore", UserWarning)  # Starlette: TestClient moves to httpx2
    from fastapi.testclient import TestClient

from pciplane.api.app import create_app
from pciplane.client import Client
from pciplane.core.errors import StateError
from pciplane.core.power import PowerAction, allowed_from
from pciplane.core.spec import parse_device_specs
from pciplane.host import libvirt_schema
from pciplane.host.agent import Agent, AgentConfig, sysfs_scanner
from pciplane.host.libvirt_driver import LibvirtDriver, PowerState
from pciplane.service.settings import Settings
from pciplane.sim.host import build_host
from pciplane.sim.host_write import write_sysfs
from pciplane.sim.memory_hypervisor import MemoryHypervisor

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(
        not libvirt_schema.validator_available(), reason="virt-xml-validate is not installed"
    ),
]

HOST, SPEC = "cmp1", [{"vendor_id": "10de"}]
A100 = {"name": "large_GPU", "vendor_id": "10de", "product_id": "20b5", "device_type": "type-PCI"}
TASK_OF = {"REBOOT": "rebooting", "HARD_REBOOT": "rebooting_hard"}


class World:
    def __init__(self, root: Path, user: Client, agent_api: Client) -> None:
        self.root, self.user, self.agent_api = root, user, agent_api
        self.hypervisor = MemoryHypervisor()
        self.driver = LibvirtDriver(self.hypervisor)

    def agent(self) -> Agent:
        config = AgentConfig(
            name=HOST,
            device_spec_raw=tuple(SPEC),
            device_spec=parse_device_specs(SPEC),
            shutdown_timeout=0.0,
        )
        return Agent(
            config=config,
            api=self.agent_api,
            hypervisor=self.driver,
            scanner=sysfs_scanner(self.root),
        )


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    write_sysfs(build_host("gpu"), tmp_path / "root")
    settings = Settings.model_validate(
        {
            "db_url": f"sqlite:///{tmp_path / 'svc.db'}",
            "admin_token": ADMIN,
            "project_tokens": {"tok-p": "p1"},
            "agent_tokens": {"tok-a": HOST},
        }
    )
    app = create_app(settings)
    clients = [
        Client("http://testserver", t, http=TestClient(app)) for t in (ADMIN, "tok-p", "tok-a")
    ]
    admin, user, agent_api = clients
    admin.create_alias(A100)
    admin.create_flavor(
        "g1", vcpus=1, ram=256, extra_specs={"pci_passthrough:alias": "large_GPU:1"}
    )
    yield World(tmp_path / "root", user, agent_api)
    for client in clients:
        client.close()
    app.state.services.db.dispose()


class PowerMachine(RuleBasedStateMachine):
    world: World

    def __init__(self) -> None:
        super().__init__()
        world = self.world
        world.hypervisor.domains.clear()
        for old in world.user.list_servers():  # the previous example's server, if any
            world.user.delete_server(old.id)
        self.agent = world.agent()
        self.agent.start()
        self.agent.step()
        server = world.user.create_server("vm", flavor="g1")
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
