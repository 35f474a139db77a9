"""A growable table of integer columns, appended to in blocks.

The fleet index keeps one row per pool (and per PF family, per held kind) in numpy
columns so that a fit counts over all hosts at once. Hosts change one at a time: their
new rows are appended (amortised O(rows) by doubling the buffers) and their old rows are
zeroed in place, so a change costs O(that host's rows). What an answer must keep past the
next change, it copies (:meth:`pciplane.core.pool_table.TableView.kept`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import numpy.typing as npt

IntArray = npt.NDArray[np.int64]
Int32Array = npt.NDArray[np.int32]
BoolArray = npt.NDArray[np.bool_]


class IntTable:
    """Named int32 columns of equal length."""

    def __init__(self, names: Sequence[str], capacity: int = 1024) -> None:
        self.names = tuple(names)
        self._buffers = {n: np.zeros(capacity, dtype=np.int32) for n in self.names}
        self.size = 0

    def __len__(self) -> int:
        return self.size

    def column(self, name: str) -> Int32Array:
        """The filled part of a column (a view: read it, do not keep it across writes)."""
        return self._buffers[name][: self.size]

    def columns(self) -> dict[str, Int32Array]:
        """Read-only views of every column, valid until the next write."""
        out = {}
        for name, buf in self._buffers.items():
            view = buf[: self.size]
            view.flags.writeable = False
            out[name] = view
        return out

    def append(self, block: Mapping[str, Sequence[int]]) -> tuple[int, int]:
        """Append rows given column by column; the ``[start, end)`` they occupy."""
        n = len(block[self.names[0]])
        start, end = self.size, self.size + n
        if end > len(self._buffers[self.names[0]]):
            self._grow(end)
        for name in self.names:
            self._buffers[name][start:end] = block[name]
        self.size = end
        return start, end

    def assign(self, name: str, start: int, end: int, value: int) -> None:
        """Overwrite ``[start, end)`` of one column in place."""
        if start == end:
            return
        self._buffers[name][start:end] = value

    def set(self, name: str, positions: Sequence[int], values: Sequence[int]) -> None:
        """Overwrite some rows of one column in place."""
        self._buffers[name][list(positions)] = values

    def rewrite(self, name: str, values: npt.ArrayLike) -> None:
        """Overwrite a whole column."""
        self._buffers[name][: self.size] = values

    def keep(self, mask: BoolArray) -> None:
        """Keep only the rows where ``mask`` holds (compaction; new buffers)."""
        kept = {n: buf[: self.size][mask] for n, buf in self._buffers.items()}
        self.size = int(mask.sum())
        capacity = max(1024, 2 * self.size)
        self._buffers = {}
        for name, values in kept.items():
            buf = np.zeros(capacity, dtype=np.int32)
            buf[: self.size] = values
            self._buffers[name] = buf

    def _grow(self, needed: int) -> None:
        capacity = max(needed, 2 * len(self._buffers[self.names[0]]))
        for name, buf in self._buffers.items():
            bigger = np.zeros(capacity, dtype=np.int32)
            bigger[: self.size] = buf[: self.size]
            self._buffers[name] = bigger
