"""The ``pciplane`` command: one sub-command per module listed in :data:`COMMANDS`.

Each command module exposes ``register(subparsers)``, which adds its parser and sets
``func`` to a callable taking the parsed namespace and returning the exit status.
Domain errors are printed on stderr without a traceback and exit with status 2, and so
are usage errors (a bad flag value, a missing flag): one line naming the flag, as
``--help`` already shows the usage.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Callable, Sequence
from typing import NoReturn

from pciplane import __version__
from pciplane.core.errors import PciplaneError

#: Command modules under ``pciplane.cli``, in the order ``--help`` lists them.
COMMANDS: tuple[str, ...] = (
    "fit", "lint", "capacity", "sim", "discover",
    "serve", "db", "health", "alias", "flavor", "image", "network", "port", "server", "host",
    "quota", "export", "vf", "agent", "demo", "openrc",
)  # fmt: skip

Handler = Callable[[argparse.Namespace], int]


class Parser(argparse.ArgumentParser):
    """argparse, with a usage error on one line (its sub-parsers are of this class too)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="pciplane",
        description="PCI passthrough and SR-IOV control plane for libvirt/KVM fleets.",
    )
    parser.add_argument("--version", action="version", version=f"pciplane {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        importlib.import_module(f"pciplane.cli.{name}").register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    func: Handler | None = getattr(args, "func", None)
    if func is None:
        parser.print_help()
        return 2
    try:
        return func(args)
    except PciplaneError as exc:
        print(f"pciplane {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # the reader went away (`pciplane fit ... | head`)
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
