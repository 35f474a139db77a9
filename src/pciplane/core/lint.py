"""Lint: check an operator's device_spec and alias entries against a fleet, all at once.

Finds what makes "No valid host" later: malformed entries (every one, not the first),
entries that match nothing, a PF allowed together with its own VFs (Nova's compute
refuses to start on that in Placement mode), ``devname`` entries (interface names change
across reboots), host-level problems of resolution (a remote-managed PF), snapshots
whose statuses contradict the PF/VF rules, and aliases no device could ever satisfy.
"""

from __future__ import annotations

import dataclasses
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from pciplane.core.alias import Alias, parse_aliases
from pciplane.core.device import TAKEN, DevType, Inventory, Status
from pciplane.core.errors import AliasError, DeviceSpecError
from pciplane.core.fleet import Fleet, Host
from pciplane.core.pool import KindTable, PoolKind, SpecMemo, build_pools, pool_attrs
from pciplane.core.request import spec_matches
from pciplane.core.spec import DeviceSpec, HostSpecs, parse_device_specs, resolve_specs


@dataclass(frozen=True, kw_only=True, slots=True)
class Finding:
    severity: str  # "error" or "warning"
    where: str
    message: str

    def __str__(self) -> str:
        return f"{self.severity}: {self.where}: {self.message}"


@dataclass(frozen=True, kw_only=True, slots=True)
class PoolRow:
    kind: PoolKind
    total: int
    free: int
    hosts: int


@dataclass(frozen=True, kw_only=True, slots=True)
class HostReport:
    name: str
    matches: tuple[tuple[str, int], ...]  # (spec position, devices matched)


def position_order(position: str) -> tuple[int, ...]:
    """``2`` before ``2[1]`` before ``10``: entries in configuration order."""
    return tuple(int(n) for n in re.findall(r"\d+", position))


@dataclass(kw_only=True, slots=True)
class LintReport:
    findings: list[Finding] = field(default_factory=list)
    hosts: list[HostReport] = field(default_factory=list)
    pools: list[PoolRow] = field(default_factory=list)
    #: Devices matched per spec position (``DeviceSpec.position``) across the fleet.
    spec_matches: Counter[str] = field(default_factory=Counter)

    @property
    def errors(self) -> int:
        return sum(1 for f in self.findings if f.severity == "error")

    def add(self, severity: str, where: str, message: str) -> None:
        self.findings.append(Finding(severity=severity, where=where, message=message))


def check_device_spec(
    entries: Sequence[object], report: LintReport, *, where: str = ""
) -> tuple[DeviceSpec, ...]:
    """Parse entry by entry, so every malformed one is reported, not just the first.

    Errors and warnings share one numbering: the entry's position in the configuration
    (``DeviceSpec.position``), whatever entries before it failed to parse.
    """
    specs: list[DeviceSpec] = []
    for i, entry in enumerate(entries):
        try:
            parsed = parse_device_specs([entry])
        except DeviceSpecError as exc:
            report.add("error", f"{where}device_spec entry {i}", exc.reason + _key(exc))
            continue
        specs.extend(
            dataclasses.replace(s, index=len(specs) + k, entry=i) for k, s in enumerate(parsed)
        )
    for spec in specs:
        if spec.devname is not None:
            report.add(
                "warning",
                f"{where}device_spec {spec.label}",
                f"devname {spec.devname!r}: interface names can change across reboots; "
                "prefer an address or vendor/product",
            )
    return tuple(specs)


def check_entries(
    device_spec: Sequence[object], alias: Sequence[object], report: LintReport
) -> tuple[tuple[DeviceSpec, ...], dict[str, Alias]]:
    """Check the fleet-wide entries: every malformed one, then what the good ones mean."""
    specs = check_device_spec(device_spec, report)
    good_aliases = []
    for i, entry in enumerate(alias):
        try:
            parse_aliases([entry])
            good_aliases.append(entry)
        except AliasError as exc:
            report.add("error", f"alias entry {i}", exc.reason + _key(exc))
    aliases: dict[str, Alias] = {}
    try:
        aliases = parse_aliases(good_aliases)
    except AliasError as exc:  # entries that are fine alone but disagree together
        report.add("error", "alias", str(exc))
    return specs, aliases


def _key(exc: DeviceSpecError | AliasError) -> str:
    return f" (key {exc.key!r} = {exc.value!r})" if exc.key is not None else ""


def lint_fleet(fleet: Fleet, report: LintReport | None = None) -> LintReport:
    report = report or LintReport()
    kinds = KindTable()
    memo = SpecMemo()
    seen_kinds: dict[int, PoolKind] = {}
    totals: Counter[int] = Counter()
    free: Counter[int] = Counter()
    hosts_with: Counter[int] = Counter()
    for host in fleet.hosts:
        specs = fleet.specs_for(host)
        inventory = Inventory.of(host.devices)
        resolved = resolve_specs(specs, inventory)
        for problem in resolved.problems:
            report.add(problem.severity, f"host {host.name}", str(problem))
        matched: Counter[str] = Counter()
        host_kinds: set[int] = set()
        for dev in inventory:
            spec = memo.match(resolved, dev)
            if spec is None:
                continue
            matched[spec.position] += 1
            kind = kinds.intern(pool_attrs(dev, spec))
            seen_kinds[kind.id] = kind
            totals[kind.id] += 1
            host_kinds.add(kind.id)
        for pool in build_pools(inventory, resolved, kinds=kinds, memo=memo):
            free[pool.kind.id] += pool.count
        hosts_with.update(host_kinds)
        _check_pf_and_vfs(host, inventory, resolved, memo, report)
        _check_statuses(host, inventory, report)
        report.spec_matches.update(matched)
        ordered = sorted(matched.items(), key=lambda item: position_order(item[0]))
        report.hosts.append(HostReport(name=host.name, matches=tuple(ordered)))
    _check_unmatched(fleet, report)
    _check_aliases(fleet.aliases, seen_kinds, report)
    report.pools = [
        PoolRow(kind=seen_kinds[k], total=totals[k], free=free[k], hosts=hosts_with[k])
        for k in sorted(seen_kinds, key=lambda k: seen_kinds[k].describe())
    ]
    return report


def _check_pf_and_vfs(
    host: Host, inventory: Inventory, resolved: HostSpecs, memo: SpecMemo, report: LintReport
) -> None:
    for dev in inventory:
        if dev.dev_type is not DevType.PF or memo.match(resolved, dev) is None:
            continue
        allowed_vfs = [vf for vf in inventory.children_of(dev) if memo.match(resolved, vf)]
        if allowed_vfs:
            report.add(
                "warning",
                f"host {host.name}",
                f"PF {dev.address} and {len(allowed_vfs)} of its own VFs are all allowed; "
                "taking either side makes the other unusable",
            )


def _check_statuses(host: Host, inventory: Inventory, report: LintReport) -> None:
    for dev in inventory:
        if dev.dev_type is not DevType.PF or dev.status is not Status.AVAILABLE:
            continue
        busy = [vf for vf in inventory.children_of(dev) if vf.status in TAKEN]
        if busy:
            report.add(
                "warning",
                f"host {host.name}",
                f"PF {dev.address} is 'available' while {len(busy)} of its VFs are in use; "
                "it is treated as unavailable",
            )


def _check_unmatched(fleet: Fleet, report: LintReport) -> None:
    used_default = any(h.device_spec is None for h in fleet.hosts)
    if not used_default:
        return
    for spec in fleet.device_spec:
        if report.spec_matches[spec.position] == 0 and fleet.hosts:
            report.add(
                "warning",
                f"device_spec {spec.label}",
                f"matches no device on any host: {spec.text}",
            )


def _check_aliases(
    aliases: Mapping[str, Alias], kinds: dict[int, PoolKind], report: LintReport
) -> None:
    for name, alias in sorted(aliases.items()):
        if not any(
            spec_matches(spec, kind.mapping) for spec in alias.specs for kind in kinds.values()
        ):
            report.add(
                "warning",
                f"alias {name}",
                "no allowed device in the fleet can ever satisfy it "
                "(check vendor_id, product_id, device_type and the device_spec)",
            )
