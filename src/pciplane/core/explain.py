"""The words of a "no": how a request is named and why a stage left too few devices.

:mod:`pciplane.core.fit` runs the stages and counts; this module turns those counts into
the sentences operators read in ``fit``, ``--explain`` and the service's "No valid
host" (shared/fleet-format.md: "a human sentence naming the stage that ruled it out").
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from pciplane.core.device import DevType
from pciplane.core.pool import PoolKind
from pciplane.core.request import PciRequest, RequestSpec
from pciplane.core.stages import Candidate


def request_label(request: PciRequest) -> str:
    """The request's own label, the alias name, or the port's physical network
    (``physnet1 (direct-physical)``)."""
    if request.label:
        return request.label
    if request.alias_name:
        return request.alias_name
    physnet = next((s.get("physical_network") for s in request.specs), None)
    label = physnet if physnet else "port (no physical network)"
    if request.wants_pf:
        label += " (direct-physical)"
    return label


def free_count(n: int, kinds: Sequence[PoolKind]) -> str:
    """``1 free VF``, ``3 free devices``: the count with the kind of device it counts."""
    types = {k.dev_type for k in kinds}
    noun = "VF" if types == {DevType.VF} else "PF" if types == {DevType.PF} else "device"
    return f"{n} free {noun}" + ("" if n == 1 else "s")


def numa_breakdown(cands: Sequence[Candidate], exclude: set[int | None]) -> str:
    """``2 free on NUMA 0; 1 free on NUMA ?``: what is left outside the guest's cells."""
    counts: dict[int | None, int] = {}
    for c in cands:
        if c.kind.numa_node not in exclude:
            counts[c.kind.numa_node] = counts.get(c.kind.numa_node, 0) + c.remaining
    parts = [
        f"{n} free on NUMA {'?' if node is None else node}"
        for node, n in sorted(counts.items(), key=lambda kv: (kv[0] is None, kv[0] or 0))
        if n
    ]
    return "; ".join(parts)


def spec_failure(
    request: PciRequest,
    matching: Sequence[PoolKind],
    *,
    total: int,
    in_use: int,
    taken: int,
    blocked: int,
) -> str:
    """Too few free devices match the request's specs at all.

    ``matching`` are the kinds of the host's pools that match; ``in_use`` counts matching
    devices other servers hold, ``taken`` those this server's earlier requests took and
    ``blocked`` those a PF/VF relative given to an earlier request made unusable.
    """
    suffix = f" ({in_use} in use)" if in_use else ""
    if not matching:
        specs = " or ".join(describe_spec(s) for s in request.specs)
        return f"no free device matches {specs}{suffix}"
    free = free_count(total, matching)
    text = f"{free} {'matches' if total == 1 else 'match'}, {request.count} needed"
    notes = []
    if taken:
        notes.append(f"{taken} more taken by this server's other requests")
    if blocked:
        notes.append(
            f"{blocked} unusable: a PF and its own VFs cannot both be given, and the "
            "other side went to another request of this server"
        )
    if notes:
        text += " (" + "; ".join(notes) + ")"
    return text + suffix


def stage_failure(
    stage: str,
    because: str,
    request: PciRequest,
    before: Sequence[Candidate],
    kept: Sequence[Candidate],
    numa_cells: frozenset[int] | None,
) -> str:
    """A stage after the spec match left fewer devices than the request needs."""
    kinds = [c.kind for c in before]
    after = sum(c.remaining for c in kept)
    if stage == "numa":
        cells = sorted(numa_cells or ())
        where = ",".join(str(c) for c in cells)
        policy = request.numa_policy or "legacy"
        others = numa_breakdown(before, set(cells))
        text = f"{free_count(after, kinds)} on NUMA {where} (numa_policy={policy})"
        return f"{text}; {others}" if others else text
    removed = sum(c.remaining for c in before) - after
    return f"{free_count(after, kinds)} left, {request.count} needed ({removed} are {because})"


def describe_spec(spec: RequestSpec) -> str:
    """``{10de:20b5 type-PCI}``, ``{physical_network=physnet1}``: the spec in brief."""
    items = dict(spec.items)
    shown = []
    vendor, product = items.pop("vendor_id", None), items.pop("product_id", None)
    if vendor or product:
        shown.append(f"{vendor or '*'}:{product or '*'}")
    if items.get("dev_type"):
        shown.append(str(items.pop("dev_type")))
    if items.pop("remote_managed", None) == "true":
        shown.append("remote_managed")
    if "physical_network" in items and items["physical_network"] is None:
        items.pop("physical_network")
        shown.append("no physical_network")
    shown += [f"{k}={v}" for k, v in items.items() if v is not None]
    return "{" + " ".join(shown) + "}" if shown else "{any}"


def group_by_reason(ruled_out: Iterable[tuple[str, str]]) -> list[tuple[str, list[str]]]:
    """``(host, reason)`` pairs grouped by the exact reason, most hosts first.

    The same grouping serves offline ``fit`` and the service's "No valid host", so a
    reason is never quoted for a host it does not describe.
    """
    groups: dict[str, list[str]] = {}
    for host, reason in ruled_out:
        groups.setdefault(reason, []).append(host)
    return sorted(groups.items(), key=lambda kv: -len(kv[1]))
