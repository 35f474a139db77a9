"""``pciplane health``: whether the service answers, and on which database.

``--wait SECONDS`` polls until it does, for scripts that start the service and go on
(the README's walkthrough starts ``serve`` in the background this way).
"""

from __future__ import annotations

import argparse
from typing import Any

from pciplane.cli._api import add_client_args, client_from, print_json


def register(sub: Any) -> None:
    parser: argparse.ArgumentParser = sub.add_parser(
        "health", help="is the service up (and on which database)"
    )
    parser.add_argument(
        "--wait", type=float, metavar="SECONDS", help="wait up to SECONDS for it to answer"
    )
    add_client_args(parser)
    parser.set_defaults(func=_health)


def _health(args: argparse.Namespace) -> int:
    with client_from(args) as client:
        if args.wait is not None:
            client.wait_until(
                lambda: client.health().status == "ok",
                timeout=args.wait,
                what=f"the service at {args.api} does not answer",
            )
        health = client.health()
    if args.json:
        print_json(health)
    else:
        print(f"{health.status}: database {health.database}")
    return 0
