"""Render the libvirt domain XML for a server with 8 PCI devices.

Target (issue 3): <= 5 ms. One sample is the whole path the agent takes per server:
bind its three SR-IOV ports and one macvtap port to VFs, add four flavor GPUs, build
the :class:`Domain` with two NUMA cells and render it. Prints the median (and worst) of
``--samples`` samples as a markdown row.

    .venv/bin/python bench/bench_domain_xml.py
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

from pciplane.core.address import PciAddress
from pciplane.core.binding import AgentState, BindRequest, Bound, bind_port, default_drivers
from pciplane.core.device import DevType, PciDevice
from pciplane.core.guest import GuestDevice
from pciplane.core.network import NetworkType, Segment
from pciplane.core.request import VnicType
from pciplane.host.domain_xml import (
    Domain,
    DomainDevice,
    NumaCell,
    domain_device,
    flavor_hostdev,
    render_domain,
)
from pciplane.service.binding import device_nic
from pciplane.store.ports import PortRecord

NETWORK = Segment(network_type=NetworkType.VLAN, physical_network="physnet1", segmentation_id=120)
AGENT = AgentState(alive=True, device_mappings={"physnet1": ("ens1f0",)})


def bound_device(port: PortRecord, vf: PciDevice) -> DomainDevice:
    """The port bound by the mechanism drivers and its VF wired, as the scheduler does."""
    request = BindRequest(vnic_type=port.vnic_type, segments=(NETWORK,), agent=AGENT)
    result = bind_port(default_drivers(), request)
    assert isinstance(result, Bound)
    mode, nic = device_nic(port, result, vf)
    return domain_device(GuestDevice(address=vf.address, attach=mode, nic=nic))


GPUS = tuple(
    PciDevice(
        address=PciAddress(domain=0, bus=0x3B + i, slot=0, function=0),
        vendor_id="10de",
        product_id="2330",
    )
    for i in range(4)
)
VFS = tuple(
    PciDevice(
        address=PciAddress(domain=0, bus=0x81, slot=2, function=i),
        vendor_id="8086",
        product_id="1889",
        dev_type=DevType.VF,
        devname=f"ens1f0v{i}",
        parent_ifname="ens1f0",
    )
    for i in range(4)
)
VNICS = (VnicType.DIRECT, VnicType.DIRECT, VnicType.DIRECT, VnicType.MACVTAP)


def render_server() -> str:
    devices: list[DomainDevice] = [flavor_hostdev(gpu, managed=True) for gpu in GPUS]
    for i, (vnic, vf) in enumerate(zip(VNICS, VFS, strict=True)):
        port = PortRecord(id=f"p{i}", name="", project="p", network_id="n",
                          mac_address=f"fa:16:3e:00:00:0{i}", vnic_type=vnic)  # fmt: skip
        devices.append(bound_device(port, vf))
    domain = Domain(
        name="server-1",
        uuid="0b6d5a4e-4a39-4d9b-9f43-0d8d5e5a1c01",
        memory_mib=16384,
        vcpus=8,
        numa_cells=(
            NumaCell(id=0, cpus=(0, 1, 2, 3), memory_mib=8192),
            NumaCell(id=1, cpus=(4, 5, 6, 7), memory_mib=8192),
        ),
        devices=tuple(devices),
    )
    return render_domain(domain)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--samples", type=int, default=200)
    args = parser.parse_args()
    render_server()  # warm-up: imports, caches
    samples = []
    for _ in range(args.samples):
        start = time.perf_counter()
        render_server()
        samples.append(time.perf_counter() - start)
    median_ms = statistics.median(samples) * 1000
    worst_ms = max(samples) * 1000
    print(f"{args.samples} samples", file=sys.stderr)
    print(
        f"| domain XML, 8 devices + 2 NUMA cells (median of {args.samples}) | "
        f"{median_ms:.3f} ms (target <= 5 ms); worst {worst_ms:.3f} ms |"
    )
    return 0 if median_ms <= 5 else 1


if __name__ == "__main__":
    sys.exit(main())
