"""Benchmark: load and index a 10,000-host snapshot, then decide which hosts fit.

Targets (issue 2): load + index <= 5 s, peak memory <= 1 GiB, median fit <= 10 ms per
request for requests mixing aliases, ports and NUMA cells. Each load runs in a fresh
process so peak memory (ru_maxrss) is the load's own. Prints markdown rows.

    .venv/bin/python bench/bench_fit.py [--hosts 10000] [--runs 5]
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

from pciplane.cli.request_input import PortInput, RequestInput, guest_from_input
from pciplane.cli.snapshot_file import settle_heap
from pciplane.core.index import FleetIndex
from pciplane.core.snapshot import load_fleet
from pciplane.sim.fleet import generate

OUT = Path(__file__).resolve().parent / "out"


def _port(physnet: str, vnic: str = "direct") -> PortInput:
    return PortInput(physical_network=physnet, vnic_type=vnic)


REQUESTS = [
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
]  # fmt: skip


def snapshot(hosts: int, seed: int) -> Path:
    OUT.mkdir(exist_ok=True)
    path = OUT / f"fleet-{hosts}-{seed}.json"
    if not path.exists():
        path.write_text(json.dumps(generate(hosts, seed), separators=(",", ":")))
    return path


def load_once(path: Path) -> dict[str, float]:
    """One load + index + fits, in this process (run in a child by ``main``)."""
    start = time.perf_counter()
    doc = json.loads(path.read_text())
    fleet = load_fleet(doc, source=str(path))
    del doc
    index = FleetIndex.build(fleet)
    loaded = time.perf_counter() - start
    settle_heap()
    result = {"load_s": loaded, "states": float(index.distinct_states())}
    result["devices"] = float(sum(len(h.devices) for h in fleet.hosts))
    fits = []
    for inp in REQUESTS:
        guest = guest_from_input(inp, fleet.aliases)
        for _ in range(7):
            t = time.perf_counter()
            answer = index.fit(guest)
            fits.append(time.perf_counter() - t)
            assert answer.fit_count >= 0
    result["fit_median_ms"] = statistics.median(fits) * 1000
    result["fit_max_ms"] = max(fits) * 1000
    result["peak_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--hosts", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--child", metavar="FILE", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(load_once(Path(args.child))))
        return 0
    path = snapshot(args.hosts, args.seed)
    runs = []
    for i in range(args.runs):
        out = subprocess.run([sys.executable, __file__, "--child", str(path)], check=True,
                             capture_output=True, text=True).stdout  # fmt: skip
        runs.append(json.loads(out))
        print(f"run {i + 1}/{args.runs}: {runs[-1]}", file=sys.stderr)
    med = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
    size = path.stat().st_size / 2**20
    print(
        f"| machine | {platform.machine()}, {platform.python_implementation()} "
        f"{platform.python_version()}, {len(__import__('os').sched_getaffinity(0))} cores |"
    )
    print(
        f"| snapshot | {args.hosts} hosts, {int(med['devices'])} devices, {size:.0f} MiB JSON,"
        f" {int(med['states'])} distinct host states |"
    )
    print(f"| load + index (median of {args.runs}) | {med['load_s']:.2f} s (target <= 5 s) |")
    print(f"| peak memory (median of {args.runs}) | {med['peak_mib']:.0f} MiB (target <= 1024) |")
    print(
        f"| fit, median over {len(REQUESTS)} requests x 7 x {args.runs} runs | "
        f"{med['fit_median_ms']:.1f} ms (target <= 10 ms); worst {med['fit_max_ms']:.1f} ms |"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
