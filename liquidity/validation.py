"""Check raw model inputs and say which field is wrong and why."""

import math

from liquidity.schema import INPUTS

# (low, high, label) per input, from the one schema (liquidity.schema).
INPUT_LIMITS = {spec.column: (spec.low, spec.high, spec.label) for spec in INPUTS}
# Lower bounds that the value may equal (volume may be zero; the others must exceed theirs).
INCLUSIVE_LOWER = {spec.column for spec in INPUTS if spec.low_inclusive}
# Inputs that may be missing (None or NaN): the model takes them as NaN, as it does for the daily history's 1h.
OPTIONAL_INPUTS = {spec.column for spec in INPUTS if spec.optional}


def is_missing(value):
    """Return True for a missing optional value: None or NaN."""
    return value is None or (isinstance(value, float) and math.isnan(value))


class InputError(ValueError):
    """Invalid model inputs; errors maps each bad field to its reason."""

    def __init__(self, errors):
        self.errors = dict(errors)
        super().__init__("; ".join(f"{field}: {reason}" for field, reason in self.errors.items()))


def field_error(field, value):
    """Return why value is not acceptable for field, or None when it is."""
    low, high, label = INPUT_LIMITS[field]
    if isinstance(value, bool) or value is None:
        return f"{label} must be a number"
    try:
        number = float(value)
    except (TypeError, ValueError, OverflowError):
        return f"{label} must be a number"
    if not math.isfinite(number):
        return f"{label} must be a finite number"
    if field in INCLUSIVE_LOWER and number < low:
        return f"{label} must be at least {low:g}"
    if field not in INCLUSIVE_LOWER and number <= low:
        if field == "1h":
            return f"{label} must be above -100 % (a fraction above -1)"
        return f"{label} must be greater than {low:g}"
    if number > high:
        return f"{label} must be at most {high:g}"
    return None


def check_inputs(volume, mkt_cap, h1, price):
    """Return the four inputs as floats (a missing 1h as NaN), or raise InputError naming every bad field."""
    values = {"volume": volume, "mkt_cap": mkt_cap, "1h": h1, "price": price}
    errors = {field: reason for field, value in values.items()
              if not (field in OPTIONAL_INPUTS and is_missing(value)) and (reason := field_error(field, value))}
    if errors:
        raise InputError(errors)
    return float(volume), float(mkt_cap), math.nan if is_missing(h1) else float(h1), float(price)


def percent_change_error(percent):
    """Return why an hourly change typed in percent (2.2 = +2.2 %) is not acceptable, or None.

    Same rule as field_error("1h", ...) on the fraction, phrased in the percent the form shows.
    """
    low, high, label = INPUT_LIMITS["1h"]
    try:
        fraction = float(percent) / 100.0
    except (TypeError, ValueError, OverflowError):
        return f"{label} must be a number"
    if field_error("1h", fraction) is None:
        return None
    if not math.isfinite(fraction):
        return f"{label} must be a finite number"
    if fraction <= low:
        return f"{label} must be above {low * 100:g} %"
    return f"{label} must be at most {high * 100:g} %"
