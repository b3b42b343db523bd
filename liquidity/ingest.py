"""Snapshot CoinGecko's /coins/markets into a dated CSV in DATASET/, in the schema the loader reads.

python -m liquidity ingest --coins 500 --out DATASET [--base-url URL] [--date YYYY-MM-DD] [--overwrite]
(the command: liquidity/commands/ingest.py)
"""

import sys
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path

import pandas as pd

from liquidity.coingecko import PER_PAGE
from liquidity.dataset import clean_snapshot_rows
from liquidity.files import write_atomically
from liquidity.paths import DATASET_DIR

DEFAULT_COINS = 500
DEFAULT_OUT = DATASET_DIR
SNAPSHOT_COLUMNS = ("coin_id", "coin", "symbol", "price", "1h", "24h", "7d", "volume", "mkt_cap", "date")


class IngestError(RuntimeError):
    """A snapshot that cannot be written, explained in one line."""


# CoinGecko field -> snapshot column; the *_in_currency fields are percents, the snapshot keeps fractions.
PLAIN_FIELDS = {"id": "coin_id", "name": "coin", "symbol": "symbol", "current_price": "price", "total_volume": "volume",
                "market_cap": "mkt_cap"}
PERCENT_FIELDS = {"price_change_percentage_1h_in_currency": "1h",
                  "price_change_percentage_24h_in_currency": "24h",
                  "price_change_percentage_7d_in_currency": "7d"}


def _text(value):
    """Render a JSON value as the loader would read it from a CSV cell: null -> empty."""
    if value is None:
        return ""
    if isinstance(value, float):
        return repr(value)
    return str(value).strip()


def _fraction(value):
    """Turn a percent (2.2) into a fraction ("0.022"); leave anything non-numeric as text for the loader."""
    if value is None or isinstance(value, bool):
        return _text(value)
    try:
        # Decimal keeps 2.2 / 100 at "0.022" instead of binary noise like 0.022000000000000002.
        number = Decimal(repr(value) if isinstance(value, float) else str(value).strip())
    except InvalidOperation:
        return _text(value)
    if not number.is_finite():
        return _text(value)
    return repr(float(number / 100))


def market_row(item, snapshot_date):
    """Map one /coins/markets entry to a snapshot row of text cells."""
    row = {column: _text(item.get(name)) for name, column in PLAIN_FIELDS.items()}
    row.update({column: _fraction(item.get(name)) for name, column in PERCENT_FIELDS.items()})
    row["symbol"] = row["symbol"].upper()
    row["date"] = snapshot_date
    return row


@dataclass
class Snapshot:
    """Rows ready to write plus an account of what was dropped."""

    frame: pd.DataFrame
    rows_fetched: int
    dropped: Counter = field(default_factory=Counter)
    clean: pd.DataFrame = None  # the same rows as numbers, as the loader reads them: what the store takes


def build_snapshot(items, snapshot_date):
    """Turn market entries into loader-ready rows; drop rows by the loader's own rules and count why."""
    dropped = Counter()
    rows, seen_ids = [], set()
    for item in items:
        coin_id = item.get("id")
        if coin_id is not None and coin_id in seen_ids:
            # Pages are ranked live, so a coin can slide from one page onto the next between requests.
            dropped["listed twice across pages"] += 1
            continue
        seen_ids.add(coin_id)
        rows.append(market_row(item, snapshot_date))
    raw = pd.DataFrame(rows, columns=list(SNAPSHOT_COLUMNS), dtype=object)
    clean, reasons = clean_snapshot_rows(raw)
    dropped.update(reasons)
    kept = raw.loc[clean.index]  # write the cells as CoinGecko sent them, not re-formatted floats
    duplicated = clean.duplicated("coin_id", keep="first")  # ranked by market cap: first is largest
    if duplicated.any():
        dropped["same coin as a larger row"] += int(duplicated.sum())
        kept = kept.loc[~duplicated.to_numpy()]
        clean = clean.loc[~duplicated.to_numpy()]
    return Snapshot(frame=kept.reset_index(drop=True), rows_fetched=len(items), dropped=dropped,
                    clean=clean.reset_index(drop=True))


def snapshot_path(out_dir, snapshot_date):
    """Return DATASET/coingecko_YYYY-MM-DD.csv for out_dir and the date."""
    return Path(out_dir) / f"coingecko_{snapshot_date}.csv"


def write_new_file(path, data, overwrite=False):
    """Write data to path atomically; refuse to replace an existing snapshot unless overwrite."""
    try:
        write_atomically(path, data, overwrite=overwrite)
    except FileExistsError:
        raise IngestError(f"{path} already exists; pass --overwrite to replace it") from None


@dataclass
class IngestResult:
    """What one ingest fetched and wrote."""

    path: Path
    snapshot_date: str
    pages: int
    requests_sent: int
    rows_fetched: int
    rows_written: int
    dropped: Counter
    stored: object = None  # the store's AddResult when a database was given
    migration: object = None  # the store's Migration when a database was given

    def summary(self):
        lines = [f"wrote {self.rows_written} coins for {self.snapshot_date} to {self.path} "
                 f"({self.rows_fetched} fetched on {self.pages} page(s), {self.requests_sent} request(s))"]
        if self.stored is not None:
            lines.append(f"stored {self.stored.added} row(s) in the market store "
                         f"({self.stored.skipped} already there)")
        total = sum(self.dropped.values())
        if total:
            lines.append(f"dropped {total} row(s):")
            lines.extend(f"  {count:>5}  {reason}" for reason, count in self.dropped.most_common())
        else:
            lines.append("dropped 0 rows")
        return "\n".join(lines)


class PageProgress:
    """A dependency-free per-page progress bar on stderr (redrawn in place on a terminal)."""

    def __init__(self, pages, coins, stream=None, width=30):
        self.pages, self.coins, self.width = pages, coins, width
        self.stream = stream or sys.stderr
        self.live = hasattr(self.stream, "isatty") and self.stream.isatty()
        self.line_open = False

    def __call__(self, page, collected):
        shown = min(collected, self.coins)
        filled = round(self.width * shown / self.coins)
        line = f"page {page}/{self.pages} [{'#' * filled}{'-' * (self.width - filled)}] {shown}/{self.coins} coins"
        if self.live:
            self.stream.write("\r" + line)
            self.line_open = True
        else:
            self.stream.write(line + "\n")
        self.stream.flush()

    def finish(self):
        """End an in-place bar so the next output starts on its own line."""
        if self.line_open:
            self.stream.write("\n")
            self.stream.flush()
            self.line_open = False


def page_count(coins, per_page=PER_PAGE):
    """Return (page size, pages) needed for coins."""
    per_page = min(per_page, coins)
    return per_page, -(-coins // per_page)


def fetch_markets(client, coins, progress=None, per_page=PER_PAGE):
    """Page through /coins/markets until coins are collected or a page comes back empty."""
    per_page, pages = page_count(coins, per_page)
    items, pages_fetched = [], 0
    for page in range(1, pages + 1):
        batch = client.markets(page=page, per_page=per_page)
        pages_fetched += 1
        items.extend(batch)
        if progress:
            progress(page, len(items))
        if not batch:
            break
    if progress and hasattr(progress, "finish"):
        progress.finish()
    return items[:coins], pages_fetched


def ingest(out_dir=DEFAULT_OUT, coins=DEFAULT_COINS, *, client, snapshot_date=None, overwrite=False,
           progress=None, per_page=PER_PAGE, database=None):
    """Fetch the top coins from CoinGecko and write DATASET/coingecko_<date>.csv; return an IngestResult.

    With database (a URL), the same rows also go into the market store after the CSV is written.
    """
    if coins < 1:
        raise IngestError(f"coins must be at least 1, not {coins}")
    snapshot_date = snapshot_date or datetime.now(UTC).date().isoformat()
    path = snapshot_path(out_dir, snapshot_date)
    if path.exists() and not overwrite:  # before any request, so a repeat costs no API quota
        raise IngestError(f"{path} already exists; pass --overwrite to replace it")
    items, pages = fetch_markets(client, coins, progress, per_page)
    if not items:
        raise IngestError("CoinGecko returned no coins; nothing written")
    snapshot = build_snapshot(items, snapshot_date)
    if snapshot.frame.empty:
        reasons = ", ".join(f"{n} {r}" for r, n in snapshot.dropped.most_common())
        raise IngestError(f"no usable coin rows ({reasons}); nothing written")
    write_new_file(path, snapshot.frame.to_csv(index=False, lineterminator="\n").encode(), overwrite)
    stored, migration = (None, None) if database is None else store_snapshot(snapshot, path, database)
    return IngestResult(path=path, snapshot_date=snapshot_date, pages=pages, requests_sent=client.requests_sent,
                        rows_fetched=snapshot.rows_fetched, rows_written=len(snapshot.frame),
                        dropped=snapshot.dropped, stored=stored, migration=migration)


def store_snapshot(snapshot, path, database):
    """Add the snapshot's rows to the market store at database (migrated first); return (AddResult, Migration).

    A failure keeps the CSV and says how to retry.
    """
    from liquidity.store import MarketStore, StoreError

    try:
        with MarketStore(database, migrate=True) as store:
            return store.add_snapshots(snapshot.clean, source=path.name), store.migration
    except StoreError as error:
        raise IngestError(f"wrote {path}, but it is not in the market store: {error}. The CSV is kept; "
                          f"`flask --app app import {path}` adds it later") from None
