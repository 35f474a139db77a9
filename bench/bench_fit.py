"""Benchmark: load and index a fleet snapshot, then decide which hosts fit a request mix.

Targets (issue 10): on 10,000 varied hosts (``pciplane sim fleet --varied``: nearly every
host in its own state) load + index <= 2 s, peak memory <= 0.5 GiB, fit <= 10 ms per
request (goal 1 ms) for requests mixing NUMA policies, several aliases and ports. Each run
is a fresh process (read the file, parse, index, then every request 7 times), so peak
memory (VmHWM) is the run's own. ``--fleet uniform`` is the best case (few host
states). ``--growth`` prints how fit time and memory grow with the number of hosts.

    .venv/bin/python bench/bench_fit.py [--fleet varied|uniform] [--hosts 10000] [--runs 5]
    .venv/bin/python bench/bench_fit.py --growth 1000,10000,50000 --runs 3
    .venv/bin/python bench/bench_fit.py --verify   # every host's verdict vs the pipeline
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

from pciplane.cli.request_input import PortInput, RequestInput, guest_from_input
from pciplane.cli.snapshot_file import settle_heap
from pciplane.cli.snapshot_stream import gc_paused, read_fleet_stream
from pciplane.core.device import TAKEN
from pciplane.core.index import FleetIndex
from pciplane.sim.fleet import generate
from pciplane.sim.fleet_varied import generate_varied

OUT = Path(__file__).resolve().parent / "out"
REPEATS = 7


def _port(physnet: str, vnic: str = "direct") -> PortInput:
    return PortInput(physical_network=physnet, vnic_type=vnic)


VARIED = [
    RequestInput(name="gpu+port numa1", alias="large_GPU:1", ports=(_port("physnet1"),),
                 numa_cells=(1,)),
    RequestInput(name="two models", alias="small_GPU:2,large_GPU:1"),
    RequestInput(name="pf+vf", ports=(_port("physnet2", "direct-physical"), _port("physnet1"))),
    RequestInput(name="alternatives preferred", alias="any_GPU:3", numa_cells=(0,),
                 numa_policy="preferred"),
    RequestInput(name="3 ports socket", ports=(_port("physnet1"),) * 2 + (_port("physnet2"),),
                 numa_cells=(0,), numa_policy="socket"),
    RequestInput(name="gpu+2 ports numa0,1", alias="large_GPU:2",
                 ports=(_port("physnet1"), _port("physnet2")), numa_cells=(0, 1)),
    RequestInput(name="inference+port", alias="inference:1", ports=(_port("physnet2"),),
                 numa_cells=(1,)),
    RequestInput(name="training socket", alias="training:2", numa_cells=(0,)),
    RequestInput(name="vf alias+port legacy", alias="e810_vf:2", ports=(_port("physnet1"),),
                 numa_cells=(0,)),
    RequestInput(name="4 ports required", ports=(_port("physnet1"),) * 4, numa_cells=(0,),
                 numa_policy="required"),
]  # fmt: skip
UNIFORM = VARIED[:6]  # the uniform fleet has no inference, training or e810_vf aliases
#: Flavors with CPUs and memory (issue 9), timed apart so the figures above stay comparable:
#: counted host-wide (decided per host beside the screen), pinned in two cells with a port
#: (every host through the pipeline), pinned with isolate and no device (CPUs alone).
CPU = [
    RequestInput(name="cpu: shared 8 vCPUs + gpu", alias="large_GPU:1", vcpus=8, ram=32768),
    RequestInput(name="cpu: pinned 16 in 2 cells + port", ports=(_port("physnet1"),), vcpus=16,
                 ram=65536, extra_specs=(("hw:cpu_policy", "dedicated"), ("hw:numa_nodes", "2"))),
    RequestInput(name="cpu: pinned 8 isolate", vcpus=8, ram=16384,
                 extra_specs=(("hw:cpu_policy", "dedicated"),
                              ("hw:cpu_thread_policy", "isolate"))),
]  # fmt: skip


def snapshot(kind: str, hosts: int, seed: int) -> Path:
    OUT.mkdir(exist_ok=True)
    path = OUT / f"{kind}-{hosts}-{seed}.json"
    if not path.exists():
        make = generate_varied if kind == "varied" else generate
        path.write_text(json.dumps(make(hosts, seed), separators=(",", ":")))
    return path


def run_once(path: Path, kind: str) -> dict[str, float]:
    """One load + index + fits, in this process (run in a child by ``main``)."""
    start = time.perf_counter()
    fleet = read_fleet_stream(str(path), quiet=True)
    with gc_paused():
        index = FleetIndex.build(fleet)
    result = {"load_s": time.perf_counter() - start}
    settle_heap()
    result["states"] = index.distinct_states()
    result["devices"] = sum(len(h.devices) for h in fleet.hosts)
    result["pools"] = sum(len(index.view(n).pools) for n in index.host_names())
    used = sum(1 for h in fleet.hosts if any(d.status in TAKEN for d in h.devices))
    result["used_share"] = used / len(fleet.hosts)
    fits, reasons = [], []
    for inp in VARIED if kind == "varied" else UNIFORM:
        guest = guest_from_input(inp, fleet.aliases)
        times = []
        for _ in range(REPEATS):
            t = time.perf_counter()
            answer = index.fit(guest)
            times.append(time.perf_counter() - t)
        fits.append(statistics.median(times))
        t = time.perf_counter()
        assert sum(1 for r in answer.reasons() if r.fits) == answer.fit_count
        reasons.append(time.perf_counter() - t)
        result[f"fit_ms {inp.name}"] = statistics.median(times) * 1000
    result["fit_median_ms"] = statistics.median(fits) * 1000
    result["fit_worst_ms"] = max(fits) * 1000
    for inp in CPU if kind == "varied" else ():
        guest = guest_from_input(inp, fleet.aliases)
        times = []
        for _ in range(REPEATS):
            t = time.perf_counter()
            index.fit(guest)
            times.append(time.perf_counter() - t)
        result[f"fit_ms {inp.name}"] = statistics.median(times) * 1000
    result["reasons_median_ms"] = statistics.median(reasons) * 1000
    result["reasons_worst_ms"] = max(reasons) * 1000
    result["peak_mib"] = peak_mib()
    return result


def peak_mib() -> float:
    """This process's own peak resident memory (VmHWM). Not ``ru_maxrss``: Linux carries
    that across fork and exec, so a child started by a parent that had just generated
    the snapshot reported the parent's peak (637 MiB for a 233 MiB run)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


def measure(kind: str, hosts: int, seed: int, runs: int) -> tuple[Path, dict[str, float]]:
    path = snapshot(kind, hosts, seed)
    done = []
    for i in range(runs):
        out = subprocess.run([sys.executable, __file__, "--child", str(path), "--fleet", kind],
                             check=True, capture_output=True, text=True).stdout  # fmt: skip
        done.append(json.loads(out))
        print(f"{kind} {hosts}: run {i + 1}/{runs}: {done[-1]}", file=sys.stderr)
    return path, {k: statistics.median(r[k] for r in done) for k in done[0]}


def shape(path: Path, hosts: int, med: dict[str, float]) -> str:
    size = path.stat().st_size / 2**20
    return (
        f"{hosts} hosts, {int(med['devices'])} devices, {int(med['pools'])} pools, "
        f"{int(med['states'])} distinct host states, {med['used_share']:.0%} partly used, "
        f"{size:.0f} MiB JSON"
    )


def report(kind: str, hosts: int, seed: int, runs: int) -> None:
    path, med = measure(kind, hosts, seed, runs)
    cores = len(os.sched_getaffinity(0))
    print(f"| machine | {platform.machine()}, {platform.python_implementation()} "
          f"{platform.python_version()}, {cores} cores |")  # fmt: skip
    print(f"| snapshot ({kind}) | {shape(path, hosts, med)} |")
    print(f"| load + index (median of {runs}) | {med['load_s']:.2f} s |")
    print(f"| peak memory (median of {runs}) | {med['peak_mib']:.0f} MiB |")
    print(
        f"| fit, median over the requests (each the median of {REPEATS}; median of {runs} "
        f"runs) | {med['fit_median_ms']:.2f} ms; slowest request {med['fit_worst_ms']:.2f} ms |"
    )
    print(
        f"| every host's reason (`fit` text and `--json`), per request | median "
        f"{med['reasons_median_ms']:.0f} ms; slowest request {med['reasons_worst_ms']:.0f} ms |"
    )
    for key, value in med.items():
        if key.startswith("fit_ms "):
            print(f"| fit: {key[len('fit_ms ') :]} | {value:.2f} ms |")


def verify(kind: str, hosts: int, seed: int) -> int:
    """Every host's verdict (fits, reason, stage records) against the pipeline on its view."""
    fleet = read_fleet_stream(str(snapshot(kind, hosts, seed)), quiet=True)
    with gc_paused():
        index = FleetIndex.build(fleet)
    wrong = 0
    for inp in [*VARIED, *CPU] if kind == "varied" else UNIFORM:
        guest = guest_from_input(inp, fleet.aliases)
        answer = index.fit(guest)
        for verdict, short in zip(answer.verdicts(), answer.reasons(), strict=True):
            exact = index.view(verdict.host).outcome(guest, index.matcher)
            mine = (verdict.fits, verdict.reason, verdict.stages, short.fits, short.reason)
            wrong += mine != (exact.fits, exact.reason, exact.stages, exact.fits, exact.reason)
        print(f"| {inp.name} | {answer.fit_count} of {len(index)} fit | {wrong} differ so far |")
    return 1 if wrong else 0


def growth(sizes: list[int], seed: int, runs: int) -> None:
    print("| hosts | shape | load + index | peak memory | fit median (slowest request) |")
    print("| --- | --- | --- | --- | --- |")
    for hosts in sizes:
        path, med = measure("varied", hosts, seed, runs)
        print(f"| {hosts} | {shape(path, hosts, med)} | {med['load_s']:.2f} s | "
              f"{med['peak_mib']:.0f} MiB | {med['fit_median_ms']:.2f} ms "
              f"({med['fit_worst_ms']:.2f} ms) |")  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--fleet", choices=["varied", "uniform"], default="varied")
    parser.add_argument("--hosts", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--growth", metavar="N,N,...", help="varied fleets of these sizes")
    parser.add_argument("--verify", action="store_true", help="compare with the pipeline")
    parser.add_argument("--child", metavar="FILE", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(run_once(Path(args.child), args.fleet)))
    elif args.verify:
        return verify(args.fleet, args.hosts, args.seed)
    elif args.growth:
        growth([int(n) for n in args.growth.split(",")], args.seed, args.runs)
    else:
        report(args.fleet, args.hosts, args.seed, args.runs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
