"""Human names for PCI vendor and device ids, from the ``pci.ids`` database.

The file (Debian's ``hwdata`` ships it as ``/usr/share/misc/pci.ids``) lists vendors as
``vvvv  Name`` lines, each followed by its devices as ``\\tdddd  Name`` lines and their
subsystems as ``\\t\\t...`` lines; a ``C cc  Name`` section of classes closes it
(format: the header of pci.ids, https://pci-ids.ucw.cz/). It is about 1.3 MB, so it is
read once, on the first lookup, and only the vendors asked for are split into devices.
When the file is absent the names are ``None`` and pciplane shows the ids alone.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_PATH = Path("/usr/share/misc/pci.ids")

_VENDOR = re.compile(r"^([0-9a-fA-F]{4}) {2}(.*)$", re.MULTILINE)
_DEVICE = re.compile(r"^\t([0-9a-fA-F]{4}) {2}(.*)$", re.MULTILINE)
_CLASSES = re.compile(r"^C ", re.MULTILINE)


@dataclass(frozen=True, slots=True)
class _Vendor:
    name: str
    start: int
    end: int


@dataclass(slots=True)
class PciNames:
    """Lazily parsed ``pci.ids``: ``vendor(vid)`` and ``device(vid, pid)`` lookups."""

    path: Path = DEFAULT_PATH
    _text: str | None = field(default=None, init=False, repr=False)
    _vendors: dict[str, _Vendor] | None = field(default=None, init=False, repr=False)
    _devices: dict[str, dict[str, str]] = field(default_factory=dict, init=False, repr=False)

    def _index(self) -> dict[str, _Vendor]:
        if self._vendors is None:
            self._vendors = {}
            try:
                text = self.path.read_text(encoding="utf-8", errors="replace")
            except OSError:
                return self._vendors
            classes = _CLASSES.search(text)
            self._text = text[: classes.start()] if classes else text
            matches = list(_VENDOR.finditer(self._text))
            for m, nxt in zip(matches, [*matches[1:], None], strict=True):
                end = nxt.start() if nxt is not None else len(self._text)
                self._vendors.setdefault(
                    m.group(1).lower(), _Vendor(m.group(2).strip(), m.end(), end)
                )
        return self._vendors

    def vendor(self, vendor_id: str) -> str | None:
        """The vendor's name, or ``None`` when unknown or the file is absent."""
        entry = self._index().get(vendor_id.lower())
        return entry.name if entry else None

    def device(self, vendor_id: str, product_id: str) -> str | None:
        """The device's name under its vendor, or ``None``."""
        vid = vendor_id.lower()
        devices = self._devices.get(vid)
        if devices is None:
            entry = self._index().get(vid)
            devices = {}
            if entry is not None and self._text is not None:
                block = self._text[entry.start : entry.end]
                for m in _DEVICE.finditer(block):
                    devices.setdefault(m.group(1).lower(), m.group(2).strip())
            self._devices[vid] = devices
        return devices.get(product_id.lower())


_SHARED: dict[Path, PciNames] = {}


def names_at(path: Path = DEFAULT_PATH) -> PciNames:
    """One shared lazily-parsed database per path, so repeated scans parse it once."""
    names = _SHARED.get(path)
    if names is None:
        names = _SHARED[path] = PciNames(path)
    return names
