"""Load, validate and pair market snapshot CSVs."""

import ctypes
import logging
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from pandas.api.types import union_categoricals

from liquidity.schema import header_aliases
from liquidity.tabular import DEFAULT_CHUNK_BYTES, TableError, read_table_chunks

log = logging.getLogger(__name__)

# Spellings met in the seed material and in CoinGecko exports, mapped to one name each.
COLUMN_ALIASES = {**header_aliases(), "name": "coin"}
REQUIRED_COLUMNS = ("coin", "symbol", "price", "volume", "mkt_cap", "date")
# Sources without a column (the daily history has no 1h/24h/7d) leave it missing, never zero.
OPTIONAL_COLUMNS = ("coin_id", "1h", "24h", "7d")
NUMERIC_COLUMNS = ("price", "1h", "24h", "7d", "volume", "mkt_cap")
CHANGE_COLUMNS = ("1h", "24h", "7d")
# A coin is keyed by CoinGecko's coin_id where the file has one, else by coin + symbol (see coin_key).
KEY_COLUMNS = ("coin_id",)
# The text columns of a clean frame, held as categoricals while a load collects its chunks.
TEXT_COLUMNS = ("coin_id", "coin", "symbol", "date", "source_file")
TEXT_DTYPE = pd.Series([], dtype="str").dtype  # pandas' default text dtype, what the rows are read as
# A coin id is a path segment of /coins/<id> and /api/v1/coins/<id>: one a route cannot match is refused at import.
MAX_COIN_ID_LENGTH = 200
CONTROL_CHARACTERS = r"[\x00-\x1f\x7f-\x9f]"
# Text read to check a file's encoding and header before anything is written (check_snapshot_header).
HEADER_CHECK_BYTES = 64 * 1024


class DatasetError(ValueError):
    """A snapshot file or folder that cannot be used, with the file and column named."""


@dataclass
class Snapshots:
    """Clean snapshot rows plus an account of everything that was dropped."""

    frame: pd.DataFrame
    files: list = field(default_factory=list)
    rows_read: int = 0
    dropped: Counter = field(default_factory=Counter)
    duplicates_resolved: int = 0

    @property
    def dates(self):
        return sorted(self.frame["date"].unique().tolist())


def read_snapshot_file(path):
    """Read one CSV into a frame with canonical column names, or raise DatasetError.

    Any file /batch reads is read here too (liquidity.tabular): comma, semicolon or tab, BOM, decimal comma.
    """
    return next(read_snapshot_chunks(path, chunk_bytes=None))


def read_snapshot_chunks(path, chunk_bytes=DEFAULT_CHUNK_BYTES):
    """Yield one CSV as frames of about chunk_bytes of text each (None: one frame), as read_snapshot_file reads it."""
    for frame, _ in read_snapshot_stream(path, chunk_bytes):
        yield frame


def read_snapshot_stream(path, chunk_bytes=DEFAULT_CHUNK_BYTES):
    """Yield (frame, bytes of the file read so far) as read_snapshot_chunks yields frames: the bytes for a progress
    bar (the reader reads a chunk ahead)."""
    path = Path(path)
    try:
        with path.open("rb") as stream:
            for table in read_table_chunks(stream, COLUMN_ALIASES, chunk_bytes):
                yield _snapshot_frame(path, table), stream.tell()
    except OSError as error:
        raise DatasetError(f"{path}: cannot read file ({error.__class__.__name__}: {error})") from None
    except TableError as error:
        raise DatasetError(f"{path}: cannot read file ({error})") from None


def check_snapshot_header(path):
    """Raise DatasetError when a CSV cannot be read or lacks a required column, reading only its first lines."""
    next(read_snapshot_chunks(path, HEADER_CHECK_BYTES), None)


def _snapshot_frame(path, table):
    frame = table.rows.copy()
    for column in REQUIRED_COLUMNS:
        if column not in frame.columns:
            raise DatasetError(f"{path}: missing required column {column!r}")
    for column in OPTIONAL_COLUMNS:
        if column not in frame.columns:
            frame[column] = ""
    for column in NUMERIC_COLUMNS:
        frame[column] = table.number_cells(frame[column])
    frame = frame[["coin_id", "coin", "symbol", *NUMERIC_COLUMNS, "date"]].copy()
    frame["source_file"] = path.name
    return frame


def coin_key(coin, symbol):
    """Return the key of a coin in a source without coin_id: its name and symbol, as the rows spell them."""
    return coin + ":" + symbol


def clean_snapshot_rows(frame):
    """Drop unusable rows; return (clean frame, Counter of drop reasons)."""
    frame = frame.copy()
    for column in ("coin_id", "coin", "symbol", "date"):
        frame[column] = frame[column].astype(str).str.strip()
    frame["coin_id"] = frame["coin_id"].where(frame["coin_id"].ne(""), coin_key(frame["coin"], frame["symbol"]))
    blank = {}
    for column in NUMERIC_COLUMNS:
        text = frame[column].astype(str).str.strip()
        blank[column] = text.eq("")
        frame[column] = pd.to_numeric(text.replace("", None), errors="coerce")
    frame["date"] = pd.to_datetime(frame["date"], format="%Y-%m-%d", errors="coerce").dt.strftime("%Y-%m-%d")

    reason = pd.Series(pd.NA, index=frame.index, dtype="object")

    def mark(mask, text):
        reason[mask & reason.isna()] = text

    mark(frame["coin"].eq("") | frame["symbol"].eq(""), "missing coin or symbol")
    mark(frame["coin_id"].str.contains("/", regex=False), "coin id with a '/' (no page could serve it)")
    mark(frame["coin_id"].str.len() > MAX_COIN_ID_LENGTH,
         f"coin id longer than {MAX_COIN_ID_LENGTH} characters (no page could serve it)")
    mark(frame["coin_id"].str.contains(CONTROL_CHARACTERS, regex=True),
         "coin id with a control character (no page could serve it)")
    mark(frame["date"].isna(), "missing or invalid date")
    for column in ("volume", "mkt_cap", "price"):
        mark(frame[column].isna(), f"missing or non-numeric {column}")
        mark(~np.isfinite(frame[column].fillna(0.0)), f"non-finite {column}")
    for column in CHANGE_COLUMNS:
        # An empty change is a missing feature the model can route; text where a number belongs is an error.
        mark(frame[column].isna() & ~blank[column], f"non-numeric {column}")
        mark(~np.isfinite(frame[column].fillna(0.0)), f"non-finite {column}")
    mark(frame["mkt_cap"] <= 0, "market cap not positive")
    with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
        # 1e308 / 0.5 overflows: an infinite ratio has no rank and no JSON number.
        mark(~np.isfinite(frame["volume"] / frame["mkt_cap"]), "volume / market cap not finite")
    mark(frame["price"] <= 0, "price not positive")
    mark(frame["volume"] < 0, "volume negative")
    mark(frame["1h"] <= -1, "1h change at or below -100 %")

    dropped = Counter(reason.dropna().tolist())
    return frame[reason.isna()].copy(), dropped


def resolve_duplicates(frame):
    """Keep one row per coin and date (the largest market cap, then file order); return (frame, count).

    The kept rows come sorted by date and coin, taken in one go: a sorted copy of a history's frame to pick from
    would double the loader's peak memory.
    """
    keys = [_sort_codes(frame[column]) for column in ("date", *KEY_COLUMNS)]
    # lexsort sorts by its last key first and keeps file order among equal keys (it is stable).
    order = np.lexsort((-frame["mkt_cap"].to_numpy(dtype="float64"), *reversed(keys)))
    # A row is a duplicate when its date and coin equal the previous sorted row's: that one has the larger cap.
    duplicated = np.zeros(len(order), dtype=bool)
    if len(order):
        duplicated[1:] = np.logical_and.reduce([codes[order][1:] == codes[order][:-1] for codes in keys])
    kept = order[~duplicated]
    if len(kept) == len(frame) and (kept[1:] > kept[:-1]).all():  # sorted already, no duplicate: no copy
        return frame.reset_index(drop=True), 0
    kept = frame.take(kept).reset_index(drop=True)
    return kept, int(duplicated.sum())


def _sort_codes(column):
    """Return integer codes that sort as column's values do (a categorical's must have sorted categories)."""
    if isinstance(column.dtype, pd.CategoricalDtype):
        return column.cat.codes.to_numpy()
    return pd.factorize(column, sort=True)[0]


def snapshot_files(path):
    """List the CSV files at path (a file or a folder), or raise DatasetError."""
    path = Path(path)
    if path.is_file():
        return [path]
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.suffix.lower() == ".csv" and p.is_file())
        if not files:
            raise DatasetError(f"{path}: no .csv snapshot files in this folder")
        return files
    raise DatasetError(f"{path}: no such file or folder")


def load_snapshots(paths, chunk_bytes=DEFAULT_CHUNK_BYTES, compact=False):
    """Load, clean and de-duplicate every snapshot CSV at paths (files or folders).

    Files are read chunk_bytes of text at a time (None: whole) and each chunk's clean rows kept compact, so memory
    follows the rows kept, not the size of the text: the rows, drops and scores are the same whatever the chunk size.
    compact=True is what an import needs, in about half the memory: the text columns (TEXT_COLUMNS) stay categorical,
    each distinct value held once, and the rows are not scored (the store ranks them itself).
    """
    if isinstance(paths, (str, Path)):
        paths = [paths]
    files = [file for path in paths for file in snapshot_files(path)]
    chunks, dropped, rows_read = [], Counter(), 0
    for file in files:
        file_dropped, usable = Counter(), 0
        for raw in read_snapshot_chunks(file, chunk_bytes):
            rows_read += len(raw)
            clean, chunk_dropped = clean_snapshot_rows(raw)
            del raw
            file_dropped += chunk_dropped
            if len(clean):  # an empty chunk's columns may lack the dtypes the others agree on
                usable += len(clean)
                chunks.append(_compact(clean))
            del clean
            release_freed_memory()
        if not usable:
            reasons = ", ".join(f"{n} {r}" for r, n in file_dropped.most_common()) or "no data rows"
            raise DatasetError(f"{file}: no usable rows ({reasons})")
        dropped += file_dropped
    frame, duplicates = resolve_duplicates(_concat_compact(chunks))
    del chunks
    release_freed_memory()
    if not compact:
        frame = _score(frame)
        for column in TEXT_COLUMNS:
            frame[column] = frame[column].astype(TEXT_DTYPE)  # text again; rows share each distinct value's string
    for text, count in dropped.most_common():
        log.warning("dropped %d row(s): %s", count, text)
    if duplicates:
        log.warning("resolved %d duplicate coin row(s) within a date (kept the largest market cap)", duplicates)
    return Snapshots(frame=frame, files=[str(f) for f in files], rows_read=rows_read,
                     dropped=dropped, duplicates_resolved=duplicates)


def release_freed_memory():
    """Hand the memory freed by a chunk's parsing back to the system where the C library allows it (glibc).

    glibc keeps freed heap pages, and the next chunk's arrays land beside the kept ones, so without this a file's
    peak memory grew by about one chunk's parsing per chunk read (measured: 608 MB against 350 MB at the end of
    loading a 200 MB file).
    """
    if _MALLOC_TRIM is not None:
        _MALLOC_TRIM(0)


def _malloc_trim():
    try:
        return ctypes.CDLL(None).malloc_trim
    except (AttributeError, OSError):  # not glibc (macOS, musl): nothing to call
        return None


_MALLOC_TRIM = _malloc_trim()


def _compact(frame):
    """Return clean rows as columns: text as categoricals (a coin's name held once, not once a row), numbers as
    float64 (a chunk of whole numbers reads as int64, and the dtype must not depend on the chunking)."""
    return {name: pd.Categorical(frame[name]) if name in TEXT_COLUMNS else frame[name].to_numpy(dtype="float64")
            for name in frame.columns}


def _concat_compact(chunks):
    """Return the compact chunks (emptied as it goes) as one frame, text columns categorical with sorted categories.

    A column is joined and its parts let go before the next: the chunks and the frame are never both whole in memory.
    """
    columns = {}
    for name in list(chunks[0]):
        parts = [chunk.pop(name) for chunk in chunks]
        columns[name] = (union_categoricals(parts, sort_categories=True) if name in TEXT_COLUMNS
                         else np.concatenate(parts))
        del parts
        release_freed_memory()
    return pd.DataFrame(columns, copy=False)  # copy=False: no block of all the float columns copied together


def add_liquidity_score(frame):
    """Add liquidity_ratio (volume / mkt_cap) and liquidity_score (its mid-rank percentile per date)."""
    return _score(frame.copy())


def _score(frame):
    """Add the ratio and score columns to frame itself and return it."""
    frame["liquidity_ratio"] = frame["volume"] / frame["mkt_cap"]
    dates = frame["date"]
    # A categorical's codes group as its values do, without hashing a string per row.
    dates = dates.cat.codes if isinstance(dates.dtype, pd.CategoricalDtype) else dates
    by_date = frame["liquidity_ratio"].groupby(dates)
    # Mid-rank percentile: (rank - 0.5) / n puts the median coin at exactly 0.5 and keeps scores in (0, 1).
    frame["liquidity_score"] = (by_date.rank(method="average") - 0.5) / by_date.transform("size")
    return frame


def make_pairs(frame):
    """Pair each coin's row on one date with its row on the next available date.

    Returns the current row's columns plus next_date, gap_days and next_liquidity_score.
    """
    dates = sorted(frame["date"].unique())
    if len(dates) < 2:
        raise DatasetError(
            f"need at least two snapshot dates to learn a next-snapshot forecast, found {len(dates)}"
            + (f" ({dates[0]})" if dates else ""))
    next_date = dict(zip(dates[:-1], dates[1:]))
    current = frame[frame["date"].isin(next_date)].copy()
    current["next_date"] = current["date"].map(next_date)
    following = frame[[*KEY_COLUMNS, "date", "liquidity_score"]].rename(
        columns={"date": "next_date", "liquidity_score": "next_liquidity_score"})
    pairs = current.merge(following, on=[*KEY_COLUMNS, "next_date"], how="inner", validate="one_to_one")
    pairs["gap_days"] = (pd.to_datetime(pairs["next_date"]) - pd.to_datetime(pairs["date"])).dt.days
    if pairs.empty:
        raise DatasetError("no coin appears on two consecutive snapshot dates "
                           "(pairs join on coin_id, else coin + symbol)")
    return pairs.sort_values(["date", *KEY_COLUMNS], kind="stable").reset_index(drop=True)


def add_horizon_targets(pairs, frame, horizons):
    """Add target_{H}d and target_date_{H}d for each horizon H in days to pairs (make_pairs' rows).

    The 1-day target is the next snapshot's score (next_liquidity_score: the next calendar day in daily data);
    a longer one is the coin's score exactly H calendar days later, NaN where the coin has no row that day.
    """
    pairs = pairs.copy()
    day = pd.to_datetime(pairs["date"])
    later = frame[[*KEY_COLUMNS, "date", "liquidity_score"]]
    for horizon in horizons:
        if horizon == 1:
            pairs["target_1d"] = pairs["next_liquidity_score"]
            pairs["target_date_1d"] = pairs["next_date"]
            continue
        target_date = (day + pd.Timedelta(days=horizon)).dt.strftime("%Y-%m-%d")
        keys = pairs[list(KEY_COLUMNS)].assign(date=target_date.to_numpy())
        found = keys.merge(later, on=[*KEY_COLUMNS, "date"], how="left", validate="many_to_one")
        pairs[f"target_{horizon}d"] = found["liquidity_score"].to_numpy()
        pairs[f"target_date_{horizon}d"] = target_date.to_numpy()
    return pairs
