"""The fleet index: every host's pools, grouped so look-alike hosts are judged once.

Pool kinds recur across a fleet, and so do whole host states: hosts with equal
:attr:`HostView.signature` get the same verdict for any request. ``fit`` therefore costs
one evaluation per distinct host state, plus one memoised spec match per distinct
(pool kind, request spec) pair, however many hosts share them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

from pciplane.core.errors import NotFoundError
from pciplane.core.fit import GuestRequest, HostView, KindMatcher, Outcome, Verdict
from pciplane.core.fleet import Fleet, Host
from pciplane.core.pool import KindTable, SpecMemo, check_pool_tags
from pciplane.core.spec import DeviceSpec


@dataclass(frozen=True, slots=True)
class FleetFit:
    """The answer for every host, in the index's host order, without a copy per host."""

    names: tuple[str, ...]
    outcomes: tuple[Outcome, ...]
    outcome_of_host: tuple[int, ...]

    @property
    def fit_count(self) -> int:
        fits = [o.fits for o in self.outcomes]
        return sum(1 for k in self.outcome_of_host if fits[k])

    def hosts_that_fit(self) -> list[str]:
        fits = [o.fits for o in self.outcomes]
        return [n for n, k in zip(self.names, self.outcome_of_host, strict=True) if fits[k]]

    def verdicts(self) -> Iterator[Verdict]:
        for name, k in zip(self.names, self.outcome_of_host, strict=True):
            o = self.outcomes[k]
            yield Verdict(host=name, fits=o.fits, reason=o.reason, stages=o.stages)

    def outcome(self, host: str) -> Outcome:
        try:
            return self.outcomes[self.outcome_of_host[self.names.index(host)]]
        except ValueError:
            raise NotFoundError(f"no host {host!r} in the fleet") from None


class FleetIndex:
    """Host views of a fleet, kept current host by host with :meth:`replace_host`."""

    def __init__(
        self,
        default_specs: tuple[DeviceSpec, ...] = (),
        *,
        pool_tags: tuple[str, ...] = (),
    ) -> None:
        check_pool_tags(pool_tags)
        self.default_specs = default_specs
        self.pool_tags = pool_tags
        self.kinds = KindTable()
        self.memo = SpecMemo()
        self.matcher = KindMatcher()
        self._views: dict[str, HostView] = {}
        self._order: list[str] = []
        #: Distinct host states: signature -> state id, and each host's state id.
        self._state_ids: dict[tuple[object, ...], int] = {}
        self._states: list[HostView] = []  # a representative view per state
        self._state_of: dict[str, int] = {}
        self._picks: tuple[int, ...] | None = None  # state id per host, in host order
        #: Hosts with the very same device records share their pools. Keyed by object
        #: identity; the value keeps the keyed objects alive so ids cannot be reused.
        self._by_devices: dict[tuple[object, ...], tuple[object, HostView]] = {}

    @classmethod
    def build(
        cls,
        fleet: Fleet,
        *,
        pool_tags: tuple[str, ...] = (),
        progress: Callable[[int, int], None] | None = None,
    ) -> FleetIndex:
        index = cls(fleet.device_spec, pool_tags=pool_tags)
        total = len(fleet.hosts)
        for i, host in enumerate(fleet.hosts, 1):
            index.replace_host(host)
            if progress is not None and i % 1000 == 0:
                progress(i, total)
        return index

    def replace_host(self, host: Host) -> HostView:
        """Add or rebuild one host's view (after a claim, a free or a rescan)."""
        self._compact()
        specs = host.device_spec if host.device_spec is not None else self.default_specs
        key = (id(specs), host.numa_nodes, *map(id, host.devices))
        hit = self._by_devices.get(key)
        if hit is not None:
            view = hit[1].renamed(host.name)
        else:
            view = HostView.build(
                host, self.default_specs, kinds=self.kinds, memo=self.memo, pool_tags=self.pool_tags
            )
            self._by_devices[key] = ((specs, host.devices), view)
        if host.name not in self._views:
            self._order.append(host.name)
        self._views[host.name] = view
        state = self._state_ids.get(view.signature)
        if state is None:
            state = self._state_ids[view.signature] = len(self._states)
            self._states.append(view)
        self._state_of[host.name] = state
        self._picks = None
        return view

    def _compact(self) -> None:
        """Forget stale memo entries and states once updates have piled them up."""
        limit = 2 * len(self._views) + 1000
        if len(self._by_devices) > limit:
            self._by_devices.clear()
        if len(self._states) > limit:
            live = {self._state_of[n]: self._views[n] for n in self._order}
            self._states = []
            self._state_ids = {}
            remap = {}
            for old, view in live.items():
                remap[old] = self._state_ids[view.signature] = len(self._states)
                self._states.append(view)
            self._state_of = {n: remap[s] for n, s in self._state_of.items()}
            self._picks = None

    def remove_host(self, name: str) -> None:
        if self._views.pop(name, None) is not None:
            self._order.remove(name)
            del self._state_of[name]
            self._picks = None

    def view(self, name: str) -> HostView:
        try:
            return self._views[name]
        except KeyError:
            raise NotFoundError(f"no host {name!r} in the fleet") from None

    def __len__(self) -> int:
        return len(self._order)

    def host_names(self) -> tuple[str, ...]:
        return tuple(self._order)

    def distinct_states(self) -> int:
        return len(set(self._state_of.values()))

    def fit(self, guest: GuestRequest) -> FleetFit:
        """Judge every host; one evaluation per distinct host state in use."""
        if self._picks is None:
            self._picks = tuple(self._state_of[name] for name in self._order)
        picks = self._picks
        used = set(picks)
        outcomes = tuple(
            self._states[s].outcome(guest, self.matcher) if s in used else _UNUSED
            for s in range(len(self._states))
        )
        return FleetFit(tuple(self._order), outcomes, picks)


_UNUSED = Outcome(fits=False, reason="(no host in this state)")
