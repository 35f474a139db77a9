"""The agent's power work against both hypervisors: stop, start, reboot, hard reboot.

Each case is a sequence of work items on one server, the words each outcome must carry,
and the power state libvirt must show after each; run on libvirt's ``test:///`` driver
and on the in-memory hypervisor alike. The domain (and so the devices it holds) stays
defined through every stop.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from test_agent_work import GPU, SERVER, item

from pciplane.host import libvirt_schema
from pciplane.host.agent_work import WorkRunner
from pciplane.host.domain_xml import held_addresses
from pciplane.host.libvirt_driver import LibvirtDriver, PowerState
from pciplane.sim.host import build_host
from pciplane.sim.host_write import node_xml
from pciplane.sim.memory_hypervisor import MemoryHypervisor

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(
        not libvirt_schema.validator_available(), reason="virt-xml-validate is not installed"
    ),
]

RUN, OFF = PowerState.RUNNING, PowerState.SHUT_OFF
START = ("start", True, "defined and started", RUN)

CASES = [
    pytest.param(
        [START, ("power_off", True, "shut down cleanly", OFF),
         ("power_off", True, "already shut off", OFF),
         ("power_on", True, "defined and started, holding 0000:11:00.0", RUN),
         ("power_on", True, "already running", RUN)],
        id="stop-start-each-twice",
    ),
    pytest.param(
        [START, ("reboot", True, "shut down cleanly, then defined and started", RUN)],
        id="soft-reboot",
    ),
    pytest.param(
        [START, ("hard_reboot", True, "powered off, then defined and started", RUN)],
        id="hard-reboot",
    ),
    pytest.param(
        [START, ("power_off", True, "shut down", OFF),
         ("reboot", False, "a soft reboot needs a running guest", OFF),
         ("hard_reboot", True, "was shut off, then defined and started", RUN)],
        id="hard-reboot-starts-a-stopped-guest",
    ),
    pytest.param(
        [("hard_reboot", True, "no domain, then defined and started", RUN)],
        id="hard-reboot-defines-a-lost-domain",
    ),
    pytest.param(
        [("power_off", False, "does not exist on this host", None),
         ("reboot", False, "does not exist on this host", None)],
        id="no-domain",
    ),
]  # fmt: skip


@pytest.fixture(params=["test", "memory"])
def driver(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[LibvirtDriver]:
    if request.param == "memory":
        with LibvirtDriver(MemoryHypervisor()) as memory:
            yield memory
        return
    node = tmp_path / "node.xml"
    node.write_text(node_xml(build_host("gpu")), encoding="utf-8")
    with LibvirtDriver.connect(f"test://{node}") as test:
        yield test


@pytest.mark.parametrize("steps", CASES)
def test_power_work(
    driver: LibvirtDriver, steps: list[tuple[str, bool, str, PowerState | None]]
) -> None:
    runner = WorkRunner(driver, shutdown_timeout=5.0)
    for kind, ok, words, state in steps:
        outcome = runner.run(item(kind, GPU))
        assert (outcome.ok, words in outcome.label) == (ok, True), outcome.label
        domains = driver.list_domains()
        if state is None:
            assert domains == ()
            continue
        (domain,) = domains
        assert (domain.uuid, domain.state) == (SERVER, state)
        # Stopped or running, the domain holds the server's device.
        assert [str(a) for a in held_addresses(domain.devices)] == [GPU]
        if ok and kind in ("power_on", "reboot", "hard_reboot") and "already" not in words:
            assert outcome.domain_xml is not None and f"<uuid>{SERVER}</uuid>" in outcome.domain_xml


def test_a_guest_that_ignores_the_shutdown_is_powered_off_after_the_timeout() -> None:
    hypervisor = MemoryHypervisor()
    with LibvirtDriver(hypervisor) as driver:
        runner = WorkRunner(driver, shutdown_timeout=0.2)
        assert runner.run(item("start", GPU)).ok
        hypervisor.ignores_shutdown.add(driver.list_domains()[0].name)
        outcome = runner.run(item("power_off", GPU))
        assert outcome.ok and "did not shut down within 0.2s, powered off" in outcome.label
        assert driver.list_domains()[0].state is OFF
        rebooted = runner.run(item("reboot", GPU))
        assert not rebooted.ok  # shut off: a soft reboot has nothing to restart
        assert runner.run(item("hard_reboot", GPU)).ok
        soft = runner.run(item("reboot", GPU))
        assert soft.ok and "did not shut down within 0.2s, powered off, then" in soft.label
        assert driver.list_domains()[0].state is RUN
