"""Snapshot CoinGecko's /coins/markets into a dated CSV in DATASET/, in the schema the loader reads.

python -m liquidity.ingest --coins 500 --out DATASET [--base-url URL] [--date YYYY-MM-DD] [--overwrite]
"""

import email.utils
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path

import click
import pandas as pd
import requests

from liquidity.config import PROJECT_ROOT, SettingError, coingecko_settings
from liquidity.dataset import clean_snapshot_rows
from liquidity.files import write_atomically

DEFAULT_COINS = 500
PER_PAGE = 250  # the endpoint's maximum page size
DEFAULT_OUT = PROJECT_ROOT / "DATASET"
SNAPSHOT_COLUMNS = ("coin_id", "coin", "symbol", "price", "1h", "24h", "7d", "volume", "mkt_cap", "date")
API_KEY_HEADERS = {"demo": "x-cg-demo-api-key", "pro": "x-cg-pro-api-key"}
# CoinGecko field -> snapshot column; the *_in_currency fields are percents, the snapshot keeps fractions.
PLAIN_FIELDS = {"id": "coin_id", "name": "coin", "symbol": "symbol", "current_price": "price", "total_volume": "volume",
                "market_cap": "mkt_cap"}
PERCENT_FIELDS = {"price_change_percentage_1h_in_currency": "1h",
                  "price_change_percentage_24h_in_currency": "24h",
                  "price_change_percentage_7d_in_currency": "7d"}


class IngestError(RuntimeError):
    """A failure to fetch or write a snapshot, explained in one line."""


class UnreachableError(IngestError):
    """CoinGecko could not be reached or did not answer in time (offline, wrong URL, timeouts)."""


class RateLimitedError(IngestError):
    """CoinGecko kept answering 429 Too Many Requests."""


def _snippet(text, limit=120):
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[:limit - 3] + "..."


def retry_after_seconds(value, now=None):
    """Return the wait a Retry-After header asks for (seconds or an HTTP date), or None if unreadable."""
    if value is None:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    now = now or datetime.now(UTC)
    return max(0.0, (when - now).total_seconds())


class CoinGeckoClient:
    """A small CoinGecko API client: timeouts, retries with backoff, Retry-After on 429, optional API key."""

    def __init__(self, base_url, api_key=None, plan="demo", *, connect_timeout=5.0, read_timeout=30.0,
                 retries=4, backoff=1.0, max_wait=60.0, sleep=time.sleep, session=None):
        self.base_url = base_url.rstrip("/")
        self.timeout = (connect_timeout, read_timeout)
        self.retries = retries
        self.backoff = backoff
        self.max_wait = max_wait
        self.sleep = sleep
        self.requests_sent = 0
        self.session = session or requests.Session()
        self.session.headers["Accept"] = "application/json"
        self.session.headers["User-Agent"] = "liquidity-ingest/0.1 (+requests)"
        if api_key:
            self.session.headers[API_KEY_HEADERS[plan]] = api_key

    def close(self):
        self.session.close()

    def __enter__(self):
        return self

    def __exit__(self, *_):
        self.close()

    def _wait(self, attempt, retry_after=None):
        # Retry-After is the server's own word, so it wins over our backoff; both are capped.
        seconds = retry_after if retry_after is not None else self.backoff * (2 ** attempt)
        self.sleep(min(seconds, self.max_wait))

    def get_json(self, path, params=None):
        """GET base_url/path and return the parsed JSON body, retrying what is worth retrying."""
        url = f"{self.base_url}/{path.lstrip('/')}"
        attempts = self.retries + 1
        for attempt in range(attempts):
            last = attempt == attempts - 1
            self.requests_sent += 1
            try:
                # No redirects: requests would carry the API key header to wherever it points.
                response = self.session.get(url, params=params, timeout=self.timeout, allow_redirects=False)
            except (requests.exceptions.Timeout, requests.exceptions.ConnectionError) as error:
                if last:
                    # ConnectTimeout is both: a server that never answered is reported as a time-out.
                    if isinstance(error, requests.exceptions.Timeout):
                        raise UnreachableError(f"CoinGecko at {self.base_url} did not answer in time "
                                               f"({attempts} attempts); try again later") from None
                    raise UnreachableError(f"cannot reach CoinGecko at {self.base_url} "
                                           f"(offline or wrong base URL; {attempts} attempts)") from None
                self._wait(attempt)
                continue
            except requests.exceptions.RequestException as error:
                raise IngestError(f"request to CoinGecko failed: {_snippet(error)}") from None
            status = response.status_code
            if status == 429:
                if last:
                    raise RateLimitedError(f"CoinGecko kept answering 429 Too Many Requests ({attempts} "
                                           "attempts); wait a minute or set COINGECKO_API_KEY")
                self._wait(attempt, retry_after_seconds(response.headers.get("Retry-After")))
                continue
            if status >= 500:
                if last:
                    raise IngestError(f"CoinGecko answered HTTP {status} ({attempts} attempts); try again later")
                self._wait(attempt)
                continue
            if 300 <= status < 400:
                raise IngestError(f"CoinGecko answered HTTP {status} (a redirect, not followed); check the base URL "
                                  f"{self.base_url}")
            if status in (401, 403):
                raise IngestError(f"CoinGecko refused the request (HTTP {status}): check COINGECKO_API_KEY and "
                                  f"COINGECKO_API_PLAN (a pro key needs the pro base URL)")
            if status >= 400:
                raise IngestError(f"CoinGecko answered HTTP {status}: {_snippet(response.text)}")
            try:
                return response.json()
            except ValueError:
                raise IngestError(f"CoinGecko sent a malformed (non-JSON) body for {path}: "
                                  f"{_snippet(response.text, 60)!r}") from None
        raise AssertionError("unreachable")  # pragma: no cover

    def markets(self, page=1, per_page=PER_PAGE, **filters):
        """Return one page of /coins/markets in USD by market cap, each coin a dict."""
        params = {"vs_currency": "usd", "order": "market_cap_desc", "per_page": per_page, "page": page,
                  "price_change_percentage": "1h,24h,7d", **filters}
        body = self.get_json("coins/markets", params)
        if not isinstance(body, list) or not all(isinstance(item, dict) for item in body):
            raise IngestError(f"CoinGecko sent an unexpected body for coins/markets page {page} "
                              f"(expected a list of coins, got {type(body).__name__})")
        return body


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
    stored = None if database is None else store_snapshot(snapshot, path, database)
    return IngestResult(path=path, snapshot_date=snapshot_date, pages=pages, requests_sent=client.requests_sent,
                        rows_fetched=snapshot.rows_fetched, rows_written=len(snapshot.frame),
                        dropped=snapshot.dropped, stored=stored)


def store_snapshot(snapshot, path, database):
    """Add the snapshot's rows to the market store at database; a failure keeps the CSV and says how to retry."""
    from liquidity.store import MarketStore, StoreError

    try:
        with MarketStore(database) as store:
            return store.add_snapshots(snapshot.clean, source=path.name)
    except StoreError as error:
        raise IngestError(f"wrote {path}, but it is not in the market store: {error}. The CSV is kept; "
                          f"`flask --app app import {path}` adds it later") from None


def _parse_date(_ctx, _param, value):
    if value is None:
        return None
    try:
        return date.fromisoformat(value).isoformat()
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a date like 2024-03-16") from None


@click.command("ingest")
@click.option("--coins", type=click.IntRange(min=1), default=DEFAULT_COINS, show_default=True,
              help="How many coins to fetch, largest market cap first.")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=DEFAULT_OUT,
              show_default="DATASET/", help="Folder for the snapshot CSV.")
@click.option("--base-url", default=None,
              help="CoinGecko API base URL (default: COINGECKO_BASE_URL, else CoinGecko's public or pro API).")
@click.option("--date", "snapshot_date", default=None, callback=_parse_date,
              help="Snapshot date YYYY-MM-DD written into the rows and the file name (default: today, UTC).")
@click.option("--overwrite", is_flag=True, help="Replace an existing snapshot for the same date.")
@click.option("--per-page", type=click.IntRange(1, PER_PAGE), default=PER_PAGE, show_default=True,
              help="Coins per request page.")
@click.option("--timeout", type=click.FloatRange(min=0.1), default=30.0, show_default=True,
              help="Seconds to wait for each response.")
@click.option("--retries", type=click.IntRange(min=0), default=4, show_default=True,
              help="Retries on connection errors, 5xx and 429.")
@click.option("--max-wait", type=click.FloatRange(min=0), default=60.0, show_default=True,
              help="Longest pause in seconds between retries (caps Retry-After and backoff).")
@click.option("--database-url", "database", default=None,
              help="Market store the snapshot also goes into (default: DATABASE_URL, else instance/market.db).")
def ingest_command(coins, out, base_url, snapshot_date, overwrite, per_page, timeout, retries, max_wait, database):
    """Snapshot CoinGecko's top coins into DATASET/coingecko_<date>.csv and the market store."""
    from liquidity.store import StoreError, database_url, parse_database_url

    try:
        env_url, api_key, plan = coingecko_settings()
        # A bad DATABASE_URL stops the command before it spends any API quota.
        database = parse_database_url(database or database_url())
    except (SettingError, StoreError) as error:
        raise click.ClickException(str(error)) from None
    client = CoinGeckoClient(base_url or env_url, api_key, plan, read_timeout=timeout, retries=retries,
                             backoff=min(1.0, max_wait), max_wait=max_wait)
    with client:
        progress = PageProgress(pages=page_count(coins, per_page)[1], coins=coins)
        try:
            result = ingest(out, coins, client=client, snapshot_date=snapshot_date, overwrite=overwrite,
                            progress=progress, per_page=per_page, database=database)
        except (IngestError, OSError) as error:
            progress.finish()
            raise click.ClickException(str(error)) from None
    click.echo(result.summary())


if __name__ == "__main__":
    ingest_command.main(prog_name="python -m liquidity.ingest")
