"""Jinja filters that print money, ratios and percentages the way people read them."""

import math

SCALES = ((1e12, "T"), (1e9, "B"), (1e6, "M"), (1e3, "k"))
# Shown wherever High/Low appears: "Low liquidity" alone reads as "hard to trade", which the score does not measure.
TURNOVER_NOTE = ("The score ranks turnover: 24h trading volume divided by market cap, against every coin in the "
                 "same snapshot. High means the coin trades more of its market cap per day than most coins; Low "
                 "means less. It does not measure market depth: a large coin such as Bitcoin can be Low and still "
                 "be easy to trade.")


def usd(value):
    """Format a USD amount compactly: $35.4 B, $7.81 k, $0.2952."""
    if value is None or not math.isfinite(value):
        return "n/a"
    for scale, suffix in SCALES:
        if abs(value) >= scale:
            return f"${value / scale:,.3g} {suffix}"
    return f"${value:,.4g}" if abs(value) >= 1e-4 or value == 0 else f"${value:.3e}"


def percent(value, digits=1):
    """Format a fraction as a percentage: 0.532 -> 53.2 %."""
    if value is None or not math.isfinite(value):
        return "n/a"
    return f"{value * 100:.{digits}f} %"


def number(value):
    """Format a number with up to 4 significant digits, scientific when tiny."""
    if value is None or not math.isfinite(value):
        return "n/a"
    if value != 0 and abs(value) < 1e-3:
        return f"{value:.3e}"
    return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:.4g}"


def init_app(app):
    """Register the filters."""
    for function in (usd, percent, number):
        app.add_template_filter(function)
    app.add_template_global(TURNOVER_NOTE, "turnover_note")
