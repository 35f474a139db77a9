"""A varied synthetic fleet (``pciplane sim fleet --varied``): every host its own state.

Real fleets are bought in batches over years and used unevenly, so the scheduler cannot
count on look-alike hosts. Here each host draws its own hardware: one, two or four NUMA
nodes (a few without socket information, a few whose firmware reports no affinity at
all), one to three SR-IOV NICs of three models in random slots with their own VF counts
per port, and up to eight GPUs of four models spread over the nodes. About 60% of the
hosts are partly used: servers of a random mix were placed on them with pciplane's own
fit and claim, so their statuses are consistent (a fifth of the hosts get none, and some
placements find no room). Most hosts follow the fleet's
``device_spec``; some racks have their own (compute nodes are configured one by one,
shared/fleet-format.md). The uniform fleet of :mod:`pciplane.sim.fleet` stays as the
best case for the scheduler.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

from pciplane.core.address import PciAddress
from pciplane.core.alias import parse_aliases
from pciplane.core.device import DevType, PciDevice
from pciplane.core.fleet import Fleet, Host, NumaNode
from pciplane.core.request import VnicType
from pciplane.core.snapshot import dump_fleet
from pciplane.core.spec import DeviceSpec, parse_device_specs
from pciplane.sim.cells import random_cells, random_usage
from pciplane.sim.fleet import Workload, place_servers

INTEL, MELLANOX, NVIDIA = "8086", "15b3", "10de"
A100, T4, L4, H100 = "20b5", "1eb8", "27b8", "2330"


@dataclass(frozen=True, kw_only=True, slots=True)
class NicModel:
    vendor: str
    pf: str
    vf: str
    pf_driver: str
    vf_driver: str


NICS: dict[str, NicModel] = {
    "e810": NicModel(vendor=INTEL, pf="1592", vf="1889", pf_driver="ice", vf_driver="iavf"),
    "xxv710": NicModel(vendor=INTEL, pf="158b", vf="154c", pf_driver="i40e", vf_driver="iavf"),
    "cx6": NicModel(vendor=MELLANOX, pf="101d", vf="101e", pf_driver="mlx5_core",
                    vf_driver="mlx5_core"),
}  # fmt: skip

DEVICE_SPEC: tuple[dict[str, object], ...] = (
    {"vendor_id": INTEL, "product_id": "1889", "physical_network": "physnet1"},
    {"vendor_id": MELLANOX, "product_id": "101e", "physical_network": "physnet2",
     "trusted": "true"},
    {"vendor_id": INTEL, "product_id": "154c", "physical_network": "physnet3"},
    # The second port of an E810 is also handed out whole (direct-physical): where that
    # port has VFs too, the PF and its VFs exclude each other.
    {"vendor_id": INTEL, "product_id": "1592", "address": "*:*:00.1",
     "physical_network": "physnet2"},
    {"vendor_id": NVIDIA, "product_id": A100, "managed": "yes"},
    {"vendor_id": NVIDIA, "product_id": T4},
    {"vendor_id": NVIDIA, "product_id": L4, "live_migratable": "yes"},
    {"vendor_id": NVIDIA, "product_id": H100},
)  # fmt: skip

#: How hosts are configured: (weight, their own device_spec); None keeps the fleet's.
RACK_SPECS: tuple[tuple[int, tuple[dict[str, object], ...] | None], ...] = (
    (17, None),
    (2, (
        {"vendor_id": INTEL, "product_id": "1889", "physical_network": "physnet2"},
        {"vendor_id": MELLANOX, "product_id": "101e", "physical_network": "physnet1"},
        {"vendor_id": INTEL, "product_id": "154c", "physical_network": "physnet3"},
        {"vendor_id": NVIDIA, "product_id": "*"},
    )),
    (1, (
        {"vendor_id": INTEL, "product_id": "1592", "physical_network": "physnet1"},
        {"vendor_id": MELLANOX, "product_id": "101d", "physical_network": "physnet2"},
        {"vendor_id": INTEL, "product_id": "1889", "physical_network": "physnet1"},
        {"vendor_id": NVIDIA, "product_id": A100},
        {"vendor_id": NVIDIA, "product_id": H100},
    )),
)  # fmt: skip

ALIAS: tuple[dict[str, object], ...] = (
    {"name": "large_GPU", "vendor_id": NVIDIA, "product_id": A100,
     "device_type": "type-PCI", "numa_policy": "required"},
    {"name": "small_GPU", "vendor_id": NVIDIA, "product_id": T4, "device_type": "type-PCI"},
    {"name": "any_GPU", "vendor_id": NVIDIA, "product_id": A100, "device_type": "type-PCI"},
    {"name": "any_GPU", "vendor_id": NVIDIA, "product_id": T4, "device_type": "type-PCI"},
    {"name": "inference", "vendor_id": NVIDIA, "product_id": L4, "device_type": "type-PCI",
     "numa_policy": "preferred", "live_migratable": "yes"},
    {"name": "inference", "vendor_id": NVIDIA, "product_id": T4, "device_type": "type-PCI",
     "numa_policy": "preferred"},
    {"name": "training", "vendor_id": NVIDIA, "product_id": H100, "device_type": "type-PCI",
     "numa_policy": "socket"},
    {"name": "training", "vendor_id": NVIDIA, "product_id": A100, "device_type": "type-PCI",
     "numa_policy": "socket"},
    {"name": "e810_vf", "vendor_id": INTEL, "product_id": "1889", "device_type": "type-VF",
     "numa_policy": "legacy"},
)  # fmt: skip

#: PCIe root buses by slot; a slot's NUMA node follows its position (as on real boards).
SLOT_BUSES = (0x17, 0x3B, 0x5E, 0x86, 0xAF, 0xD8)
GPU_MODELS = ((A100, 3), (T4, 3), (L4, 2), (H100, 1))
VF_COUNTS = (0, 4, 4, 8, 8, 8, 16)
#: (weight, NUMA nodes, sockets per node or None when unknown)
NUMA_LAYOUTS: tuple[tuple[int, tuple[int | None, ...]], ...] = (
    (13, (0, 1)),
    (5, (0, 0, 1, 1)),
    (1, (0,)),
    (1, (None, None)),
)

WORKLOADS = (
    Workload(alias="large_GPU:1", ports=(("physnet1", VnicType.DIRECT),)),
    Workload(alias="small_GPU:2"),
    Workload(alias="inference:1", ports=(("physnet2", VnicType.DIRECT),)),
    Workload(alias="training:2"),
    Workload(ports=(("physnet1", VnicType.DIRECT), ("physnet2", VnicType.DIRECT))),
    Workload(ports=(("physnet2", VnicType.DIRECT_PHYSICAL),)),
    Workload(ports=(("physnet1", VnicType.DIRECT),) * 3),
    Workload(ports=(("physnet3", VnicType.DIRECT),) * 2),
)


def _addr(bus: int, slot: int, function: int) -> PciAddress:
    return PciAddress(domain=0, bus=bus, slot=slot, function=function)


def _nic(model: NicModel, bus: int, numa: int | None, slot: int, vfs: Sequence[int]
         ) -> list[PciDevice]:  # fmt: skip
    """A dual-port NIC in PCIe slot ``slot``: PFs at BB:00.p, port p's VFs after them."""
    devices = []
    for port, count in enumerate(vfs):
        pf = _addr(bus, 0, port)
        name = f"ens{slot}f{port}"
        devices.append(PciDevice(
            address=pf, vendor_id=model.vendor, product_id=model.pf, dev_type=DevType.PF,
            numa_node=numa, devname=name, class_id="020000", driver=model.pf_driver,
        ))  # fmt: skip
        for n in range(count):
            k = 32 * port + n
            devices.append(PciDevice(
                address=_addr(bus, 1 + k // 8, k % 8), vendor_id=model.vendor,
                product_id=model.vf, dev_type=DevType.VF, numa_node=numa, parent_addr=pf,
                parent_ifname=name, class_id="020000", driver=model.vf_driver,
                devname=f"{name}v{n}",
            ))  # fmt: skip
    return devices


def _gpu(product: str, bus: int, numa: int | None) -> PciDevice:
    return PciDevice(address=_addr(bus, 0, 0), vendor_id=NVIDIA, product_id=product,
                     numa_node=numa, class_id="030200", driver="vfio-pci")  # fmt: skip


def _onboard() -> list[PciDevice]:
    return [
        PciDevice(address=_addr(0x02, 0, 0), vendor_id=INTEL, product_id="1521",
                  numa_node=0, devname="eno1", class_id="020000", driver="igb"),
        PciDevice(address=_addr(0x03, 0, 0), vendor_id="144d", product_id="a808",
                  numa_node=0, class_id="010802", driver="nvme"),
    ]  # fmt: skip


def random_hardware(rng: random.Random) -> tuple[tuple[NumaNode, ...], tuple[PciDevice, ...]]:
    """One host's NUMA nodes and devices, drawn at random."""
    layouts = [layout for _, layout in NUMA_LAYOUTS]
    sockets = rng.choices(layouts, [w for w, _ in NUMA_LAYOUTS])[0]
    nodes = tuple(NumaNode(id=i, socket=s) for i, s in enumerate(sockets))
    no_affinity = rng.random() < 0.03

    def node_of(slot: int) -> int | None:
        return None if no_affinity else slot * len(nodes) // len(SLOT_BUSES)

    devices = _onboard()
    slots = list(range(len(SLOT_BUSES)))
    rng.shuffle(slots)
    for slot in slots[: rng.choice((1, 2, 2, 3))]:
        model = NICS[rng.choice(("e810", "e810", "xxv710", "cx6"))]
        vfs = (rng.choice(VF_COUNTS), rng.choice(VF_COUNTS))
        devices += _nic(model, SLOT_BUSES[slot], node_of(slot), slot + 1, vfs)
    if rng.random() < 0.7:
        names = [model for model, _ in GPU_MODELS]
        weights = [weight for _, weight in GPU_MODELS]
        models = sorted(set(rng.choices(names, weights, k=rng.choice((1, 1, 2)))))
        for k in range(rng.choice((1, 2, 2, 4, 4, 8))):
            slot = rng.randrange(len(SLOT_BUSES))
            bus = SLOT_BUSES[slot] + 1 + k // len(SLOT_BUSES) + k % 3
            devices.append(_gpu(rng.choice(models), bus, node_of(slot)))
    by_addr = {d.address: d for d in devices}  # a GPU drawn onto a taken bus is dropped
    return nodes, tuple(sorted(by_addr.values(), key=lambda d: d.address))


def generate_varied(
    hosts: int, seed: int, *, progress: Callable[[int, int], None] | None = None
) -> dict[str, object]:
    """The snapshot document of a varied synthetic fleet of ``hosts`` hosts."""
    rng = random.Random(seed)
    # Cells are drawn apart, so a seed's devices and servers stay what they were.
    cells_rng = random.Random(seed + 1)
    default = parse_device_specs(list(DEVICE_SPEC))
    racks: list[tuple[tuple[DeviceSpec, ...] | None, tuple[object, ...] | None]] = [
        (None, None) if raw is None else (parse_device_specs(list(raw)), tuple(raw))
        for _, raw in RACK_SPECS
    ]
    weights = [w for w, _ in RACK_SPECS]
    aliases = parse_aliases(list(ALIAS))
    out: list[Host] = []
    for i in range(hosts):
        numa, devices = random_hardware(rng)
        numa = random_cells(cells_rng, [n.socket for n in numa])
        specs, raw = rng.choices(racks, weights)[0]
        host = Host(name=f"cmp{i + 1:05d}", numa_nodes=numa, devices=devices,
                    device_spec=specs, device_spec_raw=raw)  # fmt: skip
        if rng.random() < 0.8:
            servers = rng.randint(2, 8)
            host = place_servers(
                host, specs or default, aliases, rng, servers=servers, workloads=WORKLOADS
            )
            host = replace(host, usage=random_usage(cells_rng, numa, servers))
        out.append(host)
        if progress is not None and (i + 1) % 1000 == 0:
            progress(i + 1, hosts)
    fleet = Fleet(
        device_spec=default,
        aliases=aliases,
        hosts=tuple(out),
        device_spec_raw=tuple(json.dumps(e) for e in DEVICE_SPEC),
        alias_raw=tuple(json.dumps(e) for e in ALIAS),
    )
    return dump_fleet(fleet)
