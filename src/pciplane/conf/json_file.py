"""The one reader of the JSON files operators and tools hand to pciplane.

Fleet snapshots, request lists, device_spec and alias lists and earlier ``discover
--json`` outputs are all read here, so every error names the file and, for a syntax
error, the line and column where the parser stopped (``json.JSONDecodeError``'s own
1-based position, which editors jump to).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from pciplane.core.errors import ConfigError

#: The path that means standard input (``pciplane fit --fleet -``).
STDIN = "-"


def read_text(path: str | Path, what: str) -> str:
    """The file's text (UTF-8); ``-`` reads standard input."""
    try:
        if str(path) == STDIN:
            return sys.stdin.read()
        return Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{what} file {path}: cannot read: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{what} file {path}: not UTF-8 text (byte {exc.start})") from None


def parse_json(text: str, path: str | Path, what: str) -> object:
    """``text`` decoded; a syntax error names the file, the line and the column."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(
            f"{what} file {path}: not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})"
        ) from None
    except RecursionError:
        raise ConfigError(f"{what} file {path}: not valid JSON: nested too deeply") from None


def read_json(path: str | Path, what: str) -> object:
    """The decoded document of a JSON file; ``what`` says what it is for (``fleet``)."""
    return parse_json(read_text(path, what), path, what)
