"""``pciplane quota show [PROJECT]`` and ``quota set PROJECT --cores N ...``: per-project
limits (Nova's instances, cores, ram; PCI devices per alias; SR-IOV ports per physical
network) with what each project uses."""

from __future__ import annotations

import argparse
from typing import Any

from pciplane.cli._api import add_client_args, client_from, print_json
from pciplane.cli.table import print_table
from pciplane.core.quota import PCI_PREFIX, PORT_PREFIX
from pciplane.wire.quotas import QuotaSetOut


def _pair(text: str) -> tuple[str, int]:
    """``NAME=N`` (N -1 for unlimited)."""
    name, sep, value = text.partition("=")
    try:
        if not sep or not name.strip():
            raise ValueError
        return name.strip(), int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r}: expected NAME=N (N -1 for unlimited)"
        ) from None


def register(sub: Any) -> None:
    parser: argparse.ArgumentParser = sub.add_parser("quota", help="per-project quotas")
    cmds = parser.add_subparsers(dest="quota_command", metavar="ACTION", required=True)
    show = cmds.add_parser("show", help="a project's limits and usage (default: your own)")
    show.add_argument("project", nargs="?")
    show.set_defaults(func=_show)
    change = cmds.add_parser("set", help="set a project's own limits (admin; -1 unlimited)")
    change.add_argument("project")
    change.add_argument("--instances", type=int, metavar="N", help="servers")
    change.add_argument("--cores", type=int, metavar="N", help="vCPUs")
    change.add_argument("--ram", type=int, metavar="MIB", help="RAM in MiB")
    change.add_argument(
        "--pci-devices",
        type=_pair,
        action="append",
        default=[],
        metavar="ALIAS=N",
        help="PCI devices of an alias; repeat",
    )
    change.add_argument(
        "--sriov-ports",
        type=_pair,
        action="append",
        default=[],
        metavar="PHYSNET=N",
        help="SR-IOV ports on a physical network; repeat",
    )
    change.add_argument(
        "--default",
        action="append",
        default=[],
        metavar="RESOURCE",
        help="drop the project's own limit (the default applies); repeat",
    )
    change.set_defaults(func=_set)
    for p in (show, change):
        add_client_args(p)  # fmt: skip


def _print(args: argparse.Namespace, found: QuotaSetOut) -> None:
    if args.json:
        print_json(found)
        return
    print(f"project {found.project}:")
    print_table(
        ["QUOTA", "LIMIT", "IN USE", "SET"],
        [
            (q.resource, "unlimited" if q.limit == -1 else q.limit, q.in_use,
             "project" if q.own else "default")
            for q in found.quotas
        ],
    )  # fmt: skip


def _show(args: argparse.Namespace) -> int:
    with client_from(args) as client:
        found = client.show_quotas(args.project)
    _print(args, found)
    return 0


def _set(args: argparse.Namespace) -> int:
    limits: dict[str, int | None] = {
        name: value
        for name, value in (("instances", args.instances), ("cores", args.cores),
                            ("ram", args.ram))
        if value is not None
    }  # fmt: skip
    limits.update({PCI_PREFIX + alias: n for alias, n in args.pci_devices})
    limits.update({PORT_PREFIX + physnet: n for physnet, n in args.sriov_ports})
    limits.update(dict.fromkeys(args.default))
    if not limits:
        raise argparse.ArgumentTypeError("quota set: give at least one limit to set")
    with client_from(args) as client:
        found = client.set_quotas(args.project, limits)
    _print(args, found)
    return 0
