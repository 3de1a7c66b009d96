"""Geometry for the server-rendered SVG charts: sparklines and CTR over time with its interval,
both with the site's annotations as markers.

Pure functions from points to coordinates; the templates only draw what these return, so the
pages need no JavaScript and no inline styles (the CSP forbids both).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from ctrlens.dashboard.ratings import Thresholds


def nice_ceiling(value: float) -> float:
    """The smallest of 1, 2, 2.5, 5 × 10^k at or above `value` (a readable axis maximum)."""
    if value <= 0:
        return 0.01
    exponent = math.floor(math.log10(value))
    for step in (1.0, 2.0, 2.5, 5.0, 10.0):
        candidate = step * 10.0**exponent
        if candidate >= value * (1 - 1e-12):
            return candidate
    return 10.0 ** (exponent + 1)


def axis_ticks(top: float) -> list[float]:
    """0 to `top` in 3 to 6 round steps (`top` from `nice_ceiling`)."""
    exponent = math.floor(math.log10(top))
    for k in (exponent, exponent - 1):
        for mantissa in (1.0, 2.0, 2.5, 5.0):
            step = mantissa * 10.0**k
            count = top / step
            if 3 <= round(count, 6) <= 6 and abs(count - round(count)) < 1e-6:
                return [step * i for i in range(round(count) + 1)]
    return [top * i / 4 for i in range(5)]


def _segments(values: Sequence[float | None]) -> list[list[int]]:
    """Runs of consecutive indexes whose value is present."""
    runs: list[list[int]] = []
    current: list[int] = []
    for i, value in enumerate(values):
        if value is None:
            if current:
                runs.append(current)
            current = []
        else:
            current.append(i)
    if current:
        runs.append(current)
    return runs


@dataclass(frozen=True)
class Note:
    """An annotation as a chart places it: the index of the point (bucket) it falls in, its
    number in the list under the chart, and its label (date and text)."""

    index: int
    number: int
    label: str


@dataclass
class Sparkline:
    width: int
    height: int
    lines: list[str] = field(default_factory=list)  # polyline "points" attributes
    dots: list[tuple[float, float]] = field(default_factory=list)  # single points
    summary: str = ""
    marks: list[int] = field(default_factory=list)  # x of each annotated point: a thin vertical tick


def sparkline(
    values: Sequence[float | None], width: int = 96, height: int = 24, marks: Sequence[int] = ()
) -> Sparkline:
    """Whole-number coordinates on a double-resolution view box: small HTML, sharp lines.
    One pass: the overview draws one of these per element. `marks`: indexes of the points that
    have an annotation."""
    chart = Sparkline(width, height)
    h, pad = height * 2, 4
    xs = _x_positions(len(values), width * 2, pad)
    # The same ticks on every row, so the eye reads them down the column.
    chart.marks = sorted({xs[i] for i in marks if 0 <= i < len(values)})
    present = [v for v in values if v is not None]
    if not present:
        chart.summary = "no impressions"
        return chart
    top, first, last = max(present), present[0], present[-1]
    scale = (h - 2 * pad) / (top or 1.0)
    base = h - pad
    run: list[str] = []
    for x, v in zip(xs, values, strict=True):
        if v is None:
            if run:
                _close(chart, run)
                run = []
            continue
        run.append(f"{x},{round(base - v * scale)}")
    if run:
        _close(chart, run)
    chart.summary = f"CTR from {first * 100:.1f}% to {last * 100:.1f}%, peak {top * 100:.1f}%"
    if chart.marks:
        chart.summary += f", {len(chart.marks)} annotated {'point' if len(chart.marks) == 1 else 'points'}"
    return chart


@functools.lru_cache(maxsize=64)
def _x_positions(count: int, w: int, pad: int) -> tuple[int, ...]:
    """Each point's x: the same for every sparkline of a page, so worked out once."""
    step = (w - 2 * pad) / max(count - 1, 1)
    return tuple(round(pad + i * step) for i in range(count))


def _close(chart: Sparkline, run: list[str]) -> None:
    if len(run) == 1:
        x, y = run[0].split(",")
        chart.dots.append((int(x), int(y)))
    else:
        chart.lines.append(" ".join(run))


@dataclass
class Tick:
    position: float
    label: str
    anchor: str = "middle"  # SVG text-anchor: the last x label ends at its point, inside the chart


@dataclass(frozen=True)
class ChartSize:
    """The view box and margins of one drawing of the time chart, and how many x labels fit."""

    width: int
    height: int
    left: int
    right: int
    top: int
    bottom: int
    x_labels: int


# A phone gets its own drawing rather than the wide one scaled down, where 11px labels would
# shrink to 5px (docs/design.md §4: the dashboard fits a phone).
WIDE = ChartSize(760, 260, 52, 14, 14, 30, 8)
PHONE = ChartSize(340, 220, 44, 10, 14, 30, 4)

#: Height of a guide label's box in view-box units: 11px text with its descender and its 3px halo
#: measure 18 in Chromium; two more for air.
GUIDE_LABEL_HEIGHT = 20
#: The highest CTR an axis shows: a rate is never above 100%.
CTR_CEILING = 1.0


@dataclass
class TimeChart:
    width: int
    height: int
    left: int
    right: int
    top: int
    bottom: int
    bands: list[str] = field(default_factory=list)  # polygon "points"
    lines: list[str] = field(default_factory=list)  # polyline "points"
    dots: list[tuple[float, float, str]] = field(default_factory=list)  # x, y, title
    y_ticks: list[Tick] = field(default_factory=list)
    x_ticks: list[Tick] = field(default_factory=list)
    guides: list[dict[str, Any]] = field(default_factory=list)  # rating thresholds: name, y, label, label_y
    points: list[dict[str, Any]] = field(default_factory=list)  # hover targets: x, y, title
    # annotations: one vertical marker per annotated point: x, numbers ("1, 2"), title, label_x, anchor
    notes: list[dict[str, Any]] = field(default_factory=list)
    y_max: float = 0.0
    phone: TimeChart | None = None  # the same data drawn for a phone's width


def ctr_chart(
    points: Sequence[dict[str, Any]],
    labels: Sequence[str],
    thresholds: Thresholds | None = None,
    size: ChartSize = WIDE,
    notes: Sequence[Note] = (),
) -> TimeChart:
    """CTR over time as a line, the 95% Wilson interval as a band, the rating thresholds and a
    marker per annotated point; drawn wide, with the phone's drawing attached (the page shows
    one of the two by its width)."""
    chart = _draw(points, labels, thresholds, size, notes)
    if size == WIDE:
        chart.phone = _draw(points, labels, thresholds, PHONE, notes)
    return chart


def y_axis_top(peak: float, highest: float, guide: float) -> float:
    """The axis maximum: room above the line and the Good threshold, a round number, never
    above 100%. Wide intervals of thin buckets would flatten the line; the band is clipped instead."""
    wanted = max(min(highest, max(peak * 2.0, 0.005)), peak * 1.1, guide * 1.25, 0.005)
    return min(nice_ceiling(wanted), CTR_CEILING)


def x_label_indexes(count: int, most: int) -> list[int]:
    """Evenly spaced points to label, the first and the last always among them, at most `most`."""
    if count <= 0:
        return []
    if count <= most:
        return list(range(count))
    every = math.ceil((count - 1) / max(most - 1, 1))
    chosen = list(range(0, count, every))
    if chosen[-1] != count - 1:
        # The last point is the newest: label it, in place of a neighbour too close to it.
        if count - 1 - chosen[-1] < every / 2 or len(chosen) >= most:
            chosen[-1] = count - 1
        else:
            chosen.append(count - 1)
    return chosen


def guide_label_baselines(good_y: float, poor_y: float) -> tuple[float, float]:
    """Baselines of the Good and Poor labels: each just above its line, unless the lines are so
    close that the two labels would overlap; then Poor's goes just below its own line."""
    good, poor = good_y - 4, poor_y - 4
    if abs(poor - good) < GUIDE_LABEL_HEIGHT:
        poor = poor_y + GUIDE_LABEL_HEIGHT - 4
    return good, poor


def _draw(
    points: Sequence[dict[str, Any]],
    labels: Sequence[str],
    thresholds: Thresholds | None,
    size: ChartSize,
    notes: Sequence[Note] = (),
) -> TimeChart:
    width, height, left, right, top, bottom = (
        size.width, size.height, size.left, size.right, size.top, size.bottom
    )
    chart = TimeChart(width, height, left, right, top, bottom)
    inner_w, inner_h = width - left - right, height - top - bottom
    ctrs = [p["ctr"] for p in points]
    present = [p for p in points if p["ctr"] is not None]
    peak = max((p["ctr"] for p in present), default=0.0)
    highest = max((p["ctr_high"] for p in present), default=0.0)
    y_max = chart.y_max = y_axis_top(peak, highest, thresholds.good if thresholds else 0.0)
    step = inner_w / max(len(points) - 1, 1)

    def x(i: int) -> float:
        return round(left + (i * step if len(points) > 1 else inner_w / 2), 1)

    def y(value: float) -> float:
        return round(top + inner_h - min(value, y_max) / y_max * inner_h, 1)

    for run in _segments(ctrs):
        upper = [f"{x(i)},{y(points[i]['ctr_high'])}" for i in run]
        lower = [f"{x(i)},{y(points[i]['ctr_low'])}" for i in reversed(run)]
        if len(run) == 1:  # a lone point: a thin vertical band
            i = run[0]
            upper = [f"{x(i) - 2},{y(points[i]['ctr_high'])}", f"{x(i) + 2},{y(points[i]['ctr_high'])}"]
            lower = [f"{x(i) + 2},{y(points[i]['ctr_low'])}", f"{x(i) - 2},{y(points[i]['ctr_low'])}"]
        chart.bands.append(" ".join(upper + lower))
        if len(run) > 1:
            chart.lines.append(" ".join(f"{x(i)},{y(points[i]['ctr'])}" for i in run))
    for i, p in enumerate(points):
        if p["ctr"] is None:
            continue
        title = (f"{labels[i]}: {p['ctr'] * 100:.2f}% CTR ({p['clicks']:,} / {p['impressions']:,}), "
                 f"95% interval {p['ctr_low'] * 100:.2f}–{p['ctr_high'] * 100:.2f}%")
        chart.points.append({"x": x(i), "y": y(p["ctr"]), "title": title})

    for value in axis_ticks(y_max):
        chart.y_ticks.append(Tick(y(value), _percent_label(value)))
    indexes = x_label_indexes(len(points), size.x_labels)
    for i in indexes:
        last = len(points) > 1 and i == indexes[-1]
        chart.x_ticks.append(Tick(x(i), labels[i], "end" if last else "middle"))
    if thresholds:
        good_label, poor_label = guide_label_baselines(y(thresholds.good), y(thresholds.poor))
        for name, value, label_y in (
            ("good", thresholds.good, good_label), ("poor", thresholds.poor, poor_label)
        ):
            if value <= y_max:
                chart.guides.append({"name": name, "y": y(value), "label": f"{name} {_percent_label(value)}",
                                     "label_y": label_y})
    chart.notes = note_markers(notes, len(points), x, size)
    return chart


def note_markers(
    notes: Sequence[Note], count: int, x: Callable[[int], float], size: ChartSize
) -> list[dict[str, Any]]:
    """One marker per annotated point, its notes' numbers as its label at the top of the plot;
    a number near an edge is anchored inwards so it stays inside the chart."""
    by_index: dict[int, list[Note]] = {}
    for note in notes:
        if 0 <= note.index < count:
            by_index.setdefault(note.index, []).append(note)
    markers = []
    for index in sorted(by_index):
        group = sorted(by_index[index], key=lambda n: n.number)
        position = x(index)
        anchor, label_x = "middle", position
        if position - size.left < 12:
            anchor, label_x = "start", position + 3
        elif size.width - size.right - position < 12:
            anchor, label_x = "end", position - 3
        markers.append({
            "x": position,
            "numbers": ", ".join(str(n.number) for n in group),
            "title": "; ".join(n.label for n in group),
            "label_x": label_x,
            "anchor": anchor,
        })
    return markers


def _percent_label(value: float) -> str:
    """"2.5%", "10%", "0.25%": as many decimals as the value needs, at most three."""
    text = f"{value * 100:.3f}".rstrip("0").rstrip(".")
    return f"{text}%"


@dataclass
class IntervalPlot:
    width: int
    height: int
    rows: list[dict[str, Any]] = field(default_factory=list)  # name, y, x_low, x_high, x, label
    ticks: list[Tick] = field(default_factory=list)


def interval_plot(
    arms: Sequence[tuple[str, float, float, float]], width: int = 360, row_height: int = 26
) -> IntervalPlot:
    """Each arm's CTR as a dot on its 95% interval, on one shared axis: do the intervals overlap?"""
    left, right = 70, 16
    height = row_height * len(arms) + 22
    plot = IntervalPlot(width, height)
    top_value = min(nice_ceiling(max((high for _, _, _, high in arms), default=0.01) * 1.05), CTR_CEILING)
    inner = width - left - right

    def x(value: float) -> float:
        return round(left + min(value, top_value) / top_value * inner, 1)

    for i, (name, ctr, low, high) in enumerate(arms):
        y = row_height * i + row_height / 2 + 2
        title = f"{name}: {ctr * 100:.2f}% (95% interval {low * 100:.2f}–{high * 100:.2f}%)"
        plot.rows.append(
            {"name": name, "y": y, "x": x(ctr), "x_low": x(low), "x_high": x(high), "title": title}
        )
    for value in axis_ticks(top_value):
        plot.ticks.append(Tick(x(value), _percent_label(value)))
    return plot
