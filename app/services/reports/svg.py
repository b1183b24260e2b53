"""Inline SVG charts drawn on the server: lines with 95 % CI bands, and grouped bars.

A suppressed cell is never drawn: it gets a labelled marker on the axis instead, so the reader
sees that a value exists but is hidden. Everything is escaped; no script, no external asset.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from html import escape

from markupsafe import Markup

WIDTH, HEIGHT = 640, 300
LEFT, RIGHT, TOP, BOTTOM = 56, 16, 28, 56
PALETTE = ("#1f5f8b", "#c2571a", "#5b8c2a", "#7a4f9a", "#8c2a3f")


@dataclass(frozen=True, slots=True)
class Point:
    x: str  # category label on the x axis
    y: float | None
    lo: float | None = None
    hi: float | None = None
    suppressed: bool = False
    n: int | None = None


@dataclass(frozen=True, slots=True)
class Series:
    name: str
    points: Sequence[Point]
    color: str = ""


@dataclass(slots=True)
class Frame:
    """Maps category indexes and values to pixels."""

    categories: Sequence[str]
    lo: float
    hi: float
    parts: list[str] = field(default_factory=list)

    def x(self, i: float) -> float:
        step = (WIDTH - LEFT - RIGHT) / max(len(self.categories), 1)
        return LEFT + step * (i + 0.5)

    def y(self, v: float) -> float:
        span = (self.hi - self.lo) or 1.0
        return TOP + (HEIGHT - TOP - BOTTOM) * (1 - (v - self.lo) / span)

    @property
    def step(self) -> float:
        return (WIDTH - LEFT - RIGHT) / max(len(self.categories), 1)


def _f(v: float) -> str:
    return f"{v:.1f}"


def _range(
    series: Sequence[Series], floor: float | None, ceiling: float | None
) -> tuple[float, float]:
    values = [
        v
        for s in series
        for p in s.points
        if not p.suppressed
        for v in (p.y, p.lo, p.hi)
        if v is not None
    ]
    lo = min([*values, 0.0]) if floor is None else floor
    hi = max([*values, 1.0]) if ceiling is None else ceiling
    return _nice(lo, hi, floor is None, ceiling is None)


def _nice(lo: float, hi: float, free_lo: bool, free_hi: bool) -> tuple[float, float]:
    """Widen [lo, hi] to four round steps (1, 2, 2.5 or 5 × 10^k) where the ends are free."""
    if not (free_lo or free_hi):
        return lo, hi
    raw = max(hi - lo, 1e-9) / 4
    power = 10 ** math.floor(math.log10(raw))
    for mult in (1, 2, 2.5, 5, 10):
        step = mult * power
        start = math.floor(lo / step) * step if free_lo else lo
        if start + 4 * step >= hi - 1e-9:
            return start, start + 4 * step if free_hi else hi
    return lo, hi


def _axes(frame: Frame, title: str, y_label: str, x_label: str) -> None:
    p = frame.parts
    p.append(f'<text class="chart-title" x="{LEFT}" y="18">{escape(title)}</text>')
    for k in range(5):
        v = frame.lo + (frame.hi - frame.lo) * k / 4
        y = _f(frame.y(v))
        p.append(f'<line class="grid" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y}" y2="{y}"/>')
        p.append(f'<text class="tick" x="{LEFT - 6}" y="{y}" text-anchor="end">{v:.4g}</text>')
    base = _f(frame.y(max(frame.lo, min(0.0, frame.hi))))
    p.append(f'<line class="axis" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{base}" y2="{base}"/>')
    crowded = len(frame.categories) > 6  # long labels would overlap: slant them
    for i, cat in enumerate(frame.categories):
        at, below = _f(frame.x(i)), HEIGHT - BOTTOM + 16
        turn = f' transform="rotate(-25 {at} {below})" text-anchor="end"'
        anchor = turn if crowded else ' text-anchor="middle"'
        p.append(f'<text class="tick" x="{at}" y="{below}"{anchor}>{escape(cat)}</text>')
    p.append(
        f'<text class="axis-label" x="{(WIDTH + LEFT) // 2}" y="{HEIGHT - 8}" '
        f'text-anchor="middle">{escape(x_label)}</text>'
    )
    p.append(
        f'<text class="axis-label" transform="translate(14 {HEIGHT // 2}) rotate(-90)" '
        f'text-anchor="middle">{escape(y_label)}</text>'
    )


def _suppressed_mark(frame: Frame, x: float, name: str, cat: str) -> str:
    return (
        f'<text class="suppressed-mark" x="{_f(x)}" y="{HEIGHT - BOTTOM + 32}" '
        f'text-anchor="middle"><title>{escape(name)} at {escape(cat)}: suppressed '
        f"(small cell)</title>⊘</text>"
    )


def _legend(frame: Frame, series: Sequence[Series]) -> None:
    x = WIDTH - RIGHT - 150
    for i, s in enumerate(series):
        y = TOP + 4 + 16 * i
        frame.parts.append(
            f'<rect x="{x}" y="{y - 9}" width="10" height="10" fill="{s.color}"/>'
            f'<text class="legend" x="{x + 14}" y="{y}">{escape(s.name)}</text>'
        )


def _svg(frame: Frame, chart: str, title: str) -> Markup:
    body = "".join(frame.parts)
    return Markup(
        f'<svg class="chart" data-chart="{escape(chart)}" role="img" aria-label="{escape(title)}" '
        f'viewBox="0 0 {WIDTH} {HEIGHT}" xmlns="http://www.w3.org/2000/svg">{body}</svg>'
    )


def _colored(series: Sequence[Series]) -> list[Series]:
    return [
        Series(s.name, s.points, s.color or PALETTE[i % len(PALETTE)]) for i, s in enumerate(series)
    ]


def _runs(points: Sequence[Point]) -> list[list[tuple[int, Point]]]:
    """Consecutive drawable points; a gap (suppressed or missing) breaks the line."""
    runs: list[list[tuple[int, Point]]] = [[]]
    for i, p in enumerate(points):
        if p.y is None or p.suppressed:
            runs.append([])
        else:
            runs[-1].append((i, p))
    return [r for r in runs if r]


def _line_series(frame: Frame, s: Series) -> None:
    key = escape(s.name)
    for run in _runs(s.points):
        banded = [(i, p) for i, p in run if p.lo is not None and p.hi is not None]
        if len(banded) >= 2:
            upper = [f"{_f(frame.x(i))},{_f(frame.y(p.hi or 0))}" for i, p in banded]
            lower = [f"{_f(frame.x(i))},{_f(frame.y(p.lo or 0))}" for i, p in reversed(banded)]
            frame.parts.append(
                f'<polygon class="ci-band" data-series="{key}" fill="{s.color}" '
                f'fill-opacity="0.18" points="{" ".join(upper + lower)}"/>'
            )
        path = " ".join(
            f"{'M' if j == 0 else 'L'}{_f(frame.x(i))},{_f(frame.y(p.y or 0))}"
            for j, (i, p) in enumerate(run)
        )
        frame.parts.append(
            f'<path class="series" data-series="{key}" d="{path}" fill="none" '
            f'stroke="{s.color}" stroke-width="2"/>'
        )
        for i, p in run:
            frame.parts.append(
                f'<circle class="point" cx="{_f(frame.x(i))}" cy="{_f(frame.y(p.y or 0))}" '
                f'r="3" fill="{s.color}"><title>{key} {escape(frame.categories[i])}: '
                f"{p.y:.2f} (n={p.n})</title></circle>"
            )
    for i, p in enumerate(s.points):
        if p.suppressed:
            frame.parts.append(_suppressed_mark(frame, frame.x(i), s.name, frame.categories[i]))


def line_chart(
    chart: str,
    title: str,
    categories: Sequence[str],
    series: Sequence[Series],
    *,
    x_label: str,
    y_label: str,
    floor: float | None = None,
    ceiling: float | None = None,
) -> Markup:
    """Lines over categories, each with its 95 % CI band; gaps where a cell is hidden."""
    colored = _colored(series)
    frame = Frame(categories, *_range(colored, floor, ceiling))
    _axes(frame, title, y_label, x_label)
    for s in colored:
        _line_series(frame, s)
    _legend(frame, colored)
    return _svg(frame, chart, title)


def _bar(frame: Frame, s: Series, k: int, count: int, i: int, p: Point) -> None:
    width = frame.step * 0.8 / count
    x = frame.x(i) - frame.step * 0.4 + width * k
    if p.suppressed:
        frame.parts.append(_suppressed_mark(frame, x + width / 2, s.name, frame.categories[i]))
        return
    if p.y is None:
        return
    zero = frame.y(max(frame.lo, min(0.0, frame.hi)))
    top, bottom = sorted((frame.y(p.y), zero))
    frame.parts.append(
        f'<rect class="bar" data-series="{escape(s.name)}" x="{_f(x)}" y="{_f(top)}" '
        f'width="{_f(width - 2)}" height="{_f(max(bottom - top, 0.5))}" fill="{s.color}">'
        f"<title>{escape(s.name)} {escape(frame.categories[i])}: {p.y:.2f} (n={p.n})"
        f"</title></rect>"
    )
    if p.lo is not None and p.hi is not None:
        cx = _f(x + width / 2 - 1)
        frame.parts.append(
            f'<line class="error-bar" x1="{cx}" x2="{cx}" y1="{_f(frame.y(p.lo))}" '
            f'y2="{_f(frame.y(p.hi))}" stroke="#222"/>'
        )


def bar_chart(
    chart: str,
    title: str,
    categories: Sequence[str],
    series: Sequence[Series],
    *,
    x_label: str,
    y_label: str,
    floor: float | None = None,
    ceiling: float | None = None,
) -> Markup:
    """Grouped bars (one group per category, one bar per series), CI whiskers when known."""
    colored = _colored(series)
    frame = Frame(categories, *_range(colored, floor, ceiling))
    _axes(frame, title, y_label, x_label)
    for k, s in enumerate(colored):
        for i, p in enumerate(s.points):
            _bar(frame, s, k, len(colored), i, p)
    _legend(frame, colored)
    return _svg(frame, chart, title)
