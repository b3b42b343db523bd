"""Turn uploaded CSV rows and JSON items into valid model inputs, with an error per bad row and field."""

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from liquidity.features import INPUT_COLUMNS
from liquidity.hints import borderline, h1_warnings
from liquidity.schema import BY_COLUMN, INPUTS, header_aliases
from liquidity.tabular import DELIMITER_NAMES, TableError, TooManyRows, read_table
from liquidity.validation import field_error

__all__ = ["TableError", "TooManyRows", "read_csv_upload", "read_json_items", "check_json_items", "score",
           "forecast_log_row", "frame_log_rows"]

FORECAST_COLUMNS = ("liquidity_score", "liquidity_level", "borderline", "band_low", "band_high", "implied_ratio",
                    "implied_volume", "out_of_range", "warning")
SCORE_CHUNK_ROWS = 10_000


@dataclass
class Parsed:
    """Rows as read, the valid inputs among them, and the errors of the others."""

    rows: pd.DataFrame
    valid: pd.DataFrame
    errors: list = field(default_factory=list)  # (row number or path, column, reason)


def read_csv_upload(data, max_rows=None):
    """Read uploaded CSV bytes with the dataset's header names; per-row errors name the row and column.

    Row 1 is the first data row after the header; blank lines are not counted. More than max_rows (if given) rows
    raise TooManyRows; a file that is not a table raises TableError.
    """
    aliases = header_aliases()
    table = read_table(data, aliases, max_rows=max_rows)
    rows = table.rows
    missing = [column for column in INPUT_COLUMNS if column not in rows.columns and not BY_COLUMN[column].optional]
    if missing:
        others = {canonical: [a for a, c in aliases.items() if c == canonical] for canonical in missing}
        named = ", ".join(f"{c!r}" + (f" (or {', '.join(map(repr, others[c]))})" if others[c] else "")
                          for c in missing)
        raise TableError(f"Missing required column(s): {named}. Expected the snapshot columns "
                         f"price, volume (or 24h_volume), mkt_cap, and 1h if you have it (read the header as "
                         f"separated by "
                         f"{DELIMITER_NAMES[table.delimiter]}).")
    if rows.empty:
        raise TableError("The file has a header but no data rows.")
    errors, bad = [], set()
    values = {}
    for column in INPUT_COLUMNS:
        optional = BY_COLUMN[column].optional
        if column not in rows.columns:  # an optional column left out: missing on every row
            values[column] = pd.Series("", index=rows.index)
            continue
        cleaned = table.numbers(column)
        for number, raw in cleaned.items():
            if raw == "" and optional:
                continue
            reason = "missing value" if raw == "" else field_error(column, raw)
            if reason:
                errors.append((number, column, reason))
                bad.add(number)
        values[column] = cleaned
    errors.sort(key=lambda error: error[0])
    good = ~rows.index.isin(bad)
    # An optional value left empty is missing (NaN), as the daily history's 1h is.
    valid = pd.DataFrame({column: values[column][good].replace("", np.nan)
                          for column in INPUT_COLUMNS}).astype("float64")
    return Parsed(rows=rows, valid=valid, errors=errors)


def read_json_items(items):
    """Check JSON objects with the API's keys; errors carry a path such as $[3].price."""
    values, errors = check_json_items(items)
    valid = pd.DataFrame.from_dict(values, orient="index", columns=list(INPUT_COLUMNS)).astype("float64")
    return Parsed(rows=valid, valid=valid, errors=errors)


def check_json_items(items):
    """Return ({position: {column: float}} for valid objects, errors with a path such as $[3].price)."""
    values, errors = {}, []
    for position, item in enumerate(items):
        path = f"$[{position}]"
        if not isinstance(item, dict):
            errors.append((path, None, "must be an object"))
            continue
        duplicates = getattr(item, "duplicate_keys", ())
        if duplicates:  # which of the values was meant is unknowable, so none is used
            errors.extend((f"{path}.{key}", key, "appears more than once in the object") for key in duplicates)
            continue
        both = [spec for spec in INPUTS if spec.column != spec.key and spec.column in item and spec.key in item]
        if both:
            errors.extend((f"{path}.{spec.column}", spec.column, f"give either {spec.key} or {spec.column}, not both")
                          for spec in both)
            continue
        row, ok = {}, True
        for spec in INPUTS:
            column, key = spec.column, spec.key
            present = key if key in item else (column if column in item else None)
            hint = misspelt_key_hint(key, item) if present is None else ""
            if spec.optional and not hint and (present is None or item[present] is None):  # left out or null: missing
                row[column] = np.nan
                continue
            if present is None:
                # An optional key sent under another name (h1 for 1h) is a mistake to name, not a value to drop.
                reason = ("is optional, but its value was sent under another key" if spec.optional else
                          "is required")
                errors.append((f"{path}.{key}", key, reason + hint))
                ok = False
                continue
            value = item[present]
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                errors.append((f"{path}.{present}", present, "must be a JSON number"))
                ok = False
                continue
            reason = field_error(column, value)
            if reason:
                errors.append((f"{path}.{present}", present, reason))
                ok = False
            row[column] = float(value)
        if ok:
            values[position] = row
    return values, errors


# Keys clients send for an input under another spelling: the answer names the key the API reads.
MISSPELT_KEYS = {"1h": ("h1", "1h_change", "change_1h", "percent_change_1h"),
                 "24h_volume": ("volume_24h", "total_volume", "24h_vol", "volume_usd"),
                 "mkt_cap": ("market_cap", "marketcap", "mkt_cap_usd", "market_cap_usd"),
                 "price": ("price_usd", "current_price")}


def misspelt_key_hint(key, item):
    """Return a hint naming the key the object sent instead of key (e.g. h1 for 1h), or ""."""
    sent = [name for name in MISSPELT_KEYS.get(key, ()) if name in item]
    return f" (found {sent[0]!r}: the key is {key!r})" if sent else ""


def score(model, parsed, reference=None):
    """Return parsed.rows with the forecast columns added (empty for rows with errors) and an error column.

    reference: the sorted ratios today's score is ranked in (the latest stored snapshot's), else the card's.
    """
    scored = parsed.rows.copy()
    if not parsed.valid.empty:
        # The band holds one prediction per tree and row; chunks keep that matrix small for big uploads.
        forecast = pd.concat([model.forecast_frame(parsed.valid.iloc[start:start + SCORE_CHUNK_ROWS], reference)
                              for start in range(0, len(parsed.valid), SCORE_CHUNK_ROWS)])
        forecast["out_of_range"] = forecast["out_of_range"].map(" ".join)
        forecast.insert(2, "borderline", borderline(forecast["band_low"], forecast["band_high"], model.threshold))
        forecast["warning"] = h1_warnings(parsed.valid["1h"], model.card["inputs"]["1h"])
        scored = scored.join(forecast)
    else:
        for column in FORECAST_COLUMNS:
            scored[column] = None
    messages = {}
    for number, column, reason in parsed.errors:
        messages.setdefault(number, []).append(f"{column}: {reason}")
    scored["error"] = pd.Series({number: "; ".join(texts) for number, texts in messages.items()}, dtype="object")
    scored["error"] = scored["error"].fillna("")
    return scored


def forecast_log_row(forecast, volume, mkt_cap, h1, price):
    """Return the prediction log's row for a Forecast made from the four inputs (no coin, no snapshot date)."""
    return {"volume": volume, "mkt_cap": mkt_cap, "h1": None if h1 != h1 else h1, "price": price,
            "forecast_score": forecast.score,
            "level": forecast.level, "band_low": forecast.band_low, "band_high": forecast.band_high}


def frame_log_rows(inputs, forecast):
    """Return the prediction log's rows (a frame) for valid inputs (INPUT_COLUMNS) and their forecast (same index)."""
    outputs = forecast[["liquidity_score", "liquidity_level", "band_low", "band_high"]].rename(
        columns={"liquidity_score": "forecast_score", "liquidity_level": "level"})
    return inputs[list(INPUT_COLUMNS)].rename(columns={"1h": "h1"}).join(outputs)
