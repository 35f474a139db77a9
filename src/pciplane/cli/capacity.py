"""``pciplane capacity``: how many more such servers the fleet can take, and what runs out.

Servers are placed one by one with real claims on each host until the next one no
longer fits; the reason the last one failed names the device class that ran out.
Hosts in the same state have the same capacity, so each distinct state is worked once.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from dataclasses import dataclass
from typing import Any

from pciplane.cli.fit import describe_input
from pciplane.cli.offline import (
    add_request_arguments,
    guest_from_input,
    inputs_from_args,
    load_fleet_file,
)
from pciplane.core.claim import claim
from pciplane.core.device import Inventory
from pciplane.core.errors import RequestError
from pciplane.core.fit import GuestRequest, HostView
from pciplane.core.fleet import Fleet, Host, replace_devices
from pciplane.core.index import FleetIndex

#: A bound for requests whose devices never run out on a host (defensive; see below).
MAX_PER_HOST = 10_000


@dataclass(frozen=True, kw_only=True, slots=True)
class HostCapacity:
    servers: int
    exhausted_by: str  # the request label that failed first, "" if none


def host_capacity(host: Host, fleet: Fleet, guest: GuestRequest) -> HostCapacity:
    specs = fleet.specs_for(host)
    inventory = Inventory.of(host.devices)
    for placed in range(MAX_PER_HOST):
        current = replace_devices(host, tuple(inventory))
        verdict = HostView.build(current, specs).fit(guest)
        if not verdict.fits:
            return HostCapacity(servers=placed, exhausted_by=verdict.reason.split(": ", 1)[0])
        inventory = claim(inventory, verdict, guest, owner=f"capacity-{placed}")
    return HostCapacity(servers=MAX_PER_HOST, exhausted_by="")


def register(sub: Any) -> None:
    parser: argparse.ArgumentParser = sub.add_parser(
        "capacity", help="how many more servers of a kind the fleet can take, and what runs out"
    )
    parser.add_argument("--fleet", required=True, metavar="FILE", help="fleet snapshot (JSON)")
    add_request_arguments(parser)
    parser.add_argument("--json", action="store_true", help="print JSON for scripts")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    inputs = inputs_from_args(args)
    if len(inputs) != 1:
        raise RequestError("capacity takes one request; --requests is for fit")
    fleet = load_fleet_file(args.fleet, quiet=args.json)
    guest = guest_from_input(inputs[0], fleet.aliases)
    if not guest.pci:
        raise RequestError("the request asks for no PCI device, so PCI capacity is unbounded")
    index = FleetIndex.build(fleet)
    by_state: dict[tuple[object, ...], HostCapacity] = {}
    per_host: list[tuple[str, HostCapacity]] = []
    for host in fleet.hosts:
        state = index.view(host.name).signature
        cap = by_state.get(state)
        if cap is None:
            cap = by_state[state] = host_capacity(host, fleet, guest)
        per_host.append((host.name, cap))
    total = sum(c.servers for _, c in per_host)
    runs_out = Counter(c.exhausted_by for _, c in per_host if c.exhausted_by)
    if args.json:
        doc = {
            "request": inputs[0].as_json(),
            "total": total,
            "hosts": [
                {"name": n, "servers": c.servers, "exhausted_by": c.exhausted_by}
                for n, c in per_host
            ],
            "runs_out_first": dict(runs_out.most_common()),
        }
        json.dump(doc, sys.stdout, indent=1)
        print()
    else:
        _print(inputs[0], per_host, total, runs_out)
    return 0 if total else 1


def _print(inp: Any, per_host: list[tuple[str, HostCapacity]], total: int,
           runs_out: Counter[str]) -> None:  # fmt: skip
    print(f"request: {describe_input(inp)}")
    print(f"the fleet can take {total} more such servers on {len(per_host)} hosts")
    spread = Counter(c.servers for _, c in per_host)
    print("servers per host: " + ", ".join(
        f"{k}: {n} hosts" for k, n in sorted(spread.items(), reverse=True)))  # fmt: skip
    top = sorted(per_host, key=lambda hc: -hc[1].servers)[:5]
    print("most room: " + ", ".join(f"{n} ({c.servers})" for n, c in top))
    if runs_out:
        print("limited by (the request that no longer fits):")
        for label, n in runs_out.most_common():
            print(f"  {label}: on {n} hosts")
