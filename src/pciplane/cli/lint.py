"""``pciplane lint``: validate device_spec and alias entries, alone or against a fleet.

Every malformed entry is reported at once: the fleet-wide ones and every host's own,
numbered by their position in their list (one numbering for errors and warnings). The
entries come from the snapshot, from ``--device-spec``/``--alias`` files (JSON or
nova.conf) or from one ``--nova-conf``; given ones replace the snapshot's fleet-wide
entries, and hosts with their own device_spec keep it (shared/fleet-format.md).
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from pciplane.conf.json_file import read_json
from pciplane.conf.pci_entries import FILE_HELP, read_entries_file, read_nova_conf
from pciplane.core.errors import ConfigError, NotFoundError, SnapshotError
from pciplane.core.lint import (
    LintReport,
    check_device_spec,
    check_entries,
    lint_fleet,
    position_order,
)
from pciplane.core.snapshot import load_fleet

#: Up to this many hosts, lint prints the per-host match table in full.
HOST_TABLE_LIMIT = 20


def register(sub: Any) -> None:
    parser: argparse.ArgumentParser = sub.add_parser(
        "lint", help="check device_spec and alias entries, and what they mean on a fleet"
    )
    parser.add_argument("--fleet", metavar="FILE", help="fleet snapshot (JSON)")
    parser.add_argument(
        "--nova-conf",
        metavar="FILE",
        help="a nova.conf whose [pci] device_spec and alias are checked (with --fleet, "
        "instead of the snapshot's fleet-wide ones)",
    )
    parser.add_argument(
        "--device-spec", metavar="FILE", help=f"[pci] device_spec entries: {FILE_HELP}"
    )
    parser.add_argument("--alias", metavar="FILE", help=f"[pci] alias entries: {FILE_HELP}")
    parser.add_argument(
        "--host", action="append", default=[], help="show this host in full (with --fleet)"
    )
    parser.add_argument("--json", action="store_true", help="print JSON for scripts")
    parser.set_defaults(func=run)


def _given_entries(args: argparse.Namespace) -> tuple[list[object] | None, list[object] | None]:
    """The (device_spec, alias) entries given by flags; None where a flag is absent."""
    if args.nova_conf:
        if args.device_spec or args.alias:
            raise ConfigError(
                "--nova-conf gives both device_spec and alias; drop --device-spec/--alias"
            )
        section = read_nova_conf(args.nova_conf, strict=False)
        return list(section.device_spec_raw), list(section.alias_raw)
    specs = aliases = None
    if args.device_spec:
        specs = list(
            read_entries_file(args.device_spec, "device_spec", strict=False).device_spec_raw
        )
    if args.alias:
        aliases = list(read_entries_file(args.alias, "alias", strict=False).alias_raw)
    return specs, aliases


def _listed(doc: dict[str, Any], key: str, where: str) -> list[object]:
    value = doc.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        raise SnapshotError(f"{where}: {key!r} must be a list of entries")
    return value


def _lint_fleet_file(args: argparse.Namespace, report: LintReport) -> None:
    specs, aliases = _given_entries(args)
    raw = read_json(args.fleet, "fleet")
    if not isinstance(raw, dict):
        raise SnapshotError(f"fleet file {args.fleet}: a fleet snapshot must be a JSON object")
    hosts = [h for h in _listed(raw, "hosts", args.fleet) if isinstance(h, dict)]
    names = {h.get("name") for h in hosts}
    for name in args.host:
        if name not in names:
            raise NotFoundError(f"--host {name}: the fleet {args.fleet} has no host {name!r}")
    specs = _listed(raw, "device_spec", args.fleet) if specs is None else specs
    aliases = _listed(raw, "alias", args.fleet) if aliases is None else aliases
    check_entries(specs, aliases, report)
    for host in hosts:
        own = host.get("device_spec")
        if isinstance(own, list):
            check_device_spec(own, report, where=f"host {host.get('name')} ")
    if report.errors == 0:
        fleet = load_fleet({**raw, "device_spec": specs, "alias": aliases}, source=args.fleet)
        lint_fleet(fleet, report)


def run(args: argparse.Namespace) -> int:
    if not (args.fleet or args.nova_conf or args.device_spec or args.alias):
        raise ConfigError(
            "lint needs --fleet FILE, --nova-conf FILE, or --device-spec FILE and/or --alias FILE"
        )
    if args.host and not args.fleet:
        raise ConfigError("--host needs --fleet FILE: hosts are a snapshot's")
    report = LintReport()
    if args.fleet:
        _lint_fleet_file(args, report)
    else:
        specs, aliases = _given_entries(args)
        check_entries(specs or [], aliases or [], report)
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
        "spec_matches": {
            k: report.spec_matches[k] for k in sorted(report.spec_matches, key=position_order)
        },
        "hosts": [{"name": h.name, "matches": dict(h.matches)} for h in report.hosts],
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
        for position in sorted(report.spec_matches, key=position_order):
            print(f"  entry {position}: {report.spec_matches[position]} devices")
        full = len(report.hosts) <= HOST_TABLE_LIMIT
        for host in report.hosts:
            if full or host.name in show_hosts:
                matches = ", ".join(f"entry {p}: {n}" for p, n in host.matches) or "nothing"
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
