"""The CLI's one table printer: columns aligned two spaces apart, as ``openstack`` prints.

An empty cell (None or "") prints as ``-`` so that every column has a word in every
row and stays readable with ``column``, ``awk`` or the eye.
"""

from __future__ import annotations

from collections.abc import Sequence


def table_lines(
    headers: Sequence[str], rows: Sequence[Sequence[object]], *, indent: str = ""
) -> list[str]:
    """The header and rows as aligned lines without trailing spaces."""
    cells = [list(headers)] + [
        [("-" if v is None or v == "" else str(v)) for v in row] for row in rows
    ]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    return [
        (indent + "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True))).rstrip()
        for row in cells
    ]


def print_table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
    for line in table_lines(headers, rows):
        print(line)
