"""``pciplane lint``: validate device_spec and alias entries, alone or against a fleet."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from pciplane.cli.offline import read_json
from pciplane.core.errors import SnapshotError
from pciplane.core.lint import LintReport, check_entries, lint_fleet
from pciplane.core.snapshot import load_fleet

#: Up to this many hosts, lint prints the per-host match table in full.
HOST_TABLE_LIMIT = 20


def register(sub: Any) -> None:
    parser: argparse.ArgumentParser = sub.add_parser(
        "lint", help="check device_spec and alias entries, and what they mean on a fleet"
    )
    parser.add_argument("--fleet", metavar="FILE", help="fleet snapshot (JSON)")
    parser.add_argument("--device-spec", metavar="FILE", help="JSON list of device_spec entries")
    parser.add_argument("--alias", metavar="FILE", help="JSON list of alias entries")
    parser.add_argument("--host", action="append", default=[], help="show this host in full")
    parser.add_argument("--json", action="store_true", help="print JSON for scripts")
    parser.set_defaults(func=run)


def _entries(path: str | None, what: str) -> list[object]:
    if path is None:
        return []
    doc = read_json(path, what)
    if not isinstance(doc, list):
        raise SnapshotError(f"{what} {path}: expected a JSON list of entries")
    return doc


def run(args: argparse.Namespace) -> int:
    if not (args.fleet or args.device_spec or args.alias):
        raise SnapshotError("lint needs --fleet FILE, or --device-spec FILE and/or --alias FILE")
    report = LintReport()
    if args.fleet:
        raw = read_json(args.fleet, "fleet")
        if not isinstance(raw, dict):
            raise SnapshotError(f"fleet {args.fleet}: a fleet snapshot must be a JSON object")
        spec_entries = _entries(args.device_spec, "device_spec") or list(
            raw.get("device_spec") or []
        )
        alias_entries = _entries(args.alias, "alias") or list(raw.get("alias") or [])
        check_entries(spec_entries, alias_entries, report)
        if report.errors == 0:
            raw = {**raw, "device_spec": spec_entries, "alias": alias_entries}
            fleet = load_fleet(raw, source=args.fleet)
            lint_fleet(fleet, report)
    else:
        check_entries(
            _entries(args.device_spec, "device_spec"), _entries(args.alias, "alias"), report
        )
    if args.json:
        _print_json(report)
    else:
        _print_text(report, set(args.host))
    return 1 if report.errors else 0


def _print_json(report: LintReport) -> None:
    doc = {
        "errors": report.errors,
        "findings": [
            {"severity": f.severity, "where": f.where, "message": f.message}
            for f in report.findings
        ],
        "spec_matches": {str(k): v for k, v in sorted(report.spec_matches.items())},
        "hosts": [
            {"name": h.name, "matches": {str(i): n for i, n in h.matches}} for h in report.hosts
        ],
        "pools": [
            {"pool": p.kind.describe(), "attrs": dict(p.kind.attrs), "total": p.total,
             "free": p.free, "hosts": p.hosts}
            for p in report.pools
        ],
    }  # fmt: skip
    json.dump(doc, sys.stdout, indent=1, default=str)
    print()


def _print_text(report: LintReport, show_hosts: set[str]) -> None:
    for finding in report.findings:
        print(finding)
    if report.hosts:
        print("\ndevice_spec entries: devices matched across the fleet")
        for index, n in sorted(report.spec_matches.items()):
            print(f"  entry {index}: {n} devices")
        full = len(report.hosts) <= HOST_TABLE_LIMIT
        for host in report.hosts:
            if full or host.name in show_hosts:
                matches = ", ".join(f"entry {i}: {n}" for i, n in host.matches) or "nothing"
                print(f"  host {host.name}: {matches}")
        if not full and not show_hosts:
            print(f"  ({len(report.hosts)} hosts; --host NAME shows one)")
    if report.pools:
        width = max(len(row.kind.describe()) for row in report.pools)
        print(f"\n  {'pool':<{width}}  {'free':>7} / {'total':<7} hosts")
        for row in report.pools:
            print(f"  {row.kind.describe():<{width}}  {row.free:>7} / {row.total:<7} {row.hosts}")
    errors = report.errors
    warnings = len(report.findings) - errors
    print(f"\n{errors} errors, {warnings} warnings")
