"""``pciplane fit``: which hosts of a snapshot can take a request, and why not the others.

``--json`` prints shared/fleet-format.md's object; ``--explain HOST`` adds, under
``"explain"``, what every stage left for that host, the same table the text shows.
"""

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
from pciplane.cli.snapshot_file import add_fleet_arguments, load_fleet_file, settle_heap
from pciplane.cli.snapshot_stream import gc_paused
from pciplane.core.fit import Outcome
from pciplane.core.host_rules import ruled_out, with_rules
from pciplane.core.index import FleetFit, FleetIndex

SHOWN_HOSTS = 10


def register(sub: Any) -> None:
    parser: argparse.ArgumentParser = sub.add_parser(
        "fit", help="judge every host of a fleet snapshot against a request, with reasons"
    )
    add_fleet_arguments(parser)
    add_request_arguments(parser)
    parser.add_argument("--json", action="store_true", help="print JSON for scripts")
    parser.add_argument("--explain", metavar="HOST", help="show every stage for one host")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    inputs = inputs_from_args(args)
    fleet = load_fleet_file(args.fleet, quiet=args.json, nova_conf=args.nova_conf)
    guests = [guest_from_input(inp, fleet.aliases) for inp in inputs]
    with gc_paused():
        index = FleetIndex.build(fleet)
    settle_heap()
    results = [with_rules(index.fit(g), ruled_out(fleet.hosts, g)) for g in guests]
    if args.explain:
        index.view(args.explain)  # NotFoundError for an unknown host
    if args.json:
        docs = [
            _result_json(inp, res, args.explain) for inp, res in zip(inputs, results, strict=True)
        ]
        out = {"results": docs} if args.requests else docs[0]
        json.dump(out, sys.stdout, indent=1)
        print()
    else:
        for inp, res in zip(inputs, results, strict=True):
            _print_result(inp, res, args.explain)
    return 0 if all(r.fit_count for r in results) else 1


def _result_json(inp: RequestInput, res: FleetFit, explain: str | None) -> dict[str, object]:
    doc: dict[str, object] = {}
    if inp.name:
        doc["name"] = inp.name
    doc["request"] = inp.as_json()
    doc["hosts"] = [{"name": v.host, "fits": v.fits, "reason": v.reason} for v in res.reasons()]
    doc["fit_count"] = res.fit_count
    if explain:
        outcome = res.outcome(explain)
        doc["explain"] = {
            "host": explain,
            "fits": outcome.fits,
            "reason": outcome.reason,
            "stages": [
                {
                    "request": s.request,
                    "stage": s.stage,
                    "before": s.before,
                    "after": s.after,
                    **({"note": s.note} if s.note else {}),
                }
                for s in outcome.stages
            ],
        }
    return doc


def _print_result(inp: RequestInput, res: FleetFit, explain: str | None) -> None:
    total = len(res.names)
    print(f"request: {inp.describe()}")
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
        note = f"  {rec.note}" if rec.note else ""
        print(f"  {rec.request:<28} {rec.stage:<16} {rec.before:>6} {rec.after:>6}{note}")
