"""``pciplane fit``: which hosts of a snapshot can take a request, and why not the others."""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from typing import Any

from pciplane.cli.offline import (
    RequestInput,
    add_request_arguments,
    guest_from_input,
    inputs_from_args,
    load_fleet_file,
    settle_heap,
)
from pciplane.cli.snapshot_file import gc_paused
from pciplane.core.fit import Outcome
from pciplane.core.fleet import Fleet
from pciplane.core.index import FleetFit, FleetIndex

SHOWN_HOSTS = 10


def register(sub: Any) -> None:
    parser: argparse.ArgumentParser = sub.add_parser(
        "fit", help="judge every host of a fleet snapshot against a request, with reasons"
    )
    parser.add_argument("--fleet", required=True, metavar="FILE", help="fleet snapshot (JSON)")
    add_request_arguments(parser)
    parser.add_argument("--json", action="store_true", help="print JSON for scripts")
    parser.add_argument("--explain", metavar="HOST", help="show every stage for one host")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    inputs = inputs_from_args(args)
    fleet = load_fleet_file(args.fleet, quiet=args.json)
    guests = [guest_from_input(inp, fleet.aliases) for inp in inputs]
    with gc_paused():
        index = FleetIndex.build(fleet)
    settle_heap()
    results = [index.fit(g) for g in guests]
    if args.explain:
        index.view(args.explain)  # NotFoundError for an unknown host
    if args.json:
        docs = [_result_json(inp, res) for inp, res in zip(inputs, results, strict=True)]
        out = {"results": docs} if args.requests else docs[0]
        json.dump(out, sys.stdout, indent=1)
        print()
    else:
        for inp, res in zip(inputs, results, strict=True):
            _print_result(fleet, inp, res, args.explain)
    return 0 if all(r.fit_count for r in results) else 1


def _result_json(inp: RequestInput, res: FleetFit) -> dict[str, object]:
    doc: dict[str, object] = {}
    if inp.name:
        doc["name"] = inp.name
    doc["request"] = inp.as_json()
    doc["hosts"] = [{"name": v.host, "fits": v.fits, "reason": v.reason} for v in res.reasons()]
    doc["fit_count"] = res.fit_count
    return doc


def describe_input(inp: RequestInput) -> str:
    parts = []
    if inp.alias:
        parts.append(f"pci_passthrough:alias={inp.alias}")
    parts += [f"port {p} ({v})" for p, v in inp.ports]
    if inp.numa_cells is not None:
        parts.append("NUMA cells " + ",".join(map(str, inp.numa_cells)))
    if inp.numa_policy:
        parts.append(f"numa_policy={inp.numa_policy}")
    text = ", ".join(parts) or "no PCI devices"
    return f"{inp.name}: {text}" if inp.name else text


def _print_result(fleet: Fleet, inp: RequestInput, res: FleetFit, explain: str | None) -> None:
    total = len(res.names)
    print(f"request: {describe_input(inp)}")
    print(f"{res.fit_count} of {total} hosts fit")
    fitting = res.hosts_that_fit()
    if fitting:
        more = f" (+{len(fitting) - SHOWN_HOSTS} more)" if len(fitting) > SHOWN_HOSTS else ""
        print("  fit: " + ", ".join(fitting[:SHOWN_HOSTS]) + more)
    reasons: Counter[str] = Counter()
    examples: dict[str, list[str]] = {}
    for v in res.reasons():
        if not v.fits:
            reasons[v.reason] += 1
            examples.setdefault(v.reason, []).append(v.host)
    if reasons:
        print("ruled out:")
        for reason, n in reasons.most_common():
            names = ", ".join(examples[reason][:3]) + (", ..." if n > 3 else "")
            print(f"  {n:>6} hosts: {reason}  [{names}]")
    if explain:
        _print_explanation(explain, res.outcome(explain))
    print()


def _print_explanation(host: str, outcome: Outcome) -> None:
    verdict = "fits" if outcome.fits else f"does not fit: {outcome.reason}"
    print(f"explain {host}: {verdict}")
    print(f"  {'request':<28} {'stage':<16} {'before':>6} {'after':>6}")
    for rec in outcome.stages:
        print(f"  {rec.request:<28} {rec.stage:<16} {rec.before:>6} {rec.after:>6}")
