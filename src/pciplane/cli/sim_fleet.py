"""``pciplane sim fleet``: write a deterministic synthetic fleet snapshot (``--varied``:
hosts of mixed hardware and usage, as real fleets are)."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

from pciplane.cli.flag_types import output_path
from pciplane.core.errors import RequestError
from pciplane.sim.fleet import generate
from pciplane.sim.fleet_varied import generate_varied


def register(sub: Any) -> None:
    parser: argparse.ArgumentParser = sub.add_parser(
        "fleet", help="a synthetic fleet snapshot: SR-IOV NICs, GPUs, two NUMA nodes"
    )
    parser.add_argument("--hosts", type=int, default=20, help="number of hosts (default 20)")
    parser.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
    parser.add_argument(
        "--varied",
        action="store_true",
        help="every host its own mix of NICs, GPUs and NUMA layout, ~60%% partly used "
        "(as real fleets; the default is four hardware templates, the scheduler's best case)",
    )
    parser.add_argument(
        "--out", required=True, type=output_path, metavar="FILE", help="where to write (- = stdout)"
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.hosts < 1:
        raise RequestError(f"--hosts must be at least 1, not {args.hosts}")
    start = time.monotonic()
    show = args.out != "-" and args.hosts >= 1000

    def progress(done: int, total: int) -> None:
        if show:
            end = "\n" if done >= total else ""
            elapsed = time.monotonic() - start
            print(f"\rgenerating: {done}/{total} hosts ({elapsed:.1f} s)", end=end, file=sys.stderr)

    make = generate_varied if args.varied else generate
    doc = make(args.hosts, args.seed, progress=progress)
    text = json.dumps(doc, separators=(",", ":"))
    if args.out == "-":
        print(text)
        return 0
    out = Path(args.out)
    tmp = out.with_name(out.name + ".tmp")
    try:
        tmp.write_text(text)
        tmp.replace(out)
    except OSError as exc:
        raise RequestError(f"cannot write {args.out}: {exc.strerror or exc}") from None
    hosts: list[dict[str, Any]] = doc["hosts"]  # type: ignore[assignment]
    devices = sum(len(h["devices"]) for h in hosts)
    print(f"wrote {args.out}: {len(hosts)} hosts, {devices} devices", file=sys.stderr)
    return 0
