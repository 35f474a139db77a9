"""``pciplane server create|list|show|delete``: servers of the caller's project."""

from __future__ import annotations

import argparse
from typing import Any

from pciplane.cli._api import add_client_args, client_from, print_json
from pciplane.cli.table import print_table
from pciplane.wire.servers import ServerOut as Server


def register(sub: Any) -> None:
    parser: argparse.ArgumentParser = sub.add_parser("server", help="servers")
    cmds = parser.add_subparsers(dest="server_command", metavar="ACTION", required=True)
    create = cmds.add_parser("create", help="create a server from a flavor")
    create.add_argument("name")
    create.add_argument("--flavor", required=True)
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
    delete = cmds.add_parser("delete", help="delete a server (name or id)")
    delete.add_argument("server")
    delete.add_argument("--wait", action="store_true", help="wait until it is DELETED")
    delete.add_argument("--timeout", type=float, default=300.0)
    delete.set_defaults(func=_delete)
    for p in (create, listing, show, delete):
        add_client_args(p)


def _print(args: argparse.Namespace, server: Server) -> None:
    if args.json:
        print_json(server)
        return
    rows: list[tuple[str, object]] = [
        ("id", server.id),
        ("name", server.name),
        ("project", server.project),
        ("flavor", server.flavor),
        ("state", server.state),
        ("task", server.task),
        ("host", server.host),
        ("devices", ", ".join(server.devices)),
        ("attempts", server.attempts),
        ("reason", server.reason),
    ]
    rows += [(f"fault ({f.host})", f.reason) for f in server.faults]
    print_table(["FIELD", "VALUE"], rows)


def _create(args: argparse.Namespace) -> int:
    with client_from(args) as client:
        server = client.create_server(args.name, flavor=args.flavor)
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
