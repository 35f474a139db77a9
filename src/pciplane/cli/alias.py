"""``pciplane alias create|list|delete|reload``: the service's ``[pci] alias`` entries."""

from __future__ import annotations

import argparse
import json
from typing import Any

from pciplane.cli._api import add_client_args, client_from, print_json
from pciplane.cli.table import print_table
from pciplane.core.errors import ConfigError


def register(sub: Any) -> None:
    parser: argparse.ArgumentParser = sub.add_parser("alias", help="PCI aliases (Nova [pci] alias)")
    cmds = parser.add_subparsers(dest="alias_command", metavar="ACTION", required=True)
    create = cmds.add_parser("create", help="add an alias entry")
    create.add_argument("name", nargs="?", help="the alias name (or give --entry)")
    create.add_argument("--vendor-id")
    create.add_argument("--product-id")
    create.add_argument("--device-type", choices=["type-PCI", "type-PF", "type-VF", "vdpa"])
    create.add_argument("--numa-policy", choices=["required", "legacy", "preferred", "socket"])
    create.add_argument("--entry", help="the whole entry as JSON, exactly as in nova.conf")
    create.set_defaults(func=_create)
    listing = cmds.add_parser("list", help="list alias entries")
    listing.set_defaults(func=_list)
    delete = cmds.add_parser("delete", help="delete every entry of an alias")
    delete.add_argument("name")
    delete.set_defaults(func=_delete)
    reload = cmds.add_parser("reload", help="reload the service's alias file")
    reload.set_defaults(func=_reload)
    for p in (create, listing, delete, reload):
        add_client_args(p)


def _entry(args: argparse.Namespace) -> dict[str, object]:
    if args.entry is not None:
        try:
            entry = json.loads(args.entry)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"--entry is not JSON: {exc}") from None
        if not isinstance(entry, dict):
            raise ConfigError("--entry must be a JSON object")
        if args.name:
            if "name" in entry and entry["name"] != args.name:
                raise ConfigError(
                    f"--entry names alias {entry['name']!r}, not {args.name!r}: "
                    "give one name, or the same one twice"
                )
            entry.setdefault("name", args.name)
        return entry
    if not args.name:
        raise ConfigError("give the alias name, or --entry with a whole alias entry")
    fields = {
        "name": args.name,
        "vendor_id": args.vendor_id,
        "product_id": args.product_id,
        "device_type": args.device_type,
        "numa_policy": args.numa_policy,
    }
    return {k: v for k, v in fields.items() if v is not None}


def _create(args: argparse.Namespace) -> int:
    with client_from(args) as client:
        alias = client.create_alias(_entry(args))
    if args.json:
        print_json(alias)
    else:
        print(f"alias {alias.name}: {json.dumps(alias.entry, sort_keys=True)}")
    return 0


def _list(args: argparse.Namespace) -> int:
    with client_from(args) as client:
        listing = client.list_aliases()
    if args.json:
        print_json(listing)
    else:
        print(f"source: {listing.source}")
        rows = [(a.name, json.dumps(a.entry, sort_keys=True)) for a in listing.aliases]
        print_table(["NAME", "ENTRY"], rows)
    return 0


def _delete(args: argparse.Namespace) -> int:
    with client_from(args) as client:
        client.delete_alias(args.name)
    if args.json:
        print_json({"deleted": args.name})
    return 0


def _reload(args: argparse.Namespace) -> int:
    with client_from(args) as client:
        listing = client.reload_aliases()
    if args.json:
        print_json(listing)
    else:
        print(f"{len(listing.aliases)} alias entries loaded from {listing.source}")
    return 0
