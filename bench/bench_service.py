"""Benchmark: server creates through the API with 1,000 hosts registered (issues 4, 10).

Targets: servers created and claimed per second through the API >= 100/s, create
latency p50 <= 20 ms (1,000 hosts) and <= 50 ms (10,000 hosts). For each database
(SQLite file, PostgreSQL on 127.0.0.1:5432 in a database of its own, dropped afterwards)
a fresh ``pciplane serve`` process starts; simulated agents register the hosts of a
generated fleet through the client — by default a varied one (``sim fleet --varied``:
every host its own mix of cards and NUMA layout, ~60% partly used; ``--fleet uniform`` is
the labelled best case of four hardware templates) — then each round:

- throughput: ``--creates`` servers created by ``--clients`` threads at once, first
  through one API process, then spread over ``--apis`` processes sharing the database
  (how the service scales out); a create counts when its answer is BUILD with its
  devices claimed;
- latency: ``--samples`` creates one after the other on the otherwise idle service,
  timed at the client (HTTP, validation, scheduling, the checked claim, the answer).

Figures are medians over ``--runs`` rounds on the same service (the fleet fills as it
would). The simulated agents never poll, so ``agent_down_time`` is set beyond the
benchmark's length. Prints markdown rows.

    .venv/bin/python bench/bench_service.py [--db sqlite,postgresql] [--runs 3]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import re
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import httpx
import sqlalchemy as sa

from pciplane.client import Client
from pciplane.core.snapshot import host_from_json
from pciplane.sim.fleet import generate
from pciplane.sim.fleet_varied import generate_varied

PG_ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
ADMIN = "bench-admin"
PROJECT = "bench-project"
#: The create mix, in turn. Five kinds, so that a 1,000-host varied fleet (about 490 free
#: A100s, 1,750 GPUs and 10,000 E810 VFs) holds three rounds of creates.
FLAVORS = {
    "b.small": "small_GPU:1",
    "b.large": "large_GPU:1",
    "b.any": "any_GPU:1",
    "b.inference": "inference:1",
    "b.vf": "e810_vf:1",
}


@dataclass(frozen=True, kw_only=True)
class Round:
    per_second: float
    per_second_multi: float
    p50_ms: float
    p99_ms: float
    server_mean_ms: float


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextlib.contextmanager
def database(kind: str, tmp: Path) -> Iterator[str]:
    if kind == "sqlite":
        yield f"sqlite:///{tmp / 'bench.db'}"
        return
    name = f"pciplane_bench_{secrets.token_hex(4)}"
    engine = sa.create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    finally:
        with engine.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        engine.dispose()


@contextlib.contextmanager
def service(
    db_url: str, fleet: dict[str, object], log: Path, profile: Path | None
) -> Iterator[str]:
    """One ``pciplane serve`` process; optionally under cProfile (written on SIGINT)."""
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
        # The simulated agents register once and never poll: keep their hosts alive.
        "PCIPLANE_AGENT_DOWN_TIME": "86400",
    }
    runner = ["-m", "cProfile", "-o", str(profile)] if profile else []
    command = [sys.executable, *runner, "-m", "pciplane.cli.main", "serve", "--db", db_url,
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


def wait_healthy(url: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"pciplane serve exited: {log.read_text()}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                return
        time.sleep(0.1)
    raise SystemExit(f"pciplane serve not healthy after 60 s: {log.read_text()}")


def register_fleet(url: str, fleet: dict[str, object]) -> tuple[float, list[str]]:
    """Catalogue, then every host reported by a simulated agent: the seconds it took, and
    the flavors of :data:`FLAVORS` whose alias the fleet has (the uniform one has three)."""
    with Client(url, ADMIN) as admin:
        names = set()
        for entry in fleet["alias"]:  # type: ignore[attr-defined]
            alias = json.loads(entry) if isinstance(entry, str) else entry
            admin.create_alias(alias)
            names.add(alias["name"])
        flavors = [f for f, request in FLAVORS.items() if request.split(":")[0] in names]
        for name in flavors:
            request = FLAVORS[name]
            admin.create_flavor(
                name, vcpus=2, ram=2048, extra_specs={"pci_passthrough:alias": request}
            )
    hosts = [host_from_json(h, source="bench") for h in fleet["hosts"]]  # type: ignore[attr-defined]
    started = time.perf_counter()

    def report(chunk: list[object]) -> None:
        with Client(url, ADMIN) as agent:
            for host in chunk:
                agent.register_host(host)  # type: ignore[arg-type]

    with ThreadPoolExecutor(4) as pool:
        list(pool.map(report, [hosts[i::4] for i in range(4)]))
    return time.perf_counter() - started, flavors


def throughput(urls: list[str], creates: int, clients: int, tag: str, flavors: list[str]) -> float:
    """Creates per second with ``clients`` concurrent callers spread over the API processes.

    A create counts when its answer is BUILD with its devices claimed.
    """
    names = [f"{tag}-t{i}" for i in range(creates)]

    def run(which: int) -> int:
        placed = 0
        chunk = names[which::clients]
        with Client(urls[which % len(urls)], PROJECT) as user:
            for i, name in enumerate(chunk):
                server = user.create_server(name, flavor=flavors[i % len(flavors)])
                placed += server.state == "BUILD" and bool(server.devices)
        return placed

    started = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        placed = sum(pool.map(run, range(clients)))
    seconds = time.perf_counter() - started
    if placed != creates:
        print(f"warning: {creates - placed} of {creates} creates were not placed", file=sys.stderr)
    return placed / seconds


def latencies(url: str, samples: int, tag: str, flavors: list[str]) -> list[float]:
    out = []
    with Client(url, PROJECT) as user:
        for i in range(samples):
            started = time.perf_counter()
            server = user.create_server(f"{tag}-l{i}", flavor=flavors[i % len(flavors)])
            out.append(time.perf_counter() - started)
            assert server.state == "BUILD", server.reason
    return out


SCHEDULE = re.compile(r"^pciplane_schedule_seconds_(sum|count) (\S+)$", re.M)


def server_schedule(url: str) -> tuple[float, float]:
    """The service's own schedule histogram: (sum of seconds, count).

    A scrape also counts every host's pools, once per host generation: the first one on
    a large fleet takes seconds (printed), later ones only recount the hosts that changed.
    """
    started = time.perf_counter()
    found = dict(SCHEDULE.findall(httpx.get(f"{url}/metrics", timeout=300).text))
    print(f"metrics scrape: {time.perf_counter() - started:.2f} s", file=sys.stderr)
    return float(found.get("sum", 0)), float(found.get("count", 0))


def one_round(urls: list[str], args: argparse.Namespace, tag: str, flavors: list[str]) -> Round:
    url = urls[0]
    rate = throughput(urls[:1], args.creates, args.clients, tag, flavors)
    multi = throughput(urls, args.creates, args.clients, f"{tag}m", flavors)
    before = server_schedule(url)
    times = sorted(latencies(url, args.samples, tag, flavors))
    after = server_schedule(url)
    mean = (after[0] - before[0]) / max(after[1] - before[1], 1) * 1000
    return Round(
        per_second=rate,
        per_second_multi=multi,
        p50_ms=statistics.median(times) * 1000,
        p99_ms=times[min(len(times) - 1, round(0.99 * (len(times) - 1)))] * 1000,
        server_mean_ms=mean,
    )


def bench(kind: str, fleet: dict[str, object], args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as tmp, database(kind, Path(tmp)) as db_url:
        profile = args.profile / f"serve-{kind}.prof" if args.profile else None
        with contextlib.ExitStack() as stack:
            urls = [
                stack.enter_context(
                    service(db_url, fleet, Path(tmp) / f"serve{i}.log", profile if i == 0 else None)
                )
                for i in range(args.apis)
            ]
            seconds, flavors = register_fleet(urls[0], fleet)
            print(f"{kind}: registered {args.hosts} hosts in {seconds:.1f} s", file=sys.stderr)
            rounds = []
            for i in range(args.runs):
                rounds.append(one_round(urls, args, f"r{i}", flavors))
                print(f"{kind} round {i + 1}/{args.runs}: {rounds[-1]}", file=sys.stderr)
    med = {k: statistics.median(getattr(r, k) for r in rounds) for k in Round.__annotations__}
    print(
        f"| {kind} | {med['per_second']:.0f}/s | {med['per_second_multi']:.0f}/s "
        f"| {med['p50_ms']:.1f} ms | {med['p99_ms']:.1f} ms | {med['server_mean_ms']:.1f} ms |"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--db", default="sqlite,postgresql", help="comma-separated kinds")
    parser.add_argument("--hosts", type=int, default=1000)
    parser.add_argument(
        "--fleet",
        choices=["varied", "uniform"],
        default="varied",
        help="varied (real fleets' shape) or uniform (the best case)",
    )
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--creates", type=int, default=300, help="per throughput round")
    parser.add_argument("--clients", type=int, default=8, help="concurrent creators")
    parser.add_argument("--samples", type=int, default=200, help="sequential creates per round")
    parser.add_argument("--apis", type=int, default=2, help="API processes for the 2nd rate")
    parser.add_argument("--profile", type=Path, help="directory for the service's cProfile")
    args = parser.parse_args()
    make = generate_varied if args.fleet == "varied" else generate
    fleet = make(args.hosts, args.seed)
    print(
        f"| machine | {platform.machine()}, {platform.python_implementation()} "
        f"{platform.python_version()}, {len(os.sched_getaffinity(0))} cores |"
    )
    print(
        f"| command | `bench/bench_service.py --fleet {args.fleet} --hosts {args.hosts} "
        f"--runs {args.runs} --creates {args.creates} --clients {args.clients} "
        f"--samples {args.samples} --apis {args.apis}`; {args.fleet} fleet of "
        f"{args.hosts} hosts, "
        f"{sum(len(h['devices']) for h in fleet['hosts'])} devices |"  # type: ignore[index]
    )
    print(
        f"| database | creates + claims/s, 1 API process | same, {args.apis} API processes "
        "(target >= 100/s) | create latency p50 (target <= 20 ms) | p99 | service's own mean |"
    )
    print("| --- | --- | --- | --- | --- | --- |")
    for kind in args.db.split(","):
        bench(kind.strip(), fleet, args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
