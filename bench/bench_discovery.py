"""Discover the ``bench`` synthetic host: 4 PFs x 64 VFs and 8 GPUs (about 280 functions).

Targets (issue 3): <= 100 ms from sysfs, <= 500 ms through libvirt's test driver. The
host is written once with ``pciplane.sim`` to a temporary directory (a real sysfs tree
and a node XML); each sample is one whole discovery: :func:`pciplane.host.sysfs.scan`
over the tree, or :func:`pciplane.host.nodedev.scan` opening ``test:///<file>``
(libvirt parses the file, then every node device's XML is fetched and parsed). Names
come from the system's pci.ids, parsed on first use (the first sample, reported apart).
Prints the medians as markdown rows.

    .venv/bin/python bench/bench_discovery.py
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from pciplane.host import nodedev, sysfs
from pciplane.host.discovery import Scan
from pciplane.sim.host import build_host
from pciplane.sim.host_write import node_xml, write_sysfs


def _time(fn: Callable[[], Scan], samples: int) -> tuple[float, float, int]:
    """(first sample, median of the rest) in ms, and the device count."""
    start = time.perf_counter()
    count = len(fn().devices)
    first = (time.perf_counter() - start) * 1000
    times = []
    for _ in range(samples):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return first, statistics.median(times), count


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--samples", type=int, default=15)
    args = parser.parse_args()
    host = build_host("bench")
    with tempfile.TemporaryDirectory(prefix="pciplane-bench-") as tmp:
        root, xml = Path(tmp) / "root", Path(tmp) / "node.xml"
        write_sysfs(host, root)
        xml.write_text(node_xml(host))
        s_first, s_med, s_count = _time(lambda: sysfs.scan(root), args.samples)
        l_first, l_med, l_count = _time(lambda: nodedev.scan(f"test://{xml}"), args.samples)
    print(f"{args.samples} samples after the first", file=sys.stderr)
    print(
        f"| discovery from sysfs, {s_count} functions (median of {args.samples}) | "
        f"{s_med:.1f} ms (target <= 100 ms); first run {s_first:.1f} ms |"
    )
    print(
        f"| discovery through libvirt test:///, {l_count} functions "
        f"(median of {args.samples}) | {l_med:.1f} ms (target <= 500 ms); "
        f"first run {l_first:.1f} ms |"
    )
    return 0 if s_med <= 100 and l_med <= 500 else 1


if __name__ == "__main__":
    sys.exit(main())
