"""A deterministic synthetic fleet (``pciplane sim fleet``) for the demo, tests and benchmarks.

Every host has two dual-port Intel E810 NICs and two NUMA nodes: on the first NIC
(NUMA 0) each port carries 8 VFs, one port on physnet1 and one on physnet2; on the
second NIC (NUMA 1) port 0 carries 8 VFs on physnet1 and port 1 is handed out whole
(``direct-physical`` on physnet2). GPU hosts add NVIDIA A100s (``large_GPU``) or T4s
(``small_GPU``), split across the NUMA nodes. An on-board I350 NIC and an NVMe drive
are outside the allow-list. About a third of the hosts are partly used: servers were
placed on them with pciplane's own claim engine, so their statuses are consistent.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from pciplane.core.address import PciAddress
from pciplane.core.alias import Alias, parse_aliases, requests_from_flavor
from pciplane.core.claim import allocate, claim
from pciplane.core.device import DevType, Inventory, PciDevice
from pciplane.core.fit import GuestRequest, HostView
from pciplane.core.fleet import Fleet, Host, replace_devices
from pciplane.core.request import PciRequest, VnicType, request_from_port
from pciplane.core.snapshot import dump_fleet
from pciplane.core.spec import DeviceSpec, parse_device_specs
from pciplane.sim.cells import smt_cells

E810_PF, E810_VF, INTEL = "1592", "1889", "8086"
NVIDIA, A100, T4 = "10de", "20b5", "1eb8"
VFS_PER_PORT = 8

DEVICE_SPEC: tuple[dict[str, object], ...] = (
    {"vendor_id": INTEL, "product_id": E810_VF, "address": "0000:3b:02.*",
     "physical_network": "physnet1"},
    {"vendor_id": INTEL, "product_id": E810_VF, "address": "0000:3b:0a.*",
     "physical_network": "physnet2", "trusted": "true"},
    {"vendor_id": INTEL, "product_id": E810_VF, "address": "0000:86:02.*",
     "physical_network": "physnet1"},
    {"vendor_id": INTEL, "product_id": E810_PF, "address": "0000:86:00.1",
     "physical_network": "physnet2"},
    {"vendor_id": NVIDIA, "product_id": A100, "managed": "yes"},
    {"vendor_id": NVIDIA, "product_id": T4},
)  # fmt: skip

ALIAS: tuple[dict[str, object], ...] = (
    {"name": "large_GPU", "vendor_id": NVIDIA, "product_id": A100,
     "device_type": "type-PCI", "numa_policy": "required"},
    {"name": "small_GPU", "vendor_id": NVIDIA, "product_id": T4, "device_type": "type-PCI"},
    {"name": "any_GPU", "vendor_id": NVIDIA, "product_id": A100, "device_type": "type-PCI"},
    {"name": "any_GPU", "vendor_id": NVIDIA, "product_id": T4, "device_type": "type-PCI"},
)  # fmt: skip


def _addr(bus: int, slot: int, function: int) -> PciAddress:
    return PciAddress(domain=0, bus=bus, slot=slot, function=function)


def _nic(bus: int, numa: int, ifprefix: str, vfs: tuple[int, int]) -> list[PciDevice]:
    """A dual-port E810: PFs at BB:00.0/.1, port p's VFs at BB:(02 + 8p).f."""
    devices = []
    for port in (0, 1):
        pf = _addr(bus, 0, port)
        pf_name = f"{ifprefix}f{port}"
        devices.append(
            PciDevice(
                address=pf, vendor_id=INTEL, product_id=E810_PF, dev_type=DevType.PF,
                numa_node=numa, devname=pf_name, class_id="020000", driver="ice",
            )
        )  # fmt: skip
        for n in range(vfs[port]):
            devices.append(
                PciDevice(
                    address=_addr(bus, 2 + 8 * port + n // 8, n % 8), vendor_id=INTEL,
                    product_id=E810_VF, dev_type=DevType.VF, numa_node=numa, parent_addr=pf,
                    parent_ifname=pf_name, class_id="020000", driver="iavf",
                    devname=f"{pf_name}v{n}",
                )
            )  # fmt: skip
    return devices


def _gpus(product: str, count: int) -> list[PciDevice]:
    buses = [0x17, 0x65, 0xB1, 0xE3, 0x18, 0x66, 0xB2, 0xE4]
    return [
        PciDevice(
            address=_addr(buses[i], 0, 0), vendor_id=NVIDIA, product_id=product,
            numa_node=0 if i % 2 == 0 else 1, class_id="030200", driver="vfio-pci",
        )
        for i in range(count)
    ]  # fmt: skip


def _onboard() -> list[PciDevice]:
    return [
        PciDevice(address=_addr(0x02, 0, 0), vendor_id=INTEL, product_id="1521",
                  numa_node=0, devname="eno1", class_id="020000", driver="igb"),
        PciDevice(address=_addr(0x5E, 0, 0), vendor_id="144d", product_id="a808",
                  numa_node=0, class_id="010802", driver="nvme"),
    ]  # fmt: skip


#: Host templates: name -> (weight, GPU model, GPU count).
TEMPLATES: dict[str, tuple[int, str | None, int]] = {
    "gpu-large": (3, A100, 4),
    "gpu-small": (3, T4, 4),
    "mixed": (2, None, 0),
    "nic": (2, None, 0),
}


def template_devices(template: str) -> tuple[PciDevice, ...]:
    devices = _onboard()
    devices += _nic(0x3B, 0, "ens1", (VFS_PER_PORT, VFS_PER_PORT))
    devices += _nic(0x86, 1, "ens2", (VFS_PER_PORT, 0))
    _, model, count = TEMPLATES[template]
    if model is not None:
        devices += _gpus(model, count)
    elif template == "mixed":
        t4 = PciDevice(address=_addr(0x65, 0, 0), vendor_id=NVIDIA, product_id=T4, numa_node=1,
                       class_id="030200", driver="vfio-pci")  # fmt: skip
        devices += [*_gpus(A100, 1), t4]
    return tuple(sorted(devices, key=lambda d: d.address))


@dataclass(frozen=True, kw_only=True, slots=True)
class Workload:
    """A server shape used to make hosts partly used."""

    alias: str = ""
    ports: tuple[tuple[str, VnicType], ...] = ()


WORKLOADS = (
    Workload(alias="large_GPU:1", ports=(("physnet1", VnicType.DIRECT),)),
    Workload(alias="small_GPU:2"),
    Workload(ports=(("physnet1", VnicType.DIRECT), ("physnet2", VnicType.DIRECT))),
    Workload(ports=(("physnet2", VnicType.DIRECT_PHYSICAL),)),
    Workload(ports=(("physnet1", VnicType.DIRECT),) * 3),
)


def _requests(work: Workload, aliases: Mapping[str, Alias]) -> tuple[PciRequest, ...]:
    reqs = list(requests_from_flavor({"pci_passthrough:alias": work.alias}, aliases)
                if work.alias else ())  # fmt: skip
    for physnet, vnic in work.ports:
        req = request_from_port(vnic_type=vnic, physical_network=physnet)
        if req is not None:
            reqs.append(req)
    return tuple(reqs)


def generate(
    hosts: int, seed: int, *, progress: Callable[[int, int], None] | None = None
) -> dict[str, object]:
    """The snapshot document of a synthetic fleet of ``hosts`` hosts."""
    rng = random.Random(seed)
    specs = parse_device_specs(list(DEVICE_SPEC))
    aliases = parse_aliases(list(ALIAS))
    names = list(TEMPLATES)
    weights = [TEMPLATES[n][0] for n in names]
    templates = {n: template_devices(n) for n in names}
    numa = smt_cells((0, 1), cores=16, memory_mib=256 * 1024)
    out: list[Host] = []
    for i in range(hosts):
        template = rng.choices(names, weights)[0]
        host = Host(name=f"cmp{i + 1:05d}", numa_nodes=numa, devices=templates[template])
        if rng.random() < 0.3:
            host = place_servers(host, specs, aliases, rng, servers=rng.randint(1, 3))
        out.append(host)
        if progress is not None and (i + 1) % 1000 == 0:
            progress(i + 1, hosts)
    fleet = Fleet(
        device_spec=specs,
        aliases=aliases,
        hosts=tuple(out),
        device_spec_raw=tuple(json.dumps(e) for e in DEVICE_SPEC),
        alias_raw=tuple(json.dumps(e) for e in ALIAS),
    )
    return dump_fleet(fleet)


def place_servers(
    host: Host,
    specs: tuple[DeviceSpec, ...],
    aliases: Mapping[str, Alias],
    rng: random.Random,
    *,
    servers: int,
    workloads: Sequence[Workload] = WORKLOADS,
) -> Host:
    """``host`` after ``servers`` tries to place a random workload (those that fit stay)."""
    inventory = Inventory.of(host.devices)
    for n in range(servers):
        guest = GuestRequest(pci=_requests(rng.choice(workloads), aliases))
        current = replace_devices(host, tuple(inventory))
        verdict = HostView.build(current, specs).fit(guest)
        if not verdict.fits:
            continue
        owner = f"{host.name}-vm{n}"
        inventory = allocate(claim(inventory, verdict, guest, owner=owner), owner=owner)
    return replace_devices(host, tuple(inventory))
