"""Server-rendered SVG charts: the geometry is computed here, templates/charts/_chart.html draws it.

No JavaScript and no inline style (the CSP forbids both): every colour comes from a class in static/style.css.
"""

import math
from dataclasses import dataclass, field

LEFT, RIGHT, TOP, BOTTOM = 52, 12, 10, 24  # room for the y labels on the left and the x labels below


@dataclass
class Line:
    """One series: its name, its CSS class, and its points split where a value is missing."""

    name: str
    css: str
    segments: list = field(default_factory=list)  # "x,y x,y ..." strings
    dots: list = field(default_factory=list)  # (x, y) of points standing alone, which a polyline would not show


@dataclass
class Chart:
    """Everything the template needs to draw one chart."""

    title: str
    width: int
    height: int
    left: int
    top: int
    plot_width: int
    plot_height: int
    lines: list = field(default_factory=list)
    bars: list = field(default_factory=list)  # (x, y, width, height, label, value text)
    bands: list = field(default_factory=list)  # (css, "x,y ..." polygon, name) e.g. a forecast's 80 % interval
    y_ticks: list = field(default_factory=list)  # (y, text)
    x_ticks: list = field(default_factory=list)  # (x, text)

    @property
    def bottom(self):
        return self.top + self.plot_height

    @property
    def right(self):
        return self.left + self.plot_width


def _finite(value):
    return value is not None and isinstance(value, (int, float)) and math.isfinite(value)


def _nice_range(values, y_min, y_max):
    present = [v for v in values if _finite(v)]
    low = y_min if y_min is not None else (min(present) if present else 0.0)
    high = y_max if y_max is not None else (max(present) if present else 1.0)
    if high <= low:
        pad = abs(low) * 0.1 or 1.0
        low, high = low - pad, high + pad
    return low, high


def _frame(title, labels, width, height):
    plot_width, plot_height = width - LEFT - RIGHT, height - TOP - BOTTOM
    chart = Chart(title, width, height, LEFT, TOP, plot_width, plot_height)
    count = len(labels)
    step = plot_width / max(count - 1, 1)
    xs = [LEFT + (index * step if count > 1 else plot_width / 2) for index in range(count)]
    shown = sorted({0, count // 2, count - 1}) if count else []
    chart.x_ticks = [(round(xs[i], 1), labels[i]) for i in shown]
    return chart, xs


def _y_scale(chart, low, high, tick_format, ticks=4):
    def y(value):
        return round(chart.top + chart.plot_height * (1 - (value - low) / (high - low)), 1)

    chart.y_ticks = [(y(low + (high - low) * i / ticks), tick_format(low + (high - low) * i / ticks))
                     for i in range(ticks + 1)]
    return y


def line_chart(title, labels, series, *, y_min=None, y_max=None, tick_format="{:.2f}".format, band=None, bands=(),
               width=420, height=200):
    """Return a Chart of series [(name, css class, values)] over labels; None values break the line, unless the
    series has a fourth element True (joined): then its points are joined across the labels it has no value at, and
    each is marked with a dot.

    band, if given, is (css class, lows, highs): a shaded area between two series (named "80 % interval"); bands
    are more of them as (css class, lows, highs, name).
    """
    bands = ([(*band, "80 % interval")] if band else []) + list(bands)
    every = [v for _, _, values, *_ in series for v in values]
    for _, lows, highs, _ in bands:
        every += list(lows) + list(highs)
    low, high = _nice_range(every, y_min, y_max)
    chart, xs = _frame(title, labels, width, height)
    y = _y_scale(chart, low, high, tick_format)
    for name, css, values, *joined in series:
        line, run = Line(name, css), []
        for x, value in zip(xs, values):
            if _finite(value):
                run.append((round(x, 1), y(value)))
                if joined and joined[0]:  # a joined series' points are few and far apart: each one is marked
                    line.dots.append(run[-1])
                continue
            if not (joined and joined[0]):
                _close(line, run)
                run = []
        _close(line, run)
        chart.lines.append(line)
    for css, lows, highs, name in bands:
        points = [(round(x, 1), y(lo), y(hi)) for x, lo, hi in zip(xs, lows, highs) if _finite(lo) and _finite(hi)]
        if len(points) > 1:
            outline = [f"{x},{top}" for x, _, top in points] + [f"{x},{bottom}" for x, bottom, _ in reversed(points)]
            chart.bands.append((css, " ".join(outline), name))
    return chart


def _close(line, run):
    if len(run) > 1:
        line.segments.append(" ".join(f"{x},{y}" for x, y in run))
    elif run:
        line.dots.append(run[0])


def bar_chart(title, labels, values, *, tick_format="{:,.0f}".format, width=420, height=170):
    """Return a Chart of one bar per label (None or 0 draws no bar)."""
    low, high = _nice_range([0.0, *values], 0.0, None)
    chart, xs = _frame(title, labels, width, height)
    y = _y_scale(chart, low, high, tick_format)
    bar_width = max(2.0, min(24.0, chart.plot_width / max(len(labels), 1) * 0.7))
    for x, label, value in zip(xs, labels, values):
        if _finite(value) and value > 0:
            top = y(value)
            chart.bars.append((round(x - bar_width / 2, 1), top, round(bar_width, 1), round(chart.bottom - top, 1),
                               label, tick_format(value)))
    return chart
