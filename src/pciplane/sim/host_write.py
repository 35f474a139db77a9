"""Write a :class:`~pciplane.sim.host.SimHost` as a sysfs tree and as libvirt node XML.

The sysfs tree follows the kernel's layout (Documentation/ABI/testing/sysfs-bus-pci,
sysfs-class-net, sysfs-kernel-iommu_groups): real directories under
``sys/devices/pci0000:RR/...``, ``sys/bus/pci/devices/<addr>`` symlinks into them,
``driver`` links to ``sys/bus/pci/drivers/<name>`` (which link back), ``iommu_group``
links to ``sys/kernel/iommu_groups/<n>``, ``physfn``/``virtfnN`` links between siblings,
``net/<ifname>/{address,operstate,carrier}`` with ``sys/class/net`` links, and the NUMA
nodes with their CPUs. The node XML is a ``<node>`` document of ``<device>`` elements in
the format of https://libvirt.org/formatnode.html, loadable by the test driver as
``test:///path/to/file.xml``.
"""

from __future__ import annotations

import os
import uuid
import xml.etree.ElementTree as ET
from pathlib import Path

from pciplane.core.address import PciAddress
from pciplane.core.allocation import format_cpu_set
from pciplane.host.pciids import PciNames, names_at
from pciplane.sim.host import SimFunction, SimHost


def _write(path: Path, text: str) -> None:
    path.write_text(text + "\n")


def _link(link: Path, target: Path) -> None:
    """A relative symlink, as sysfs has them (``../../../devices/...``)."""
    link.symlink_to(os.path.relpath(target, link.parent))


def _write_net(fn_dir: Path, sys: Path, fn: SimFunction) -> None:
    for net in fn.netdevs:
        net_dir = fn_dir / "net" / net.name
        net_dir.mkdir(parents=True)
        _write(net_dir / "address", net.mac)
        _write(net_dir / "operstate", net.operstate)
        if net.carrier is not None:
            _write(net_dir / "carrier", "1" if net.carrier else "0")
        _link(sys / "class" / "net" / net.name, net_dir)


def _write_sriov(fn_dir: Path, fn: SimFunction) -> None:
    if fn.totalvfs is not None:
        _write(fn_dir / "sriov_totalvfs", str(fn.totalvfs))
        _write(fn_dir / "sriov_numvfs", str(len(fn.virtfns)))
        _write(fn_dir / "sriov_vf_device", fn.vf_device or fn.product_id)
    for i, vf in enumerate(fn.virtfns):
        _link(fn_dir / f"virtfn{i}", fn_dir.parent / str(vf))
    if fn.physfn is not None:
        _link(fn_dir / "physfn", fn_dir.parent / str(fn.physfn))


def _write_function(sys: Path, fn: SimFunction) -> None:
    fn_dir = sys / "devices" / fn.sysfs_dir
    fn_dir.mkdir(parents=True, exist_ok=True)
    _write(fn_dir / "vendor", f"0x{fn.vendor_id}")
    _write(fn_dir / "device", f"0x{fn.product_id}")
    _write(fn_dir / "class", f"0x{fn.class_id}")
    _write(fn_dir / "numa_node", str(-1 if fn.numa_node is None else fn.numa_node))
    _link(sys / "bus" / "pci" / "devices" / str(fn.address), fn_dir)
    if fn.driver is not None:
        drv = sys / "bus" / "pci" / "drivers" / fn.driver
        drv.mkdir(parents=True, exist_ok=True)
        _link(fn_dir / "driver", drv)
        _link(drv / str(fn.address), fn_dir)
    group = sys / "kernel" / "iommu_groups" / str(fn.iommu_group)
    (group / "devices").mkdir(parents=True, exist_ok=True)
    _link(fn_dir / "iommu_group", group)
    _link(group / "devices" / str(fn.address), fn_dir)
    _write_sriov(fn_dir, fn)
    _write_net(fn_dir, sys, fn)


def _write_numa(sys: Path, host: SimHost) -> None:
    """Each node's ``cpuN`` links, ``cpulist`` and ``meminfo``; each CPU's package and
    ``thread_siblings_list`` (kernel ABI sysfs-devices-system-cpu, sysfs-devices-node)."""
    cpus = sys / "devices" / "system" / "cpu"
    cells = {c.id: c for c in host.cells}
    for node, socket in host.numa_nodes:
        node_dir = sys / "devices" / "system" / "node" / f"node{node}"
        node_dir.mkdir(parents=True)
        cell = cells.get(node)
        ids = (
            cell.cpus
            if cell is not None
            else tuple(node * host.cpus_per_node + k for k in range(host.cpus_per_node))
        )
        sibling_of = {c: g for g in (cell.siblings if cell else ()) for c in g}
        for cpu in ids:
            topo = cpus / f"cpu{cpu}" / "topology"
            topo.mkdir(parents=True)
            _write(topo / "physical_package_id", str(socket))
            group = sibling_of.get(cpu, (cpu,))
            _write(topo / "thread_siblings_list", ",".join(map(str, group)))
            _link(node_dir / f"cpu{cpu}", cpus / f"cpu{cpu}")
        _write(node_dir / "cpulist", format_cpu_set(ids))
        if cell is not None and cell.memory_mib is not None:
            _write(
                node_dir / "meminfo",
                f"Node {node} MemTotal:       {cell.memory_mib * 1024} kB\n"
                f"Node {node} MemFree:        {cell.memory_mib * 1024 // 2} kB\n",
            )


def write_sysfs(host: SimHost, root: Path) -> None:
    """Write ``root/sys/...`` for ``host``; ``root`` plays the part of ``/``."""
    sys = root / "sys"
    for sub in ("bus/pci/devices", "bus/pci/drivers", "class/net", "kernel/iommu_groups"):
        (sys / sub).mkdir(parents=True, exist_ok=True)
    for fn in host.functions:
        _write_function(sys, fn)
    _write_numa(sys, host)


def _address_elem(parent: ET.Element, tag: str, address: PciAddress) -> None:
    ET.SubElement(parent, tag, address.libvirt_attrs())


def _text(parent: ET.Element, tag: str, text: str, **attrs: str) -> ET.Element:
    elem = ET.SubElement(parent, tag, attrs)
    elem.text = text
    return elem


def _pci_device(fn: SimFunction, names: PciNames) -> ET.Element:
    dev = ET.Element("device")
    _text(dev, "name", fn.node_name)
    _text(dev, "path", f"/sys/devices/{fn.sysfs_dir}")
    _text(dev, "parent", fn.parent_node)
    if fn.driver is not None:
        _text(ET.SubElement(dev, "driver"), "name", fn.driver)
    cap = ET.SubElement(dev, "capability", type="pci")
    _text(cap, "class", f"0x{fn.class_id}")
    a = fn.address
    for tag, value in (("domain", a.domain), ("bus", a.bus), ("slot", a.slot)):
        _text(cap, tag, str(value))
    _text(cap, "function", str(a.function))
    _text(cap, "product", names.device(fn.vendor_id, fn.product_id) or "", id=f"0x{fn.product_id}")
    _text(cap, "vendor", names.vendor(fn.vendor_id) or "", id=f"0x{fn.vendor_id}")
    if fn.physfn is not None:
        _address_elem(ET.SubElement(cap, "capability", type="phys_function"), "address", fn.physfn)
    if fn.totalvfs is not None:
        virt = ET.SubElement(cap, "capability", type="virt_functions", maxCount=str(fn.totalvfs))
        for vf in fn.virtfns:
            _address_elem(virt, "address", vf)
    group = ET.SubElement(cap, "iommuGroup", number=str(fn.iommu_group))
    _address_elem(group, "address", fn.address)
    if fn.numa_node is not None:
        ET.SubElement(cap, "numa", node=str(fn.numa_node))
    return dev


def _net_devices(fn: SimFunction) -> list[ET.Element]:
    out = []
    for net in fn.netdevs:
        dev = ET.Element("device")
        _text(dev, "name", f"net_{net.name}_{net.mac.replace(':', '_')}")
        _text(dev, "path", f"/sys/devices/{fn.sysfs_dir}/net/{net.name}")
        _text(dev, "parent", fn.node_name)
        cap = ET.SubElement(dev, "capability", type="net")
        _text(cap, "interface", net.name)
        _text(cap, "address", net.mac)
        ET.SubElement(cap, "link", state=net.operstate)
        ET.SubElement(cap, "capability", type="80203")
        out.append(dev)
    return out


def _computer(host: SimHost) -> ET.Element:
    dev = ET.Element("device")
    _text(dev, "name", "computer")
    cap = ET.SubElement(dev, "capability", type="system")
    _text(cap, "product", host.name)
    hardware = ET.SubElement(cap, "hardware")  # libvirt requires the system UUID
    _text(hardware, "vendor", "pciplane")
    _text(hardware, "version", "sim")
    _text(hardware, "serial", host.name)
    _text(hardware, "uuid", str(uuid.uuid5(uuid.NAMESPACE_DNS, host.name)))
    firmware = ET.SubElement(cap, "firmware")
    _text(firmware, "vendor", "pciplane")
    _text(firmware, "version", "sim")
    _text(firmware, "release_date", "01/01/2024")
    return dev


def node_xml(host: SimHost, *, names: PciNames | None = None) -> str:
    """The libvirt ``<node>`` document describing ``host``'s PCI functions and NICs.

    Vendor and product names come from ``pci.ids`` as libvirt's udev backend reports
    them; ``names`` defaults to the system database.
    """
    lookup = names if names is not None else names_at()
    root = ET.Element("node")
    root.append(_computer(host))
    for fn in host.functions:
        root.append(_pci_device(fn, lookup))
        root.extend(_net_devices(fn))
    ET.indent(root)
    return ET.tostring(root, encoding="unicode") + "\n"
