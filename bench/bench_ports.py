"""Benchmark: server creates with one SR-IOV port each, PostgreSQL, 1,000 hosts (issue 8).

A fresh ``pciplane serve`` process (two for the second rate) on a PostgreSQL database of
its own; simulated agents register the 1,000 hosts of a generated fleet
(``pciplane.sim.fleet``: four hardware templates, about a third partly used) with their
agent's network configuration, which varies too: PFs mapped to physnet1 and physnet2, a
tenth of the hosts ``sriov_only``, a tenth without physnet2 mapped. Each create is one
``POST /v1/servers`` with ``nics: [{"net_id": <VLAN network on physnet1>, "vnic_type":
"direct"}]``: the port is created, its VF chosen with the flavor's devices in one fit,
claimed, the port bound by the mechanism drivers with Nova's profile, and the start
queued, all in the claim's transaction. A create counts when its answer is BUILD with a
device and its port bound ``hw_veb``.

Per round: ``--creates`` creates from ``--clients`` threads through one API process, the
same spread over ``--apis`` processes, and ``--samples`` sequential creates for the
latency. Medians over ``--runs`` rounds; prints markdown rows.

    .venv/bin/python bench/bench_ports.py [--runs 3]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from bench_service import ADMIN, PROJECT, database, free_port, wait_healthy

from pciplane.client import Client
from pciplane.core.snapshot import host_from_json
from pciplane.sim.fleet import generate

MAPPINGS = {"physnet1": ["ens1f0", "ens2f0"], "physnet2": ["ens1f1", "ens2f1"]}


@dataclass(frozen=True, kw_only=True)
class Round:
    per_second: float
    per_second_multi: float
    p50_ms: float
    p99_ms: float


@contextlib.contextmanager
def service(db_url: str, fleet: dict[str, object], log: Path) -> Iterator[str]:
    """One ``pciplane serve`` process with the fleet's device_spec."""
    port = free_port()
    env = {
        **os.environ,
        "PCIPLANE_ADMIN_TOKEN": ADMIN,
        # One project creates every server: no per-project quota.
        "PCIPLANE_QUOTA_INSTANCES": "-1",
        "PCIPLANE_QUOTA_CORES": "-1",
        "PCIPLANE_QUOTA_RAM": "-1",
        "PCIPLANE_PROJECT_TOKENS": json.dumps({PROJECT: "bench"}),
        "PCIPLANE_DEVICE_SPEC": json.dumps(fleet["device_spec"]),
    }
    command = [sys.executable, "-m", "pciplane.cli.main", "serve", "--db", db_url,
               "--port", str(port), "--log-level", "warning"]  # fmt: skip
    with log.open("wb") as out:
        proc = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(url, proc, log)
        yield url
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def agent_network(i: int) -> dict[str, object]:
    """Hosts differ in their agents too: some sriov_only, some without physnet2."""
    mappings = dict(MAPPINGS) if i % 10 != 3 else {"physnet1": MAPPINGS["physnet1"]}
    return {"device_mappings": mappings, "sriov_only": i % 10 == 7}


def register(url: str, fleet: dict[str, object]) -> tuple[float, str]:
    """The catalogue, the network, and every host as its agent reports it."""
    with Client(url, ADMIN) as admin:
        admin.create_flavor("b.port", vcpus=2, ram=2048)
        net = admin.create_network({"name": "bench-net", "shared": True,
                                    "provider:network_type": "vlan",
                                    "provider:physical_network": "physnet1",
                                    "provider:segmentation_id": 100})  # fmt: skip
    hosts = [host_from_json(h, source="bench") for h in fleet["hosts"]]  # type: ignore[attr-defined]
    started = time.perf_counter()

    def report(indexed: list[tuple[int, object]]) -> None:
        with Client(url, ADMIN) as agent:
            for i, host in indexed:
                agent.register_host(host, network=agent_network(i))  # type: ignore[arg-type]

    chunks = [list(enumerate(hosts))[k::4] for k in range(4)]
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(report, chunks))
    return time.perf_counter() - started, net.id


def create(user: Client, name: str, net: str) -> bool:
    server = user.create_server(
        name, flavor="b.port", nics=[{"net_id": net, "vnic_type": "direct"}]
    )
    return (
        server.state == "BUILD"
        and len(server.devices) == 1
        and server.nics[0].vif_type == "hw_veb"
        and server.nics[0].pci_slot == server.devices[0]
    )


def throughput(urls: list[str], creates: int, clients: int, tag: str, net: str) -> float:
    names = [f"{tag}-t{i}" for i in range(creates)]

    def run(which: int) -> int:
        with Client(urls[which % len(urls)], PROJECT) as user:
            return sum(create(user, name, net) for name in names[which::clients])

    started = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        placed = sum(pool.map(run, range(clients)))
    seconds = time.perf_counter() - started
    if placed != creates:
        print(f"warning: {creates - placed} of {creates} creates were not placed", file=sys.stderr)
    return placed / seconds


def latencies(url: str, samples: int, tag: str, net: str) -> list[float]:
    out = []
    with Client(url, PROJECT) as user:
        for i in range(samples):
            started = time.perf_counter()
            assert create(user, f"{tag}-l{i}", net)
            out.append(time.perf_counter() - started)
    return out


def bench(fleet: dict[str, object], args: argparse.Namespace) -> None:
    with (
        tempfile.TemporaryDirectory() as tmp,
        database("postgresql", Path(tmp)) as db_url,
        contextlib.ExitStack() as stack,
    ):
        urls = [
            stack.enter_context(service(db_url, fleet, Path(tmp) / f"serve{i}.log"))
            for i in range(args.apis)
        ]
        seconds, net = register(urls[0], fleet)
        print(f"registered {args.hosts} hosts in {seconds:.1f} s", file=sys.stderr)
        rounds = []
        for i in range(args.runs):
            rate = throughput(urls[:1], args.creates, args.clients, f"r{i}", net)
            multi = throughput(urls, args.creates, args.clients, f"r{i}m", net)
            times = sorted(latencies(urls[0], args.samples, f"r{i}", net))
            rounds.append(
                Round(
                    per_second=rate,
                    per_second_multi=multi,
                    p50_ms=statistics.median(times) * 1000,
                    p99_ms=times[min(len(times) - 1, round(0.99 * (len(times) - 1)))] * 1000,
                )
            )
            print(f"round {i + 1}/{args.runs}: {rounds[-1]}", file=sys.stderr)
    med = {k: statistics.median(getattr(r, k) for r in rounds) for k in Round.__annotations__}
    print(
        f"| postgresql | {med['per_second']:.0f}/s | {med['per_second_multi']:.0f}/s "
        f"| {med['p50_ms']:.1f} ms | {med['p99_ms']:.1f} ms |"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--hosts", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--creates", type=int, default=300, help="per throughput round")
    parser.add_argument("--clients", type=int, default=8, help="concurrent creators")
    parser.add_argument("--samples", type=int, default=200, help="sequential creates per round")
    parser.add_argument("--apis", type=int, default=2, help="API processes for the 2nd rate")
    args = parser.parse_args()
    fleet = generate(args.hosts, args.seed)
    print(
        f"| machine | {platform.machine()}, {platform.python_implementation()} "
        f"{platform.python_version()}, {len(os.sched_getaffinity(0))} cores |"
    )
    print(
        f"| command | `bench/bench_ports.py --runs {args.runs} --creates {args.creates} "
        f"--clients {args.clients} --samples {args.samples} --apis {args.apis}`; "
        f"{args.hosts} hosts, {sum(len(h['devices']) for h in fleet['hosts'])} devices |"  # type: ignore[index]
    )
    print(
        "| database | creates with one SR-IOV port/s, 1 API process | same, "
        f"{args.apis} API processes | create latency p50 | p99 |"
    )
    print("| --- | --- | --- | --- | --- |")
    bench(fleet, args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
