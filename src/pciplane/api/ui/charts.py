"""Bar charts as inline SVG, laid out here and drawn by the templates (no script, no
library): a row per item, its bar's length proportional to its value."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

#: Layout in SVG user units (px).
LABEL_WIDTH = 190
BAR_SPACE = 420
ROW_HEIGHT = 20


@dataclass(frozen=True, kw_only=True, slots=True)
class Bar:
    label: str
    value: int
    y: int
    width: int
    href: str | None = None
    #: A short note after the value (what runs out first).
    note: str = ""


@dataclass(frozen=True, kw_only=True, slots=True)
class BarChart:
    title: str
    bars: tuple[Bar, ...]
    height: int
    label_width: int = LABEL_WIDTH
    bar_space: int = BAR_SPACE

    @property
    def width(self) -> int:
        return self.label_width + self.bar_space + 260


def bar_chart(
    title: str, items: Sequence[tuple[str, int, str | None, str]], *, scale: int | None = None
) -> BarChart:
    """``items``: (label, value, link or None, note), drawn in the order given."""
    biggest = max([scale or 0, *(v for _, v, _, _ in items), 1])
    bars = tuple(
        Bar(
            label=label,
            value=value,
            y=i * ROW_HEIGHT,
            width=round(BAR_SPACE * value / biggest),
            href=href,
            note=note,
        )
        for i, (label, value, href, note) in enumerate(items)
    )
    return BarChart(title=title, bars=bars, height=max(1, len(bars)) * ROW_HEIGHT)
