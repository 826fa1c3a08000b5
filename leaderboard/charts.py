"""Line charts as inline SVG, drawn here in Python so a page needs no script, no CDN and
works from file://.

A chart is a few series over time (UTC epoch seconds of interval ends) that share one
y axis. A series with more points than the plot has pixels (a 3-week window is 6048
intervals) is drawn as buckets of whole NEM-time hours (1, 2, 3... as the window needs,
never more than one per two pixels): a translucent band from each bucket's lowest to highest
value, so price spikes and full-power actions stay visible, under a line through its mean.
A series marked `beneath` (the baseline) is drawn first, thin and translucent, mean only, so
it never hides the team's own line.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone

from markupsafe import Markup, escape

from leaderboard.nemtime import nem_zone

WIDTH, HEIGHT = 720, 220
PAD_LEFT, PAD_RIGHT, PAD_TOP, PAD_BOTTOM = 56, 12, 10, 26
PLOT_WIDTH = WIDTH - PAD_LEFT - PAD_RIGHT
_BUCKET_HOURS = (1, 2, 3, 4, 6, 8, 12, 24, 48, 168)


@dataclass(frozen=True)
class Series:
    label: str
    css: str  # class name: team | baseline | solar | price (colours live in site.css)
    xs: Sequence[float]
    ys: Sequence[float | None]
    dashed: bool = False
    beneath: bool = False  # drawn before the others, thin and translucent (the baseline)


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
    zone: timezone = field(default_factory=nem_zone)  # the time axis's clock (NEM time)


# Stored trials are data arena did not write itself (an older arena, a hand-edited store), so a
# chart draws whatever it is given without raising: a value that is not a number (None, a string,
# NaN, ±inf) is a gap in the line; a finite one beyond ±Y_LIMIT (1e308, a 4001-digit integer) is
# drawn at the edge and the chart says so. The numbers a page prints as text stay as stored.
Y_LIMIT = 1e12  # far beyond any price ($/MWh), power (kW) or profit ($) of one home battery
EPOCH_MAX = 1e11  # UTC seconds (year 5138): later "times" are not a clock
_MAX_TICKS = 12


def _finite(y) -> bool:
    return _drawable(y) is not None


def _drawable(y) -> float | None:
    """`y` as a float to draw, clipped to ±Y_LIMIT; None when it is not a finite number."""
    if isinstance(y, bool) or not isinstance(y, (int, float)):
        return None
    try:
        value = float(y)
    except OverflowError:  # an int past float range: finite, so clipped, not dropped
        return Y_LIMIT if y > 0 else -Y_LIMIT
    if not math.isfinite(value):
        return None
    return max(-Y_LIMIT, min(Y_LIMIT, value))


def clock(t) -> float | None:
    """`t` as epoch seconds to place on a time axis, or None when it cannot be a time."""
    if isinstance(t, bool) or not isinstance(t, (int, float)):
        return None
    try:
        value = float(t)
    except OverflowError:
        return None
    return value if math.isfinite(value) and 0 <= value <= EPOCH_MAX else None


def nice_ticks(lo: float, hi: float, count: int = 5) -> list[float]:
    """Round tick values covering [lo, hi] (1, 2, 5 x 10^n steps)."""
    # A span too narrow for float steps at this magnitude would never advance `t += step`.
    if not hi - lo >= max(1e-9, 1e-6 * max(abs(lo), abs(hi))):
        hi = lo + max(1.0, abs(lo) * 1e-3)
    raw = (hi - lo) / max(count - 1, 1)
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    first = math.floor(lo / step) * step
    ticks, t = [], first
    while t <= hi + step * 1e-9 and len(ticks) < _MAX_TICKS:
        ticks.append(round(t, 10))
        t += step
    if ticks[-1] < hi:
        ticks.append(round(t, 10))
    return ticks


def _fmt_tick(value: float) -> str:
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    if value == int(value):
        return f"{int(value)}"
    return f"{value:g}"


def bucket_seconds(span_s: float, max_buckets: int = PLOT_WIDTH // 2) -> int:
    """The shortest whole-hour bucket that puts at most `max_buckets` over `span_s`."""
    for hours in _BUCKET_HOURS:
        if span_s / (hours * 3600) <= max_buckets:
            return hours * 3600
    return math.ceil(span_s / max_buckets / 86400) * 86400


def aggregate(points: Sequence[tuple[float, float | None]], bucket_s: int, offset_s: int
              ) -> list[tuple[float, float, float, float] | None]:
    """(middle x, lowest, mean, highest) per bucket of `bucket_s` on the NEM-time clock (`offset_s`
    east of UTC; an interval belongs to the bucket its end closes), in time order; None between
    buckets that are not next to each other (no drawable value in between: a break in the line)."""
    buckets: dict[int, list[float]] = {}
    for x, y in points:
        value = _drawable(y)
        if value is not None:
            buckets.setdefault(int((x - 1 + offset_s) // bucket_s), []).append(value)
    out: list[tuple[float, float, float, float] | None] = []
    previous = None
    for index in sorted(buckets):
        if previous is not None and index != previous + 1:
            out.append(None)
        values = buckets[index]
        middle = index * bucket_s - offset_s + bucket_s / 2
        out.append((middle, min(values), math.fsum(values) / len(values), max(values)))
        previous = index
    return out


def _time_ticks(lo: float, hi: float, zone: timezone) -> list[tuple[float, str]]:
    span = hi - lo
    day = 86400
    if span <= 2 * day:
        step, fmt = 3 * 3600 if span > 12 * 3600 else 3600, "%H:%M"
    elif span <= 14 * day:
        step, fmt = day, "%d %b"
    else:
        step, fmt = 7 * day, "%d %b"
        if span > 16 * step:  # months or years: whole weeks, a bounded number of them
            step *= math.ceil(span / (8 * step))
            fmt = "%d %b %Y"
    # Ticks on round NEM-time boundaries.
    offset = int(zone.utcoffset(None).total_seconds())
    first = math.ceil((lo + offset) / step) * step - offset
    ticks = []
    t = first
    while t <= hi and len(ticks) < 4 * _MAX_TICKS:
        try:
            ticks.append((t, datetime.fromtimestamp(t, zone).strftime(fmt)))
        except (OverflowError, OSError, ValueError):
            pass
        t += step
    while len(ticks) > 8:
        ticks = ticks[::2]
    return ticks


def _runs(buckets: list) -> list[list[tuple[float, float, float, float]]]:
    runs: list[list] = [[]]
    for bucket in buckets:
        if bucket is None:
            runs.append([])
        else:
            runs[-1].append(bucket)
    return [run for run in runs if run]


def _polyline(points: list[str]) -> str:
    if len(points) == 1:
        x, y = points[0].split(",")
        return f'<circle cx="{x}" cy="{y}" r="1.5"/>'
    return f'<polyline points="{" ".join(points)}"/>'


def render_svg(chart: Chart) -> Markup:
    """The chart as an <svg> element (escaped text, safe to drop into a template)."""
    plot_w = WIDTH - PAD_LEFT - PAD_RIGHT
    plot_h = HEIGHT - PAD_TOP - PAD_BOTTOM
    # Points as floats that can be drawn (x a clock or an interval number, y clipped); the rest are gaps.
    drawn = [[(float(x), _drawable(y)) for x, y in zip(s.xs, s.ys, strict=False) if clock(x) is not None]
             for s in chart.series]
    xs_all = [x for points in drawn for x, _ in points]
    ys_all = [y for points in drawn for _, y in points if y is not None]
    clipped = any(_drawable(y) is not None and abs(_drawable(y)) >= Y_LIMIT for s in chart.series for y in s.ys)
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

    x_range = chart.x_range and tuple(clock(x) for x in chart.x_range)
    x_lo, x_hi = x_range if x_range and None not in x_range else (min(xs_all), max(xs_all))
    if x_hi <= x_lo:
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
    for t, text in _time_ticks(x_lo, x_hi, chart.zone):
        x = px(t)
        parts.append(f'<text x="{x:.1f}" y="{HEIGHT - 8}" text-anchor="middle">{escape(text)}</text>')
    parts.append("</g>")

    offset = int(chart.zone.utcoffset(None).total_seconds())
    # The baseline first, so the team's own lines are drawn over it.
    for series, points in sorted(zip(chart.series, drawn, strict=False), key=lambda pair: not pair[0].beneath):
        # Only the axis's own stretch is drawn: a stray time far outside it is not a point on it.
        points = [(x, y) for x, y in points if x_lo <= x <= x_hi]
        css = escape(series.css) + (" dashed" if series.dashed else "") + (" beneath" if series.beneath else "")
        if len(points) > PLOT_WIDTH:
            bucket = bucket_seconds(x_hi - x_lo)
            buckets = aggregate(points, bucket, offset)
            parts.append(f'<g class="series {css} aggregated" data-series="{escape(series.label)}" '
                         f'data-bucket-s="{bucket}" data-points="{sum(1 for b in buckets if b)}">')
            for run in _runs(buckets):
                mean = [f"{px(x):.1f},{py(m):.1f}" for x, _, m, _ in run]
                if not series.beneath:
                    upper = [f"{px(x):.1f},{py(hi):.1f}" for x, _, _, hi in run]
                    lower = [f"{px(x):.1f},{py(lo):.1f}" for x, lo, _, _ in reversed(run)]
                    parts.append(f'<polygon class="band" points="{" ".join(upper + lower)}"/>')
                parts.append(_polyline(mean))
            parts.append("</g>")
            continue
        # A gap (None, NaN) breaks the line into separate runs.
        runs: list[list[str]] = [[]]
        for x, y in points:
            if _finite(y):
                runs[-1].append(f"{px(x):.1f},{py(y):.1f}")
            elif runs[-1]:
                runs.append([])
        parts.append(f'<g class="series {css}" data-series="{escape(series.label)}" '
                     f'data-points="{sum(len(run) for run in runs)}">')
        for run in runs:
            if run:
                parts.append(_polyline(run))
        parts.append("</g>")
    if clipped:
        parts.append(f'<text class="note clipped" x="{WIDTH - PAD_RIGHT}" y="{PAD_TOP + 12}" text-anchor="end">'
                     f'values beyond ±{_fmt_tick(Y_LIMIT)} drawn at the edge</text>')
    if chart.marker is not None and clock(chart.marker[0]) is not None and x_lo <= chart.marker[0] <= x_hi:
        x = px(chart.marker[0])
        parts.append(
            f'<g class="marker"><line x1="{x:.1f}" x2="{x:.1f}" y1="{PAD_TOP}" y2="{HEIGHT - PAD_BOTTOM}"/>'
            f'<text x="{x + 4:.1f}" y="{PAD_TOP + 12}">{escape(chart.marker[1])}</text></g>'
        )
    parts.append("</svg>")
    return Markup("".join(parts))
