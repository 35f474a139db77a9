"""The one place a lost generation race is retried (DESIGN.md: "a lost race is a bounded
retry on fresh data, never a double allocation").

Every write that checks a host's generation runs through :func:`on_conflict`: the
attempt is called again, and must read afresh, when another writer got there first; the
metrics count every lost race and every retry.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from pciplane.core.errors import ConflictError
from pciplane.service.metrics import Metrics

T = TypeVar("T")


def on_conflict(attempt: Callable[[int], T], *, retries: int, metrics: Metrics) -> T:
    """``attempt(k)`` for k = 0, 1, ... until it does not lose a race; at most
    ``retries`` retries, then the last :class:`ConflictError` propagates."""
    for k in range(retries + 1):
        try:
            return attempt(k)
        except ConflictError:
            metrics.claim_conflicts.inc()
            if k == retries:
                raise
            metrics.claim_retries.inc()
    raise AssertionError("unreachable")  # pragma: no cover
