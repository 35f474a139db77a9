"""argparse ``type=`` converters and choices shared by the commands.

A value that cannot be right is a usage error naming its flag (argparse prints
``argument --port: ...`` and exits 2) before anything runs, rather than a traceback
from deep inside uvicorn, ``logging`` or httpx (the click model: usage errors are not
domain errors, DESIGN.md).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import httpx

from pciplane.client import DEFAULT_API
from pciplane.core.address import PciAddress
from pciplane.core.errors import ConfigError
from pciplane.core.sriov_agent import parse_device_mappings, parse_exclude_devices

#: Python ``logging``'s level names, which uvicorn takes in lower case too.
LOG_LEVELS = ("critical", "error", "warning", "info", "debug")


def port_number(text: str) -> int:
    """A TCP port to listen on: 1 to 65535 (0 would let the kernel pick one unseen)."""
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number") from None
    if not 1 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{port} is not a port number (1 to 65535)")
    return port


def api_url(text: str) -> str:
    """The service's http(s) URL; argparse also applies this to a default taken from the
    environment (``PCIPLANE_API``), so a bad one there is caught the same way."""
    try:
        url = httpx.URL(text)
    except httpx.InvalidURL as exc:
        raise argparse.ArgumentTypeError(f"{text!r} is not a valid URL: {exc}") from None
    if url.scheme not in ("http", "https") or not url.host:
        raise argparse.ArgumentTypeError(f"{text!r} is not an http(s) URL like {DEFAULT_API}")
    return text


def output_path(text: str) -> str:
    """A file to write, or ``-`` for standard output; not empty, not a directory."""
    if not text.strip():
        raise argparse.ArgumentTypeError("an empty path names no file (- is standard output)")
    if text != "-" and (not Path(text).name or Path(text).is_dir()):
        raise argparse.ArgumentTypeError(f"{text!r} is a directory, not a file")
    return text


def device_mappings(text: str) -> dict[str, tuple[str, ...]]:
    """Neutron's ``physical_device_mappings`` (``physnet1:ens1f0,physnet2:ens2f0``)."""
    try:
        return parse_device_mappings(text)
    except ConfigError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def exclude_devices(text: str) -> dict[str, frozenset[PciAddress]]:
    """Neutron's ``exclude_devices`` (``ens1f0:0000:3b:02.2;0000:3b:02.3,...``)."""
    try:
        return parse_exclude_devices(text)
    except ConfigError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def key_value(text: str) -> tuple[str, str]:
    """``KEY=VALUE`` (the first ``=`` separates), as the openstack CLI takes properties."""
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"{text!r} is not KEY=VALUE")
    return key, value
