"""The agent's work items against a hypervisor: start, stop, attach, detach, and redelivery.

Hot plug needs :class:`MemoryHypervisor` (libvirt's test driver implements none, which
the last case shows as a failed outcome with libvirt's reason); the rest runs on both.
Each case is a sequence of items and the outcome each must get.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from pciplane.core.address import PciAddress
from pciplane.core.guest import GuestDevice, GuestPlan
from pciplane.host import libvirt_schema
from pciplane.host.agent_work import WorkRunner
from pciplane.host.domain_xml import Domain, held_addresses
from pciplane.host.libvirt_driver import LibvirtDriver
from pciplane.sim.host import build_host
from pciplane.sim.host_write import node_xml
from pciplane.sim.memory_hypervisor import MemoryHypervisor
from pciplane.wire.hosts import WorkOut

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(
        not libvirt_schema.validator_available(), reason="virt-xml-validate is not installed"
    ),
]

SERVER = "5d0c1a52-7a63-4a43-9a61-0d3f1f3e2a10"
GPU, GPU2, OTHER = "0000:11:00.0", "0000:12:00.0", "0000:90:00.0"


def item(kind: str, *devices: str, managed: bool = True) -> WorkOut:
    """A work item for the server, its guest plan holding ``devices``."""
    plan = GuestPlan(
        name="vm1-5d0c1a52",
        uuid=SERVER,
        vcpus=1,
        memory_mib=256,
        devices=tuple(
            GuestDevice(address=PciAddress.parse(a), managed=managed, request="gpu")
            for a in devices
        ),
    )
    return WorkOut.model_validate(
        {"id": 1, "kind": kind, "server_id": SERVER, "server_name": "vm1", "plan": plan.to_json()}
    )


def malformed(kind: str) -> WorkOut:
    plan = item(kind, GPU).plan
    bad = {**plan, "devices": [{"address": "0000:zz:00.0", "attach": "hostdev"}]}
    return WorkOut.model_validate({**item(kind).model_dump(), "plan": bad})


START, STOP = item("start", GPU), item("stop", GPU)
CASES = [
    pytest.param(
        [(START, True, "defined and started, holding 0000:11:00.0"),
         (START, True, "already running with 0000:11:00.0"),
         (STOP, True, "destroyed and undefined, released 0000:11:00.0"),
         (STOP, True, "domain was already gone")],
        (),
        id="start-stop-each-twice",
    ),
    pytest.param(
        [(item("start", GPU, GPU2, managed=False), True, "holding 0000:11:00.0, 0000:12:00.0")],
        (GPU, GPU2),
        id="start-renders-the-plan",
    ),
    pytest.param(
        [(malformed("start"), False, "0000:zz:00.0")], (), id="malformed-plan-fails-cleanly"
    ),
    pytest.param(
        [(START, True, "defined"),
         (item("attach", GPU2), True, "attached 0000:12:00.0"),
         (item("detach", GPU), True, "detached 0000:11:00.0")],
        (GPU2,),
        id="hot-plug",
    ),
    pytest.param(
        [(item("attach", GPU2), False, "does not exist on this host")], (), id="attach-no-domain"
    ),
    pytest.param([(item("migrate"), False, "does not know work of kind 'migrate'")], (), id="kind"),
]  # fmt: skip


@pytest.fixture
def memory() -> Iterator[LibvirtDriver]:
    with LibvirtDriver(MemoryHypervisor()) as driver:
        yield driver


def _run(driver: LibvirtDriver, steps: list[tuple[WorkOut, bool, str]]) -> None:
    runner = WorkRunner(driver)
    for work, ok, words in steps:
        outcome = runner.run(work)
        assert (outcome.ok, words in outcome.label) == (ok, True), outcome.label
        assert (outcome.reason == "") is ok
        if ok and "defined and started" in outcome.label:
            # The XML reported back is the plan rendered for this hypervisor.
            assert outcome.domain_xml is not None
            assert f"<uuid>{SERVER}</uuid>" in outcome.domain_xml
            assert f'type="{driver.virt_type}"' in outcome.domain_xml
            plan = GuestPlan.from_json(work.plan)
            want = "no" if not all(d.managed for d in plan.devices) else "yes"
            assert outcome.domain_xml.count(f'managed="{want}"') == len(plan.devices)


@pytest.mark.parametrize(("steps", "held"), CASES)
def test_work_on_the_memory_hypervisor(
    memory: LibvirtDriver, steps: list[tuple[WorkOut, bool, str]], held: tuple[str, ...]
) -> None:
    _run(memory, steps)
    after = [sorted(str(a) for a in held_addresses(d.devices)) for d in memory.list_domains()]
    assert after == ([list(held)] if held else [])


def test_test_driver_refuses_hot_plug_and_a_foreign_domain_is_untouched(tmp_path: Path) -> None:
    node = tmp_path / "node.xml"
    node.write_text(node_xml(build_host("gpu")), encoding="utf-8")
    with LibvirtDriver.connect(f"test://{node}") as driver:
        _run(
            driver,
            [(START, True, "defined and started"),
             (item("attach", GPU2), False, "does not support it")],
        )  # fmt: skip
        foreign = Domain(name="vm1-5d0c1a52", uuid=str(uuid.uuid4()), memory_mib=64, vcpus=1,
                         virt_type="test")  # fmt: skip
        _run(driver, [(STOP, True, "destroyed")])
        driver.define(foreign)
        _run(driver, [(START, False, "left untouched"), (STOP, True, "another UUID")])
        assert [d.uuid for d in driver.list_domains()] == [foreign.uuid]
