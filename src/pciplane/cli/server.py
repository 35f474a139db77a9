"""``pciplane server create|list|show|delete|stop|start|reboot``: servers of the caller's
project."""

from __future__ import annotations

import argparse
from typing import Any

from pciplane.cli._api import add_client_args, client_from, print_json
from pciplane.cli.table import print_table
from pciplane.client import Client
from pciplane.client.http import SETTLED_STATES
from pciplane.wire.servers import NicOut
from pciplane.wire.servers import ServerOut as Server


def register(sub: Any) -> None:
    parser: argparse.ArgumentParser = sub.add_parser("server", help="servers")
    cmds = parser.add_subparsers(dest="server_command", metavar="ACTION", required=True)
    create = cmds.add_parser("create", help="create a server from a flavor")
    create.add_argument("name")
    create.add_argument("--flavor", required=True)
    create.add_argument(
        "--image",
        metavar="NAME|ID",
        help="the image to boot from (a qcow2 overlay of it is the guest's disk); "
        "none for a flavor with disk 0",
    )
    create.add_argument(
        "--nic",
        action="append",
        type=nic,
        default=[],
        metavar="net-id=NET[,vnic-type=T][,pci-group=G] | port-id=PORT",
        help="a NIC: a new port on a network (name or id), or an existing port; repeat",
    )
    create.add_argument("--wait", action="store_true", help="wait for ACTIVE or ERROR")
    create.add_argument("--timeout", type=float, default=300.0)
    create.set_defaults(func=_create)
    listing = cmds.add_parser("list", help="list servers")
    listing.add_argument("--all", action="store_true", help="include DELETED servers")
    listing.set_defaults(func=_list)
    show = cmds.add_parser("show", help="show one server (name or id)")
    show.add_argument("server")
    show.add_argument("--xml", action="store_true", help="print only the domain XML")
    show.set_defaults(func=_show)
    for verb, func in (("add", _add_port), ("remove", _remove_port)):
        action = cmds.add_parser(verb, help=f"{verb} a port to a running server (hot plug)")
        what = action.add_subparsers(dest=f"{verb}_what", metavar="WHAT", required=True)
        port_cmd = what.add_parser("port", help=f"server {verb} port SERVER PORT")
        port_cmd.add_argument("server")
        port_cmd.add_argument("port")
        port_cmd.set_defaults(func=func)
        add_client_args(port_cmd)
    delete = cmds.add_parser("delete", help="delete a server (name or id)")
    delete.add_argument("server")
    delete.add_argument("--wait", action="store_true", help="wait until it is DELETED")
    delete.add_argument("--timeout", type=float, default=300.0)
    delete.set_defaults(func=_delete)
    for p in (create, listing, show, delete):
        add_client_args(p)
    register_power(cmds)


#: Each power action's help and the state it ends in.
POWER_VERBS = {
    "stop": ("shut the guest down; its devices and ports stay claimed", "SHUTOFF"),
    "start": ("start a stopped (SHUTOFF) server's guest again", "ACTIVE"),
    "reboot": ("reboot: clean shutdown and start; --hard: power off, define afresh, start",
               "ACTIVE"),
}  # fmt: skip


def register_power(cmds: Any) -> None:
    for verb, (text, _state) in POWER_VERBS.items():
        action = cmds.add_parser(verb, help=text)
        action.add_argument("server", help="name or id")
        if verb == "reboot":
            action.add_argument(
                "--hard", action="store_true", help="power off at once and define afresh"
            )
        action.add_argument(
            "--wait", action="store_true", help="wait until the host's agent has done it"
        )
        action.add_argument("--timeout", type=float, default=300.0)
        action.set_defaults(func=_power, verb=verb)
        add_client_args(action)


def _power(args: argparse.Namespace) -> int:
    """Exit 0 when queued (or, with --wait, done as asked), 1 when it ended otherwise."""
    with client_from(args) as client:
        server_id = client.find_server(args.server).id
        if args.verb == "stop":
            server = client.stop_server(server_id)
        elif args.verb == "start":
            server = client.start_server(server_id)
        else:
            server = client.reboot_server(server_id, hard=args.hard)
        if args.wait:
            server = client.wait_server(server.id, until=SETTLED_STATES, timeout=args.timeout)
    _print(args, server)
    return 1 if args.wait and server.state != POWER_VERBS[args.verb][1] else 0


def _print(args: argparse.Namespace, server: Server) -> None:
    if args.json:
        print_json(server)
        return
    rows: list[tuple[str, object]] = [
        ("id", server.id),
        ("name", server.name),
        ("project", server.project),
        ("flavor", server.flavor),
        ("image", server.image or ""),
        ("state", server.state),
        ("task", server.task),
        ("host", server.host),
        ("devices", ", ".join(server.devices)),
        ("attempts", server.attempts),
        ("reason", server.reason),
    ]
    rows += [(f"fault ({f.host})", f.reason) for f in server.faults]
    rows += [(f"nic {i}", nic_line(n)) for i, n in enumerate(server.nics)]
    print_table(["FIELD", "VALUE"], rows)


def nic_line(nic: NicOut) -> str:
    """``port p1 (id) network N direct VF 0000:3b:02.0 vlan 100 hw_veb on cmp1 ACTIVE``."""
    name = f"{nic.port_name} ({nic.port_id})" if nic.port_name else nic.port_id
    parts = [f"port {name}", f"network {nic.network_id}", nic.vnic_type]
    if nic.pci_slot:
        parts.append(f"device {nic.pci_slot}")
    if nic.vlan is not None:
        parts.append(f"vlan {nic.vlan}")
    parts.append(nic.vif_type + (f" on {nic.host}" if nic.host else ""))
    parts.append(nic.status)
    return " ".join(parts)


NIC_KEYS = {"net-id": "net_id", "port-id": "port_id", "vnic-type": "vnic_type",
            "pci-group": "pci_group"}  # fmt: skip


def nic(text: str) -> dict[str, str]:
    """``net-id=NET[,vnic-type=T][,pci-group=G]`` or ``port-id=PORT`` (the seed's syntax)."""
    out: dict[str, str] = {}
    for item in text.split(","):
        key, sep, value = (part.strip() for part in item.partition("="))
        if not sep or key not in NIC_KEYS or not value:
            raise argparse.ArgumentTypeError(
                f"{item!r}: expected KEY=VALUE with KEY one of {', '.join(NIC_KEYS)}"
            )
        out[NIC_KEYS[key]] = value
    if ("net_id" in out) == ("port_id" in out):
        raise argparse.ArgumentTypeError(f"{text!r}: give net-id or port-id, not both")
    return out


def _resolve(client: Client, entry: dict[str, str]) -> dict[str, str]:
    """Names to ids, as the openstack CLI finds them."""
    if "net_id" in entry:
        return {**entry, "net_id": client.find_network(entry["net_id"]).id}
    return {**entry, "port_id": client.find_port(entry["port_id"]).id}


def _create(args: argparse.Namespace) -> int:
    with client_from(args) as client:
        nics = [_resolve(client, entry) for entry in args.nic]
        server = client.create_server(args.name, flavor=args.flavor, nics=nics, image=args.image)
        if args.wait and server.state == "BUILD":
            server = client.wait_server(server.id, timeout=args.timeout)
    _print(args, server)
    return 1 if server.state == "ERROR" else 0


def _list(args: argparse.Namespace) -> int:
    with client_from(args) as client:
        servers = client.list_servers(include_deleted=args.all)
    if args.json:
        print_json(servers)
    else:
        print_table(
            ["ID", "NAME", "STATE", "HOST", "FLAVOR", "DEVICES"],
            [(s.id, s.name, s.state, s.host, s.flavor, ", ".join(s.devices)) for s in servers],
        )
    return 0


def _show(args: argparse.Namespace) -> int:
    with client_from(args) as client:
        server = client.find_server(args.server)
    if args.xml:
        print(server.domain_xml or "", end="")
    else:
        _print(args, server)
    return 0


def _delete(args: argparse.Namespace) -> int:
    with client_from(args) as client:
        server = client.delete_server(client.find_server(args.server).id)
        if args.wait:
            server = client.wait_server(server.id, until={"DELETED", "ERROR"}, timeout=args.timeout)
    _print(args, server)
    return 0


def _add_port(args: argparse.Namespace) -> int:
    """Answers once the host's agent has hot-plugged it, or why not (nothing changed)."""
    with client_from(args) as client:
        server = client.find_server(args.server)
        port = client.find_port(args.port)
        server = client.add_port(server.id, port.id)
    _print(args, server)
    return 0


def _remove_port(args: argparse.Namespace) -> int:
    with client_from(args) as client:
        server = client.find_server(args.server)
        port = client.find_port(args.port)
        server = client.remove_port(server.id, port.id)
    _print(args, server)
    return 0
