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
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import platformdirs

from pciplane.cli.flag_types import LOG_LEVELS, api_url, device_mappings, exclude_devices
from pciplane.client import DEFAULT_API, Client
from pciplane.conf.nova_conf import read_allocation_options
from pciplane.conf.pci_entries import FILE_HELP, load_device_specs
from pciplane.core.allocation import SETTING_NAMES, Allocation
from pciplane.core.errors import ConfigError
from pciplane.core.sriov_agent import SriovAgentConfig
from pciplane.host.agent import Agent, AgentConfig, libvirt_scanner, sysfs_scanner
from pciplane.host.agent_power import SHUTDOWN_TIMEOUT
from pciplane.host.disks import DiskStore
from pciplane.host.libvirt_driver import LibvirtDriver
from pciplane.host.vf_wiring import VfWirer
from pciplane.sim.memory_hypervisor import MemoryHypervisor

KVM_URI = "qemu:///system"
MEMORY = "memory:"


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
        "host; memory:/// for an in-memory hypervisor that can hot plug, with "
        "--sysfs-root); also the device source when --sysfs-root is not given",
    )
    parser.add_argument(
        "--device-spec",
        type=Path,
        metavar="FILE",
        help=f"this host's [pci] device_spec entries: {FILE_HELP} (default: the service's "
        "fleet-wide device_spec setting applies to this host)",
    )
    net = parser.add_argument_group(
        "network (Neutron's SR-IOV agent options, in its syntax)",
        "reported with each registration; GET /v2.0/agents shows them",
    )
    net.add_argument(
        "--physical-device-mappings",
        type=device_mappings,
        default={},
        metavar="PHYSNET:PF[,...]",
        help="physical networks to PF interfaces, e.g. physnet1:ens1f0,physnet2:ens2f0",
    )
    net.add_argument(
        "--exclude-devices",
        type=exclude_devices,
        default={},
        metavar="PF:ADDR[;ADDR][,...]",
        help="VFs of a mapped PF kept from guests, e.g. ens1f0:0000:3b:02.2;0000:3b:02.3",
    )
    net.add_argument(
        "--sriov-auto-all",
        action="store_true",
        help="every VF of the mapped PFs is assignable, tagged with its physnet",
    )
    net.add_argument(
        "--sriov-only", action="store_true", help="take only servers with an SR-IOV port"
    )
    net.add_argument(
        "--sriov-pci-group", metavar="NAME", help="the named group of this host's SR-IOV ports"
    )
    parser.add_argument(
        "--state-dir",
        type=Path,
        metavar="DIR",
        help="where the agent caches images and keeps each server's disk overlay "
        "(default: the user's state directory, per host name)",
    )
    cpu = parser.add_argument_group(
        "CPUs and memory (Nova's option names; reported with each registration)",
        "read from --nova-conf ([DEFAULT] and [compute]), then the environment "
        "(PCIPLANE_<OPTION> in capitals), then these flags, the last one given winning",
    )
    cpu.add_argument(
        "--nova-conf", type=Path, metavar="FILE", help="a compute's nova.conf to read them from"
    )
    for name in SETTING_NAMES:
        cpu.add_argument(f"--{name.replace('_', '-')}", dest=name, metavar="VALUE")
    parser.add_argument("--once", action="store_true", help="one turn, then exit")
    parser.add_argument(
        "--interval", type=float, default=2.0, help="seconds between polls (%(default)s)"
    )
    parser.add_argument(
        "--rescan-interval", type=float, default=30.0, help="seconds between rescans"
    )
    parser.add_argument(
        "--shutdown-timeout",
        type=float,
        default=SHUTDOWN_TIMEOUT,
        metavar="SECONDS",
        help="seconds a guest has to shut down cleanly on a stop or a soft reboot before "
        "it is powered off (Nova's shutdown_timeout; %(default)s)",
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
    if args.shutdown_timeout < 0:
        raise ConfigError("--shutdown-timeout must not be negative")
    name = args.name or socket.gethostname()
    uri = args.libvirt
    raw, specs = load_device_specs(args.device_spec) if args.device_spec else (None, None)
    logging.basicConfig(
        level=args.log_level.upper(), format=f"%(asctime)s agent {name}: %(message)s"
    )
    # httpx logs every request at INFO: one line per poll, ~43,000 a day per host.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    if uri.startswith(MEMORY) and args.sysfs_root is None:
        raise ConfigError(f"--libvirt {uri} (in memory) has no node devices: give --sysfs-root")
    scanner = sysfs_scanner(args.sysfs_root) if args.sysfs_root else libvirt_scanner(uri)
    network = SriovAgentConfig(
        physical_device_mappings=args.physical_device_mappings,
        exclude_devices=args.exclude_devices,
        sriov_auto_all=args.sriov_auto_all,
        sriov_only=args.sriov_only,
        sriov_pci_group=args.sriov_pci_group,
    )
    config = AgentConfig(
        allocation=allocation_settings(args, os.environ),
        name=name,
        device_spec_raw=raw,
        device_spec=specs,
        interval=args.interval,
        rescan_interval=args.rescan_interval,
        network=network,
        shutdown_timeout=args.shutdown_timeout,
    )
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda _n, _f: stop.set())
    state = args.state_dir or Path(platformdirs.user_state_dir("pciplane")) / f"agent-{name}"
    with _hypervisor(uri) as driver, Client(args.api, args.token) as client:
        agent = Agent(
            config=config,
            api=client,
            hypervisor=driver,
            scanner=scanner,
            wirer=_wirer(uri),
            disks=DiskStore(state, client.download_image),
        )
        agent.run(stop, once=args.once)
    return 0


def allocation_settings(args: argparse.Namespace, env: Mapping[str, str]) -> Allocation:
    """The host's allocation settings: nova.conf, then ``PCIPLANE_*``, then flags."""
    values: dict[str, object] = {}
    if args.nova_conf is not None:
        values.update(read_allocation_options(args.nova_conf))
    for name in SETTING_NAMES:
        if env.get(f"PCIPLANE_{name.upper()}"):
            values[name] = env[f"PCIPLANE_{name.upper()}"]
        if getattr(args, name, None) is not None:
            values[name] = getattr(args, name)
    return Allocation.from_json(values, where="agent settings")


def _hypervisor(uri: str) -> LibvirtDriver:
    """libvirt at ``uri``; ``memory:///`` is the in-memory hypervisor, which hot-plugs
    (libvirt's test driver cannot) and checks every XML with libvirt's schema."""
    if uri.startswith(MEMORY):
        return LibvirtDriver(MemoryHypervisor(), uri=uri)
    return LibvirtDriver.connect(uri)


def _wirer(uri: str) -> VfWirer:
    """Netlink on a real hypervisor's host (it owns the VFs); nothing on the test driver
    or the in-memory one, whose hosts are synthetic: there the VF settings are recorded."""
    if uri.startswith(("test:", MEMORY)):
        return VfWirer(None, reason=f"{uri} runs synthetic hosts: their NICs are not touched")
    try:
        from pyroute2 import IPRoute
    except ImportError:  # pragma: no cover - the host extra is not installed
        return VfWirer(None, reason="pyroute2 is not installed (pip install pciplane[host])")
    return VfWirer(IPRoute())
