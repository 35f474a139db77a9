"""Properties of fit and claim on random small hosts (hypothesis).

* whenever ``fit`` says yes, the claim of its choice succeeds, and holds exactly those devices;
* whenever it says no, no assignment of free devices satisfies the requests (brute force);
* claim then release restores the exact prior state;
* no device is ever claimed twice.
"""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import Sequence

from fleetbuilder import GPU_A, GPU_B, flavor, gpu, host, nic, port
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pciplane.core.address import PciAddress
from pciplane.core.claim import claim, release
from pciplane.core.device import Action, DevType, Inventory, PciDevice, Status
from pciplane.core.errors import DeviceStateError
from pciplane.core.fit import GuestRequest, HostView
from pciplane.core.fleet import Host
from pciplane.core.pool import KindMatcher
from pciplane.core.request import PciRequest
from pciplane.core.stages import STAGES, Candidate, Context

SPECS = {
    "vfs": {"vendor_id": "8086", "product_id": "1889", "physical_network": "physnet1"},
    "pfs": {"vendor_id": "8086", "product_id": "1592", "physical_network": "physnet1"},
    "gpus": {"vendor_id": "10de", "product_id": "*"},
}
REQUESTS: dict[str, PciRequest | tuple[PciRequest, ...]] = {
    "a:1": flavor("a:1"),
    "ab:1": flavor("ab:1"),
    "ab:2": flavor("ab:2"),
    "b:1": flavor("b:1"),
    "vf:1": flavor("nic_vf:1"),
    "vf:2": flavor("nic_vf:2"),
    "pf:1": flavor("nic_pf:1"),
    "direct": port("physnet1"),
    "direct-physical": port("physnet1", "direct-physical"),
}


@st.composite
def hosts(draw: st.DrawFn) -> Host:
    devices: list[PciDevice] = []
    for i in range(draw(st.integers(0, 3))):
        devices += nic(0x10 + i, draw(st.integers(0, 3)), draw(st.sampled_from([0, 1, None])))
    for j in range(draw(st.integers(0, 3))):
        devices.append(gpu(0x40 + j, draw(st.sampled_from([0, 1])),
                           draw(st.sampled_from([GPU_A, GPU_B]))))  # fmt: skip
    chosen = draw(st.lists(st.sampled_from(sorted(SPECS)), min_size=1, unique=True))
    inventory = Inventory.of(devices)
    # Some devices already held by others, reached through the real transitions.
    for k, dev in enumerate(devices):
        if draw(st.integers(0, 4)) == 0:
            action = draw(st.sampled_from([Action.CLAIM, Action.ALLOCATE]))
            with contextlib.suppress(DeviceStateError):  # a relative was taken already
                inventory = inventory.apply(action, [dev.address], owner=f"other{k}")
    return host(list(inventory), [SPECS[c] for c in chosen])


guests = st.lists(st.sampled_from(sorted(REQUESTS)), min_size=1, max_size=3).map(
    lambda names: GuestRequest(
        pci=tuple(
            r
            for n in names
            for r in (REQUESTS[n] if isinstance(REQUESTS[n], tuple) else (REQUESTS[n],))
        )
    )
)


def eligible(view: HostView, request: PciRequest) -> set[PciAddress]:
    """Free devices the request may take, by the spec match and the (non-NUMA) stages."""
    matcher = KindMatcher()
    cands = [Candidate(i, p.kind, p.count) for i, p in enumerate(view.pools)
             if matcher.matches(p.kind, request.specs)]  # fmt: skip
    ctx = Context(numa_cells=None, sockets={})
    for stage in STAGES:
        cands = stage.keep(cands, request, ctx)
    return {a for c in cands for a in view.pools[c.index].devices}


def conflicts(inv: Inventory, taken: set[PciAddress], dev: PciAddress) -> bool:
    d = inv.get(dev)
    if d.dev_type is DevType.PF:
        return any(vf.address in taken for vf in inv.children_of(d))
    parent = inv.parent_of(d)
    return parent is not None and parent.address in taken


def brute_force(inv: Inventory, view: HostView, requests: Sequence[PciRequest]) -> bool:
    options = [eligible(view, r) for r in requests]

    def place(i: int, taken: set[PciAddress]) -> bool:
        if i == len(requests):
            return True
        pool = sorted(options[i] - taken)
        for combo in itertools.combinations(pool, requests[i].count):
            chosen = set(taken)
            ok = True
            for a in combo:
                if conflicts(inv, chosen, a):
                    ok = False
                    break
                chosen.add(a)
            if ok and place(i + 1, chosen):
                return True
        return False

    return place(0, set())


def snapshot(inv: Inventory) -> dict[PciAddress, tuple[object, ...]]:
    return {d.address: (d.status, d.owner, d.request_id) for d in inv}


PROPERTY = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@PROPERTY
@given(hosts(), guests)
def test_fit_agrees_with_claim_and_brute_force(h: Host, g: GuestRequest) -> None:
    view = HostView.build(h)
    verdict = view.fit(g)
    inv = Inventory.of(h.devices)
    if not verdict.fits:
        assert not brute_force(inv, view, g.pci), verdict.reason
        return
    claimed = claim(inv, verdict, g, owner="me")
    chosen = [a for addrs in verdict.choice for a in addrs]
    assert len(chosen) == len(set(chosen)) == sum(r.count for r in g.pci)
    for request, addrs in zip(g.pci, verdict.choice, strict=True):
        assert set(addrs) <= eligible(view, request)
    held = {d.address for d in claimed if d.owner == "me"}
    assert held == set(chosen)
    assert all(claimed.get(a).status is Status.CLAIMED for a in chosen)
    assert snapshot(release(claimed, owner="me")) == snapshot(inv)


@PROPERTY
@given(hosts(), guests, guests)
def test_no_device_is_claimed_twice(h: Host, g1: GuestRequest, g2: GuestRequest) -> None:
    inv = Inventory.of(h.devices)
    first = HostView.build(h).fit(g1)
    if not first.fits:
        return
    inv = claim(inv, first, g1, owner="one")
    after = Host(name=h.name, numa_nodes=h.numa_nodes, devices=tuple(inv),
                 device_spec=h.device_spec)  # fmt: skip
    second = HostView.build(after).fit(g2)
    if second.fits:
        inv = claim(inv, second, g2, owner="two")
        mine = {a for addrs in first.choice for a in addrs}
        theirs = {a for addrs in second.choice for a in addrs}
        assert not mine & theirs
    for a in {a for addrs in first.choice for a in addrs}:
        assert inv.get(a).owner == "one"
