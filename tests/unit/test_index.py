"""The fleet index on hand-made hosts: what the screen decides, and the corners it leaves
to the pipeline (NUMA's non-monotone branch, a PF and its own VFs wanted together)."""

from __future__ import annotations

from dataclasses import replace

import pytest
from fleetbuilder import flavor, gpu, guest, nic, port
from test_index_equivalence import assert_exact

from pciplane.core.device import DevType, PciDevice, Status
from pciplane.core.fit import GuestRequest
from pciplane.core.fleet import Fleet, Host, NumaNode
from pciplane.core.index import FleetIndex
from pciplane.core.request import NumaPolicy
from pciplane.core.screen import screenable as screen_models
from pciplane.core.spec import parse_device_specs
from pciplane.core.stages import STAGES, Stage

SPEC = parse_device_specs(
    [
        {"vendor_id": "8086", "product_id": "1592", "physical_network": "physnet2"},
        {"vendor_id": "8086", "product_id": "1889", "address": "0000:10:*.*",
         "physical_network": "physnet1"},
        {"vendor_id": "8086", "product_id": "1889", "physical_network": "physnet2"},
        {"vendor_id": "10de", "product_id": "*"},
    ]
)  # fmt: skip
SAME_SOCKET = (NumaNode(id=0, socket=0), NumaNode(id=1, socket=0))


def physnet2_vfs(bus: int, vfs: int, numa: int) -> list[PciDevice]:
    """A card whose PF nothing allows (devname-less PF product 1593), VFs on physnet2."""
    card = nic(bus, vfs, numa)
    pf = card[0]
    return [PciDevice(address=pf.address, vendor_id="8086", product_id="1593",
                      dev_type=DevType.PF, numa_node=numa), *card[1:]]  # fmt: skip


def fleet_of(*devices: list[PciDevice], numa: tuple[NumaNode, ...] = SAME_SOCKET) -> Fleet:
    hosts = tuple(
        Host(name=f"h{i}", numa_nodes=numa, devices=tuple(d)) for i, d in enumerate(devices)
    )
    return Fleet(device_spec=SPEC, hosts=hosts)


# On cell 0 the PF (physnet2) makes a physnet2 port insist on cell 0, where only the PF
# is; once a physnet1 VF of the same card is taken the PF is blocked and the port falls
# back to the socket's other node (nova-pci-semantics §3.6): not monotone.
PF_ON_CELL = nic(0x10, 2, 0)
VFS_ON_SOCKET = physnet2_vfs(0x20, 2, 1)
SOCKET_PORT = port("physnet2", numa_policy=NumaPolicy.SOCKET)


@pytest.mark.parametrize(
    ("devices", "requests", "fits"),
    [
        pytest.param(
            [*PF_ON_CELL, *VFS_ON_SOCKET], (SOCKET_PORT,), False, id="pf-on-cell-alone-fails"
        ),
        pytest.param(
            [*PF_ON_CELL, *VFS_ON_SOCKET],
            (port("physnet1"), SOCKET_PORT),
            True,
            id="vf-taken-first-unblocks-socket",
        ),
        pytest.param(
            [*PF_ON_CELL, *VFS_ON_SOCKET],
            (SOCKET_PORT, port("physnet1")),
            False,
            id="other-orders-only-when-each-fits-alone",
        ),
        pytest.param(
            [*PF_ON_CELL, *VFS_ON_SOCKET],
            (port("physnet1"), SOCKET_PORT, *flavor("b:1")),
            False,
            id="stops-after-the-first-lone-failure",
        ),
        pytest.param(
            PF_ON_CELL,
            (port("physnet2", "direct-physical"), port("physnet1")),
            False,
            id="pf-and-its-only-vfs",
        ),
        pytest.param(
            [*PF_ON_CELL, *nic(0x11, 0, 0)],
            (port("physnet2", "direct-physical"), port("physnet1")),
            True,
            id="pf-from-another-card",
        ),
        pytest.param(nic(0x10, 4, 0), (port("physnet1"),) * 4, True, id="four-ports-four-vfs"),
        pytest.param(nic(0x10, 4, 0), (port("physnet1"),) * 5, False, id="five-ports-four-vfs"),
        pytest.param(
            [gpu(0x40, 1), gpu(0x41, None)],
            flavor("a_preferred:2"),
            True,
            id="preferred-takes-any-node",
        ),
    ],
)
def test_hand_made_corners(
    devices: list[PciDevice], requests: tuple[object, ...], fits: bool
) -> None:
    index = FleetIndex.build(fleet_of(devices, devices))
    g = guest(*requests, cells=[0])  # type: ignore[arg-type]
    assert index.fit(g).fit_count == (2 if fits else 0)
    assert_exact(index, g)


def test_a_class_whose_run_goes_further_is_explained_host_by_host() -> None:
    """The third request fails alone, the second too (until the first unblocks it): the
    class is keyed on the second, yet the run stops at the third."""
    devices = [*PF_ON_CELL, *VFS_ON_SOCKET]
    other = [*PF_ON_CELL, *physnet2_vfs(0x20, 3, 1)]
    index = FleetIndex.build(fleet_of(devices, devices, other))
    g = guest(port("physnet1"), SOCKET_PORT, flavor("b:1"), cells=[0])
    reasons = {r.host: r.reason for r in index.fit(g).reasons()}
    assert set(reasons.values()) == {"b: no free device matches {10de:1eb8}"}
    assert_exact(index, g)


def test_an_answer_keeps_the_state_it_saw() -> None:
    index = FleetIndex.build(fleet_of(nic(0x10, 1, 0)))
    g = guest(port("physnet1"))
    before = index.fit(g)
    taken = nic(0x10, 1, 0, vf_status=[Status.ALLOCATED])
    index.replace_host(Host(name="h0", numa_nodes=SAME_SOCKET, devices=tuple(taken)))
    after = index.fit(g)
    assert [r.fits for r in before.reasons()] == [True]
    assert [r.reason for r in after.reasons()] == [
        "physnet1: no free device matches {physical_network=physnet1} (1 in use)"
    ]


def test_hosts_leave_and_return() -> None:
    index = FleetIndex.build(fleet_of(nic(0x10, 1, 0), nic(0x10, 2, 0)))
    index.remove_host("h0")
    assert index.host_names() == ("h1",)
    index.replace_host(Host(name="h0", numa_nodes=SAME_SOCKET, devices=tuple(nic(0x10, 3, 0))))
    assert index.host_names() == ("h1", "h0")
    assert index.fit(guest(port("physnet1"), port("physnet1"))).hosts_that_fit() == ["h1", "h0"]


def test_many_replacements_compact_the_columns() -> None:
    index = FleetIndex.build(fleet_of(nic(0x10, 8, 0), nic(0x10, 8, 1)))
    for n in range(6000):
        status = [Status.ALLOCATED] * (n % 8)
        devices = nic(0x10, 8, 0, vf_status=status)
        index.replace_host(Host(name="h0", numa_nodes=SAME_SOCKET, devices=tuple(devices)))
    g = guest(port("physnet1"), port("physnet1"))
    assert index.fit(g).hosts_that_fit() == ["h1"]  # h0 has 1 VF left after the last round
    assert_exact(index, g)


def test_no_request_fits_everywhere() -> None:
    index = FleetIndex.build(fleet_of([gpu(0x40, 0)], []))
    result = index.fit(GuestRequest())
    assert result.fit_count == 2
    assert [v.stages for v in result.verdicts()] == [(), ()]


def test_seven_requests_are_checked_as_whole_groups() -> None:
    index = FleetIndex.build(fleet_of(nic(0x10, 8, 0), nic(0x10, 6, 0)))
    g = guest(*(port("physnet1"),) * 7)
    assert index.fit(g).hosts_that_fit() == ["h0"]
    assert_exact(index, g)


@pytest.mark.parametrize(
    ("stages", "screenable"),
    [
        pytest.param(STAGES, True, id="as-built"),
        pytest.param(STAGES[1:], False, id="numa-missing"),
        pytest.param((*STAGES[1:], STAGES[0]), False, id="numa-not-first"),
        pytest.param((STAGES[0], replace(STAGES[1], per_kind=False)), False, id="counting-stage"),
    ],
)
def test_the_screen_models_only_numa_then_per_kind_stages(
    stages: tuple[Stage, ...], screenable: bool
) -> None:
    assert screen_models(stages) is screenable
