"""Counters and histograms for ``/metrics``, rendered in Prometheus' text format.

Process-local, like any Prometheus client's default registry: each API process exposes
its own scheduling figures; fleet gauges (hosts, devices, agents) are read from the
database at scrape time, so every process reports the same fleet.
"""

from __future__ import annotations

import bisect
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

#: Scheduling latency buckets in seconds (Prometheus text format, "histogram").
BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


@dataclass
class Histogram:
    counts: list[int] = field(default_factory=lambda: [0] * len(BUCKETS))
    total: float = 0.0
    n: int = 0

    def observe(self, seconds: float) -> None:
        i = bisect.bisect_left(BUCKETS, seconds)
        if i < len(BUCKETS):
            self.counts[i] += 1
        self.total += seconds
        self.n += 1


class Metrics:
    """The service's own counters; thread-safe (handlers run in a thread pool)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.counters: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
        self.schedule_seconds = Histogram()

    def inc(self, name: str, amount: float = 1.0, **labels: str) -> None:
        key = (name, tuple(sorted(labels.items())))
        with self._lock:
            self.counters[key] = self.counters.get(key, 0.0) + amount

    def observe_schedule(self, seconds: float) -> None:
        with self._lock:
            self.schedule_seconds.observe(seconds)

    def counter(self, name: str, **labels: str) -> float:
        return self.counters.get((name, tuple(sorted(labels.items()))), 0.0)


HELP: Mapping[str, tuple[str, str]] = {
    "pciplane_hosts": ("gauge", "Registered hosts."),
    "pciplane_devices": ("gauge", "PCI devices by status and pool (vendor:product, type)."),
    "pciplane_servers": ("gauge", "Servers by state."),
    "pciplane_agent_last_seen_seconds": ("gauge", "Unix time a host's agent last called in."),
    "pciplane_schedule_total": ("counter", "Scheduling decisions by outcome."),
    "pciplane_claim_conflicts_total": ("counter", "Claims that lost a generation race."),
    "pciplane_claim_retries_total": ("counter", "Claims retried on fresh data."),
    "pciplane_reschedules_total": ("counter", "Servers rescheduled after an agent failure."),
    "pciplane_schedule_seconds": ("histogram", "Time to schedule and claim one server."),
}


def _labels(labels: Iterable[tuple[str, str]]) -> str:
    parts = []
    for k, v in labels:
        value = v.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
        parts.append(f'{k}="{value}"')
    return "{" + ",".join(parts) + "}" if parts else ""


def _num(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(value)


def render(
    metrics: Metrics, gauges: Mapping[str, list[tuple[tuple[tuple[str, str], ...], float]]]
) -> str:
    """The exposition text: the database's gauges, then this process's counters."""
    lines: list[str] = []
    samples: dict[str, list[tuple[tuple[tuple[str, str], ...], float]]] = {
        name: list(values) for name, values in gauges.items()
    }
    with metrics._lock:
        for (name, labels), value in sorted(metrics.counters.items()):
            samples.setdefault(name, []).append((labels, value))
        hist = Histogram(
            list(metrics.schedule_seconds.counts),
            metrics.schedule_seconds.total,
            metrics.schedule_seconds.n,
        )
    for name, (kind, text) in HELP.items():
        lines += [f"# HELP {name} {text}", f"# TYPE {name} {kind}"]
        if kind == "histogram":
            lines += _histogram_lines(name, hist)
            continue
        for labels, value in samples.get(name, []):
            lines.append(f"{name}{_labels(labels)} {_num(value)}")
    return "\n".join(lines) + "\n"


def _histogram_lines(name: str, hist: Histogram) -> list[str]:
    lines, running = [], 0
    for bound, count in zip(BUCKETS, hist.counts, strict=True):
        running += count
        lines.append(f'{name}_bucket{{le="{bound}"}} {running}')
    lines.append(f'{name}_bucket{{le="+Inf"}} {hist.n}')
    lines.append(f"{name}_sum {_num(hist.total)}")
    lines.append(f"{name}_count {hist.n}")
    return lines
