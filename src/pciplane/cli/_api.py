"""What the client commands share: ``--api``, ``--token``, ``--json``.

``--api`` and ``--token`` default to the environment (``PCIPLANE_API``,
``PCIPLANE_TOKEN``), so an operator sets them once per shell.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel

from pciplane.cli.flag_types import api_url
from pciplane.client import DEFAULT_API, Client
from pciplane.core.errors import ConfigError


def add_client_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--api",
        type=api_url,
        default=os.environ.get("PCIPLANE_API", DEFAULT_API),
        help="the service's URL (env PCIPLANE_API; default %(default)s)",
    )
    parser.add_argument(
        "--token",
        default=os.environ.get("PCIPLANE_TOKEN"),
        help="bearer token (env PCIPLANE_TOKEN)",
    )
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")


def client_from(args: argparse.Namespace) -> Client:
    return Client(args.api, args.token)


def as_json(value: Any) -> Any:
    """JSON for records: wire models exactly as the API renders them, dataclasses by field."""
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json", by_alias=True)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: as_json(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, list | tuple):
        return [as_json(v) for v in value]
    return value


def print_json(value: Any) -> None:
    json.dump(as_json(value), sys.stdout, indent=2, sort_keys=True)
    sys.stdout.write("\n")


def parse_properties(values: Sequence[str] | None) -> dict[str, str]:
    """``--property key=value`` items (the first ``=`` separates), as openstack takes them."""
    out: dict[str, str] = {}
    for item in values or ():
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ConfigError(f"--property {item!r}: expected KEY=VALUE")
        out[key] = value
    return out
