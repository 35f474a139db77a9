"""Small hosts for core tests, built through the public constructors."""

from __future__ import annotations

from collections.abc import Sequence

from pciplane.core.address import PciAddress
from pciplane.core.alias import parse_aliases, requests_from_flavor
from pciplane.core.device import DevType, PciDevice, Status
from pciplane.core.fit import GuestRequest, HostView, Verdict
from pciplane.core.fleet import Host, NumaNode
from pciplane.core.request import NumaPolicy, PciRequest, request_from_port
from pciplane.core.spec import parse_device_specs

GPU_A, GPU_B = "20b5", "1eb8"
ALIASES = parse_aliases(
    [
        {"name": "a", "vendor_id": "10de", "product_id": GPU_A},
        {"name": "b", "vendor_id": "10de", "product_id": GPU_B},
        {"name": "ab", "vendor_id": "10de", "product_id": GPU_A},
        {"name": "ab", "vendor_id": "10de", "product_id": GPU_B},
        {"name": "a_required", "vendor_id": "10de", "product_id": GPU_A, "numa_policy": "required"},
        {"name": "a_legacy", "vendor_id": "10de", "product_id": GPU_A, "numa_policy": "legacy"},
        {"name": "a_preferred", "vendor_id": "10de", "product_id": GPU_A,
         "numa_policy": "preferred"},
        {"name": "a_socket", "vendor_id": "10de", "product_id": GPU_A, "numa_policy": "socket"},
        {"name": "nic_pf", "vendor_id": "8086", "product_id": "1592", "device_type": "type-PF"},
        {"name": "nic_vf", "vendor_id": "8086", "product_id": "1889", "device_type": "type-VF"},
        {"name": "nic_any", "vendor_id": "8086", "product_id": "1592"},
    ]
)  # fmt: skip


def addr(bus: int, slot: int = 0, function: int = 0) -> PciAddress:
    return PciAddress(domain=0, bus=bus, slot=slot, function=function)


def gpu(bus: int, numa: int | None, product: str = GPU_A, **kw: object) -> PciDevice:
    return PciDevice(address=addr(bus), vendor_id="10de", product_id=product, numa_node=numa,
                     **kw)  # type: ignore[arg-type]  # fmt: skip


def nic(
    bus: int,
    vfs: int,
    numa: int | None = 0,
    vf_status: Sequence[Status] = (),
    pf_status: Status = Status.AVAILABLE,
    product_vf: str = "1889",
) -> list[PciDevice]:
    """One PF at BB:00.0 with ``vfs`` VFs at BB:02.n; ``vf_status`` overrides the first ones."""
    pf = PciDevice(address=addr(bus), vendor_id="8086", product_id="1592", dev_type=DevType.PF,
                   numa_node=numa, devname=f"nic{bus:x}", status=pf_status)  # fmt: skip
    out = [pf]
    for n in range(vfs):
        status = vf_status[n] if n < len(vf_status) else Status.AVAILABLE
        out.append(PciDevice(
            address=addr(bus, 2, n), vendor_id="8086", product_id=product_vf,
            dev_type=DevType.VF, numa_node=numa, parent_addr=pf.address,
            parent_ifname=pf.devname, status=status,
            owner="someone" if status in (Status.CLAIMED, Status.ALLOCATED) else None,
        ))  # fmt: skip
    return out


def host(devices: Sequence[PciDevice], spec: Sequence[object], *,
         numa: Sequence[tuple[int, int | None]] = ((0, 0), (1, 1))) -> Host:  # fmt: skip
    return Host(
        name="h1",
        numa_nodes=tuple(NumaNode(id=i, socket=s) for i, s in numa),
        devices=tuple(devices),
        device_spec=parse_device_specs(list(spec)),
    )


def flavor(alias: str, policy: str | None = None) -> tuple[PciRequest, ...]:
    extra = {"pci_passthrough:alias": alias}
    if policy:
        extra["hw:pci_numa_affinity_policy"] = policy
    return requests_from_flavor(extra, ALIASES)


def port(physnet: str | None, vnic: str = "direct", **kw: object) -> PciRequest:
    req = request_from_port(vnic_type=vnic, physical_network=physnet, **kw)  # type: ignore[arg-type]
    assert req is not None
    return req


def guest(*requests: PciRequest | tuple[PciRequest, ...], cells: Sequence[int] | None = None
          ) -> GuestRequest:  # fmt: skip
    flat: list[PciRequest] = []
    for r in requests:
        flat.extend(r if isinstance(r, tuple) else (r,))
    return GuestRequest(pci=tuple(flat), numa_cells=frozenset(cells) if cells is not None else None)


def fit(h: Host, g: GuestRequest) -> Verdict:
    return HostView.build(h).fit(g)


POLICY = NumaPolicy
