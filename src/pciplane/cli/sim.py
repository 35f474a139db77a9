"""``pciplane sim``: synthetic fleets (``sim fleet``) and hosts (``sim host``)."""

from __future__ import annotations

import argparse
import importlib
from typing import Any

#: Sub-command modules under ``pciplane.cli``; each exposes ``register(subparsers)``.
SIM_COMMANDS: tuple[str, ...] = ("sim_fleet", "sim_host")


def register(sub: Any) -> None:
    parser: argparse.ArgumentParser = sub.add_parser(
        "sim", help="generate synthetic fleets and hosts for demos, tests and benchmarks"
    )
    sim_sub = parser.add_subparsers(dest="sim_command", metavar="KIND", required=True)
    for name in SIM_COMMANDS:
        importlib.import_module(f"pciplane.cli.{name}").register(sim_sub)
