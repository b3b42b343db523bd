"""Server-rendered SVG charts: the geometry is computed here, templates/charts/_chart.html draws it.

No JavaScript and no inline style (the CSP forbids both): every colour comes from a class in static/style.css.
"""

import math
from dataclasses import dataclass, field

# Room for the y axis's title and tick labels on the left, the x tick labels and the x axis's title below.
LEFT, RIGHT, TOP, BOTTOM = 66, 12, 10, 40
# A positive series whose largest value is this many times its smallest is drawn on a log axis where the caller
# allows it ("auto"): on a linear one, a turnover from 0.1 % to 200 % flattens every small day onto the floor.
LOG_SPAN = 100.0


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
    x_label: str = ""  # the x axis's title, in words and units a person reads
    y_label: str = ""
    log: bool = False  # the y axis is logarithmic (its label says so)

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
        # A floor the caller set stays the floor: a turnover of 0 every day is drawn from 0 up, never from -100 %.
        low, high = (low, low + pad) if y_min is not None else (low - pad, high + pad)
    return low, high


def _frame(title, labels, width, height, x_label="", y_label=""):
    plot_width, plot_height = width - LEFT - RIGHT, height - TOP - BOTTOM
    chart = Chart(title, width, height, LEFT, TOP, plot_width, plot_height, x_label=x_label, y_label=y_label)
    count = len(labels)
    step = plot_width / max(count - 1, 1)
    xs = [LEFT + (index * step if count > 1 else plot_width / 2) for index in range(count)]
    shown = sorted({0, count // 2, count - 1}) if count else []
    ticks, seen = [], set()
    for i in shown:  # a label shown twice (two points of one day) would read as two days
        if str(labels[i]) not in seen:
            seen.add(str(labels[i]))
            ticks.append((round(xs[i], 1), labels[i]))
    chart.x_ticks = ticks
    return chart, xs


def distinct_ticks(values, tick_format):
    """Return (value, text) of the tick values whose texts differ, each text said once: a format too coarse for a
    narrow range (0.501 and 0.502 both "50 %") keeps the first of each text, so no label repeats."""
    ticks, seen = [], set()
    for value in values:
        text = tick_format(value)
        if text not in seen:
            seen.add(text)
            ticks.append((value, text))
    return ticks


def nice_step(span, ticks=4):
    """Return the round step (1, 2, 2.5 or 5 times a power of ten) that cuts span into about `ticks` parts."""
    raw = span / ticks
    power = 10.0 ** math.floor(math.log10(raw))
    return next(m * power for m in (1, 2, 2.5, 5, 10) if raw <= m * power * (1 + 1e-9))


def plain_format(step):
    """Return a tick format with as many decimals as step needs (0.25 -> two, 20 -> none)."""
    decimals = max(0, -math.floor(math.log10(step) + 1e-9))
    if round(step / 10.0 ** -decimals, 6) % 1:  # 2.5 x a power of ten needs one more
        decimals += 1
    return f"{{:,.{decimals}f}}".format


def _y_scale(chart, low, high, tick_format, ticks=4, fixed=(True, True), min_step=0.0):
    """Scale a linear axis: ticks at round steps (0.02, not 0.015; min_step at least, e.g. 1 for counts), the ends
    not fixed widened to the next step."""
    step = max(nice_step(high - low, ticks), min_step)
    if not fixed[0]:
        low = math.floor(low / step + 1e-9) * step
    if not fixed[1]:
        high = math.ceil(high / step - 1e-9) * step

    def y(value):
        return round(chart.top + chart.plot_height * (1 - (value - low) / (high - low)), 1)

    first, last = math.ceil(low / step - 1e-9), math.floor(high / step + 1e-9)
    values = [k * step for k in range(first, last + 1)]
    chart.y_ticks = [(y(value), text) for value, text in distinct_ticks(values, tick_format or plain_format(step))]
    return y


def _log_scale(chart, low, high, tick_format):
    """Scale a log axis from low to high (both > 0), with a tick at each power of ten between (every other one past
    six decades), and at the ends when fewer than two powers of ten fall inside."""
    log_low, log_high = math.log10(low), math.log10(high)

    def y(value):
        return round(chart.top + chart.plot_height * (1 - (math.log10(value) - log_low) / (log_high - log_low)), 1)

    powers = list(range(math.ceil(log_low - 1e-9), math.floor(log_high + 1e-9) + 1))
    step = 2 if len(powers) > 6 else 1
    values = [10.0 ** power for power in powers[::step]]
    if len(values) < 2:
        values = sorted({low, *values, high})
    chart.y_ticks = [(y(value), text) for value, text in distinct_ticks(values, tick_format or "{:.3g}".format)]
    chart.log = True
    return y


def wants_log(values, scale):
    """Return True when the y axis should be logarithmic: scale "log", or "auto" with every value present positive
    and the largest at least LOG_SPAN times the smallest."""
    if scale == "log":
        return True
    present = [v for v in values if _finite(v)]
    if scale != "auto" or not present or min(present) <= 0:
        return False
    return max(present) / min(present) >= LOG_SPAN


def line_chart(title, labels, series, *, y_min=None, y_max=None, tick_format=None, band=None, bands=(),
               width=420, height=200, x_label="", y_label="", scale="linear"):
    """Return a Chart of series [(name, css class, values)] over labels; None values break the line, unless the
    series has a fourth element True (joined): then its points are joined across the labels it has no value at, and
    each is marked with a dot.

    band, if given, is (css class, lows, highs): a shaded area between two series (named "80 % interval"); bands
    are more of them as (css class, lows, highs, name). tick_format turns a y value into its label (default: as many
    decimals as the ticks' step needs). x_label and y_label title the axes; scale "log" draws the
    y axis logarithmic, "auto" does where the values span LOG_SPAN or more (y_min and y_max then do not apply, and a
    value of 0 or less is left out: a log axis has no place for it).
    """
    bands = ([(*band, "80 % interval")] if band else []) + list(bands)
    every = [v for _, _, values, *_ in series for v in values]
    for _, lows, highs, _ in bands:
        every += list(lows) + list(highs)
    chart, xs = _frame(title, labels, width, height, x_label, y_label)
    positive = [v for v in every if _finite(v) and v > 0]
    if wants_log(every, scale) and len(set(positive)) > 1:
        y = _log_scale(chart, min(positive), max(positive), tick_format)

        def plotted(value):
            return _finite(value) and value > 0
    else:
        y = _y_scale(chart, *_nice_range(every, y_min, y_max), tick_format, fixed=(y_min is not None,
                                                                                   y_max is not None))
        plotted = _finite
    for name, css, values, *joined in series:
        line, run = Line(name, css), []
        for x, value in zip(xs, values):
            if plotted(value):
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
        points = [(round(x, 1), y(lo), y(hi)) for x, lo, hi in zip(xs, lows, highs) if plotted(lo) and plotted(hi)]
        if len(points) > 1:
            outline = [f"{x},{top}" for x, _, top in points] + [f"{x},{bottom}" for x, bottom, _ in reversed(points)]
            chart.bands.append((css, " ".join(outline), name))
    return chart


def _close(line, run):
    if len(run) > 1:
        line.segments.append(" ".join(f"{x},{y}" for x, y in run))
    elif run:
        line.dots.append(run[0])


def bar_chart(title, labels, values, *, tick_format="{:,.0f}".format, width=420, height=170, x_label="",
              y_label=""):
    """Return a Chart of one bar per label (None or 0 draws no bar); x_label and y_label title the axes."""
    low, high = _nice_range([0.0, *values], 0.0, None)
    chart, xs = _frame(title, labels, width, height, x_label, y_label)
    y = _y_scale(chart, low, high, tick_format, fixed=(True, False), min_step=1.0)  # no half a forecast
    bar_width = max(2.0, min(24.0, chart.plot_width / max(len(labels), 1) * 0.7))
    for x, label, value in zip(xs, labels, values):
        if _finite(value) and value > 0:
            top = y(value)
            chart.bars.append((round(x - bar_width / 2, 1), top, round(bar_width, 1), round(chart.bottom - top, 1),
                               label, tick_format(value)))
    return chart
