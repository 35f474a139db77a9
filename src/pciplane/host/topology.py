"""The host's NUMA cells with their CPUs, sibling threads and memory, as discovered.

Two sources, one result (core.fleet.NumaNode):

* sysfs (kernel ABI ``sysfs-devices-system-cpu`` and ``sysfs-devices-node``):
  ``devices/system/node/nodeN/cpulist`` (``0-15,32-47``), ``nodeN/meminfo``
  (``Node 0 MemTotal: 65794068 kB``) and each CPU's
  ``devices/system/cpu/cpuN/topology/thread_siblings_list`` and ``physical_package_id``.
* libvirt's capabilities XML, ``<host><topology><cells>``: each ``<cell id>`` with its
  ``<memory unit='KiB'>`` and ``<cpu id socket_id siblings>`` (libvirt's formatcaps docs).

What cannot be read is left out (no CPUs, memory None), never guessed.
"""

from __future__ import annotations

import os
import re
import xml.etree.ElementTree as ET
from pathlib import Path

from pciplane.core.allocation import parse_cpu_set
from pciplane.core.errors import ConfigError, HypervisorError
from pciplane.core.fleet import NumaNode

NODES = Path("sys/devices/system/node")
CPUS = Path("sys/devices/system/cpu")
_MEMTOTAL = re.compile(r"MemTotal:\s+(\d+)\s*kB")


def _read(path: Path) -> str | None:
    try:
        return path.read_text()
    except OSError:
        return None


def _cpu_list(text: str | None) -> frozenset[int]:
    if text is None or not text.strip():
        return frozenset()
    try:
        return parse_cpu_set(text.strip())
    except ConfigError:
        return frozenset()


def sysfs_cells(root: Path = Path("/")) -> tuple[NumaNode, ...]:
    """The NUMA nodes under ``root``'s sysfs, with CPUs, siblings, memory and socket."""
    base = root / NODES
    try:
        names = os.listdir(base)
    except OSError:
        return ()
    nodes = []
    for name in names:
        if not (name.startswith("node") and name[4:].isdigit()):
            continue
        node_dir = base / name
        cpus = _cpu_list(_read(node_dir / "cpulist"))
        if not cpus:  # an older tree: the node's cpuN links
            try:
                cpus = frozenset(
                    int(e[3:])
                    for e in os.listdir(node_dir)
                    if e.startswith("cpu") and e[3:].isdigit()
                )
            except OSError:
                cpus = frozenset()
        nodes.append(
            NumaNode(
                id=int(name[4:]),
                socket=_socket(root, cpus),
                cpus=tuple(sorted(cpus)),
                siblings=_siblings(root, cpus),
                memory_mib=_memory(node_dir),
            )
        )
    return tuple(sorted(nodes, key=lambda n: n.id))


def _socket(root: Path, cpus: frozenset[int]) -> int | None:
    for cpu in sorted(cpus):
        text = _read(root / CPUS / f"cpu{cpu}" / "topology" / "physical_package_id")
        if text is not None and text.strip().isdigit():
            return int(text)
    return None


def _siblings(root: Path, cpus: frozenset[int]) -> tuple[tuple[int, ...], ...]:
    groups: set[tuple[int, ...]] = set()
    for cpu in cpus:
        found = _cpu_list(_read(root / CPUS / f"cpu{cpu}" / "topology" / "thread_siblings_list"))
        group = tuple(sorted(found & cpus))
        if len(group) > 1:
            groups.add(group)
    return _disjoint(groups)


def _disjoint(groups: set[tuple[int, ...]]) -> tuple[tuple[int, ...], ...]:
    """Sibling groups with no CPU in two (a torn read keeps the first seen)."""
    seen: set[int] = set()
    out = []
    for group in sorted(groups):
        if not seen & set(group):
            out.append(group)
            seen.update(group)
    return tuple(out)


def _memory(node_dir: Path) -> int | None:
    match = _MEMTOTAL.search(_read(node_dir / "meminfo") or "")
    return int(match.group(1)) // 1024 if match else None


def capabilities_cells(xml: str) -> tuple[NumaNode, ...]:
    """The cells of a libvirt capabilities document (``virsh capabilities``)."""
    try:
        doc = ET.fromstring(xml)
    except ET.ParseError as exc:
        raise HypervisorError(f"libvirt capabilities are not XML: {exc}") from None
    nodes = []
    for cell in doc.findall("./host/topology/cells/cell"):
        cell_id = cell.get("id", "")
        if not cell_id.isdigit():
            continue
        cpus: list[int] = []
        sockets: list[int] = []
        groups: set[tuple[int, ...]] = set()
        for cpu in cell.findall("./cpus/cpu"):
            ident = cpu.get("id", "")
            if not ident.isdigit():
                continue
            cpus.append(int(ident))
            socket = cpu.get("socket_id", "")
            if socket.isdigit():
                sockets.append(int(socket))
            group = tuple(sorted(_cpu_list(cpu.get("siblings"))))
            if len(group) > 1:
                groups.add(group)
        known = set(cpus)
        nodes.append(
            NumaNode(
                id=int(cell_id),
                socket=sockets[0] if sockets else None,
                cpus=tuple(sorted(known)),
                siblings=_disjoint({g for g in groups if set(g) <= known}),
                memory_mib=_cell_memory(cell.find("memory")),
            )
        )
    return tuple(sorted(nodes, key=lambda n: n.id))


_UNIT_KIB = {"KiB": 1, "k": 1, "KB": 1, "MiB": 1024, "M": 1024, "GiB": 1024 * 1024, "G": 1024**2}


def _cell_memory(elem: ET.Element | None) -> int | None:
    if elem is None or elem.text is None or not elem.text.strip().isdigit():
        return None
    factor = _UNIT_KIB.get(elem.get("unit", "KiB"))
    if factor is None:
        return None
    return int(elem.text.strip()) * factor // 1024


def libvirt_cells(uri: str) -> tuple[NumaNode, ...]:
    """The cells libvirt at ``uri`` reports (read-only connection)."""
    try:
        import libvirt
    except ImportError as exc:  # pragma: no cover - the host extra is not installed
        raise HypervisorError(
            "libvirt-python is not installed (pip install pciplane[host])"
        ) from exc
    try:
        conn = libvirt.openReadOnly(uri)
    except libvirt.libvirtError as exc:
        raise HypervisorError(f"cannot connect to libvirt at {uri}: {exc}") from exc
    try:
        return capabilities_cells(conn.getCapabilities())
    except libvirt.libvirtError as exc:
        raise HypervisorError(f"cannot read capabilities at {uri}: {exc}") from exc
    finally:
        conn.close()
