"""An agent-like process for the fault tests: registers, takes work, and answers it.

It speaks to the API only through :mod:`pciplane.client`, as the real agent does. With
``--mode hang`` it writes the start it took to ``--marker`` and then never answers,
standing for an agent caught in the middle of starting a guest (the test SIGKILLs it).
With ``--mode ok`` or ``--mode fail`` it answers every start so, every stop ok, and exits
once it has answered something and the next poll is empty.

    python fake_agent.py --api URL --host NAME --token T --gpus N --mode hang|ok|fail
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from load_helpers import host_body

from pciplane.client import Client
from pciplane.core.snapshot import host_from_json
from pciplane.wire.hosts import WorkOut

POLL_S = 0.1
GIVE_UP_S = 30.0


def answer(client: Client, item: WorkOut, mode: str) -> None:
    if item.kind == "start" and mode == "fail":
        client.report_work(item.id, ok=False, reason="guest did not come back after agent crash")
    else:
        client.report_work(item.id, ok=True)


def run(args: argparse.Namespace) -> int:
    client = Client(args.api, args.token)
    client.register_host(host_from_json(host_body(args.host, args.gpus), source=args.host))
    answered = 0
    deadline = time.monotonic() + GIVE_UP_S
    while time.monotonic() < deadline:
        work = client.take_work(args.host)
        if args.mode == "hang" and work:
            partial = args.marker.with_suffix(".partial")
            partial.write_text(" ".join(f"{w.kind}:{w.server_id}" for w in work))
            partial.rename(args.marker)  # the test sees the whole line or nothing
            while True:
                time.sleep(3600)
        for item in work:
            answer(client, item, args.mode)
            answered += 1
        if answered and not work:
            return 0
        time.sleep(POLL_S)
    print(f"fake agent {args.host}: no work within {GIVE_UP_S}s", file=sys.stderr)
    return 1


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--api", required=True)
    parser.add_argument("--host", required=True)
    parser.add_argument("--token", required=True)
    parser.add_argument("--gpus", type=int, default=1)
    parser.add_argument("--mode", choices=["hang", "ok", "fail"], required=True)
    parser.add_argument("--marker", type=Path, default=Path("/dev/null"))
    return run(parser.parse_args())


if __name__ == "__main__":
    sys.exit(main())
