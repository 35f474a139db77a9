"""The reconciliation rules: libvirt's domains against the service's claims, one by one."""

from __future__ import annotations

import pytest

from pciplane.core.address import PciAddress
from pciplane.core.device import PciDevice
from pciplane.core.snapshot import device_from_json
from pciplane.host.domain_xml import HeldDevice, HeldKind
from pciplane.host.libvirt_driver import DomainRecord, PowerState
from pciplane.host.reconcile import claims_of, reconcile

S1, S2 = "11111111-0000-0000-0000-000000000001", "22222222-0000-0000-0000-000000000002"
A, B, C = "0000:11:00.0", "0000:12:00.0", "0000:13:00.0"


def dev(address: str, status: str = "available", owner: str | None = None) -> PciDevice:
    obj: dict[str, object] = {
        "address": address,
        "vendor_id": "10de",
        "product_id": "20b5",
        "dev_type": "type-PCI",
        "numa_node": 0,
        "status": status,
    }
    if owner is not None:
        obj["owner"] = owner
    if address == C:
        obj["devname"] = "ens1f0v0"
    return device_from_json(obj)


def domain(uuid: str, *held: str, running: bool = True, macvtap: str | None = None) -> DomainRecord:
    devices = [HeldDevice(kind=HeldKind.HOSTDEV, address=PciAddress.parse(a)) for a in held]
    if macvtap is not None:
        devices.append(HeldDevice(kind=HeldKind.INTERFACE_DIRECT, source_dev=macvtap))
    return DomainRecord(
        name=f"vm-{uuid[:8]}",
        uuid=uuid,
        state=PowerState.RUNNING if running else PowerState.SHUT_OFF,
        devices=tuple(devices),
    )


ACTIVE_S1 = (dev(A, "allocated", S1), dev(B))
CASES = [
    pytest.param(ACTIVE_S1, [domain(S1, A)], [], id="in-step"),
    pytest.param(ACTIVE_S1, [], [(S1, "libvirt has no domain for it")], id="domain-missing"),
    pytest.param(
        ACTIVE_S1,
        [domain(S1, A, B)],
        [(S1, f"holds {A}, {B} but the service allocated {A}")],
        id="holds-more",
    ),
    pytest.param(
        ACTIVE_S1,
        [domain(S1)],
        [(S1, f"holds no PCI device but the service allocated {A}")],
        id="holds-none",
    ),
    pytest.param(
        ACTIVE_S1, [domain(S1, A, running=False)], [(S1, "is shut-off but its server")], id="off"
    ),
    pytest.param((dev(A, "claimed", S1),), [], [], id="start-pending-is-left-to-the-redelivery"),
    pytest.param(
        ACTIVE_S1,
        [domain(S1, A), domain(S2, B)],
        [(None, f"holds {B}, which the service has not claimed for it")],
        id="stray-domain",
    ),
    pytest.param(
        ACTIVE_S1,
        [domain(S1, A), domain(S2, A)],
        [(None, f"has not claimed for it (the service has them claimed by {S1})")],
        id="stray-domain-on-another-servers-device",
    ),
    pytest.param(ACTIVE_S1, [domain(S1, A), domain(S2)], [], id="domain-without-devices"),
    pytest.param(
        (dev(A, "allocated", S1), dev(C, "allocated", S1)),
        [domain(S1, A, macvtap="ens1f0v0")],
        [],
        id="macvtap-counts-as-its-vf",
    ),
]


@pytest.mark.parametrize(("devices", "domains", "expected"), CASES)
def test_reconcile(
    devices: tuple[PciDevice, ...],
    domains: list[DomainRecord],
    expected: list[tuple[str | None, str]],
) -> None:
    names = {d.devname: d.address for d in devices if d.devname}
    found = reconcile(claims_of(devices), domains, by_devname=names)
    assert [m.server_id for m in found] == [server for server, _ in expected]
    for mismatch, (_, words) in zip(found, expected, strict=True):
        assert words in mismatch.detail
