"""``pciplane capacity``: how many more such servers the fleet can take, and what runs out."""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from typing import Any

from pciplane.cli.request_input import (
    RequestInput,
    add_request_arguments,
    guest_from_input,
    inputs_from_args,
)
from pciplane.cli.snapshot_file import add_fleet_arguments, load_fleet_file
from pciplane.core.capacity import FleetCapacity, fleet_capacity
from pciplane.core.host_rules import capacity_with_rules, ruled_out
from pciplane.core.index import FleetIndex


def register(sub: Any) -> None:
    parser: argparse.ArgumentParser = sub.add_parser(
        "capacity", help="how many more servers of a kind the fleet can take, and what runs out"
    )
    add_fleet_arguments(parser)
    add_request_arguments(parser, many=False)  # one kind of server at a time
    parser.add_argument("--json", action="store_true", help="print JSON for scripts")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    inputs = inputs_from_args(args)
    fleet = load_fleet_file(args.fleet, quiet=args.json, nova_conf=args.nova_conf)
    guest = guest_from_input(inputs[0], fleet.aliases)
    result = capacity_with_rules(
        fleet_capacity(fleet.hosts, FleetIndex.build(fleet), guest),
        ruled_out(fleet.hosts, guest),
    )
    if args.json:
        doc = {
            "request": inputs[0].as_json(),
            "total": result.total,
            "hosts": [
                {"name": h.host, "servers": h.servers, "exhausted_by": h.limited_by}
                for h in result.hosts
            ],
            "runs_out_first": dict(result.limited_by()),
        }
        json.dump(doc, sys.stdout, indent=1)
        print()
    else:
        _print(inputs[0], result)
    return 0 if result.total else 1


def _print(inp: RequestInput, result: FleetCapacity) -> None:
    print(f"request: {inp.describe()}")
    print(f"the fleet can take {result.total} more such servers on {len(result.hosts)} hosts")
    spread = Counter(h.servers for h in result.hosts)
    per_host = ", ".join(f"{k}: {n} hosts" for k, n in sorted(spread.items(), reverse=True))
    print(f"servers per host: {per_host}")
    top = sorted(result.hosts, key=lambda h: -h.servers)[:5]
    print("most room: " + ", ".join(f"{h.host} ({h.servers})" for h in top))
    if result.limited_by():
        print("limited by (the request that no longer fits):")
        for label, n in result.limited_by():
            print(f"  {label}: on {n} hosts")
