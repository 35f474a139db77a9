"""``pciplane agent``: the host agent of one compute host (pciplane.host.agent).

It drives the guests through libvirt at ``--libvirt URI``, which is always required:
an agent that quietly chose a hypervisor for itself would start guests somewhere the
operator did not say. It finds the host's devices in sysfs under ``--sysfs-root DIR``,
or else through that libvirt's node devices, allows those ``--device-spec FILE`` (a
JSON list or a nova.conf) names, and talks to the service only through the client.
SIGTERM and SIGINT stop it after the action under way; ``--once`` does one turn.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import socket
import threading
from pathlib import Path
from typing import Any

from pciplane.cli.flag_types import LOG_LEVELS, api_url
from pciplane.client import DEFAULT_API, Client
from pciplane.conf.pci_entries import FILE_HELP, load_device_specs
from pciplane.core.errors import ConfigError
from pciplane.host.agent import Agent, AgentConfig, libvirt_scanner, sysfs_scanner
from pciplane.host.libvirt_driver import LibvirtDriver

KVM_URI = "qemu:///system"


def register(sub: Any) -> None:
    parser: argparse.ArgumentParser = sub.add_parser(
        "agent", help="run the host agent (register, take work, drive libvirt)"
    )
    parser.add_argument(
        "--api",
        type=api_url,
        default=os.environ.get("PCIPLANE_API", DEFAULT_API),
        help="the service's URL (env PCIPLANE_API; default %(default)s)",
    )
    parser.add_argument(
        "--token", default=os.environ.get("PCIPLANE_TOKEN"), help="this host's agent token"
    )
    parser.add_argument("--name", help="host name (default: this hostname)")
    parser.add_argument(
        "--sysfs-root", type=Path, metavar="DIR", help="discover devices from DIR/sys"
    )
    parser.add_argument(
        "--libvirt",
        metavar="URI",
        help=f"required: the libvirt connection the guests run on ({KVM_URI} on a KVM "
        "host); also the device source when --sysfs-root is not given",
    )
    parser.add_argument(
        "--device-spec",
        type=Path,
        metavar="FILE",
        help=f"this host's [pci] device_spec entries: {FILE_HELP} (default: the service's "
        "fleet-wide device_spec setting applies to this host)",
    )
    parser.add_argument("--once", action="store_true", help="one turn, then exit")
    parser.add_argument(
        "--interval", type=float, default=2.0, help="seconds between polls (%(default)s)"
    )
    parser.add_argument(
        "--rescan-interval", type=float, default=30.0, help="seconds between rescans"
    )
    parser.add_argument("--log-level", default="info", choices=LOG_LEVELS)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.libvirt is None:
        raise ConfigError(
            f"--libvirt URI is required: the hypervisor the guests run on ({KVM_URI} on a "
            "KVM host); --sysfs-root only says where to find the devices"
        )
    if args.interval <= 0 or args.rescan_interval <= 0:
        raise ConfigError("--interval and --rescan-interval must be positive")
    name = args.name or socket.gethostname()
    uri = args.libvirt
    raw, specs = load_device_specs(args.device_spec) if args.device_spec else (None, None)
    logging.basicConfig(
        level=args.log_level.upper(), format=f"%(asctime)s agent {name}: %(message)s"
    )
    # httpx logs every request at INFO: one line per poll, ~43,000 a day per host.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    scanner = sysfs_scanner(args.sysfs_root) if args.sysfs_root else libvirt_scanner(uri)
    config = AgentConfig(
        name=name,
        device_spec_raw=raw,
        device_spec=specs,
        interval=args.interval,
        rescan_interval=args.rescan_interval,
    )
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda _n, _f: stop.set())
    with LibvirtDriver.connect(uri) as driver, Client(args.api, args.token) as client:
        Agent(config=config, api=client, hypervisor=driver, scanner=scanner).run(
            stop, once=args.once
        )
    return 0
