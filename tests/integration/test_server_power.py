"""Server stop, start and reboot end to end: the real service on SQLite, the real agent
stepped by hand, libvirt's ``test:///`` driver and the in-memory hypervisor.

A stop leaves the server SHUTOFF with its devices (the pool's free count does not move
back); a start or a reboot brings it back ACTIVE on the same devices; an action the
server's state does not allow is a 409 naming that state and changes nothing; a
restarted agent finds a stopped guest as the service expects it (no mismatch); a hard
reboot brings back a guest whose domain was lost; deleting a stopped server frees all.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest
from gpu_world import HOST, World, gpu_world

with warnings.catch_warnings():
    warnings.simplefilter("ignore", UserWarning)  # Starlette: TestClient moves to httpx2

from pciplane.core.errors import StateError
from pciplane.host import libvirt_schema
from pciplane.host.agent import Agent
from pciplane.host.domain_xml import held_addresses
from pciplane.host.libvirt_driver import PowerState
from pciplane.wire.servers import ServerOut as Server

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(
        not libvirt_schema.validator_available(), reason="virt-xml-validate is not installed"
    ),
]


@pytest.fixture(params=["test", "memory"])
def world(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[World]:
    with gpu_world(tmp_path, request.param, shutdown_timeout=2.0) as made:
        made.flavor(2)
        yield made


def _booted(world: World, agent: Agent) -> Server:
    agent.start()
    server = world.user.create_server("vm1", flavor="g2")
    assert agent.step() == 1
    server = world.user.get_server(server.id)
    assert server.state == "ACTIVE", server.reason
    return server


def _done(world: World, agent: Agent, server: Server) -> Server:
    assert agent.step() == 1
    return world.user.get_server(server.id)


def test_stop_start_reboot_keep_the_devices(world: World) -> None:
    agent = world.agent()
    server = _booted(world, agent)
    held = server.devices
    free = world.free()

    stopping = world.user.stop_server(server.id)
    assert (stopping.state, stopping.task) == ("ACTIVE", "powering-off")
    stopped = _done(world, agent, server)
    assert (stopped.state, stopped.task, stopped.devices) == ("SHUTOFF", None, held)
    assert world.domain_state() is PowerState.SHUT_OFF
    assert world.free() == free  # nothing freed while stopped
    (domain,) = world.driver.list_domains()
    assert sorted(str(a) for a in held_addresses(domain.devices)) == held

    starting = world.user.start_server(server.id)
    assert (starting.state, starting.task) == ("SHUTOFF", "powering-on")
    started = _done(world, agent, server)
    assert (started.state, started.task, started.devices) == ("ACTIVE", None, held)
    assert world.domain_state() is PowerState.RUNNING

    for hard, state, task in (
        (False, "REBOOT", "rebooting"),
        (True, "HARD_REBOOT", "rebooting_hard"),
    ):
        rebooting = world.user.reboot_server(server.id, hard=hard)
        assert (rebooting.state, rebooting.task) == (state, task)
        rebooted = _done(world, agent, server)
        assert (rebooted.state, rebooted.task, rebooted.devices) == ("ACTIVE", None, held)
        assert world.domain_state() is PowerState.RUNNING
    assert world.free() == free


@pytest.mark.parametrize(
    ("first", "then", "words"),
    [
        pytest.param(None, "start", "is ACTIVE: cannot start it (only when SHUTOFF)", id="start"),
        pytest.param("stop", "stop", "is SHUTOFF: cannot stop it (only when ACTIVE)", id="stop"),
        pytest.param("stop", "reboot", "is SHUTOFF: cannot reboot it (only when ACTIVE)",
                     id="soft-reboot"),
    ],
)  # fmt: skip
def test_a_refused_action_is_a_409_naming_the_state(
    world: World, first: str | None, then: str, words: str
) -> None:
    agent = world.agent()
    server = _booted(world, agent)
    if first == "stop":
        world.user.stop_server(server.id)
        agent.step()
    before = world.user.get_server(server.id)
    with pytest.raises(StateError, match=re.escape(words)):
        getattr(world.user, f"{then}_server")(server.id)
    after = world.user.get_server(server.id)
    assert (after.state, after.task, after.updated_at) == (before.state, None, before.updated_at)
    assert agent.step() == 0  # no work was queued


def test_an_action_under_way_refuses_another(world: World) -> None:
    agent = world.agent()
    server = _booted(world, agent)
    world.user.stop_server(server.id)
    busy = r"is ACTIVE \(powering-off\): cannot hard reboot it until"
    with pytest.raises(StateError, match=busy):
        world.user.reboot_server(server.id, hard=True)
    assert _done(world, agent, server).state == "SHUTOFF"


def test_a_restarted_agent_finds_the_stopped_guest_as_expected(world: World) -> None:
    agent = world.agent()
    server = _booted(world, agent)
    world.user.stop_server(server.id)
    _done(world, agent, server)
    assert world.agent().start() == ()  # shut off, as the service has it: no mismatch
    assert world.user.get_server(server.id).state == "SHUTOFF"
    # A stopped server's guest running behind the service's back is a mismatch.
    world.driver.start(world.driver.list_domains()[0].name)
    (found,) = world.agent().start()
    assert "is running but its server is SHUTOFF" in found.detail
    assert world.user.get_server(server.id).state == "ERROR"


def test_a_hard_reboot_brings_back_a_lost_domain(world: World) -> None:
    agent = world.agent()
    server = _booted(world, agent)
    name = world.driver.list_domains()[0].name
    world.driver.destroy(name)
    world.driver.undefine(name)
    world.agent().start()  # the restarted agent reports the loss: ERROR, devices kept
    lost = world.user.get_server(server.id)
    assert (lost.state, lost.devices) == ("ERROR", server.devices)
    with pytest.raises(StateError, match="is ERROR: cannot reboot it"):
        world.user.reboot_server(server.id)
    assert world.user.reboot_server(server.id, hard=True).state == "HARD_REBOOT"
    back = _done(world, agent, server)
    assert (back.state, back.reason, back.devices) == ("ACTIVE", None, server.devices)
    assert world.domain_state() is PowerState.RUNNING


def test_a_failed_stop_keeps_the_state_and_records_the_fault(world: World) -> None:
    agent = world.agent()
    server = _booted(world, agent)
    name = world.driver.list_domains()[0].name
    world.driver.destroy(name)
    world.driver.undefine(name)  # the agent will find no domain to stop
    world.user.stop_server(server.id)
    failed = _done(world, agent, server)
    assert (failed.state, failed.task) == ("ACTIVE", None)
    assert failed.faults[-1].reason.startswith(f"stop failed on {HOST}: domain")
    assert "does not exist on this host" in failed.faults[-1].reason


def test_deleting_a_stopped_server_frees_its_devices(world: World) -> None:
    agent = world.agent()
    agent.start()
    total = world.free()
    server = _booted(world, agent)
    world.user.stop_server(server.id)
    _done(world, agent, server)
    world.user.delete_server(server.id)
    assert _done(world, agent, server).state == "DELETED"
    assert world.driver.list_domains() == ()
    assert world.free() == total


def test_a_delete_overtaking_a_stop_wins(world: World) -> None:
    agent = world.agent()
    server = _booted(world, agent)
    world.user.stop_server(server.id)
    deleting = world.user.delete_server(server.id)
    assert deleting.task == "deleting"
    assert agent.step() == 2  # the stop, then the delete's destroy
    assert world.user.get_server(server.id).state == "DELETED"
