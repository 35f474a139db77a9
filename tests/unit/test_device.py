"""The status transition table and its PF/VF rules (nova-pci-semantics §2.4)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from pciplane.core.address import PciAddress
from pciplane.core.device import Action, DevType, Inventory, PciDevice, Status, merge_report
from pciplane.core.errors import DeviceOwnerError, DeviceStateError

PF = PciAddress.parse("0000:3b:00.0")
V0 = PciAddress.parse("0000:3b:02.0")
V1 = PciAddress.parse("0000:3b:02.1")
GPU = PciAddress.parse("0000:af:00.0")


def host() -> Inventory:
    return Inventory.of(
        [
            PciDevice(address=PF, vendor_id="8086", product_id="158b", dev_type=DevType.PF),
            PciDevice(
                address=V0, vendor_id="8086", product_id="154c", dev_type=DevType.VF, parent_addr=PF
            ),
            PciDevice(
                address=V1, vendor_id="8086", product_id="154c", dev_type=DevType.VF, parent_addr=PF
            ),
            PciDevice(address=GPU, vendor_id="10de", product_id="1db4"),
        ]
    )


def statuses(inv: Inventory) -> dict[str, str]:
    return {str(a): str(d.status) for a, d in inv.devices.items()}


def test_probed_sequence_pf_follows_its_vfs() -> None:
    inv = host().apply(Action.CLAIM, [V0], owner="i1")
    assert inv.get(PF).status is Status.UNCLAIMABLE
    inv = inv.apply(Action.CLAIM, [V1], owner="i2")
    with pytest.raises(DeviceStateError):
        inv.apply(Action.CLAIM, [PF], owner="i3")
    inv = inv.apply(Action.ALLOCATE, [V0], owner="i1")
    assert inv.get(PF).status is Status.UNAVAILABLE
    inv = inv.apply(Action.FREE, [V0], owner="i1")
    # Only a claim is left: derived, not Nova's stale "unavailable".
    assert inv.get(PF).status is Status.UNCLAIMABLE
    inv = inv.apply(Action.FREE, [V1], owner="i2")
    assert statuses(inv) == statuses(host())


@pytest.mark.parametrize(
    ("action", "vf_status"),
    [
        pytest.param(Action.CLAIM, Status.UNCLAIMABLE, id="claim"),
        pytest.param(Action.ALLOCATE, Status.UNAVAILABLE, id="allocate"),
    ],
)
def test_taking_a_pf_blocks_its_vfs(action: Action, vf_status: Status) -> None:
    inv = host().apply(action, [PF], owner="i1")
    assert inv.get(V0).status is vf_status and inv.get(V1).status is vf_status
    with pytest.raises(DeviceStateError):
        inv.apply(Action.CLAIM, [V0], owner="i2")
    assert statuses(inv.apply(Action.FREE, [PF], owner="i1")) == statuses(host())


def test_failed_apply_leaves_inventory_untouched() -> None:
    before = host()
    with pytest.raises(DeviceStateError):
        before.apply(Action.CLAIM, [V0, PF], owner="i1")
    assert statuses(before) == statuses(host())


@pytest.mark.parametrize(
    ("start", "action"),
    [
        pytest.param(Status.CLAIMED, Action.CLAIM, id="claim-claimed"),
        pytest.param(Status.AVAILABLE, Action.FREE, id="free-available"),
        pytest.param(Status.ALLOCATED, Action.REMOVE, id="remove-allocated"),
        pytest.param(Status.REMOVED, Action.ALLOCATE, id="allocate-removed"),
    ],
)
def test_table_refuses(start: Status, action: Action) -> None:
    inv = Inventory.of(
        [PciDevice(address=GPU, vendor_id="10de", product_id="1db4", status=start, owner="x")]
    )
    with pytest.raises(DeviceStateError):
        inv.apply(action, [GPU], owner="x")


def test_owner_is_checked() -> None:
    inv = host().apply(Action.CLAIM, [GPU], owner="i1")
    with pytest.raises(DeviceOwnerError):
        inv.apply(Action.ALLOCATE, [GPU], owner="i2")
    with pytest.raises(DeviceOwnerError):
        inv.apply(Action.FREE, [GPU], owner="i2")
    done = inv.apply(Action.ALLOCATE, [GPU], owner="i1", request_id="r1")
    assert (done.get(GPU).status, done.get(GPU).owner, done.get(GPU).request_id) == (
        Status.ALLOCATED,
        "i1",
        "r1",
    )
    freed = done.apply(Action.FREE, [GPU], owner="i1").get(GPU)
    assert (freed.owner, freed.request_id) == (None, None)


# --- an agent's report merged into the service's books ------------------------------


def _pf_family(pf_status: Status, vfs: int) -> list[PciDevice]:
    taken = pf_status in (Status.CLAIMED, Status.ALLOCATED)
    vf_status = Status.UNCLAIMABLE if pf_status is Status.CLAIMED else Status.AVAILABLE
    pf = PciDevice(
        address=PciAddress.parse("0000:3b:00.0"),
        vendor_id="8086",
        product_id="1592",
        dev_type=DevType.PF,
        status=pf_status,
        owner="s1" if taken else None,
    )
    vf_list = [
        PciDevice(
            address=PciAddress.parse(f"0000:3b:02.{n}"),
            vendor_id="8086",
            product_id="1889",
            dev_type=DevType.VF,
            parent_addr=pf.address,
            status=vf_status,
        )
        for n in range(vfs)
    ]
    return [pf, *vf_list]


def _hardware(devices: list[PciDevice]) -> list[PciDevice]:
    """What an agent reports: the devices as found, with no bookkeeping."""
    return [replace(d, status=Status.AVAILABLE, owner=None, request_id=None) for d in devices]


@pytest.mark.parametrize(
    ("stored", "reported", "expected"),
    [
        pytest.param(_pf_family(Status.CLAIMED, 1), _hardware(_pf_family(Status.AVAILABLE, 2)),
                     {"0000:3b:00.0": Status.CLAIMED, "0000:3b:02.0": Status.UNCLAIMABLE,
                      "0000:3b:02.1": Status.UNCLAIMABLE},
                     id="new-vf-under-a-claimed-pf-is-not-free"),
        pytest.param(_pf_family(Status.AVAILABLE, 2), _hardware(_pf_family(Status.AVAILABLE, 1)),
                     {"0000:3b:00.0": Status.AVAILABLE, "0000:3b:02.0": Status.AVAILABLE},
                     id="free-vf-that-vanished-leaves"),
        pytest.param(_pf_family(Status.CLAIMED, 1), _hardware(_pf_family(Status.AVAILABLE, 1)[1:]),
                     {"0000:3b:00.0": Status.CLAIMED, "0000:3b:02.0": Status.UNCLAIMABLE},
                     id="held-pf-that-vanished-stays-until-freed"),
        pytest.param([], _hardware(_pf_family(Status.AVAILABLE, 1)),
                     {"0000:3b:00.0": Status.AVAILABLE, "0000:3b:02.0": Status.AVAILABLE},
                     id="first-report"),
    ],
)  # fmt: skip
def test_merge_report_keeps_bookkeeping_and_derives_relatives(
    stored: list[PciDevice], reported: list[PciDevice], expected: dict[str, Status]
) -> None:
    merged = merge_report(Inventory.of(stored), reported)
    assert {str(d.address): d.status for d in merged} == expected


def test_merge_report_never_drops_what_a_server_holds() -> None:
    stored = Inventory.of(_pf_family(Status.CLAIMED, 2))
    merged = merge_report(stored, [])
    assert [str(d.address) for d in merged] == ["0000:3b:00.0"]
    assert merged.get(PciAddress.parse("0000:3b:00.0")).owner == "s1"
