"""The guest plan: decided once from the pools, read back exactly, malformed refused."""

from __future__ import annotations

import pytest
from fleetbuilder import flavor, gpu, guest, host
from hypothesis import given
from hypothesis import strategies as st

from pciplane.core.address import PciAddress
from pciplane.core.errors import RequestError
from pciplane.core.fit import HostView
from pciplane.core.guest import (
    AttachMode,
    CpuPolicy,
    GuestCell,
    GuestDevice,
    GuestDisk,
    GuestPlan,
    domain_name,
    plan_for_claim,
)

addresses = st.builds(
    PciAddress,
    domain=st.integers(0, 0xFFFF),
    bus=st.integers(0, 0xFF),
    slot=st.integers(0, 0x1F),
    function=st.integers(0, 7),
)
devices = st.builds(
    GuestDevice,
    address=addresses,
    attach=st.sampled_from(list(AttachMode)),
    managed=st.booleans(),
    request=st.text(max_size=20),
)
cpu_ids = st.integers(0, 1023)
cells = st.integers(1, 8).flatmap(
    lambda n: st.builds(
        GuestCell,
        cell=st.integers(0, 7),
        host_cell=st.integers(0, 7),
        vcpus=st.lists(cpu_ids, min_size=n, max_size=n).map(tuple),
        memory_mib=st.integers(1, 1 << 20),
        pins=st.lists(st.none() | cpu_ids, min_size=n, max_size=n).map(tuple),
    )
)
disks = st.builds(
    GuestDisk,
    image=st.uuids().map(str),
    checksum=st.text("0123456789abcdef", min_size=64, max_size=64),
    format=st.sampled_from(["qcow2", "raw"]),
    size_gib=st.integers(0, 4096),
)
plans = st.builds(
    GuestPlan,
    name=st.text(min_size=1, max_size=30),
    uuid=st.uuids().map(str),
    vcpus=st.integers(1, 512),
    memory_mib=st.integers(1, 1 << 22),
    devices=st.lists(devices, max_size=6).map(tuple),
    cpu_policy=st.sampled_from(list(CpuPolicy)),
    cells=st.lists(cells, max_size=4).map(tuple),
    shared_cpus=st.lists(cpu_ids, max_size=8).map(tuple),
    disk=st.none() | disks,
)


@given(plans)
def test_a_plan_reads_back_as_written(plan: GuestPlan) -> None:
    assert GuestPlan.from_json(plan.to_json()) == plan


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        pytest.param(lambda p: p.pop("uuid"), "'uuid' must be a string", id="no-uuid"),
        pytest.param(lambda p: p.update(vcpus=True), "'vcpus' must be a whole number",
                     id="bool-vcpus"),
        pytest.param(lambda p: p["devices"][0].update(address="0000:zz:00.0"), "devices[0]",
                     id="bad-address"),
        pytest.param(lambda p: p["devices"][0].update(attach="usb"), "attach 'usb'",
                     id="unknown-attach"),
        pytest.param(lambda p: p["devices"][0].update(managed="yes"), "'managed' must be",
                     id="managed-not-bool"),
        pytest.param(lambda p: p.update(devices={}), "'devices' must be a list", id="devices"),
        pytest.param(lambda p: p.update(cpu_policy="pinned"), "cpu_policy 'pinned'",
                     id="unknown-cpu-policy"),
        pytest.param(lambda p: p.update(cells=[{"cell": 0, "host_cell": 0, "vcpus": [0],
                                                "memory_mib": 1, "pins": [0, 1]}]),
                     "1 vCPUs but 2 pins", id="pins-beside-vcpus"),
        pytest.param(lambda p: p.update(shared_cpus=[-1]), "'shared_cpus' must be a list",
                     id="negative-cpu"),
        pytest.param(lambda p: p.update(disk={"image": "i", "checksum": "c"}),
                     "disk: 'format' must be a string", id="disk-without-format"),
    ],
)  # fmt: skip
def test_a_malformed_plan_names_the_key(mutate: object, message: str) -> None:
    plan = GuestPlan(
        name="vm-1", uuid="u", vcpus=1, memory_mib=1,
        devices=(GuestDevice(address=PciAddress.parse("0000:11:00.0")),),
    ).to_json()  # fmt: skip
    mutate(plan)  # type: ignore[operator]
    with pytest.raises(RequestError, match=message.replace("[", r"\[").replace("]", r"\]")):
        GuestPlan.from_json(plan)


@pytest.mark.parametrize(
    ("spec", "managed"),
    [
        pytest.param({"vendor_id": "10de"}, True, id="absent-is-yes"),
        pytest.param({"vendor_id": "10de", "managed": "no"}, False, id="no"),
        pytest.param({"vendor_id": "10de", "managed": "yes"}, True, id="yes"),
    ],
)
def test_managed_comes_from_the_spec_that_allowed_the_device(
    spec: dict[str, object], managed: bool
) -> None:
    view = HostView.build(host([gpu(0x11, 0), gpu(0x12, 1)], [spec]))
    request = guest(flavor("a:2"))
    verdict = view.fit(request)
    plan = plan_for_claim(
        server_id="3f0e3c8e-0000-4000-8000-000000000001", server_name="vm", vcpus=2,
        memory_mib=1024, guest=request, view=view, verdict=verdict,
    )  # fmt: skip
    assert plan.name == domain_name("vm", "3f0e3c8e-0000-4000-8000-000000000001") == "vm-3f0e3c8e"
    assert [(d.managed, d.request, d.attach) for d in plan.devices] == [
        (managed, "a", AttachMode.HOSTDEV)
    ] * 2
    assert list(plan.addresses()) == [a for chosen in verdict.choice for a in chosen]
