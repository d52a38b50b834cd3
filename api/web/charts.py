"""Small inline SVG charts rendered on the server: no chart library, no JavaScript.

`gauge` draws one figure on a scale with the cohort's median marked; `series` draws a
figure over days. Both return markup with a text alternative (`role="img"` and a
`<title>`), so a screen reader announces the numbers the picture shows.
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

from markupsafe import Markup

WIDTH = 240
HEIGHT = 48
BAR = 14
FLAT = 1e-9
"""A series whose values differ by less than this is drawn as a flat line."""


def _x(value: float, low: float, high: float) -> float:
    span = high - low or 1.0
    return round(max(0.0, min(1.0, (value - low) / span)) * WIDTH, 1)


def gauge(
    value: float | None,
    *,
    low: float,
    high: float,
    label: str,
    median: float | None = None,
    normal: tuple[float, float] | None = None,
    alarming: bool = False,
) -> Markup:
    """A horizontal bar for `value` on [low, high]; the normal band shaded, the cohort's
    median a vertical line. Without a value: an empty scale."""
    parts = [
        f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" width="{WIDTH}" height="{HEIGHT}"'
        f' role="img" aria-label="{escape(label)}"><title>{escape(label)}</title>',
        f'<rect x="0" y="10" width="{WIDTH}" height="{BAR}" class="scale"/>',
    ]
    if normal is not None:
        a, b = _x(normal[0], low, high), _x(normal[1], low, high)
        parts.append(
            f'<rect x="{a}" y="10" width="{round(b - a, 1)}" height="{BAR}" class="normal"/>'
        )
    if value is not None:
        kind = "bad" if alarming else "good"
        parts.append(
            f'<rect x="0" y="13" width="{_x(value, low, high)}" height="{BAR - 6}" class="{kind}"/>'
        )
    if median is not None:
        m = _x(median, low, high)
        parts.append(f'<line x1="{m}" x2="{m}" y1="4" y2="{10 + BAR + 6}" class="median"/>')
    parts.append(
        f'<text x="0" y="{HEIGHT - 4}" class="axis">{low:g}</text>'
        f'<text x="{WIDTH}" y="{HEIGHT - 4}" class="axis" text-anchor="end">{high:g}</text>'
    )
    return Markup("".join(parts) + "</svg>")  # noqa: S704 - every text is escaped above


def series(points: Sequence[float | None], *, label: str) -> Markup:
    """A line over equally spaced days; gaps (None) break the line."""
    known = [p for p in points if p is not None]
    parts = [
        f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" width="{WIDTH}" height="{HEIGHT}"'
        f' role="img" aria-label="{escape(label)}"><title>{escape(label)}</title>',
        f'<rect x="0" y="0" width="{WIDTH}" height="{HEIGHT}" class="scale"/>',
    ]
    if known:
        low, high = min(known), max(known)
        if high - low < FLAT:
            low, high = low - 1, high + 1
        step = WIDTH / max(1, len(points) - 1)
        run: list[str] = []
        runs: list[list[str]] = [run]
        for i, p in enumerate(points):
            if p is None:
                run = []
                runs.append(run)
                continue
            y = round(HEIGHT - 4 - (p - low) / (high - low) * (HEIGHT - 8), 1)
            run.append(f"{round(i * step, 1)},{y}")
        for r in runs:
            if len(r) == 1:
                x, y = r[0].split(",")
                parts.append(f'<circle cx="{x}" cy="{y}" r="2" class="line"/>')
            elif r:
                parts.append(f'<polyline points="{" ".join(r)}" class="line" fill="none"/>')
    return Markup("".join(parts) + "</svg>")  # noqa: S704 - the label is escaped
