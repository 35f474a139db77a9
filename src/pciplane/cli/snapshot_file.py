"""Reading a fleet snapshot file for the offline commands (fit, capacity, lint).

A snapshot is one JSON document (shared/fleet-format.md); large ones take seconds, so
loading shows its progress on a terminal. ``--nova-conf FILE`` asks "what if the
fleet-wide configuration were this nova.conf's": its ``[pci] device_spec`` and ``[pci]
alias`` replace the snapshot's top-level ones, and hosts with their own ``device_spec``
keep theirs, since a host's own list always wins over the fleet's (fleet-format.md).
"""

from __future__ import annotations

import argparse
import gc
import sys
import time
from collections.abc import Callable

from pciplane.conf.json_file import read_json
from pciplane.conf.pci_entries import read_nova_conf
from pciplane.core.errors import SnapshotError
from pciplane.core.fleet import Fleet
from pciplane.core.snapshot import load_fleet

NOVA_CONF_HELP = (
    "a nova.conf whose [pci] device_spec and alias replace the snapshot's fleet-wide "
    "ones, for a what-if (hosts with their own device_spec keep it)"
)


def add_fleet_arguments(parser: argparse.ArgumentParser, *, required: bool = True) -> None:
    parser.add_argument(
        "--fleet", required=required, metavar="FILE", help="fleet snapshot (JSON; - for stdin)"
    )
    parser.add_argument("--nova-conf", metavar="FILE", help=NOVA_CONF_HELP)


def _progress(label: str, enabled: bool) -> Callable[[int, int], None]:
    start = time.monotonic()

    def report(done: int, total: int) -> None:
        if enabled:
            elapsed = time.monotonic() - start
            print(f"\r{label}: {done}/{total} hosts ({elapsed:.1f} s)", end="", file=sys.stderr)
            if done >= total:
                print(file=sys.stderr)

    return report


def read_fleet_document(path: str, nova_conf: str | None = None) -> dict[str, object]:
    """The snapshot as decoded JSON, with a nova.conf's entries in place of its own.

    The nova.conf is read and its entries parsed first, so a mistake in it is reported
    with its own name rather than as the snapshot's.
    """
    override = None
    if nova_conf is not None:
        override = read_nova_conf(nova_conf)
        override.device_specs()
        override.aliases()
    doc = read_json(path, "fleet")
    if not isinstance(doc, dict):
        raise SnapshotError(f"fleet file {path}: a fleet snapshot must be a JSON object")
    if override is not None:
        doc["device_spec"] = list(override.device_spec_raw)
        doc["alias"] = list(override.alias_raw)
    return doc


def load_fleet_file(path: str, *, quiet: bool = False, nova_conf: str | None = None) -> Fleet:
    doc = read_fleet_document(path, nova_conf)
    show = not quiet and sys.stderr.isatty()
    fleet = load_fleet(doc, source=path, progress=_progress("loading", show))
    del doc
    return fleet


def settle_heap() -> None:
    """Move the loaded fleet out of the collector's reach: a full collection over a large
    snapshot's millions of long-lived objects costs ~100 ms and would land in a fit."""
    gc.collect()
    gc.freeze()
