"""Turn uploaded CSV rows and JSON items into valid model inputs, with an error per bad row and field."""

import io
import re
from dataclasses import dataclass, field

import pandas as pd

from liquidity.dataset import COLUMN_ALIASES, _normalise_header
from liquidity.features import INPUT_COLUMNS
from liquidity.hints import borderline, h1_warnings
from liquidity.validation import field_error

# JSON API keys, in the dataset's units; "volume" is accepted as an alias of "24h_volume".
API_KEYS = {"volume": "24h_volume", "mkt_cap": "mkt_cap", "1h": "1h", "price": "price"}
FORECAST_COLUMNS = ("liquidity_score", "liquidity_level", "borderline", "band_low", "band_high", "implied_ratio",
                    "implied_volume", "out_of_range", "warning")


SCORE_CHUNK_ROWS = 10_000
DELIMITERS = (",", ";", "\t")
DEFAULT_MAX_ROWS = 100_000
# "1,234,567.89": comma thousands groups and an optional decimal point (comma-separated files, quoted).
COMMA_GROUPED = re.compile(r"[+-]?\d{1,3}(,\d{3})+(\.\d*)?")
# "1.234.567,89" or "0,001": the European style, read only in ;- or tab-separated files.
DECIMAL_COMMA = re.compile(r"[+-]?(\d{1,3}(\.\d{3})+|\d*),\d+")
# "20.476.118.020": two or more dot groups cannot be a decimal point (one dot, "1.234", stays a decimal point).
DOT_GROUPED = re.compile(r"[+-]?\d{1,3}(\.\d{3}){2,}")


class UploadError(ValueError):
    """An uploaded file that cannot be read as snapshot rows at all."""

    status = 400


class TooManyRows(UploadError):
    """An upload with more data rows than the app scores in one request."""

    status = 413


@dataclass
class Parsed:
    """Rows as read, the valid inputs among them, and the errors of the others."""

    rows: pd.DataFrame
    valid: pd.DataFrame
    errors: list = field(default_factory=list)  # (row number or path, column, reason)


def decode_upload(data):
    """Return the uploaded bytes as text, or raise UploadError saying what the file looks like instead."""
    head = data[:8192]
    if head.startswith(b"PK\x03\x04"):
        raise UploadError("The file is a zip archive or an Excel workbook, not CSV text. "
                          "Save it as CSV (UTF-8) and upload that.")
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise UploadError("The file is not UTF-8 text (it is UTF-16). Export it as CSV (UTF-8) and upload it again.")
    if len(head) >= 8 and max(head[0::2].count(0), head[1::2].count(0)) > len(head) // 4:
        raise UploadError("The file is not UTF-8 text (it looks like UTF-16). Export it as CSV (UTF-8) and upload "
                          "it again.")
    if b"\x00" in head:
        raise UploadError("The file is binary, not CSV text. Upload a CSV (UTF-8) file.")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise UploadError("The file is not UTF-8 text. Export it as CSV (UTF-8) and upload it again.") from None


def detect_delimiter(text):
    """Return the delimiter of the header line: the most frequent of comma, semicolon and tab."""
    header = next((line for line in text.splitlines() if line.strip()), "")
    return max(DELIMITERS, key=header.count)


def number_text(raw, delimiter):
    """Return raw with unambiguous thousands/decimal separators normalised to Python's float syntax.

    In a comma-separated file "1,234,567.89" (quoted) loses its commas. In a ;- or tab-separated file the comma
    is the decimal separator: "0,001" and "1.234.567,89" are read as 0.001 and 1234567.89, and "1.234.567"
    as 1234567 (but "1.234" stays 1.234). Anything else is left as typed, for field_error to judge.
    """
    compact = raw.replace(" ", "").replace("\u00a0", "").replace("\u202f", "")
    if delimiter == "," and COMMA_GROUPED.fullmatch(compact):
        return compact.replace(",", "")
    if delimiter != "," and (DECIMAL_COMMA.fullmatch(compact) or DOT_GROUPED.fullmatch(compact)):
        return compact.replace(".", "").replace(",", ".")
    return raw


def read_csv_upload(data, max_rows=DEFAULT_MAX_ROWS):
    """Read uploaded CSV bytes with the dataset's header names; per-row errors name the row and column.

    Row 1 is the first data row after the header; blank lines are not counted. The delimiter (comma,
    semicolon or tab) is taken from the header line. More than max_rows data rows raise TooManyRows.
    """
    text = decode_upload(data)
    if not text.strip():
        raise UploadError("The file is empty.")
    delimiter = detect_delimiter(text)
    try:
        # nrows stops the parser just past the cap: a huge file costs no more than max_rows + 1 rows.
        rows = pd.read_csv(io.StringIO(text), sep=delimiter, dtype=str, keep_default_na=False,
                           skip_blank_lines=True, nrows=max_rows + 1, engine="c")
    except pd.errors.EmptyDataError:
        raise UploadError("The file is empty.") from None
    except (pd.errors.ParserError, ValueError) as error:
        raise UploadError(f"The file is not a readable CSV: {error}") from None
    del text
    rows.columns = [_normalise_header(column) for column in rows.columns]
    if rows.columns.duplicated().any():
        raise UploadError(f"Column {rows.columns[rows.columns.duplicated()][0]!r} appears more than once.")
    missing = [column for column in INPUT_COLUMNS if column not in rows.columns]
    if missing:
        aliases = {canonical: [a for a, c in COLUMN_ALIASES.items() if c == canonical] for canonical in missing}
        named = ", ".join(f"{c!r}" + (f" (or {', '.join(map(repr, aliases[c]))})" if aliases[c] else "")
                          for c in missing)
        separator = {",": "commas", ";": "semicolons", "\t": "tabs"}[delimiter]
        raise UploadError(f"Missing required column(s): {named}. Expected the snapshot columns "
                          f"price, 1h, volume (or 24h_volume), mkt_cap (read the header as separated by "
                          f"{separator}).")
    if len(rows) > max_rows:
        raise TooManyRows(f"The file has more than {max_rows:,} data rows; the limit is {max_rows:,} per upload. "
                          "Split it into smaller files.")
    rows = rows.fillna("")  # a short row's missing cells are empty, reported as "missing value"
    rows = rows.reset_index(drop=True)
    rows.index = rows.index + 1
    # Rows of empty cells only (spreadsheets export them as ",,,,") are blank lines, not errors.
    rows = rows[rows.apply(lambda column: column.str.strip() != "").any(axis=1)]
    if rows.empty:
        raise UploadError("The file has a header but no data rows.")
    errors, bad = [], set()
    values = {}
    for column in INPUT_COLUMNS:
        cleaned = rows[column].str.strip().map(lambda raw: number_text(raw, delimiter))
        for number, raw in cleaned.items():
            reason = "missing value" if raw == "" else field_error(column, raw)
            if reason:
                errors.append((number, column, reason))
                bad.add(number)
        values[column] = cleaned
    errors.sort(key=lambda error: error[0])
    good = ~rows.index.isin(bad)
    valid = pd.DataFrame({column: values[column][good] for column in INPUT_COLUMNS}).astype("float64")
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
        # The band holds one prediction per tree and row; chunks keep that matrix small for big uploads.
        forecast = pd.concat([model.forecast_frame(parsed.valid.iloc[start:start + SCORE_CHUNK_ROWS])
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
