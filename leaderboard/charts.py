"""Line charts as inline SVG, drawn here in Python so a page needs no script, no CDN and
works from file://.

A chart is a few series over time (UTC epoch seconds of interval ends) that share one
y axis. Long windows (4 weeks = 8064 intervals) are thinned to at most two points per
horizontal pixel, keeping each bucket's lowest and highest value so price spikes stay
visible.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Sequence

from markupsafe import Markup, escape

NEM_TIME = timezone(timedelta(hours=10), "AEST")
WIDTH, HEIGHT = 720, 220
PAD_LEFT, PAD_RIGHT, PAD_TOP, PAD_BOTTOM = 56, 12, 10, 26


@dataclass(frozen=True)
class Series:
    label: str
    css: str  # class name: team | baseline | solar | price (colours live in site.css)
    xs: Sequence[float]
    ys: Sequence[float | None]
    dashed: bool = False


@dataclass(frozen=True)
class Chart:
    key: str  # data-chart attribute: what the browser test and the reader look for
    title: str
    unit: str
    series: tuple[Series, ...] = field(default_factory=tuple)
    # Shared time axis (the window) so the charts of one page line up; None = the data's own.
    x_range: tuple[float, float] | None = None
    # A moment to mark with a vertical line, e.g. the interval a submission failed at.
    marker: tuple[float, str] | None = None


def _finite(y) -> bool:
    return isinstance(y, (int, float)) and not isinstance(y, bool) and math.isfinite(y)


def nice_ticks(lo: float, hi: float, count: int = 5) -> list[float]:
    """Round tick values covering [lo, hi] (1, 2, 5 x 10^n steps)."""
    if hi <= lo:
        hi = lo + 1.0
    raw = (hi - lo) / max(count - 1, 1)
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    first = math.floor(lo / step) * step
    ticks, t = [], first
    while t <= hi + step * 1e-9:
        ticks.append(round(t, 10))
        t += step
    if ticks[-1] < hi:
        ticks.append(round(t, 10))
    return ticks


def thin(xs: Sequence[float], ys: Sequence[float | None], buckets: int) -> list[tuple[float, float | None]]:
    """At most ~2 points per bucket: each bucket's min and max in time order. A gap (None)
    is kept as a break in the line."""
    points = list(zip(xs, ys))
    if len(points) <= 2 * buckets:
        return points
    lo_x, hi_x = xs[0], xs[-1]
    span = (hi_x - lo_x) or 1.0
    out: list[tuple[float, float | None]] = []
    bucket: list[tuple[float, float | None]] = []
    current = 0

    def flush() -> None:
        good = [p for p in bucket if _finite(p[1])]
        if len(good) < len(bucket):
            out.append((bucket[0][0], None))
        if good:
            low = min(good, key=lambda p: p[1])
            high = max(good, key=lambda p: p[1])
            out.extend(sorted({low, high}, key=lambda p: p[0]))

    for x, y in points:
        index = min(int((x - lo_x) / span * buckets), buckets - 1)
        if index != current and bucket:
            flush()
            bucket = []
        current = index
        bucket.append((x, y))
    if bucket:
        flush()
    return out


def _fmt_tick(value: float) -> str:
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    if value == int(value):
        return f"{int(value)}"
    return f"{value:g}"


def _time_ticks(lo: float, hi: float) -> list[tuple[float, str]]:
    span = hi - lo
    day = 86400
    if span <= 2 * day:
        step, fmt = 3 * 3600 if span > 12 * 3600 else 3600, "%H:%M"
    elif span <= 14 * day:
        step, fmt = day, "%d %b"
    else:
        step, fmt = 7 * day, "%d %b"
    # Ticks on round NEM-time boundaries.
    offset = 10 * 3600
    first = math.ceil((lo + offset) / step) * step - offset
    ticks = []
    t = first
    while t <= hi:
        ticks.append((t, datetime.fromtimestamp(t, NEM_TIME).strftime(fmt)))
        t += step
    while len(ticks) > 8:
        ticks = ticks[::2]
    return ticks


def render_svg(chart: Chart) -> Markup:
    """The chart as an <svg> element (escaped text, safe to drop into a template)."""
    plot_w = WIDTH - PAD_LEFT - PAD_RIGHT
    plot_h = HEIGHT - PAD_TOP - PAD_BOTTOM
    xs_all = [x for s in chart.series for x in s.xs]
    ys_all = [y for s in chart.series for y in s.ys if _finite(y)]
    label = f"{chart.title} ({chart.unit})"
    parts = [
        f'<svg class="chart-svg" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'aria-label="{escape(label)}">',
        f"<title>{escape(label)}</title>",
    ]
    if not xs_all or not ys_all:
        parts.append(
            f'<text class="empty" x="{WIDTH / 2}" y="{HEIGHT / 2}" text-anchor="middle">no data</text></svg>'
        )
        return Markup("".join(parts))

    x_lo, x_hi = chart.x_range if chart.x_range else (min(xs_all), max(xs_all))
    if x_hi == x_lo:
        x_hi = x_lo + 1
    ticks = nice_ticks(min(ys_all), max(ys_all))
    y_lo, y_hi = ticks[0], ticks[-1]

    def px(x: float) -> float:
        return PAD_LEFT + (x - x_lo) / (x_hi - x_lo) * plot_w

    def py(y: float) -> float:
        return PAD_TOP + (y_hi - y) / (y_hi - y_lo) * plot_h

    parts.append('<g class="grid">')
    for t in ticks:
        y = py(t)
        parts.append(f'<line x1="{PAD_LEFT}" x2="{WIDTH - PAD_RIGHT}" y1="{y:.1f}" y2="{y:.1f}"/>')
        parts.append(f'<text x="{PAD_LEFT - 6}" y="{y + 4:.1f}" text-anchor="end">{escape(_fmt_tick(t))}</text>')
    if y_lo < 0 < y_hi:
        parts.append(f'<line class="zero" x1="{PAD_LEFT}" x2="{WIDTH - PAD_RIGHT}" y1="{py(0):.1f}" y2="{py(0):.1f}"/>')
    for t, text in _time_ticks(x_lo, x_hi):
        x = px(t)
        parts.append(f'<text x="{x:.1f}" y="{HEIGHT - 8}" text-anchor="middle">{escape(text)}</text>')
    parts.append("</g>")

    for series in chart.series:
        points = thin(list(series.xs), list(series.ys), plot_w)
        # A gap (None, NaN) breaks the line into separate runs.
        runs: list[list[str]] = [[]]
        for x, y in points:
            if _finite(y):
                runs[-1].append(f"{px(x):.1f},{py(y):.1f}")
            elif runs[-1]:
                runs.append([])
        css = escape(series.css) + (" dashed" if series.dashed else "")
        parts.append(f'<g class="series {css}" data-series="{escape(series.label)}">')
        for run in runs:
            if len(run) == 1:
                x, y = run[0].split(",")
                parts.append(f'<circle cx="{x}" cy="{y}" r="1.5"/>')
            elif run:
                parts.append(f'<polyline points="{" ".join(run)}"/>')
        parts.append("</g>")
    if chart.marker is not None and x_lo <= chart.marker[0] <= x_hi:
        x = px(chart.marker[0])
        parts.append(
            f'<g class="marker"><line x1="{x:.1f}" x2="{x:.1f}" y1="{PAD_TOP}" y2="{HEIGHT - PAD_BOTTOM}"/>'
            f'<text x="{x + 4:.1f}" y="{PAD_TOP + 12}">{escape(chart.marker[1])}</text></g>'
        )
    parts.append("</svg>")
    return Markup("".join(parts))
