"""Warnings that help a person read a forecast: a 1h change that looks like a percent, a borderline band."""

import numpy as np

# A percent sent where a fraction belongs is 100 times too large. Past |1| (a 100 % move in one hour) or this
# many times the largest hourly move seen in training, a unit mistake is far likelier than a real market move.
LIKELY_PERCENT_FACTOR = 50
PERCENT_WARNING = ("1h looks like a percent ({value:g}); it must be a fraction: 0.022 means +2.2 %. "
                   "Divide by 100 if you meant {value:g} %.")


def percent_bound(h1_range):
    """Return the |1h| above which a value is taken for a percent, from the card's {"min", "max"} of 1h.

    A model trained without 1h (the daily history has none) has no range: only past |1| is a percent then.
    """
    if h1_range["min"] is None or h1_range["max"] is None:
        return 1.0
    seen = max(abs(h1_range["min"]), abs(h1_range["max"]))
    return min(1.0, LIKELY_PERCENT_FACTOR * seen) if seen > 0 else 1.0


def h1_warning(h1, h1_range):
    """Return the warning for a 1h fraction that is likely a percent, or None."""
    return PERCENT_WARNING.format(value=h1) if abs(h1) > percent_bound(h1_range) else None


def h1_warnings(h1_values, h1_range):
    """Return one warning text per value ("" when none), vectorised for batches."""
    values = np.asarray(h1_values, dtype=np.float64)
    flagged = np.abs(values) > percent_bound(h1_range)
    return [PERCENT_WARNING.format(value=value) if flag else "" for value, flag in zip(values, flagged)]


def borderline(band_low, band_high, threshold):
    """Return True when the 10-90 % band reaches both sides of the threshold, so the level could go either way."""
    if isinstance(band_low, float) and isinstance(band_high, float):  # one forecast: no numpy call per request
        return band_low < threshold <= band_high
    return np.logical_and(np.asarray(band_low) < threshold, np.asarray(band_high) >= threshold)
