"""Benchmark: the web UI's pages on 1,000 varied hosts (issue 12).

A fresh ``pciplane serve`` process on a database of its own (SQLite file, or PostgreSQL on
127.0.0.1:5432); simulated agents register the hosts of ``sim fleet --varied`` (every host
its own mix of NICs, GPUs and NUMA layout, ~60% partly used), the catalogue of
bench_service.py is created and ``--servers`` servers are placed. Then each page is
fetched ``--runs`` times over HTTP with a signed-in cookie, as a browser would (no
parallelism), timed at the client from request to the last byte: the figure is the
median; the first fetch of each page is reported apart (it warms the scheduler's index
and the per-host pool counts). Prints markdown rows.

    .venv/bin/python bench/bench_ui.py [--hosts 1000] [--db sqlite] [--runs 7]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx
from bench_service import ADMIN, PROJECT, database, register_fleet, service

from pciplane.client import Client
from pciplane.sim.fleet_varied import generate_varied

PAGES = [
    ("fleet, page 1 of 20", "/ui/fleet"),
    ("fleet, filtered (A100s, free >= 2)", "/ui/fleet?kind=10de%3A20b5+type-PCI&free=2"),
    ("fleet, last page", "/ui/fleet?page=20"),
    ("host (the first)", "/ui/hosts/{host}"),
    ("servers, page 1", "/ui/servers"),
    ("server", "/ui/servers/{server}"),
    ("why not here: large_GPU:1 + port physnet1, cell 1, with one host's stages",
     "/ui/why?flavor=b.large&ports=physnet1&cells=1&host={host}"),
    ("why not here: any_GPU:1", "/ui/why?flavor=b.any"),
    ("capacity: small_GPU:1", "/ui/capacity?flavor=b.small"),
]  # fmt: skip


def fetch(client: httpx.Client, path: str, headers: dict[str, str] | None = None) -> float:
    started = time.perf_counter()
    answer = client.get(path, headers=headers)
    seconds = time.perf_counter() - started
    if answer.status_code != 200:
        raise SystemExit(f"{path}: HTTP {answer.status_code}: {answer.text[:500]}")
    return seconds


def bench(kind: str, fleet: dict[str, object], args: argparse.Namespace) -> None:
    with (
        tempfile.TemporaryDirectory() as tmp,
        database(kind, Path(tmp)) as db_url,
        service(db_url, fleet, Path(tmp) / "serve.log", None) as url,
    ):
        seconds, _ = register_fleet(url, fleet)
        print(f"{kind}: registered {args.hosts} hosts in {seconds:.1f} s", file=sys.stderr)
        with Client(url, PROJECT) as user:
            ids = [
                user.create_server(f"ui-{i}", flavor=("b.small", "b.large")[i % 2]).id
                for i in range(args.servers)
            ]
        names = {"host": fleet["hosts"][0]["name"], "server": ids[0]}  # type: ignore[index]
        with httpx.Client(base_url=url, timeout=120) as web:
            web.post(
                "/ui/login",
                content=f"token={ADMIN}",
                headers={"content-type": "application/x-www-form-urlencoded"},
            )
            api = {"Authorization": f"Bearer {ADMIN}"}
            first = fetch(web, "/v1/hosts", api)
            times = [fetch(web, "/v1/hosts", api) for _ in range(args.runs)]
            print(
                f"| {kind} | for comparison: GET /v1/hosts (JSON; reads and counts every "
                f"device) | {statistics.median(times) * 1000:.0f} ms "
                f"| {min(times) * 1000:.0f}-{max(times) * 1000:.0f} ms "
                f"| {first * 1000:.0f} ms | - |",
                flush=True,
            )
            for label, path in PAGES:
                path = path.format(**names)
                first = fetch(web, path)
                times = [fetch(web, path) for _ in range(args.runs)]
                size = len(web.get(path).content)
                print(
                    f"| {kind} | {label} | {statistics.median(times) * 1000:.0f} ms "
                    f"| {min(times) * 1000:.0f}-{max(times) * 1000:.0f} ms "
                    f"| {first * 1000:.0f} ms | {size / 1024:.0f} KiB |",
                    flush=True,
                )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--db", default="sqlite", help="comma-separated: sqlite, postgresql")
    parser.add_argument("--hosts", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--servers", type=int, default=200, help="servers placed before")
    args = parser.parse_args()
    fleet = generate_varied(args.hosts, args.seed)
    devices = sum(len(h["devices"]) for h in fleet["hosts"])  # type: ignore[attr-defined]
    print(
        f"| machine | {platform.machine()}, {platform.python_implementation()} "
        f"{platform.python_version()}, {len(os.sched_getaffinity(0))} cores |"
    )
    print(
        f"| command | `bench/bench_ui.py --hosts {args.hosts} --seed {args.seed} --db {args.db} "
        f"--runs {args.runs} --servers {args.servers}`; `sim fleet --varied` of {args.hosts} "
        f"hosts, {devices} devices, {args.servers} servers placed |"
    )
    print("| database | page | median | range | first fetch | size |")
    print("| --- | --- | --- | --- | --- | --- |")
    for kind in args.db.split(","):
        bench(kind.strip(), fleet, args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
