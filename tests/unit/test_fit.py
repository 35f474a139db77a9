"""The fit pipeline: Nova's stages and NUMA policies, and pciplane's PF/VF modelling."""

from __future__ import annotations

import pytest
from fleetbuilder import GPU_B, addr, fit, flavor, gpu, guest, host, nic, port

from pciplane.core.device import Status
from pciplane.core.errors import ConfigError
from pciplane.core.fit import GuestRequest
from pciplane.core.fleet import Fleet
from pciplane.core.index import FleetIndex

GPUS = [{"vendor_id": "10de", "product_id": "*"}]
VFS_P1 = [{"vendor_id": "8086", "product_id": "1889", "physical_network": "physnet1"}]


# nova-pci-semantics §3.6, the probed table: a guest on cell 0 of host cells
# 0 (socket 0), 1 (socket 0), 2 (socket 1). Each row: devices, count, policy, chosen or None.
NUMA_HOST = ((0, 0), (1, 0), (2, 1))


@pytest.mark.parametrize(
    ("numas", "count", "policy", "chosen"),
    [
        pytest.param((1, None, 2), 1, "required", None, id="row1-required"),
        pytest.param((1, None, 2), 1, "legacy", {None}, id="row1-legacy"),
        pytest.param((1, None, 2), 1, "preferred", {None}, id="row1-preferred"),
        pytest.param((1, None, 2), 1, "socket", {1}, id="row1-socket"),
        pytest.param((0, 1), 2, "required", None, id="row2-required"),
        pytest.param((0, 1), 2, "legacy", None, id="row2-legacy"),
        pytest.param((0, 1), 2, "preferred", {0, 1}, id="row2-preferred"),
        pytest.param((0, 1), 2, "socket", {0, 1}, id="row2-socket"),
        pytest.param((None,), 1, "required", None, id="row3-required"),
        pytest.param((None,), 1, "legacy", {None}, id="row3-legacy"),
        pytest.param((None,), 1, "preferred", {None}, id="row3-preferred"),
        pytest.param((None,), 1, "socket", None, id="row3-socket"),
        pytest.param((2, 1), 1, "required", None, id="row4-required"),
        pytest.param((2, 1), 1, "legacy", None, id="row4-legacy"),
        pytest.param((2, 1), 1, "socket", {1}, id="row4-socket"),
    ],
)
def test_numa_policies_match_novas_probed_table(
    numas: tuple[int | None, ...], count: int, policy: str, chosen: set[int | None] | None
) -> None:
    devices = [gpu(0x10 + i, n) for i, n in enumerate(numas)]
    h = host(devices, GPUS, numa=NUMA_HOST)
    verdict = fit(h, guest(flavor(f"a_{policy}:{count}"), cells=[0]))
    if chosen is None:
        assert not verdict.fits
        assert "numa_policy=" + policy in verdict.reason
    else:
        assert verdict.fits, verdict.reason
        by_addr = {d.address: d.numa_node for d in devices}
        assert {by_addr[a] for a in verdict.choice[0]} == chosen


def test_preferred_takes_any_node_when_affine_ones_run_out() -> None:
    h = host([gpu(0x10, 2), gpu(0x11, 1)], GPUS, numa=NUMA_HOST)
    assert fit(h, guest(flavor("a_preferred:2"), cells=[0])).fits


def test_socket_needs_socket_on_every_cell() -> None:
    h = host([gpu(0x10, 1)], GPUS, numa=((0, 0), (1, None)))
    assert not fit(h, guest(flavor("a_socket:1"), cells=[0])).fits


def test_no_numa_cells_means_no_numa_filtering() -> None:
    h = host([gpu(0x10, 1)], GPUS)
    assert fit(h, guest(flavor("a_required:1"))).fits


def test_flavor_policy_overrides_alias_policy() -> None:
    h = host([gpu(0x10, 1)], GPUS)
    assert fit(h, guest(flavor("a_legacy:1", "required"), cells=[0])).reason.startswith(
        "a_legacy: 0 free devices on NUMA 0 (numa_policy=required); 1 free on NUMA 1"
    )


@pytest.mark.parametrize(
    ("devices", "requests", "fits", "reason"),
    [
        pytest.param(
            [gpu(0x10, 0), gpu(0x11, 0, GPU_B)], (flavor("a:1"), flavor("b:1")), True, "",
            id="and-of-two-aliases",
        ),
        pytest.param(
            [gpu(0x10, 0)], (flavor("a:1"), flavor("a:1")), False,
            "a: 0 free devices match, 1 needed (1 more taken by this server's other requests)",
            id="requests-consume-cumulatively",
        ),
        pytest.param(
            [gpu(0x10, 0, GPU_B)], (flavor("ab:1"),), True, "", id="alternatives-are-ored",
        ),
        pytest.param(
            [gpu(0x10, 0)], (flavor("a:2"),), False, "a: 1 free device matches, 2 needed",
            id="too-few",
        ),
        pytest.param(
            [gpu(0x10, 0)], (flavor("b:1"),), False,
            "b: no free device matches {10de:1eb8}", id="no-match",
        ),
        pytest.param(
            [gpu(0x10, 0, status=Status.ALLOCATED, owner="x")], (flavor("a:1"),), False,
            "a: no free device matches {10de:20b5} (1 in use)", id="in-use-is-not-free",
        ),
    ],
)  # fmt: skip
def test_requests(devices: list[object], requests: tuple[object, ...], fits: bool,
                  reason: str) -> None:  # fmt: skip
    verdict = fit(host(devices, GPUS), guest(*requests))  # type: ignore[arg-type]
    assert (verdict.fits, verdict.reason) == (fits, reason)


def test_no_pci_request_fits_anywhere() -> None:
    assert fit(host([], []), GuestRequest()).fits


SPEC_PF_AND_VFS = [
    {"vendor_id": "8086", "product_id": "1592", "physical_network": "physnet1"},
    *VFS_P1,
]


def test_pf_and_its_own_vf_never_both_q3() -> None:
    """Nova's scheduler accepts this host and its claim then fails (Q3); pciplane refuses."""
    h = host(nic(0x3B, 2), SPEC_PF_AND_VFS)
    verdict = fit(h, guest(port("physnet1", "direct-physical"), port("physnet1")))
    assert not verdict.fits
    assert verdict.reason == (
        "physnet1: 0 free devices match, 1 needed (1 more taken by this server's other "
        "requests; 2 unusable: a PF and its own VFs cannot both be given, and the other side "
        "went to another request of this server)"
    )


def test_pf_and_vf_of_different_cards() -> None:
    h = host(nic(0x3B, 2) + nic(0x86, 2), SPEC_PF_AND_VFS)
    for order in ((0, 1), (1, 0)):
        reqs = [port("physnet1", "direct-physical"), port("physnet1")]
        verdict = fit(h, guest(*(reqs[i] for i in order)))
        assert verdict.fits, verdict.reason
        pf_choice = verdict.choice[order.index(0)]
        vf_choice = verdict.choice[order.index(1)]
        assert vf_choice[0].bus != pf_choice[0].bus


def test_vfs_pack_onto_a_partly_used_pf() -> None:
    used = nic(0x3B, 4, vf_status=[Status.ALLOCATED], pf_status=Status.UNAVAILABLE)
    h = host(nic(0x10, 4) + used, VFS_P1)
    verdict = fit(h, guest(port("physnet1"), port("physnet1")))
    assert [a.bus for a in verdict.choice[0] + verdict.choice[1]] == [0x3B, 0x3B]
    assert verdict.choice[0] == (addr(0x3B, 2, 1),)


def test_pf_request_takes_the_pf_with_fewest_free_vfs() -> None:
    h = host(nic(0x10, 4) + nic(0x3B, 1), SPEC_PF_AND_VFS)
    assert fit(h, guest(port("physnet1", "direct-physical"))).choice == ((addr(0x3B),),)


def test_vf_request_never_takes_a_pf_of_the_same_product() -> None:
    """§7 'a PF with the same product ID as its VFs is not used for a generic request'."""
    h = host(nic(0x10, 2, product_vf="1592"), [{"vendor_id": "8086", "product_id": "1592"}])
    verdict = fit(h, guest(flavor("nic_any:3")))
    assert not verdict.fits
    assert "PFs, which only a request for type-PF may take" in verdict.reason
    assert fit(h, guest(flavor("nic_any:2"))).fits


@pytest.mark.parametrize(
    ("tag", "trusted", "fits"),
    [
        pytest.param(None, False, True, id="untagged-is-untrusted-Q6"),
        pytest.param(None, True, False, id="untagged-is-not-trusted"),
        pytest.param("yes", True, True, id="yes-is-true-Q5"),
        pytest.param(True, True, True, id="json-true-Q5"),
        pytest.param("false", True, False, id="false-is-not-trusted"),
        pytest.param("1", None, True, id="no-trust-asked"),
    ],
)
def test_trusted_ports(tag: object, trusted: bool | None, fits: bool) -> None:
    spec = dict(VFS_P1[0])
    if tag is not None:
        spec["trusted"] = tag
    h = host(nic(0x10, 1), [spec])
    assert fit(h, guest(port("physnet1", trusted=trusted))).fits is fits


def test_remote_managed_devices_only_for_remote_managed_ports() -> None:
    spec = [{**VFS_P1[0], "remote_managed": "true"}]
    vfs = [d if d.dev_type != "type-VF" else d.__class__(**{
        f: getattr(d, f) for f in d.__dataclass_fields__} | {"card_serial_number": "MT123"})
        for d in nic(0x10, 1)]  # fmt: skip
    h = host(vfs, spec)
    assert not fit(h, guest(port("physnet1"))).fits
    assert fit(h, guest(port("physnet1", "remote-managed"))).fits


def test_tunnelled_port_needs_a_device_without_physnet() -> None:
    h = host(nic(0x10, 1), VFS_P1)
    verdict = fit(h, guest(port(None)))
    assert not verdict.fits


def test_live_migratable_filter() -> None:
    aliases_spec = [{"vendor_id": "10de", "product_id": "*", "live_migratable": "yes"}]
    h = host([gpu(0x10, 0)], aliases_spec)
    assert fit(h, guest(flavor("a:1"))).fits


def test_an_alternative_leaves_the_device_a_later_request_needs() -> None:
    """Greedy order would give the T4 to 'ab' and starve 'b' (as Nova's scheduler does)."""
    h = host([gpu(0x40, 0, GPU_B), gpu(0x41, 0)], GPUS)
    verdict = fit(h, guest(flavor("ab:1"), flavor("b:1")))
    assert verdict.fits, verdict.reason
    assert verdict.choice == ((addr(0x41),), (addr(0x40),))


def test_request_order_is_retried_when_the_first_order_fails() -> None:
    # 'ab:2' first would take both GPUs of one model whichever way it prefers; 'a:1' then fails.
    h = host([gpu(0x40, 0, GPU_B), gpu(0x41, 0), gpu(0x42, 0)], GPUS)
    verdict = fit(h, guest(flavor("ab:2"), flavor("a:1")))
    assert verdict.fits, verdict.reason
    assert sorted(a for c in verdict.choice for a in c) == [addr(0x40), addr(0x41), addr(0x42)]


def test_pool_tags_split_pools_by_a_device_attribute() -> None:
    """Operator-named grouping (the "PCI flavor attributes" idea): driver joins the key."""
    devices = [gpu(0x10, 0, driver="vfio-pci"), gpu(0x11, 0, driver="nvidia")]
    fleet = Fleet(hosts=(host(devices, GPUS),))
    plain = FleetIndex.build(fleet).view("h1")
    tagged = FleetIndex.build(fleet, pool_tags=("driver",)).view("h1")
    assert len({p.kind.id for p in plain.pools}) == 1
    assert sorted(str(p.kind.mapping["driver"]) for p in tagged.pools) == ["nvidia", "vfio-pci"]


def test_pool_tags_must_name_a_groupable_attribute() -> None:
    with pytest.raises(ConfigError, match="pool_tags \\['colour'\\]"):
        FleetIndex.build(Fleet(), pool_tags=("colour",))
