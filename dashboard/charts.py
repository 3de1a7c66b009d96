"""Geometry for the server-rendered SVG charts: sparklines and CTR over time with its interval.

Pure functions from points to coordinates; the templates only draw what these return, so the
pages need no JavaScript and no inline styles (the CSP forbids both).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
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


@dataclass
class Sparkline:
    width: int
    height: int
    lines: list[str] = field(default_factory=list)  # polyline "points" attributes
    dots: list[tuple[float, float]] = field(default_factory=list)  # single points
    summary: str = ""


def sparkline(values: Sequence[float | None], width: int = 96, height: int = 24) -> Sparkline:
    """Whole-number coordinates on a double-resolution view box: small HTML, sharp lines.
    One pass: the overview draws one of these per element."""
    chart = Sparkline(width, height)
    top = max((v for v in values if v is not None), default=None)
    if top is None:
        chart.summary = "no impressions"
        return chart
    w, h, pad = width * 2, height * 2, 4
    step = (w - 2 * pad) / max(len(values) - 1, 1)
    scale = (h - 2 * pad) / (top or 1.0)
    run: list[str] = []
    first = last = None
    for i, v in enumerate(values):
        if v is None:
            if run:
                _close(chart, run)
                run = []
            continue
        run.append(f"{round(pad + i * step)},{round(h - pad - v * scale)}")
        first = v if first is None else first
        last = v
    if run:
        _close(chart, run)
    chart.summary = f"CTR from {first * 100:.1f}% to {last * 100:.1f}%, peak {top * 100:.1f}%"
    return chart


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
    guides: list[dict[str, Any]] = field(default_factory=list)  # rating thresholds
    points: list[dict[str, Any]] = field(default_factory=list)  # hover targets: x, y, title


def ctr_chart(
    points: Sequence[dict[str, Any]],
    labels: Sequence[str],
    thresholds: Thresholds | None = None,
    width: int = 760,
    height: int = 260,
) -> TimeChart:
    """CTR over time as a line, the 95% Wilson interval as a band, and the rating thresholds."""
    left, right, top, bottom = 52, 14, 14, 30
    chart = TimeChart(width, height, left, right, top, bottom)
    inner_w, inner_h = width - left - right, height - top - bottom
    ctrs = [p["ctr"] for p in points]
    present = [p for p in points if p["ctr"] is not None]
    peak = max((p["ctr"] for p in present), default=0.0)
    highest = max((p["ctr_high"] for p in present), default=0.0)
    guide_top = thresholds.good * 1.25 if thresholds else 0.0
    # Wide intervals of thin buckets would flatten the line; clip the band instead.
    y_max = nice_ceiling(max(min(highest, max(peak * 2.0, 0.005)), peak * 1.1, guide_top, 0.005))
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
    count = len(points)
    every = max(1, math.ceil(count / 8))
    for i in range(0, count, every):
        chart.x_ticks.append(Tick(x(i), labels[i]))
    if thresholds:
        for name, value in (("good", thresholds.good), ("poor", thresholds.poor)):
            if value <= y_max:
                chart.guides.append({"name": name, "y": y(value), "label": f"{name} {_percent_label(value)}"})
    return chart


def _percent_label(value: float, scale: float = 0.0) -> str:
    """"2.5%", "10%", "0.25%": as many decimals as the value needs, at most three."""
    text = f"{value * 100:.3f}".rstrip("0").rstrip(".")
    return f"{text}%"


@dataclass
class IntervalPlot:
    width: int
    height: int
    rows: list[dict[str, Any]] = field(default_factory=list)  # name, y, x_low, x_high, x, label
    ticks: list[Tick] = field(default_factory=list)


def interval_plot(arms: Sequence[tuple[str, float, float, float]], width: int = 360, row_height: int = 26) -> IntervalPlot:
    """Each arm's CTR as a dot on its 95% interval, on one shared axis: do the intervals overlap?"""
    left, right = 70, 16
    height = row_height * len(arms) + 22
    plot = IntervalPlot(width, height)
    top_value = nice_ceiling(max((high for _, _, _, high in arms), default=0.01) * 1.05)
    inner = width - left - right

    def x(value: float) -> float:
        return round(left + min(value, top_value) / top_value * inner, 1)

    for i, (name, ctr, low, high) in enumerate(arms):
        y = row_height * i + row_height / 2 + 2
        plot.rows.append({"name": name, "y": y, "x": x(ctr), "x_low": x(low), "x_high": x(high),
                          "title": f"{name}: {ctr * 100:.2f}% (95% interval {low * 100:.2f}–{high * 100:.2f}%)"})
    for value in axis_ticks(top_value):
        plot.ticks.append(Tick(x(value), _percent_label(value)))
    return plot
