"""The guest's CPUs, memory, NUMA cells, boot disk and console in domain XML.

The shapes are libvirt's (formatdomain: "CPU Allocation", "CPU Tuning", "NUMA Node
Tuning", "CPU model and topology" / "Guest NUMA topology", "Hard drives", "Serial port",
"Console"), filled from the guest plan as Nova's libvirt driver fills them from its
instance NUMA topology:

- ``<vcpu placement='static' cpuset=...>``: the host CPUs the floating vCPUs (and, without
  ``<emulatorpin>``, the emulator threads) may run on; the plan's ``shared_cpus``.
- ``<cputune>``: a ``<vcpupin>`` per pinned vCPU, and for a guest with pinned vCPUs an
  ``<emulatorpin>`` over every host CPU the guest holds (its pins and its shared CPUs),
  Nova's default emulator-thread placement (no ``hw:emulator_threads_policy``).
- ``<numatune>``: memory strictly from the host cells the guest cells were placed on, one
  ``<memnode>`` per guest cell.
- ``<cpu>``: ``host-passthrough`` on KVM (Nova's ``cpu_mode`` for pinned guests; software
  emulation has no host CPU to pass through) and the guest's ``<numa>`` cells.
- the boot disk: the server's qcow2 overlay as ``vda`` on virtio, boot order 1; and a
  serial console on a pty (``virsh console``).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterable
from dataclasses import dataclass

from pciplane.core.errors import RequestError


def cpu_ranges(cpus: Iterable[int]) -> str:
    """libvirt's cpuset syntax: ``0-3,6``."""
    ordered = sorted(set(cpus))
    if not ordered:
        raise RequestError("a CPU set must not be empty")
    parts: list[str] = []
    start = prev = ordered[0]
    for cpu in [*ordered[1:], None]:
        if cpu is not None and cpu == prev + 1:
            prev = cpu
            continue
        parts.append(str(start) if start == prev else f"{start}-{prev}")
        if cpu is not None:
            start = prev = cpu
    return ",".join(parts)


@dataclass(frozen=True, kw_only=True, slots=True)
class NumaCell:
    """One guest NUMA cell: its vCPUs and memory (libvirt ``<cpu><numa><cell>``), and the
    host cell its memory comes from (``<numatune><memnode>``; None: not bound)."""

    id: int
    cpus: tuple[int, ...]
    memory_mib: int
    host_cell: int | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class CpuTuning:
    """Where the guest's vCPUs and emulator threads run on the host."""

    #: ``<vcpu cpuset>``: the floating vCPUs' host CPUs; empty: anywhere.
    shared_cpus: tuple[int, ...] = ()
    #: (vCPU, host CPU) for each pinned vCPU.
    pins: tuple[tuple[int, int], ...] = ()
    #: ``<emulatorpin cpuset>``; empty: as the floating vCPUs.
    emulator_cpus: tuple[int, ...] = ()
    #: ``<cpu mode>``; None leaves QEMU's default model (software emulation).
    mode: str | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class DiskDevice:
    """The boot disk: a file (the server's overlay) in ``format``, first in boot order."""

    source: str
    format: str = "qcow2"
    target: str = "vda"
    boot_order: int = 1

    def __post_init__(self) -> None:
        if not self.source.startswith("/"):
            raise RequestError(f"disk source {self.source!r} must be an absolute path")
        if self.format not in ("qcow2", "raw"):
            raise RequestError(f"disk format {self.format!r} is not qcow2 or raw")


def vcpu_element(vcpus: int, tuning: CpuTuning) -> ET.Element:
    attrs = {"placement": "static"}
    if tuning.shared_cpus:
        attrs["cpuset"] = cpu_ranges(tuning.shared_cpus)
    element = ET.Element("vcpu", attrs)
    element.text = str(vcpus)
    return element


def cputune_element(tuning: CpuTuning) -> ET.Element | None:
    if not tuning.pins and not tuning.emulator_cpus:
        return None
    element = ET.Element("cputune")
    for vcpu, cpu in sorted(tuning.pins):
        ET.SubElement(element, "vcpupin", {"vcpu": str(vcpu), "cpuset": str(cpu)})
    if tuning.emulator_cpus:
        ET.SubElement(element, "emulatorpin", {"cpuset": cpu_ranges(tuning.emulator_cpus)})
    return element


def numatune_element(cells: Iterable[NumaCell]) -> ET.Element | None:
    bound = [c for c in cells if c.host_cell is not None]
    if not bound:
        return None
    element = ET.Element("numatune")
    nodes = cpu_ranges(c.host_cell for c in bound if c.host_cell is not None)
    ET.SubElement(element, "memory", {"mode": "strict", "nodeset": nodes})
    for cell in bound:
        attrs = {"cellid": str(cell.id), "mode": "strict", "nodeset": str(cell.host_cell)}
        ET.SubElement(element, "memnode", attrs)
    return element


def cpu_element(cells: Iterable[NumaCell], mode: str | None) -> ET.Element | None:
    listed = list(cells)
    if not listed and mode is None:
        return None
    element = ET.Element("cpu", {"mode": mode} if mode else {})
    if listed:
        numa = ET.SubElement(element, "numa")
        for cell in listed:
            attrs = {
                "id": str(cell.id),
                "cpus": cpu_ranges(cell.cpus),
                "memory": str(cell.memory_mib),
                "unit": "MiB",
            }
            ET.SubElement(numa, "cell", attrs)
    return element


def disk_element(disk: DiskDevice) -> ET.Element:
    element = ET.Element("disk", {"type": "file", "device": "disk"})
    ET.SubElement(element, "driver", {"name": "qemu", "type": disk.format})
    ET.SubElement(element, "source", {"file": disk.source})
    ET.SubElement(element, "target", {"dev": disk.target, "bus": "virtio"})
    ET.SubElement(element, "boot", {"order": str(disk.boot_order)})
    return element


def console_elements() -> list[ET.Element]:
    """A serial port on a pty and the console on it (``virsh console`` reaches the guest)."""
    serial = ET.Element("serial", {"type": "pty"})
    ET.SubElement(serial, "target", {"port": "0"})
    console = ET.Element("console", {"type": "pty"})
    ET.SubElement(console, "target", {"type": "serial", "port": "0"})
    return [serial, console]
