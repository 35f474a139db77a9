"""Reading a fleet snapshot one host at a time (the offline commands' loader).

``json.loads`` of a 10,000-host snapshot (about 75 MiB) builds some 420 MiB of dicts
before the first host is parsed. Here the text is walked member by member with the
standard decoder's ``raw_decode`` (C speed), and the ``hosts`` array element by element,
so :func:`pciplane.core.snapshot.load_fleet_members` turns each host into records while
the next is still text: memory stays near the text plus the records.
"""

from __future__ import annotations

import contextlib
import gc
import json
import re
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Mapping

from pciplane.conf.json_file import read_text
from pciplane.core.errors import SnapshotError
from pciplane.core.fleet import Fleet
from pciplane.core.snapshot import load_fleet, load_fleet_members

_SPACE = re.compile(r"[ \t\n\r]*")


class _NotAnObject(Exception):
    """The document is not a JSON object: the ordinary reader says why."""


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """No garbage collection while a snapshot is loaded and indexed.

    Loading creates millions of long-lived objects and no cycles worth collecting; the
    collector, triggered by the allocations, would walk them all again and again (about
    40% of a 10,000-host load). Callers then freeze what was loaded (``settle_heap``).
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def read_fleet_stream(
    path: str, *, quiet: bool = False, replace: Mapping[str, object] | None = None
) -> Fleet:
    """The snapshot at ``path`` (``-``: standard input); progress on a terminal.

    ``replace`` gives top-level members (``device_spec``, ``alias``) that stand instead
    of the document's own, whether it has them or not.
    """
    text = read_text(path, "fleet")
    progress = _Progress("loading") if not quiet and sys.stderr.isatty() else None
    try:
        members: Iterable[tuple[object, object]] = _Members(text, path)
    except _NotAnObject:
        doc = _decode_all(text, path)
        if isinstance(doc, dict) and replace:
            doc = {**doc, **replace}
        return load_fleet(doc, source=path)
    if replace:
        members = _replaced(members, replace)
    try:
        with gc_paused():
            return load_fleet_members(members, source=path, progress=progress)
    finally:
        if progress is not None:
            progress.close()


def _replaced(
    members: Iterable[tuple[object, object]], replace: Mapping[str, object]
) -> Iterator[tuple[object, object]]:
    """The members with ``replace``'s values instead (and added where missing)."""
    seen = set()
    for key, value in members:
        seen.add(key)
        yield key, replace.get(key, value) if isinstance(key, str) else value
    for key, value in replace.items():
        if key not in seen:
            yield key, value


def _decode_all(text: str, path: str) -> object:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise _invalid(path, exc) from None


def _invalid(path: str, exc: json.JSONDecodeError) -> SnapshotError:
    return SnapshotError(
        f"fleet {path}: not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})"
    )


class _Members:
    """The top-level members of a JSON object, ``hosts`` as an iterator of its elements.

    The iterator must be used up before the next member is asked for (the members are
    read in document order, as :func:`load_fleet_members` does). Device objects whose
    text recurs (the same card in the same slot on many hosts) are decoded once and
    shared, which the snapshot parser then recognises by identity.
    """

    def __init__(self, text: str, path: str) -> None:
        self.text = text
        self.path = path
        self._decoder = json.JSONDecoder()
        self._devices: dict[str, object] = {}  # device text -> its one decoded object
        self.pos = self._skip(0)
        if not text.startswith("{", self.pos):
            raise _NotAnObject

    def __iter__(self) -> Iterator[tuple[object, object]]:
        try:
            for key in self._keys():
                if key == "hosts" and self._peek() == "[":
                    yield key, self._translated(self._array(self._host))
                else:
                    yield key, self._value()
            self._end(self.pos)
        except json.JSONDecodeError as exc:
            raise _invalid(self.path, exc) from None

    def _translated(self, items: Iterator[object]) -> Iterator[object]:
        try:
            yield from items
        except json.JSONDecodeError as exc:
            raise _invalid(self.path, exc) from None

    def _keys(self) -> Iterator[object]:
        """Each key of the object at ``pos``, with ``pos`` left at its value (which the
        caller reads before asking for the next key)."""
        self._expect("{")
        if self._peek() == "}":
            self.pos = self._skip(self.pos + 1)
            return
        while True:
            if self._peek() != '"':
                raise json.JSONDecodeError(
                    "Expecting property name enclosed in double quotes", self.text, self.pos
                )
            key = self._value()
            self._expect(":")
            yield key
            if self._peek() == ",":
                self.pos = self._skip(self.pos + 1)
                continue
            self._expect("}")
            return

    def _array(self, element: Callable[[], object]) -> Iterator[object]:
        self._expect("[")
        if self._peek() == "]":
            self.pos = self._skip(self.pos + 1)
            return
        while True:
            yield element()
            if self._peek() == ",":
                self.pos = self._skip(self.pos + 1)
                continue
            self._expect("]")
            return

    def _host(self) -> object:
        if self._peek() != "{":
            return self._value()
        host: dict[object, object] = {}
        for key in self._keys():
            if key == "devices" and self._peek() == "[":
                host[key] = self._devices_list()
            else:
                host[key] = self._value()
        return host

    def _devices_list(self) -> list[object]:
        """A host's device objects. Each flat object's text is decoded once and the
        decoded object shared (one loop: this runs for every device of the fleet)."""
        text, known, decode, space = self.text, self._devices, self._decoder.raw_decode, _SPACE
        out: list[object] = []
        pos = self.pos + 1
        while True:
            if not text.startswith("{", pos):  # whitespace, or not an object at all
                pos = space.match(text, pos).end()  # type: ignore[union-attr]
                if not out and text.startswith("]", pos):
                    self.pos = self._skip(pos + 1)
                    return out
            end = text.find("}", pos) + 1 if text.startswith("{", pos) else 0
            chunk = text[pos:end] if end else ""
            device = known.get(chunk) if end else None
            if device is None:
                device, stop = decode(text, pos)
                if end and stop == end:  # the object ends at its first "}": flat, shared
                    known[chunk] = device
            else:
                stop = end
            out.append(device)
            if not text.startswith(",", stop):
                stop = space.match(text, stop).end()  # type: ignore[union-attr]
            if text.startswith(",", stop):
                pos = stop + 1
                continue
            if not text.startswith("]", stop):
                raise json.JSONDecodeError("Expecting ',' delimiter", text, stop)
            self.pos = self._skip(stop + 1)
            return out

    def _value(self) -> object:
        value, end = self._decoder.raw_decode(self.text, self.pos)
        self.pos = self._skip(end)
        return value

    def _peek(self) -> str:
        return self.text[self.pos : self.pos + 1]

    def _expect(self, char: str) -> None:
        if self._peek() != char:
            raise json.JSONDecodeError(f"Expecting {char!r} delimiter", self.text, self.pos)
        self.pos = self._skip(self.pos + 1)

    def _skip(self, pos: int) -> int:
        match = _SPACE.match(self.text, pos)
        return match.end() if match else pos

    def _end(self, pos: int) -> None:
        if self._skip(pos) != len(self.text):
            raise json.JSONDecodeError("Extra data", self.text, self._skip(pos))


class _Progress:
    """``loading: 3000 hosts (1.2 s)`` on one terminal line, ended when loading is."""

    def __init__(self, label: str) -> None:
        self.label = label
        self.start = time.monotonic()
        self.shown = False

    def __call__(self, done: int, total: int) -> None:
        of = f"/{total}" if total else ""
        elapsed = time.monotonic() - self.start
        print(f"\r{self.label}: {done}{of} hosts ({elapsed:.1f} s)", end="", file=sys.stderr)
        self.shown = True

    def close(self) -> None:
        if self.shown:
            print(file=sys.stderr)
