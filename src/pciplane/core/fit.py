"""Fit: can this host satisfy a server's PCI requests, which devices, and why not.

Requests of one server are consumed cumulatively, ``(R11 OR R12):count AND R21:count``
(nova-pci-semantics §3.4, §3.7): each request in turn passes the spec match and the
stages of :mod:`pciplane.core.stages` over what earlier requests left. Unlike Nova's
scheduler (Q3), PF/VF exclusivity is modelled: taking a VF removes its PF, taking a PF
removes its VFs, so the scheduler never accepts a host the claim must refuse.

Device choice is deterministic (Q24 fix): VFs come first from PFs already partly used,
then from PFs that cannot be handed out whole, and requests for PFs are served last,
from the PFs with the fewest free VFs. The evaluation depends only on the host's
:attr:`HostView.signature`, never on addresses, so hosts that look alike are judged once.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass, replace

from pciplane.core.address import PciAddress
from pciplane.core.device import TAKEN, DevType, Inventory
from pciplane.core.explain import request_label, spec_failure, stage_failure
from pciplane.core.fleet import Host, NumaNode
from pciplane.core.guest_cpu import CpuAsk
from pciplane.core.numa_fit import CpuPlacement, HostResources, fit_cpu
from pciplane.core.pool import (
    KindMatcher,
    KindTable,
    Pool,
    PoolKind,
    SpecMemo,
    build_pools,
    held_kinds,
)
from pciplane.core.request import PciRequest, pf_last_order
from pciplane.core.spec import DeviceSpec, resolve_specs
from pciplane.core.stages import STAGES, Candidate, Context

#: The label of the CPU and memory stage in stage records.
CPU_LABEL = "CPUs and memory"
#: Up to this many requests, a failed placement is retried in every other order (5! = 120).
MAX_REORDERED_REQUESTS = 5


@dataclass(frozen=True, kw_only=True, slots=True)
class GuestRequest:
    """What one server asks for: its PCI requests, the host NUMA cells it is confined to,
    and its CPUs and memory (None: not counted, a PCI-only question)."""

    name: str = ""
    pci: tuple[PciRequest, ...] = ()
    numa_cells: frozenset[int] | None = None
    cpu: CpuAsk | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class StageRecord:
    """What one stage left of one request's candidates (device counts)."""

    request: str
    stage: str
    before: int
    after: int
    note: str = ""


@dataclass(frozen=True, kw_only=True, slots=True)
class Outcome:
    """A verdict without the host's name and addresses: shared by look-alike hosts."""

    fits: bool
    reason: str = ""
    stages: tuple[StageRecord, ...] = ()


@dataclass(frozen=True, kw_only=True, slots=True)
class Verdict:
    host: str
    fits: bool
    reason: str = ""
    stages: tuple[StageRecord, ...] = ()
    #: Per request (in the guest's order), the devices chosen; empty when it does not fit.
    choice: tuple[tuple[PciAddress, ...], ...] = ()
    #: Where the guest's CPUs and memory go, when it asked for them and fits.
    cpu: CpuPlacement | None = None


@dataclass(frozen=True, slots=True)
class _Family:
    """A PF and the pools of its VFs (or a lone device): the unit of exclusivity."""

    pools: tuple[int, ...]
    pf_pool: int | None
    used: bool
    signature: tuple[bool, bool, tuple[tuple[int, int], ...]]


@dataclass(frozen=True, kw_only=True, slots=True)
class HostView:
    """One host, ready to answer fit questions: pools, families and a signature."""

    name: str
    numa_nodes: tuple[NumaNode, ...]
    pools: tuple[Pool, ...]
    families: tuple[_Family, ...]
    family_of: tuple[int, ...]  # pool index -> family index
    signature: tuple[object, ...]
    #: Allow-listed devices that are not free, by pool kind: (kind, count).
    held: tuple[tuple[PoolKind, int], ...] = ()
    #: Its CPUs and memory, settings and claims applied (None: not known to this view).
    resources: HostResources | None = None

    @classmethod
    def build(
        cls,
        host: Host,
        default_specs: tuple[DeviceSpec, ...] = (),
        *,
        kinds: KindTable | None = None,
        memo: SpecMemo | None = None,
        pool_tags: tuple[str, ...] = (),
    ) -> HostView:
        inventory = Inventory.of(host.devices)
        specs = host.device_spec if host.device_spec is not None else default_specs
        kinds = kinds if kinds is not None else KindTable()
        memo = memo if memo is not None else SpecMemo()
        resolved = resolve_specs(specs, inventory)
        pools = build_pools(inventory, resolved, kinds=kinds, memo=memo, pool_tags=pool_tags)
        held = held_kinds(inventory, resolved, kinds=kinds, memo=memo, pool_tags=pool_tags)
        view = cls.from_pools(host.name, host.numa_nodes, pools, inventory, held)
        return view.with_resources(HostResources.of(host))

    @classmethod
    def from_pools(
        cls,
        name: str,
        numa_nodes: tuple[NumaNode, ...],
        pools: tuple[Pool, ...],
        inventory: Inventory,
        held: tuple[tuple[PoolKind, int], ...] = (),
    ) -> HostView:
        def used(address: PciAddress) -> bool:
            head = inventory.devices.get(address)
            return head is not None and (
                head.status in TAKEN
                or any(vf.status in TAKEN for vf in inventory.children_of(head))
            )

        return cls.assemble(name, numa_nodes, pools, used, held)

    @classmethod
    def assemble(
        cls,
        name: str,
        numa_nodes: tuple[NumaNode, ...],
        pools: tuple[Pool, ...],
        used_family: Callable[[PciAddress], bool],
        held: tuple[tuple[PoolKind, int], ...] = (),
    ) -> HostView:
        """The view of ``pools``; ``used_family`` says whether a family's head device or
        one of its VFs is taken (what makes fit pack VFs onto it)."""
        by_family: dict[PciAddress, list[int]] = {}
        for i, pool in enumerate(pools):
            by_family.setdefault(pool.address, []).append(i)
        families: list[_Family] = []
        family_of = [0] * len(pools)
        for addr, members in by_family.items():
            pf_pool = None
            for i in members:
                if pools[i].kind.dev_type is DevType.PF:
                    pf_pool = i
                    break
            used = used_family(addr)
            sig = (
                used,
                pf_pool is not None,
                tuple(sorted((pools[i].kind.id, pools[i].count) for i in members)),
            )
            for i in members:
                family_of[i] = len(families)
            families.append(_Family(tuple(members), pf_pool, used, sig))
        numa = tuple(sorted((n.id, n.socket) for n in numa_nodes))
        held_sig = tuple(sorted((k.id, n) for k, n in held))
        signature = (numa, tuple(sorted(f.signature for f in families)), held_sig)
        return cls(
            held=held,
            name=name,
            numa_nodes=numa_nodes,
            pools=pools,
            families=tuple(families),
            family_of=tuple(family_of),
            signature=signature,
        )

    def renamed(self, name: str) -> HostView:
        """The same pools under another host's name (hosts with identical devices)."""
        return HostView(
            name=name,
            numa_nodes=self.numa_nodes,
            pools=self.pools,
            families=self.families,
            family_of=self.family_of,
            signature=self.signature,
            held=self.held,
            resources=self.resources,
        )

    def with_resources(self, resources: HostResources) -> HostView:
        """The same pools with the host's CPUs and memory (part of its state)."""
        return replace(
            self, resources=resources, signature=(*self.signature[:3], resources.signature())
        )

    def fit(self, guest: GuestRequest, matcher: KindMatcher | None = None) -> Verdict:
        outcome, choice, cpu = _Evaluation(self, guest, matcher or KindMatcher()).run_all()
        return Verdict(
            host=self.name,
            fits=outcome.fits,
            reason=outcome.reason,
            stages=outcome.stages,
            choice=choice,
            cpu=cpu,
        )

    def outcome(self, guest: GuestRequest, matcher: KindMatcher) -> Outcome:
        return _Evaluation(self, guest, matcher).run_all()[0]

    def failure(self, guest: GuestRequest, matcher: KindMatcher) -> Outcome:
        """:meth:`outcome` for a guest known not to fit here: its own order's run, which
        is what explains a "no", without trying the orders that cannot succeed."""
        if guest.cpu is not None:
            return self.outcome(guest, matcher)
        return _Evaluation(self, guest, matcher).run_order(list(range(len(guest.pci))))[0]


class _Evaluation:
    """One guest against one host view: requests in turn, each through every stage."""

    def __init__(self, view: HostView, guest: GuestRequest, matcher: KindMatcher) -> None:
        self.view = view
        self.guest = guest
        self.matcher = matcher
        self.remaining = [p.count for p in view.pools]
        #: Devices made unusable by a relative given to an earlier request (PF <-> VFs).
        self.blocked = [0] * len(view.pools)
        self.ctx = Context(
            numa_cells=guest.numa_cells,
            sockets={n.id: n.socket for n in view.numa_nodes},
        )
        self.records: list[StageRecord] = []
        self.pf_wanted = self._pf_wanted()

    def _pf_wanted(self) -> set[int]:
        wanted: set[int] = set()
        for req in self.guest.pci:
            if req.wants_pf:
                for i, pool in enumerate(self.view.pools):
                    if self.matcher.matches(pool.kind, req.specs):
                        wanted.add(self.view.family_of[i])
        return wanted

    def run_all(
        self,
    ) -> tuple[Outcome, tuple[tuple[PciAddress, ...], ...], CpuPlacement | None]:
        """CPUs and memory first, then the PCI requests on the host cells chosen.

        Each placement of the guest's cells (bounded, :mod:`pciplane.core.numa_fit`) is
        tried in turn with the PCI requests confined to its host cells, so the NUMA
        affinity policies judge the cells actually chosen; a "no" from the CPUs or
        memory names the cell and the resource, one from the devices is the first
        placement's.
        """
        ask = self.guest.cpu
        resources = self.view.resources
        if ask is None or resources is None:
            outcome, choice = self.run()
            return outcome, choice, None
        found = fit_cpu(resources, ask)
        if found.failure:
            record = StageRecord(request=CPU_LABEL, stage="cpu", before=1, after=0)
            return Outcome(fits=False, reason=found.failure, stages=(record,)), (), None
        failure: tuple[Outcome, tuple[tuple[PciAddress, ...], ...]] | None = None
        for placement in found.placements:
            cells = placement.host_cells
            record = StageRecord(
                request=CPU_LABEL,
                stage="cpu",
                before=1,
                after=1,
                note="" if cells is None else "NUMA " + ",".join(map(str, sorted(cells))),
            )
            numa = cells if cells is not None else self.guest.numa_cells
            pci_guest = replace(self.guest, cpu=None, numa_cells=numa)
            outcome, choice = _Evaluation(self.view, pci_guest, self.matcher).run()
            outcome = replace(outcome, stages=(record, *outcome.stages))
            if outcome.fits:
                return outcome, choice, placement
            if failure is None:
                failure = (outcome, choice)
        assert failure is not None
        return failure[0], (), None

    def run(self) -> tuple[Outcome, tuple[tuple[PciAddress, ...], ...]]:
        """Try orders of the requests until one places them all (bounded).

        First requests for PFs last (the better choice of devices), then the guest's own
        order, which is Nova's: Nova's NUMA stage is not monotone (a free PF on the
        guest's cell can make a VF request insist on that cell, and taking the PF first
        lets it fall back), so Nova's order must always be tried for the verdicts to
        agree. Then other orders: greedy placement in one order can miss a placement that
        exists (an alternative taking the device a later request needed), a blind spot
        Nova's scheduler has. A failure is explained in the guest's own order.
        """
        pci = self.guest.pci
        own = list(range(len(pci)))
        pf_last = pf_last_order(pci)
        tried: set[tuple[PciRequest, ...]] = set()
        failure: tuple[Outcome, tuple[tuple[PciAddress, ...], ...]] | None = None
        for order in (pf_last, own):
            shape = tuple(pci[r] for r in order)
            if shape in tried:
                continue
            tried.add(shape)
            result = self.run_order(order)
            if result[0].fits:
                return result
            failure = result
        assert failure is not None
        if len(pci) < 2 or len(pci) > MAX_REORDERED_REQUESTS or not self._each_fits_alone():
            return failure
        for perm in itertools.permutations(own):
            shape = tuple(pci[r] for r in perm)
            if shape not in tried:
                tried.add(shape)
                retry = self.run_order(list(perm))
                if retry[0].fits:
                    return retry
        return failure

    def _each_fits_alone(self) -> bool:
        """A cheap bound on reordering: when a request fails even alone, the other orders
        are not tried (the guest's own order and PFs-last have been)."""
        return all(self.run_order([r])[0].fits for r in range(len(self.guest.pci)))

    def run_order(self, order: list[int]) -> tuple[Outcome, tuple[tuple[PciAddress, ...], ...]]:
        """Place the requests in ``order``; the choice is empty unless all of them fit."""
        self.remaining = [p.count for p in self.view.pools]
        self.blocked = [0] * len(self.view.pools)
        self.records = []
        pci = self.guest.pci
        chosen: dict[int, tuple[PciAddress, ...]] = {}
        for position, r in enumerate(order):
            cands, failure = self._filter(pci[r])
            if failure is not None:
                return Outcome(fits=False, reason=failure, stages=tuple(self.records)), ()
            later = [pci[k] for k in order[position + 1 :]]
            chosen[r] = self._take(pci[r], cands, later)
        if len(chosen) < len(pci):
            return Outcome(fits=True, stages=tuple(self.records)), ()
        choice = tuple(chosen[r] for r in range(len(pci)))
        return Outcome(fits=True, stages=tuple(self.records)), choice

    def _filter(self, request: PciRequest) -> tuple[list[Candidate], str | None]:
        label = request_label(request)
        pools = self.view.pools
        matching = [i for i, p in enumerate(pools) if self.matcher.matches(p.kind, request.specs)]
        cands = [Candidate(i, pools[i].kind, self.remaining[i]) for i in matching]
        cands = [c for c in cands if c.remaining > 0]
        total = sum(c.remaining for c in cands)
        self.records.append(StageRecord(request=label, stage="spec", before=total, after=total))
        if total < request.count:
            return cands, f"{label}: {self._spec_failure(request, matching, total)}"
        for stage in STAGES:
            before = sum(c.remaining for c in cands)
            kept = stage.keep(cands, request, self.ctx)
            after = sum(c.remaining for c in kept)
            self.records.append(
                StageRecord(request=label, stage=stage.name, before=before, after=after)
            )
            if after < request.count:
                why = stage_failure(
                    stage.name, stage.because, request, cands, kept, self.guest.numa_cells
                )
                return kept, f"{label}: {why}"
            cands = kept
        return cands, None

    def _spec_failure(self, request: PciRequest, matching: list[int], total: int) -> str:
        pools = self.view.pools
        blocked = sum(self.blocked[i] for i in matching)
        held = self.view.held
        return spec_failure(
            request,
            [pools[i].kind for i in matching],
            total=total,
            in_use=sum(n for kind, n in held if self.matcher.matches(kind, request.specs)),
            taken=sum(pools[i].count - self.remaining[i] for i in matching) - blocked,
            blocked=blocked,
        )

    def _sort_key(self, later: list[PciRequest], c: Candidate) -> tuple[object, ...]:
        view = self.view
        fam = view.families[view.family_of[c.index]]
        cells = self.guest.numa_cells
        numa_rank = 0
        if cells is not None and c.kind.numa_node is not None and c.kind.numa_node not in cells:
            numa_rank = 1
        if c.kind.dev_type is DevType.PF:
            free_vfs = sum(self.remaining[i] for i in fam.pools if i != c.index)
            pack: tuple[int, ...] = (free_vfs,)
        elif c.kind.dev_type in (DevType.VF, DevType.VDPA):
            pf_free = fam.pf_pool is not None and self.remaining[fam.pf_pool] > 0
            taken_here = any(self.remaining[i] < view.pools[i].count for i in fam.pools)
            if fam.used or taken_here:
                pack = (0,)
            elif not pf_free:
                pack = (1,)
            else:
                pack = (3,) if view.family_of[c.index] in self.pf_wanted else (2,)
        else:
            pack = (0,)
        contention = sum(1 for r in later if self.matcher.matches(c.kind, r.specs))
        return (
            numa_rank,
            contention,
            pack,
            len(c.kind.attrs),
            c.kind.id,
            fam.signature,
            view.pools[c.index].address,
        )

    def _take(
        self, request: PciRequest, cands: list[Candidate], later: list[PciRequest]
    ) -> tuple[PciAddress, ...]:
        """Take ``count`` devices: affine first, then what later requests want least."""
        need = request.count
        taken: list[PciAddress] = []
        for c in sorted(cands, key=lambda c: self._sort_key(later, c)):
            if need == 0:
                break
            left = self.remaining[c.index]
            k = min(left, need)
            if k <= 0:
                continue
            pool = self.view.pools[c.index]
            start = pool.count - left
            taken.extend(pool.devices[start : start + k])
            self.remaining[c.index] = left - k
            need -= k
            self._exclude_relatives(c.index)
        return tuple(taken)

    def _exclude_relatives(self, index: int) -> None:
        """Taking from a pool makes its family's other side unusable (PF <-> VFs)."""
        fam = self.view.families[self.view.family_of[index]]
        others = [i for i in fam.pools if i != index]
        if self.view.pools[index].kind.dev_type is not DevType.PF:
            others = [fam.pf_pool] if fam.pf_pool is not None else []
        for i in others:
            self.blocked[i] += self.remaining[i]
            self.remaining[i] = 0
