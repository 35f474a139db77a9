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
from pciplane.core.pool import KindTable, SpecMemo
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
        self.default_specs = default_specs
        self.pool_tags = pool_tags
        self.kinds = KindTable()
        self.memo = SpecMemo()
        self.matcher = KindMatcher()
        self._views: dict[str, HostView] = {}
        self._order: list[str] = []

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
        view = HostView.build(
            host,
            self.default_specs,
            kinds=self.kinds,
            memo=self.memo,
            pool_tags=self.pool_tags,
        )
        if host.name not in self._views:
            self._order.append(host.name)
        self._views[host.name] = view
        return view

    def remove_host(self, name: str) -> None:
        if self._views.pop(name, None) is not None:
            self._order.remove(name)

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
        return len({v.signature for v in self._views.values()})

    def fit(self, guest: GuestRequest) -> FleetFit:
        """Judge every host; one evaluation per distinct host state."""
        by_signature: dict[tuple[object, ...], int] = {}
        outcomes: list[Outcome] = []
        picks: list[int] = []
        for name in self._order:
            view = self._views[name]
            k = by_signature.get(view.signature)
            if k is None:
                k = by_signature[view.signature] = len(outcomes)
                outcomes.append(view.outcome(guest, self.matcher))
            picks.append(k)
        return FleetFit(tuple(self._order), tuple(outcomes), tuple(picks))
