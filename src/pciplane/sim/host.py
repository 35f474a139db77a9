"""Synthetic compute hosts: named profiles expanded into PCI functions.

A profile lists cards (a NIC with its ports and VFs, a GPU, an NVMe drive) on NUMA
nodes; :func:`build_host` expands it into :class:`SimFunction` records laid out as a
Skylake-SP server's PCI topology looks: one root bus per socket (``pci0000:00``,
``pci0000:80``) with a host bridge, one root port per card, each card on its own bus,
a PF's VFs on the same bus from slot 2 on (as i40e/ice/mlx5 place them). The writers in
:mod:`pciplane.sim.host_write` turn one expansion into a sysfs tree and a libvirt node
XML, so both discovery paths see the same host.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from pciplane.core.address import PciAddress
from pciplane.core.errors import NotFoundError
from pciplane.core.fleet import NumaNode
from pciplane.sim.cells import smt_cells

HOST_BRIDGE = ("8086", "2020", "060000")  # Sky Lake-E DMI3 Registers; no driver
ROOT_PORT = ("8086", "2030", "060400")  # Sky Lake-E PCI Express Root Port A
ROOT_BUS = {0: 0x00, 1: 0x80}  # the root bus of each socket's PCIe complex


@dataclass(frozen=True, kw_only=True, slots=True)
class SimNet:
    name: str
    mac: str
    operstate: str
    #: ``None``: no ``carrier`` file (the kernel refuses the read on a down link).
    carrier: bool | None


@dataclass(frozen=True, kw_only=True, slots=True)
class SimFunction:
    """One PCI function to write: where it sits and what its files say."""

    address: PciAddress
    vendor_id: str
    product_id: str
    class_id: str
    driver: str | None
    numa_node: int | None
    iommu_group: int
    #: Its directory's parent under ``/sys/devices`` (``pci0000:00/0000:00:01.0``).
    parent_dir: str
    #: The libvirt node device that is its parent (``computer`` for a host bridge).
    parent_node: str
    totalvfs: int | None = None
    vf_device: str | None = None
    virtfns: tuple[PciAddress, ...] = ()
    physfn: PciAddress | None = None
    netdevs: tuple[SimNet, ...] = ()

    @property
    def sysfs_dir(self) -> str:
        return f"{self.parent_dir}/{self.address}"

    @property
    def node_name(self) -> str:
        return node_name(self.address)


def node_name(address: PciAddress) -> str:
    """libvirt's node device name for a PCI function (``pci_0000_3b_00_0``)."""
    return "pci_" + "_".join(address.fields())


@dataclass(frozen=True, kw_only=True, slots=True)
class Card:
    """One add-in card; a NIC with ``totalvfs`` > 0 has SR-IOV on each port."""

    vendor_id: str
    product_id: str
    class_id: str
    driver: str
    numa_node: int | None
    ports: int = 1
    ifname: str | None = None  # port p is f"{ifname}{p}", its VF i f"{ifname}{p}v{i}"
    totalvfs: int = 0
    numvfs: int = 0
    vf_product: str | None = None
    vf_driver: str | None = None
    vfio_vfs: int = 0  # the last N VFs of each port are bound to vfio-pci (no netdev)


#: Every profile's NUMA nodes: 16 cores of 2 threads and 128 GiB each.
SIM_CORES_PER_NODE = 16
SIM_MIB_PER_NODE = 128 * 1024


@dataclass(frozen=True, kw_only=True, slots=True)
class Profile:
    name: str
    hostname: str
    sockets: int
    cards: tuple[Card, ...]
    description: str


@dataclass(frozen=True, kw_only=True, slots=True)
class SimHost:
    name: str
    #: ``(node id, socket)``; one NUMA node per socket.
    numa_nodes: tuple[tuple[int, int], ...]
    cpus_per_node: int
    functions: tuple[SimFunction, ...]
    #: The cells with their CPUs (SMT siblings numbered as Linux does) and memory.
    cells: tuple[NumaNode, ...] = ()


def _xxv710(numa: int | None, ifname: str, numvfs: int, vfio: int = 0) -> Card:
    return Card(
        vendor_id="8086",
        product_id="158b",
        class_id="020000",
        driver="i40e",
        numa_node=numa,
        ports=2,
        ifname=ifname,
        totalvfs=64,
        numvfs=numvfs,
        vf_product="154c",
        vf_driver="iavf",
        vfio_vfs=vfio,
    )


def _e810(numa: int, ifname: str) -> Card:
    return Card(
        vendor_id="8086",
        product_id="159b",
        class_id="020000",
        driver="ice",
        numa_node=numa,
        ports=2,
        ifname=ifname,
        totalvfs=128,
        numvfs=64,
        vf_product="1889",
        vf_driver="iavf",
        vfio_vfs=16,
    )


def _cx5(numa: int, ifname: str) -> Card:
    return Card(
        vendor_id="15b3",
        product_id="1017",
        class_id="020000",
        driver="mlx5_core",
        numa_node=numa,
        ports=2,
        ifname=ifname,
        totalvfs=16,
        numvfs=4,
        vf_product="1018",
        vf_driver="mlx5_core",
        vfio_vfs=1,
    )


def _gpu(product: str, numa: int) -> Card:
    return Card(
        vendor_id="10de",
        product_id=product,
        class_id="030200",
        driver="vfio-pci",
        numa_node=numa,
    )


_I350 = Card(
    vendor_id="8086",
    product_id="1521",
    class_id="020000",
    driver="igb",
    numa_node=0,
    ifname="eno",
    ports=1,
)
_NVME = Card(vendor_id="8086", product_id="0a54", class_id="010802", driver="nvme", numa_node=1)

PROFILES: dict[str, Profile] = {
    p.name: p
    for p in (
        Profile(
            name="sriov-nic",
            hostname="sim-sriov-nic",
            sockets=1,
            cards=(_xxv710(None, "ens1f", numvfs=8, vfio=2),),
            description="dual-port XXV710, 8 VFs per port, firmware reports no NUMA node",
        ),
        Profile(
            name="gpu",
            hostname="sim-gpu",
            sockets=2,
            cards=(_I350, *(_gpu("20b5", n) for n in (0, 0, 1, 1))),
            description="four A100 GPUs on two NUMA nodes and an on-board NIC",
        ),
        Profile(
            name="mixed",
            hostname="sim-mixed",
            sockets=2,
            cards=(
                _I350,
                _cx5(0, "ens2f"),
                _xxv710(1, "ens6f", numvfs=0),
                _gpu("1eb8", 1),
                _gpu("1eb8", 1),
                _NVME,
            ),
            description="ConnectX-5 with VFs, an XXV710 with SR-IOV but no VFs yet, "
            "two T4 GPUs, an NVMe drive, an on-board NIC",
        ),
        Profile(
            name="bench",
            hostname="sim-bench",
            sockets=2,
            cards=(_e810(0, "ens1f"), _e810(1, "ens5f"), *(_gpu("2330", n % 2) for n in range(8))),
            description="4 PFs x 64 VFs (two E810) and 8 H100 GPUs: about 270 functions",
        ),
    )
}


def profile(name: str) -> Profile:
    try:
        return PROFILES[name]
    except KeyError:
        known = ", ".join(sorted(PROFILES))
        raise NotFoundError(f"no host profile {name!r}; known profiles: {known}") from None


class _Layout:
    """Hands out buses, root-port slots and IOMMU groups as cards are placed."""

    def __init__(self) -> None:
        self.next_bus = {node: bus + 0x10 for node, bus in ROOT_BUS.items()}
        self.next_port = dict.fromkeys(ROOT_BUS, 1)
        self.next_group = 0

    def group(self) -> int:
        self.next_group += 1
        return self.next_group - 1


def _mac(card: int, port: int, vf: int | None) -> str:
    last = 0 if vf is None else vf + 1
    return f"02:00:{card:02x}:{port:02x}:{last >> 8:02x}:{last & 0xFF:02x}"


def _vfs(
    card: Card, n: int, pf: SimFunction, port: int, first: int, lay: _Layout
) -> Iterator[SimFunction]:
    for i in range(card.numvfs):
        slot, func = divmod(first + i, 8)
        vfio = i >= card.numvfs - card.vfio_vfs
        nets: tuple[SimNet, ...] = ()
        if not vfio and card.ifname:
            name = f"{card.ifname}{port}v{i}"
            nets = (SimNet(name=name, mac=_mac(n, port, i), operstate="down", carrier=None),)
        yield SimFunction(
            address=PciAddress(domain=0, bus=pf.address.bus, slot=2 + slot, function=func),
            vendor_id=card.vendor_id,
            product_id=card.vf_product or card.product_id,
            class_id=card.class_id,
            driver="vfio-pci" if vfio else card.vf_driver,
            numa_node=card.numa_node,
            iommu_group=lay.group(),
            parent_dir=pf.parent_dir,
            parent_node=pf.parent_node,
            physfn=pf.address,
            netdevs=nets,
        )


def _card(card: Card, n: int, lay: _Layout) -> Iterator[SimFunction]:
    node = card.numa_node or 0
    root, port_slot = ROOT_BUS[node], lay.next_port[node]
    bus = lay.next_bus[node]
    lay.next_port[node] += 1
    lay.next_bus[node] += 1
    rp = PciAddress(domain=0, bus=root, slot=port_slot, function=0)
    vendor, product, cls = ROOT_PORT
    yield SimFunction(
        address=rp,
        vendor_id=vendor,
        product_id=product,
        class_id=cls,
        driver="pcieport",
        numa_node=card.numa_node,
        iommu_group=lay.group(),
        parent_dir=f"pci0000:{root:02x}",
        parent_node=node_name(PciAddress(domain=0, bus=root, slot=0, function=0)),
    )
    for port in range(card.ports):
        address = PciAddress(domain=0, bus=bus, slot=0, function=port)
        first_vf = port * card.numvfs
        virtfns = tuple(
            PciAddress(domain=0, bus=bus, slot=2 + (first_vf + i) // 8, function=(first_vf + i) % 8)
            for i in range(card.numvfs)
        )
        nets: tuple[SimNet, ...] = ()
        if card.ifname:
            name = f"{card.ifname}{port}"
            nets = (SimNet(name=name, mac=_mac(n, port, None), operstate="up", carrier=True),)
        pf = SimFunction(
            address=address,
            vendor_id=card.vendor_id,
            product_id=card.product_id,
            class_id=card.class_id,
            driver=card.driver,
            numa_node=card.numa_node,
            iommu_group=lay.group(),
            parent_dir=f"pci0000:{root:02x}/{rp}",
            parent_node=node_name(rp),
            totalvfs=card.totalvfs or None,
            vf_device=card.vf_product,
            virtfns=virtfns,
            netdevs=nets,
        )
        yield pf
        yield from _vfs(card, n, pf, port, first_vf, lay)


def build_host(name: str) -> SimHost:
    """Expand profile ``name`` into the functions both writers describe."""
    prof = profile(name)
    lay = _Layout()
    functions: list[SimFunction] = []
    for socket in range(prof.sockets):
        root = ROOT_BUS[socket]
        vendor, product, cls = HOST_BRIDGE
        functions.append(
            SimFunction(
                address=PciAddress(domain=0, bus=root, slot=0, function=0),
                vendor_id=vendor,
                product_id=product,
                class_id=cls,
                driver=None,
                numa_node=socket if prof.sockets > 1 else None,
                iommu_group=lay.group(),
                parent_dir=f"pci0000:{root:02x}",
                parent_node="computer",
            )
        )
    for n, card in enumerate(prof.cards):
        functions.extend(_card(card, n, lay))
    sockets = tuple(range(prof.sockets))
    cells = smt_cells(sockets, cores=SIM_CORES_PER_NODE, memory_mib=SIM_MIB_PER_NODE)
    return SimHost(
        name=prof.hostname,
        numa_nodes=tuple((s, s) for s in sockets),
        cpus_per_node=len(cells[0].cpus),
        functions=tuple(sorted(functions, key=lambda f: f.address)),
        cells=cells,
    )
