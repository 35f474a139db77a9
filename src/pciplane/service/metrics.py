"""The service's metrics, through prometheus_client, and the fleet's gauges.

Counters and the scheduling histogram live in a registry per application. Several API
processes behind one scrape are summed by prometheus_client's multiprocess mode: set
``PROMETHEUS_MULTIPROC_DIR`` to a directory shared by the processes before they start
(the library's own convention), and every process's ``/metrics`` reports the sum.
Fleet gauges (hosts, pools, agents, servers) are read from the database at scrape time,
so every process reports the same fleet.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from typing import ClassVar

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

#: Scheduling latency buckets in seconds.
BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)

#: Content type of the text exposition format.
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class Metrics:
    """The service's own counters and histogram (thread-safe, as the library's are)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.schedule = Counter(
            "pciplane_schedule", "Scheduling decisions by outcome.", ["outcome"], registry=r
        )
        self.claim_conflicts = Counter(
            "pciplane_claim_conflicts", "Claims that lost a generation race.", registry=r
        )
        self.claim_retries = Counter(
            "pciplane_claim_retries", "Claims retried on fresh data.", registry=r
        )
        self.reschedules = Counter(
            "pciplane_reschedules", "Servers rescheduled after an agent failure.", registry=r
        )
        self.expired_starts = Counter(
            "pciplane_expired_starts", "Starts no agent answered within build_timeout.", registry=r
        )
        self.schedule_seconds = Histogram(
            "pciplane_schedule_seconds",
            "Time to schedule and claim one server.",
            buckets=BUCKETS,
            registry=r,
        )

    def render(self, fleet: Collector) -> bytes:
        """The exposition text: this process's (or every process's) metrics and the fleet."""
        directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
        if directory:
            registry = CollectorRegistry()
            MultiProcessCollector(registry, path=directory)  # type: ignore[no-untyped-call]
        else:
            registry = self.registry
        out = generate_latest(registry)
        fleet_registry = CollectorRegistry()
        fleet_registry.register(fleet)
        return out + generate_latest(fleet_registry)


Sample = tuple[tuple[tuple[str, str], ...], float]


class FleetGauges(Collector):
    """Gauges read once per scrape by ``read`` (from the database)."""

    HELP: ClassVar[dict[str, str]] = {
        "pciplane_hosts": "Registered hosts.",
        "pciplane_hosts_alive": "Hosts whose agent reported within agent_down_time.",
        "pciplane_pool_devices": "Allow-listed PCI devices by pool (vendor:product, type) "
        "and whether they are free.",
        "pciplane_servers": "Servers by state.",
        "pciplane_agent_last_seen_seconds": "Unix time a host's agent last called in.",
    }

    def __init__(self, read: Callable[[], dict[str, list[Sample]]]) -> None:
        self.read = read

    def collect(self) -> Iterable[Metric]:
        samples = self.read()
        for name, text in self.HELP.items():
            rows = samples.get(name, [])
            labels = [k for k, _ in rows[0][0]] if rows else []
            family = GaugeMetricFamily(name, text, labels=labels)
            for pairs, value in rows:
                family.add_metric([v for _, v in pairs], value)
            yield family
