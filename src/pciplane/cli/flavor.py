"""``pciplane flavor create|set|unset|list|show|delete``, as ``openstack flavor`` spells it."""

from __future__ import annotations

import argparse
from typing import Any

from pciplane.cli._api import (
    add_client_args,
    client_from,
    parse_properties,
    print_json,
)
from pciplane.cli.table import print_table
from pciplane.wire.catalog import FlavorOut as Flavor


def register(sub: Any) -> None:
    parser: argparse.ArgumentParser = sub.add_parser("flavor", help="flavors and extra specs")
    cmds = parser.add_subparsers(dest="flavor_command", metavar="ACTION", required=True)
    create = cmds.add_parser("create", help="create a flavor")
    create.add_argument("name")
    create.add_argument("--vcpus", type=int, required=True)
    create.add_argument("--ram", type=int, required=True, help="MiB")
    create.add_argument(
        "--disk", type=int, default=0, help="root disk in GiB (0: the image's size; default)"
    )
    create.add_argument("--property", action="append", metavar="KEY=VALUE")
    create.set_defaults(func=_create)
    set_ = cmds.add_parser("set", help="set or unset extra specs")
    set_.add_argument("name")
    set_.add_argument("--property", action="append", metavar="KEY=VALUE")
    set_.add_argument("--unset-property", action="append", metavar="KEY", default=[])
    set_.set_defaults(func=_set)
    listing = cmds.add_parser("list", help="list flavors")
    listing.set_defaults(func=_list)
    show = cmds.add_parser("show", help="show one flavor")
    show.add_argument("name")
    show.set_defaults(func=_show)
    delete = cmds.add_parser("delete", help="delete a flavor")
    delete.add_argument("name")
    delete.set_defaults(func=_delete)
    for p in (create, set_, listing, show, delete):
        add_client_args(p)


def _specs(flavor: Flavor) -> str:
    return ", ".join(f"{k}='{v}'" for k, v in sorted(flavor.extra_specs.items()))


def _print(args: argparse.Namespace, flavor: Flavor) -> None:
    if args.json:
        print_json(flavor)
        return
    print_table(
        ["FIELD", "VALUE"],
        [
            ("name", flavor.name),
            ("vcpus", flavor.vcpus),
            ("ram", flavor.ram),
            ("disk", flavor.disk),
            ("properties", _specs(flavor)),
        ],
    )


def _create(args: argparse.Namespace) -> int:
    specs = parse_properties(args.property)
    with client_from(args) as client:
        flavor = client.create_flavor(
            args.name, vcpus=args.vcpus, ram=args.ram, extra_specs=specs, disk=args.disk
        )
    _print(args, flavor)
    return 0


def _set(args: argparse.Namespace) -> int:
    specs = parse_properties(args.property)
    with client_from(args) as client:
        flavor = client.set_flavor(args.name, set_=specs, unset=args.unset_property)
    _print(args, flavor)
    return 0


def _list(args: argparse.Namespace) -> int:
    with client_from(args) as client:
        flavors = client.list_flavors()
    if args.json:
        print_json(flavors)
    else:
        print_table(
            ["NAME", "VCPUS", "RAM", "PROPERTIES"],
            [(f.name, f.vcpus, f.ram, _specs(f)) for f in flavors],
        )
    return 0


def _show(args: argparse.Namespace) -> int:
    with client_from(args) as client:
        _print(args, client.get_flavor(args.name))
    return 0


def _delete(args: argparse.Namespace) -> int:
    with client_from(args) as client:
        client.delete_flavor(args.name)
    if args.json:
        print_json({"deleted": args.name})
    return 0
