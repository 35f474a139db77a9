"""``pciplane export --out F``: the live state as a fleet snapshot (shared/fleet-format.md).

The file is what the offline ``fit``, ``lint`` and ``capacity`` read with ``--fleet``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from pciplane.cli._api import add_client_args, client_from
from pciplane.core.errors import ConfigError


def register(sub: Any) -> None:
    parser: argparse.ArgumentParser = sub.add_parser(
        "export", help="write the live state as a pciplane-fleet/1 snapshot"
    )
    parser.add_argument("--out", type=Path, help="the file to write ('-' or none: stdout)")
    add_client_args(parser)
    parser.set_defaults(func=_export)


def _export(args: argparse.Namespace) -> int:
    with client_from(args) as client:
        doc = client.export()
    text = json.dumps(doc, indent=1) + "\n"
    if args.out is None or str(args.out) == "-":
        sys.stdout.write(text)
        return 0
    try:
        args.out.write_text(text)
    except OSError as exc:
        raise ConfigError(f"{args.out}: cannot write the snapshot: {exc.strerror}") from None
    hosts = doc.get("hosts", [])
    if not args.json:
        print(f"wrote {args.out}: {len(hosts)} hosts")
    return 0
