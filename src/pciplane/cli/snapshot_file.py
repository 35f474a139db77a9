"""Reading a fleet snapshot file for the offline commands (fit, capacity, lint).

A snapshot is one JSON document (shared/fleet-format.md), read host by host
(:mod:`pciplane.cli.snapshot_stream`); large ones take a second, so loading shows its
progress on a terminal. ``--nova-conf FILE`` asks "what if the
fleet-wide configuration were this nova.conf's": its ``[pci] device_spec`` and ``[pci]
alias`` replace the snapshot's top-level ones, and hosts with their own ``device_spec``
keep theirs, since a host's own list always wins over the fleet's (fleet-format.md).
"""

from __future__ import annotations

import argparse
import gc

from pciplane.cli.snapshot_stream import read_fleet_stream
from pciplane.conf.pci_entries import read_nova_conf
from pciplane.core.fleet import Fleet

NOVA_CONF_HELP = (
    "a nova.conf whose [pci] device_spec and alias replace the snapshot's fleet-wide "
    "ones, for a what-if (hosts with their own device_spec keep it)"
)


def add_fleet_arguments(parser: argparse.ArgumentParser, *, required: bool = True) -> None:
    parser.add_argument(
        "--fleet", required=required, metavar="FILE", help="fleet snapshot (JSON; - for stdin)"
    )
    parser.add_argument("--nova-conf", metavar="FILE", help=NOVA_CONF_HELP)


def load_fleet_file(path: str, *, quiet: bool = False, nova_conf: str | None = None) -> Fleet:
    """The snapshot, with a nova.conf's entries in place of its own fleet-wide ones.

    The nova.conf is read and its entries parsed first, so a mistake in it is reported
    with its own name rather than as the snapshot's.
    """
    replace: dict[str, object] | None = None
    if nova_conf is not None:
        override = read_nova_conf(nova_conf)
        override.device_specs()
        override.aliases()
        replace = {"device_spec": list(override.device_spec_raw), "alias": list(override.alias_raw)}
    return read_fleet_stream(path, quiet=quiet, replace=replace)


def settle_heap() -> None:
    """Move the loaded fleet out of the collector's reach: a full collection over a large
    snapshot's millions of long-lived objects costs ~100 ms and would land in a fit."""
    gc.collect()
    gc.freeze()
