"""``pciplane host list|show|disable|enable``: hosts, their pools used and free, the
servers on each with the devices and ports they hold, and taking a host out of (and
back into) scheduling."""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

from pciplane.cli._api import add_client_args, client_from, print_json
from pciplane.cli.table import print_table
from pciplane.wire.hosts import HostOut


def register(sub: Any) -> None:
    parser: argparse.ArgumentParser = sub.add_parser("host", help="hosts and their PCI pools")
    cmds = parser.add_subparsers(dest="host_command", metavar="ACTION", required=True)
    listing = cmds.add_parser("list", help="list hosts")
    listing.set_defaults(func=_list)
    show = cmds.add_parser("show", help="one host's pools")
    show.add_argument("name")
    show.add_argument(
        "--wait",
        type=float,
        metavar="SECONDS",
        help="first wait until the host is registered and its agent alive",
    )
    show.set_defaults(func=_show)
    disable = cmds.add_parser("disable", help="place no new servers on the host")
    disable.add_argument("name")
    disable.add_argument("--reason", help="why (shown in 'no valid host' explanations)")
    disable.set_defaults(func=_disable)
    enable = cmds.add_parser("enable", help="place servers on the host again")
    enable.add_argument("name")
    enable.set_defaults(func=_enable)
    for p in (listing, show, disable, enable):
        add_client_args(p)


def _age(host: HostOut) -> str:
    if host.last_seen is None:
        return "never"
    return f"{max(0.0, time.time() - host.last_seen):.0f}s ago"


def _list(args: argparse.Namespace) -> int:
    with client_from(args) as client:
        hosts = client.list_hosts()
    if args.json:
        print_json(hosts)
        return 0
    print_table(
        ["NAME", "DEVICES", "USED", "FREE", "GENERATION", "AGENT SEEN", "STATUS"],
        [
            (
                h.name,
                h.devices,
                sum(p.used for p in h.pools),
                sum(p.free for p in h.pools),
                h.generation,
                _age(h),
                _status(h),
            )
            for h in hosts
        ],
    )
    return 0


def _status(host: HostOut) -> str:
    if not host.disabled:
        return "enabled"
    return f"disabled ({host.disabled_reason})" if host.disabled_reason else "disabled"


def _disable(args: argparse.Namespace) -> int:
    with client_from(args) as client:
        _print_status(args, client.disable_host(args.name, reason=args.reason))
    return 0


def _enable(args: argparse.Namespace) -> int:
    with client_from(args) as client:
        _print_status(args, client.enable_host(args.name))
    return 0


def _print_status(args: argparse.Namespace, host: HostOut) -> None:
    if args.json:
        print_json(host)
    else:
        print(f"host {host.name}: {_status(host)}")


def _show(args: argparse.Namespace) -> int:
    with client_from(args) as client:
        if args.wait is not None:
            client.wait_until(
                lambda: client.get_host(args.name).alive,
                timeout=args.wait,
                what=f"host {args.name}'s agent is not alive",
            )
        host = client.get_host(args.name)
    if args.json:
        print_json(host)
        return 0
    agent = "alive" if host.alive else "down"
    print(
        f"host {host.name}: {host.devices} devices, generation {host.generation}, "
        f"agent {agent} (seen {_age(host)}), {_status(host)}"
    )
    if host.network:
        shown = ", ".join(f"{k}={json.dumps(v)}" for k, v in host.network.items() if v)
        print(f"agent network: {shown}")
    print_table(
        ["POOL", "PHYSNET", "TOTAL", "USED", "FREE"],
        [(p.pool, p.physical_network, p.total, p.used, p.free) for p in host.pools],
    )
    if host.servers:
        print()
        print_table(
            ["SERVER", "PROJECT", "STATE", "DEVICES", "PORTS"],
            [
                (
                    f"{s.name} ({s.id})",
                    s.project,
                    s.state if s.task is None else f"{s.state} ({s.task})",
                    ", ".join(s.devices),
                    ", ".join(f"{p.name or p.id} {p.vnic_type} {p.pci_slot or ''}".strip()
                              for p in s.ports),
                )
                for s in host.servers
            ],
        )  # fmt: skip
    return 0
