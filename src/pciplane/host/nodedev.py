"""Device discovery through libvirt's node devices (libvirt-python).

libvirt describes each PCI function as a node device with a ``pci`` capability
(https://libvirt.org/formatnode.html): ``domain``/``bus``/``slot``/``function``,
``vendor``/``product`` ids with their names, ``class``, ``numa node``, ``iommuGroup``,
and the SR-IOV function capabilities ``virt_functions`` (a PF, with ``maxCount`` and the
VF addresses in ``virtfnN`` order) and ``phys_function`` (a VF). Network interfaces are
separate ``net`` node devices whose ``parent`` is the PCI device. The result is the same
:class:`Scan` as :mod:`pciplane.host.sysfs` gives; the device type follows Nova §2.2.

Two libvirt facts to know: the carrier of an interface is not reported (``None``), and
the ``test:///`` driver (9.0) keeps no ``<driver>`` element of a loaded node device, so
the driver is ``None`` there (``qemu:///system`` reads it from sysfs at dump time).
:func:`scan_node_xml` parses a ``<node>`` document (the test driver's file) directly.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterable
from dataclasses import dataclass, replace

from pciplane.core.address import PciAddress
from pciplane.core.device import DevType, PciDevice
from pciplane.core.errors import AddressError, HypervisorError
from pciplane.host.discovery import HostDevice, NetDev, Scan, ScanWarning
from pciplane.host.pciids import PciNames, names_at


@dataclass(frozen=True, kw_only=True, slots=True)
class _PciNode:
    name: str
    device: PciDevice
    vendor_name: str | None
    product_name: str | None
    max_vfs: int | None
    vfs: tuple[PciAddress, ...]


@dataclass(frozen=True, kw_only=True, slots=True)
class _NetNode:
    parent: str
    netdev: NetDev


def _address(elem: ET.Element) -> PciAddress:
    fields = (int(elem.get(k, "") or "x", 0) for k in ("domain", "bus", "slot", "function"))
    d, b, s, f = fields
    return PciAddress(domain=d, bus=b, slot=s, function=f)


def _child_int(cap: ET.Element, tag: str) -> int:
    text = cap.findtext(tag)
    if text is None:
        raise ValueError(f"no <{tag}>")
    return int(text, 0)


def _pci_address(cap: ET.Element) -> PciAddress:
    parts = [_child_int(cap, t) for t in ("domain", "bus", "slot", "function")]
    text = f"{parts[0]:04x}:{parts[1]:02x}:{parts[2]:02x}.{parts[3]:x}"
    return PciAddress.parse(text)  # rejects a 32-bit domain like the sysfs path does


def _id_and_name(cap: ET.Element, tag: str) -> tuple[str, str | None]:
    elem = cap.find(tag)
    if elem is None or elem.get("id") is None:
        raise ValueError(f"no <{tag} id=...>")
    name = (elem.text or "").strip() or None
    return f"{int(elem.get('id', ''), 16):04x}", name


def _optional_int(elem: ET.Element | None, attr: str) -> int | None:
    if elem is None or elem.get(attr) is None:
        return None
    return int(elem.get(attr, ""), 0)


def _function_cap(cap: ET.Element, kind: str) -> ET.Element | None:
    for sub in cap.findall("capability"):
        if sub.get("type") == kind:
            return sub
    return None


def parse_pci_device(xml: str | ET.Element) -> _PciNode:
    """One node device's XML to its PCI record; ``ValueError``/``AddressError`` if odd."""
    root = ET.fromstring(xml) if isinstance(xml, str) else xml
    cap = next((c for c in root.findall("capability") if c.get("type") == "pci"), None)
    if cap is None:
        raise ValueError("no pci capability")
    address = _pci_address(cap)
    vendor_id, vendor_name = _id_and_name(cap, "vendor")
    product_id, product_name = _id_and_name(cap, "product")
    virt = _function_cap(cap, "virt_functions")
    phys = _function_cap(cap, "phys_function")
    phys_addr = phys.find("address") if phys is not None else None
    vfs = tuple(_address(a) for a in virt.findall("address")) if virt is not None else ()
    max_vfs = _optional_int(virt, "maxCount")
    dev_type = DevType.PCI
    if virt is not None:
        dev_type = DevType.PF
    elif phys_addr is not None:
        dev_type = DevType.VF
    numa = _optional_int(cap.find("numa"), "node")
    class_text = cap.findtext("class")
    device = PciDevice(
        address=address,
        vendor_id=vendor_id,
        product_id=product_id,
        dev_type=dev_type,
        numa_node=numa if numa is not None and numa >= 0 else None,
        parent_addr=_address(phys_addr) if phys_addr is not None else None,
        label=f"label_{vendor_id}_{product_id}",
        class_id=f"{int(class_text, 16):06x}" if class_text else None,
        driver=(root.findtext("driver/name") or "").strip() or None,
        iommu_group=_optional_int(cap.find("iommuGroup"), "number"),
    )
    return _PciNode(
        name=root.findtext("name", ""),
        device=device,
        vendor_name=vendor_name,
        product_name=product_name,
        max_vfs=max_vfs,
        vfs=vfs,
    )


def parse_net_device(xml: str | ET.Element) -> _NetNode | None:
    """A ``net`` node device: its interface, MAC and link state (= kernel operstate)."""
    root = ET.fromstring(xml) if isinstance(xml, str) else xml
    cap = next((c for c in root.findall("capability") if c.get("type") == "net"), None)
    name = cap.findtext("interface") if cap is not None else None
    if cap is None or not name:
        return None
    link = cap.find("link")
    netdev = NetDev(
        name=name.strip(),
        mac=(cap.findtext("address") or "").strip() or None,
        operstate=link.get("state") if link is not None else None,
    )
    return _NetNode(parent=root.findtext("parent", ""), netdev=netdev)


def _assemble(
    pcis: Iterable[_PciNode], nets: Iterable[_NetNode], names: PciNames
) -> tuple[HostDevice, ...]:
    nodes = {p.device.address: p for p in pcis}
    by_name = {p.name: p.device.address for p in nodes.values()}
    netdevs: dict[PciAddress, list[NetDev]] = {}
    for net in nets:
        if net.parent in by_name:
            netdevs.setdefault(by_name[net.parent], []).append(net.netdev)
    for found in netdevs.values():
        found.sort(key=lambda n: n.name)
    vf_index = {vf: i for p in nodes.values() for i, vf in enumerate(p.vfs)}
    out = []
    for address in sorted(nodes):
        node = nodes[address]
        own = tuple(netdevs.get(address, ()))
        parent = node.device.parent_addr
        pf_nets = netdevs.get(parent, []) if parent is not None else []
        device = replace(
            node.device,
            devname=own[0].name if own else None,
            parent_ifname=pf_nets[0].name if pf_nets else None,
        )
        is_pf = node.device.dev_type == DevType.PF
        vid, pid = device.vendor_id, device.product_id
        out.append(
            HostDevice(
                device=device,
                sriov_totalvfs=node.max_vfs if is_pf else None,
                sriov_numvfs=len(node.vfs) if is_pf else None,
                vf_index=vf_index.get(address) if parent in nodes else None,
                netdevs=own,
                vendor_name=node.vendor_name or names.vendor(vid),
                product_name=node.product_name or names.device(vid, pid),
            )
        )
    return tuple(out)


def _parse_all(
    docs: Iterable[tuple[str, str | ET.Element]], warnings: list[ScanWarning]
) -> tuple[list[_PciNode], list[_NetNode]]:
    """Parse ``(name, xml)`` pairs, turning each odd device into a warning."""
    pcis: list[_PciNode] = []
    nets: list[_NetNode] = []
    for name, xml in docs:
        try:
            root = ET.fromstring(xml) if isinstance(xml, str) else xml
            if any(c.get("type") == "net" for c in root.findall("capability")):
                net = parse_net_device(root)
                if net is not None:
                    nets.append(net)
            else:
                pcis.append(parse_pci_device(root))
        except (ET.ParseError, ValueError, AddressError) as exc:
            warnings.append(ScanWarning(entry=name, message=f"skipped: {exc}"))
    return pcis, nets


def scan_node_xml(text: str, *, names: PciNames | None = None) -> Scan:
    """Discover from a ``<node>`` document of ``<device>`` elements (the test driver's)."""
    try:
        root = ET.fromstring(text)
    except ET.ParseError as exc:
        raise HypervisorError(f"the node XML does not parse: {exc}") from exc
    docs: list[tuple[str, str | ET.Element]] = []
    for elem in root.iter("device"):
        caps = {c.get("type") for c in elem.findall("capability")}
        if caps & {"pci", "net"}:
            docs.append((elem.findtext("name", ""), elem))
    warnings: list[ScanWarning] = []
    pcis, nets = _parse_all(docs, warnings)
    lookup = names if names is not None else names_at()
    return Scan(devices=_assemble(pcis, nets, lookup), warnings=tuple(warnings))


def _fetch(
    conn: object, flag: int, warnings: list[ScanWarning]
) -> list[tuple[str, str | ET.Element]]:
    import libvirt

    docs: list[tuple[str, str | ET.Element]] = []
    for dev in conn.listAllDevices(flag):  # type: ignore[attr-defined]
        try:
            docs.append((dev.name(), dev.XMLDesc(0)))
        except libvirt.libvirtError as exc:  # the device went away since the listing
            warnings.append(ScanWarning(entry=dev.name(), message=f"skipped: {exc}"))
    return docs


def _ignore_libvirt_error(_ctx: object, _err: object) -> None:
    return None


def scan(uri: str, *, names: PciNames | None = None) -> Scan:
    """Discover through the libvirt connection at ``uri`` (read-only)."""
    try:
        import libvirt
    except ImportError as exc:  # pragma: no cover - the host extra is not installed
        raise HypervisorError(
            "libvirt-python is not installed (pip install pciplane[host])"
        ) from exc
    # libvirt's default handler also prints every error on stderr; ours are raised.
    libvirt.registerErrorHandler(_ignore_libvirt_error, None)
    try:
        conn = libvirt.openReadOnly(uri)
    except libvirt.libvirtError as exc:
        raise HypervisorError(f"cannot connect to libvirt at {uri}: {exc}") from exc
    try:
        warnings: list[ScanWarning] = []
        docs = _fetch(conn, libvirt.VIR_CONNECT_LIST_NODE_DEVICES_CAP_PCI_DEV, warnings)
        docs += _fetch(conn, libvirt.VIR_CONNECT_LIST_NODE_DEVICES_CAP_NET, warnings)
    except libvirt.libvirtError as exc:
        raise HypervisorError(f"cannot list node devices at {uri}: {exc}") from exc
    finally:
        conn.close()
    pcis, nets = _parse_all(docs, warnings)
    lookup = names if names is not None else names_at()
    return Scan(devices=_assemble(pcis, nets, lookup), warnings=tuple(warnings))
