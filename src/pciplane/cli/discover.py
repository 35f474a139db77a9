"""``pciplane discover``: list this host's PCI devices, from sysfs or through libvirt.

The table is for people; ``--json`` prints the host in the fleet snapshot's host shape
(shared/fleet-format.md) so it drops into a snapshot; ``--device-spec FILE`` marks the
devices a ``[pci] device_spec`` list allows and by which entry (Nova §1.5: the first
match wins), the FILE being a JSON list of entries or a nova.conf; ``--previous FILE``
(an earlier ``--json`` output) prints what changed. Entries that match nothing on this
host go to stderr as ``warning:`` or ``error:``, as lint calls them
(:class:`pciplane.core.spec.SpecProblem`); the exit status stays 0 for them: this
command lists, ``lint`` judges.
"""

from __future__ import annotations

import argparse
import json
import socket
import sys
from pathlib import Path
from typing import Any

from pciplane.cli.table import table_lines
from pciplane.conf.json_file import read_json
from pciplane.conf.pci_entries import FILE_HELP, load_device_specs
from pciplane.core.device import Inventory, PciDevice
from pciplane.core.errors import ConfigError
from pciplane.core.fleet import Host, NumaNode
from pciplane.core.pool import build_pools
from pciplane.core.snapshot import host_from_json, host_to_json
from pciplane.core.spec import DeviceSpec, HostSpecs, resolve_specs
from pciplane.host import nodedev, sysfs, topology
from pciplane.host.discovery import HostDevice, Scan, diff


def register(sub: Any) -> None:
    parser: argparse.ArgumentParser = sub.add_parser(
        "discover",
        help="list this host's PCI devices (sysfs or libvirt)",
        description=__doc__.split("\n\n")[0] if __doc__ else None,
    )
    source = parser.add_mutually_exclusive_group()
    source.add_argument(
        "--root", type=Path, default=Path("/"), help="filesystem root holding sys/ (default /)"
    )
    source.add_argument("--libvirt", metavar="URI", help="discover through libvirt at URI")
    parser.add_argument(
        "--device-spec", metavar="FILE", type=Path, help=f"[pci] device_spec entries: {FILE_HELP}"
    )
    parser.add_argument("--json", action="store_true", help="print the fleet snapshot host shape")
    parser.add_argument(
        "--previous", metavar="FILE", type=Path, help="an earlier --json output to diff against"
    )
    parser.add_argument("--name", help="host name in --json output (default: this hostname)")
    parser.set_defaults(func=run)


def _load_previous(path: Path) -> tuple[PciDevice, ...]:
    doc = read_json(path, "previous")
    return host_from_json(doc, source=f"previous file {path}").devices


def _names(dev: HostDevice) -> str:
    vendor = dev.vendor_name or ""
    product = dev.product_name or ""
    return f"{vendor} {product}".strip()


_HEADER = ("ADDRESS", "TYPE", "ID", "CLASS", "DRIVER", "NUMA", "PF", "IFNAME")


def _row(dev: HostDevice, specs: HostSpecs | None) -> list[str]:
    d = dev.device
    row = [
        str(d.address),
        d.dev_type.value,
        d.vendor_info,
        d.class_id or "-",
        d.driver or "-",
        "-" if d.numa_node is None else str(d.numa_node),
        str(d.parent_addr) if d.parent_addr else "-",
        d.devname or "-",
    ]
    if specs is not None:
        spec = specs.match(d)
        row.append("-" if spec is None else f"#{spec.position}")
    row.append(_names(dev))
    return row


def format_table(scan: Scan, specs: HostSpecs | None = None) -> str:
    """One line per device; with specs, the ``SPEC`` column names the matching entry."""
    header = [*_HEADER, *(("SPEC",) if specs is not None else ()), "NAME"]
    return "\n".join(table_lines(header, [_row(d, specs) for d in scan.devices]))


def _numa_nodes(args: argparse.Namespace, scan: Scan) -> tuple[NumaNode, ...]:
    """sysfs's NUMA nodes with their sockets; through libvirt, the devices' nodes."""
    cells = topology.sysfs_cells(args.root) if args.libvirt is None else ()
    found = tuple((c.id, c.socket) for c in cells)
    if not found:
        nodes = {d.device.numa_node for d in scan.devices if d.device.numa_node is not None}
        found = tuple((n, None) for n in sorted(nodes))
    return tuple(NumaNode(id=n, socket=s) for n, s in found)


def _discover(args: argparse.Namespace) -> Scan:
    if args.libvirt is not None:
        return nodedev.scan(args.libvirt)
    if not (args.root / "sys" / "bus" / "pci" / "devices").is_dir():
        raise ConfigError(f"--root {args.root}: no sys/bus/pci/devices there to scan")
    return sysfs.scan(args.root)


def _print_specs(specs: HostSpecs, parsed: tuple[DeviceSpec, ...], scan: Scan) -> None:
    """How many devices the specs allow, and the pools they form (Nova §3.1)."""
    allowed = sum(1 for d in scan.devices if specs.match(d.device) is not None)
    print(f"\n{allowed} of {len(scan.devices)} devices are assignable by the device_spec")
    pools = build_pools(Inventory.of(scan.pci_devices()), specs)
    if pools:
        print("pools (free devices by scheduling key):")
    for pool in pools:
        position = parsed[pool.spec_index].position
        print(f"  {pool.count:4d} x {pool.kind.describe()}  [{pool.address}, spec #{position}]")
    for problem in specs.problems:
        print(f"{problem.severity}: {problem}", file=sys.stderr)


def run(args: argparse.Namespace) -> int:
    entries: tuple[object, ...] = ()
    parsed: tuple[DeviceSpec, ...] | None = None
    if args.device_spec is not None:
        entries, parsed = load_device_specs(args.device_spec)
    previous = _load_previous(args.previous) if args.previous is not None else None
    scan = _discover(args)
    for warning in scan.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    devices = scan.pci_devices()
    specs = resolve_specs(parsed, Inventory.of(devices)) if parsed is not None else None
    changes = diff(previous, devices).lines() if previous is not None else None
    if args.json:
        host = Host(
            name=args.name or socket.gethostname(),
            numa_nodes=_numa_nodes(args, scan),
            devices=devices,
            device_spec=parsed,
            device_spec_raw=entries if parsed is not None else None,
        )
        print(json.dumps(host_to_json(host), indent=2))
        for line in changes or ():
            print(line, file=sys.stderr)
        return 0
    print(format_table(scan, specs))
    if specs is not None and parsed is not None:
        _print_specs(specs, parsed, scan)
    if changes is not None:
        print(f"\nchanges since {args.previous}:" if changes else "\nno changes since previous")
        for line in changes:
            print(line)
    return 0
