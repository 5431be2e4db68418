"""Bar and line charts as inline SVG, drawn on the server.

No script and no style: the desk's Content-Security-Policy forbids inline styles, so the
look is presentation attributes (fill=, stroke=) and the classes of desk.css. A chart is
an image (role="img") named by its title; its numbers are in a table beside it, which is
what a screen reader reads, so the SVG itself carries no data a table does not.

Colours are at least 3:1 against the white paper (WCAG 1.4.11), and the two lines of a
line chart differ by dash as well as colour (WCAG 1.4.1).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from html import escape

from markupsafe import Markup

# Drawn in these units and scaled to the column's width: at 560 wide, a 16-unit text is
# about 15 px on a desktop's half-width panel and 10 px on a 390 px phone.
WIDTH, HEIGHT = 560, 260
LEFT, RIGHT, TOP, BOTTOM = 56, 14, 34, 34
INK, MUTED, GRID = "#1b1b1b", "#4f4f4f", "#d6d2cc"
BLUE, RED, BROWN = "#1a4fa0", "#9b1c1c", "#7a4a00"  # 7.5, 8.0 and 7.1 to 1 on white
FONT = 16


@dataclass(frozen=True)
class Series:
    name: str
    values: Sequence[float | None]  # one per label; None: nothing to show there
    colour: str = BLUE
    dashed: bool = False


def compact(value: float) -> str:
    """An axis number in a few characters: 950, 12k, 3.4M."""
    for size, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= size:
            scaled = value / size
            return f"{scaled:.1f}".rstrip("0").rstrip(".") + suffix
    if value == int(value):
        return str(int(value))
    return f"{value:.2g}" if abs(value) < 1 else f"{value:.1f}"


def nice_top(highest: float, whole: bool = False) -> float:
    """The axis's top: the smallest round number at or above ``highest`` (1, 2 or 5 times
    a power of ten). For ``whole`` counts, an even one of at least 2, so that the middle
    line is a whole number too (no "2.5 emails")."""
    if not highest > 0 or not math.isfinite(highest):
        return 2.0 if whole else 1.0
    power = 10.0 ** math.floor(math.log10(highest))
    steps: tuple[int, ...] = (1, 2, 5, 10)
    if whole:
        power, steps = max(power, 1.0), (2, 4, 6, 8, 10)
    for step in steps:
        if step * power >= highest * (1 - 1e-12):
            return step * power
    return 10 * power  # pragma: no cover - the loop ends at 10


def _clean(value: float | None) -> float | None:
    # Counts and durations are never negative; a negative or non-number is drawn as 0/gap.
    if value is None or not math.isfinite(value):
        return None
    return max(0.0, float(value))


class _Frame:
    """The plot area, its y scale and the markup around it."""

    def __init__(self, title: str, labels: Sequence[str], top: float,
                 fmt: Callable[[float], str], every: int) -> None:  # fmt: skip
        self.labels = labels
        self.top = top
        self.fmt = fmt
        self.every = max(1, every)
        self.width = WIDTH - LEFT - RIGHT
        self.height = HEIGHT - TOP - BOTTOM
        self.slot = self.width / max(1, len(labels))
        self.parts: list[str] = [
            f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" viewBox="0 0 {WIDTH} '
            f'{HEIGHT}" role="img" aria-label="{escape(title)}" focusable="false">',
            f"<title>{escape(title)}</title>",
        ]

    def y(self, value: float) -> float:
        return TOP + self.height - self.height * min(value, self.top) / self.top

    def x(self, index: int) -> float:
        return LEFT + self.slot * (index + 0.5)

    def axes(self) -> None:
        for share in (0.0, 0.5, 1.0):
            value = self.top * share
            y = self.y(value)
            self.parts.append(
                f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y:.1f}" y2="{y:.1f}" '
                f'stroke="{INK if share == 0 else GRID}" stroke-width="1"/>'
            )
            self.parts.append(
                f'<text x="{LEFT - 6}" y="{y + FONT / 3:.1f}" text-anchor="end" '
                f'font-size="{FONT}" fill="{MUTED}">{escape(self.fmt(value))}</text>'
            )
        for index, label in enumerate(self.labels):
            if index % self.every == 0:
                self.parts.append(
                    f'<text x="{self.x(index):.1f}" y="{HEIGHT - 10}" text-anchor="middle" '
                    f'font-size="{FONT}" fill="{MUTED}">{escape(label)}</text>'
                )

    def legend(self, series: Sequence[Series]) -> None:
        if len(series) < 2:
            return
        x = LEFT
        for one in series:
            dash = ' stroke-dasharray="6 4"' if one.dashed else ""
            self.parts.append(
                f'<line x1="{x}" x2="{x + 22}" y1="14" y2="14" stroke="{one.colour}" '
                f'stroke-width="6"{dash}/>'
                f'<text x="{x + 28}" y="19" font-size="{FONT}" fill="{INK}">'
                f"{escape(one.name)}</text>"
            )
            x += 40 + 9 * len(one.name)

    def markup(self) -> Markup:
        # Every piece of text above went through html.escape: the result is safe as is.
        return Markup("".join([*self.parts, "</svg>"]))  # noqa: S704


def bar_chart(
    title: str,
    labels: Sequence[str],
    series: Sequence[Series],
    *,
    fmt: Callable[[float], str] = compact,
    every: int = 1,
    whole: bool = True,
) -> Markup:
    """Bars per label, the series stacked in order (the first at the bottom)."""
    cleaned = [[_clean(v) or 0.0 for v in one.values] for one in series]
    totals = [sum(column) for column in zip(*cleaned, strict=True)] if cleaned else []
    frame = _Frame(title, labels, nice_top(max(totals, default=0.0), whole), fmt, every)
    frame.axes()
    frame.legend(series)
    bar = frame.slot * 0.7
    for index in range(len(labels)):
        base = 0.0
        for one, values in zip(series, cleaned, strict=True):
            value = values[index]
            if value <= 0:
                continue
            y_top, y_bottom = frame.y(base + value), frame.y(base)
            frame.parts.append(
                f'<rect x="{frame.x(index) - bar / 2:.2f}" y="{y_top:.2f}" '
                f'width="{bar:.2f}" height="{y_bottom - y_top:.2f}" fill="{one.colour}"/>'
            )
            base += value
    return frame.markup()


def line_chart(
    title: str,
    labels: Sequence[str],
    series: Sequence[Series],
    *,
    fmt: Callable[[float], str] = compact,
    every: int = 1,
) -> Markup:
    """A line per series; a gap where a value is None, a dot on every point."""
    cleaned = [[_clean(v) for v in one.values] for one in series]
    highest = max((v for values in cleaned for v in values if v is not None), default=0.0)
    frame = _Frame(title, labels, nice_top(highest), fmt, every)
    frame.axes()
    frame.legend(series)
    for one, values in zip(series, cleaned, strict=True):
        dash = ' stroke-dasharray="6 4"' if one.dashed else ""
        run: list[str] = []
        for index, value in [*enumerate(values), (len(values), None)]:
            if value is None:
                if len(run) > 1:
                    frame.parts.append(
                        f'<polyline points="{" ".join(run)}" fill="none" '
                        f'stroke="{one.colour}" stroke-width="2.5"{dash}/>'
                    )
                run = []
                continue
            x, y = frame.x(index), frame.y(value)
            run.append(f"{x:.1f},{y:.1f}")
            frame.parts.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="{one.colour}"/>')
    return frame.markup()


def row_chart(
    title: str,
    points: Sequence[tuple[str, float]],
    *,
    colour: str = BLUE,
    fmt: Callable[[float], str] = compact,
) -> Markup:
    """A horizontal bar per (label, value), its label above it and its value at its end:
    room for long names at any width."""
    size = 1.25 * FONT  # the whole width is the bars': room for larger words
    row = 3.2 * size
    height = int(row * len(points) + size)
    top = nice_top(max((_clean(v) or 0.0 for _, v in points), default=0.0), whole=True)
    room = WIDTH - 90  # the value's text goes after the longest bar
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" viewBox="0 0 {WIDTH} '
        f'{height}" role="img" aria-label="{escape(title)}" focusable="false">',
        f"<title>{escape(title)}</title>",
    ]
    for index, (label, value) in enumerate(points):
        y = index * row + size
        amount = _clean(value) or 0.0
        length = max(room * amount / top, 2)  # a zero is a sliver: the row is there
        parts.append(
            f'<text x="0" y="{y:.1f}" font-size="{size}" fill="{INK}">{escape(label)}</text>'
            f'<rect x="0" y="{y + 8:.1f}" width="{length:.2f}" height="{size:.0f}" '
            f'fill="{colour if amount else GRID}"/>'
            f'<text x="{length + 8:.2f}" y="{y + 8 + size * 0.85:.1f}" '
            f'font-size="{size}" fill="{INK}">{escape(fmt(amount))}</text>'
        )
    # Every piece of text above went through html.escape: the result is safe as is.
    return Markup("".join([*parts, "</svg>"]))  # noqa: S704
