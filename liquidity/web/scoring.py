"""Turn uploaded CSV rows and JSON items into valid model inputs, with an error per bad row and field."""

import io
from dataclasses import dataclass, field

import pandas as pd

from liquidity.dataset import COLUMN_ALIASES, _normalise_header
from liquidity.features import INPUT_COLUMNS
from liquidity.validation import field_error

# JSON API keys, in the dataset's units; "volume" is accepted as an alias of "24h_volume".
API_KEYS = {"volume": "24h_volume", "mkt_cap": "mkt_cap", "1h": "1h", "price": "price"}
FORECAST_COLUMNS = ("liquidity_score", "liquidity_level", "band_low", "band_high", "implied_ratio",
                    "implied_volume", "out_of_range")


class UploadError(ValueError):
    """An uploaded file that cannot be read as snapshot rows at all."""


@dataclass
class Parsed:
    """Rows as read, the valid inputs among them, and the errors of the others."""

    rows: pd.DataFrame
    valid: pd.DataFrame
    errors: list = field(default_factory=list)  # (row number or path, column, reason)


def read_csv_upload(data):
    """Read uploaded CSV bytes with the dataset's header names; per-row errors name the row and column.

    Row 1 is the first line after the header.
    """
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise UploadError("The file is not UTF-8 text. Export it as CSV (UTF-8) and upload it again.") from None
    try:
        rows = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False, skip_blank_lines=True)
    except pd.errors.EmptyDataError:
        raise UploadError("The file is empty.") from None
    except pd.errors.ParserError as error:
        raise UploadError(f"The file is not a readable CSV: {error}") from None
    rows.columns = [_normalise_header(column) for column in rows.columns]
    if rows.columns.duplicated().any():
        raise UploadError(f"Column {rows.columns[rows.columns.duplicated()][0]!r} appears more than once.")
    missing = [column for column in INPUT_COLUMNS if column not in rows.columns]
    if missing:
        aliases = {canonical: [a for a, c in COLUMN_ALIASES.items() if c == canonical] for canonical in missing}
        named = ", ".join(f"{c!r}" + (f" (or {', '.join(map(repr, aliases[c]))})" if aliases[c] else "")
                          for c in missing)
        raise UploadError(f"Missing required column(s): {named}. Expected the snapshot columns "
                          "price, 1h, volume (or 24h_volume), mkt_cap.")
    if rows.empty:
        raise UploadError("The file has a header but no data rows.")
    rows = rows.reset_index(drop=True)
    rows.index = rows.index + 1
    errors, bad = [], set()
    for column in INPUT_COLUMNS:
        for number, raw in rows[column].str.strip().items():
            reason = "missing value" if raw == "" else field_error(column, raw)
            if reason:
                errors.append((number, column, reason))
                bad.add(number)
    valid = rows.loc[~rows.index.isin(bad), list(INPUT_COLUMNS)].astype("float64")
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
        if "24h_volume" in item and "volume" in item:
            errors.append((f"{path}.volume", "volume", "give either 24h_volume or volume, not both"))
            continue
        row, ok = {}, True
        for column, key in API_KEYS.items():
            present = key if key in item else ("volume" if column == "volume" and "volume" in item else None)
            if present is None:
                errors.append((f"{path}.{key}", key, "is required"))
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


def score(model, parsed):
    """Return parsed.rows with the forecast columns added (empty for rows with errors) and an error column."""
    scored = parsed.rows.copy()
    if not parsed.valid.empty:
        forecast = model.forecast_frame(parsed.valid)
        forecast["out_of_range"] = forecast["out_of_range"].map(" ".join)
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
