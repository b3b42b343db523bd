"""What the coin pages and the coin API share: the latest market with its forecasts, the listing's query, a coin's
history with the forecast made on each date, its past forecasts. Results are cached in the worker's MarketWindow,
keyed on the store version it last saw (checked at most every LIQUIDITY_STORE_CHECK_SECONDS), so a request served
from memory asks the database nothing.
"""

from dataclasses import dataclass
from datetime import date as Date
from datetime import timedelta

import numpy as np
import pandas as pd

from liquidity.store import StoreError
from liquidity.web.extensions import StoreUnavailable

PER_PAGE = 50
MAX_PER_PAGE = 500
HISTORY_DAYS = (30, 90, 365)
MAX_DAYS = 3650
# listing sort key -> column of the market table
SORT_COLUMNS = {"coin": "coin", "symbol": "symbol", "score": "score", "forecast": "forecast_score",
                "volume": "volume", "mkt_cap": "mkt_cap", "price": "price"}
TEXT_SORTS = ("coin", "symbol")
MAX_QUERY = 100


def read(call, *args):
    """Run a store read; a store failure is a 503 with the reason, never a 500."""
    try:
        return call(*args)
    except StoreError as error:
        raise StoreUnavailable(f"The market store cannot be read right now: {error}") from None


def market_table(window, model):
    """Return the latest snapshot with each coin's forecast: one row per coin, largest market cap first."""
    version = window.version
    if version[0] is None:
        return pd.DataFrame(columns=["date", "coin_id", "coin", "symbol", "price", "volume", "mkt_cap", "turnover",
                                     "score", "forecast_score", "level", "band_low", "band_high"])

    def compute():
        from liquidity.forecasting import forecast_market

        day = version[0]
        forecasts = forecast_market(window, model, day)
        rows = window.store.snapshot(day)[["coin_id", "coin", "symbol", "price", "volume", "mkt_cap"]]
        table = rows.merge(forecasts[["coin_id", "score", "forecast_score", "level", "band_low", "band_high"]],
                           on="coin_id", how="left", validate="one_to_one")
        table.insert(0, "date", day)
        table["turnover"] = table["volume"] / table["mkt_cap"]
        return table.sort_values("mkt_cap", ascending=False, kind="stable").reset_index(drop=True)

    return window.cache.get(("market", model, version), compute)


def listing_page(window, model, listing):
    """Return (rows of the listing's page, rows matching, pages, date) of market_table, cached per query."""
    version = window.version

    def compute():
        table = market_table(window, model)
        rows, total, pages = select(table, listing)
        return rows, total, pages, (table["date"].iloc[0] if len(table) else None)

    return window.cache.get(("listing", model, version, listing.key()), compute)


def coin_history(window, coin_id, days):
    """Return the coin's stored rows over the `days` days up to the latest stored date, oldest first."""
    version = window.version
    return window.cache.get(("history", version, coin_id, days),
                            lambda: window.store.coin_history(coin_id, version[0], days))


def coin_past(window, coin_id, limit):
    """Return the coin's past logged forecasts as records (newest first, one per date and model version), at most
    LIQUIDITY_STORE_CHECK_SECONDS old: every worker's log writes land in it within that time."""
    from liquidity.store.predictions import coin_log

    return window.cache.get(("past", window.version, coin_id, limit),
                     lambda: tuple(coin_log(window.store, coin_id, limit).itertuples(index=False)),
                     max_age=window.check_every)


@dataclass
class Listing:
    """The listing's query: search text, sort key and direction, page and page size."""

    q: str = ""
    sort: str = "mkt_cap"
    order: str = "desc"
    page: int = 1
    per_page: int = PER_PAGE

    def args(self, **changes):
        """Return the query string of this listing with changes, leaving defaults out."""
        values = {"q": self.q, "sort": self.sort, "order": self.order, "page": self.page, "per_page": self.per_page,
                  **changes}
        defaults = Listing()
        return {name: value for name, value in values.items() if value != getattr(defaults, name)}

    def key(self):
        """Return the listing as a hashable cache key."""
        return (self.q, self.sort, self.order, self.page, self.per_page)


def _whole(raw, name, low, high, errors):
    try:
        value = int(raw)
    except (TypeError, ValueError):
        errors.append((name, f"must be a whole number from {low} to {high}, not {raw!r}"))
        return None
    if not low <= value <= high:
        errors.append((name, f"must be from {low} to {high}, not {value}"))
        return None
    return value


def parse_listing(args):
    """Return (Listing, errors) from query args; each error is (parameter, reason)."""
    listing, errors = Listing(), []
    q = args.get("q", "").strip()
    if len(q) > MAX_QUERY:
        errors.append(("q", f"must be at most {MAX_QUERY} characters"))
    listing.q = q[:MAX_QUERY]
    sort = args.get("sort", listing.sort)
    if sort not in SORT_COLUMNS:
        errors.append(("sort", f"must be one of {', '.join(SORT_COLUMNS)}, not {sort!r}"))
    else:
        listing.sort = sort
    order = args.get("order", "asc" if sort in TEXT_SORTS else "desc")
    if order not in ("asc", "desc"):
        errors.append(("order", f"must be asc or desc, not {order!r}"))
    else:
        listing.order = order
    if "page" in args:
        listing.page = _whole(args["page"], "page", 1, 1_000_000, errors) or 1
    if "per_page" in args:
        listing.per_page = _whole(args["per_page"], "per_page", 1, MAX_PER_PAGE, errors) or PER_PAGE
    return listing, errors


def select(table, listing):
    """Return (the rows of table on the listing's page, rows matching, pages)."""
    rows = table
    if listing.q:
        needle = listing.q.lower()
        match = (table["coin"].str.lower().str.contains(needle, regex=False)
                 | table["symbol"].str.lower().str.contains(needle, regex=False)
                 | table["coin_id"].str.lower().str.contains(needle, regex=False))
        rows = table[match]
    column = SORT_COLUMNS[listing.sort]
    key = (lambda values: values.str.lower()) if listing.sort in TEXT_SORTS else None
    rows = rows.sort_values(column, ascending=listing.order == "asc", kind="stable", key=key, na_position="last")
    total = len(rows)
    pages = max(1, -(-total // listing.per_page))
    start = (listing.page - 1) * listing.per_page
    return rows.iloc[start:start + listing.per_page], total, pages


def parse_days(raw, default=90):
    """Return (days, error): a whole number of days from 1 to MAX_DAYS, or the reason it is not."""
    if raw is None:
        return default, None
    errors = []
    days = _whole(raw, "days", 1, MAX_DAYS, errors)
    return days, (errors[0][1] if errors else None)


def parse_date(raw):
    """Return (date text or None, error)."""
    if raw is None:
        return None, None
    try:
        return Date.fromisoformat(raw).isoformat(), None
    except ValueError:
        return None, f"must be a date like 2024-03-16, not {raw!r}"


def coin_forecast_history(window, model, coin_id, days):
    """Return the coin's rows over the last `days` days, each with the forecast made from it (for the next date).

    Each date's forecast is the one forecast_coin gives for that date: the same history window, the same model.
    """
    version = window.version

    def compute():
        from liquidity.features import LONGEST_LAG

        rows = coin_history(window, coin_id, days + LONGEST_LAG + 1)
        if rows.empty:
            return rows.assign(forecast_score=[], band_low=[], band_high=[], level=[])
        end = Date.fromisoformat(version[0])
        first_shown = (end - timedelta(days=days)).isoformat()
        dates = rows["date"].to_numpy()
        days_of = np.array([Date.fromisoformat(d).toordinal() for d in dates])
        columns = {name: rows[name].to_numpy() for name in ("volume", "mkt_cap", "1h", "price", "liquidity_score")}
        forecast, low, high, level = [], [], [], []
        shown = np.flatnonzero(dates > first_shown)
        for index in shown:
            lagged = (days_of > days_of[index] - (LONGEST_LAG + 1)) & (np.arange(len(dates)) <= index)
            result = model.forecast_history(dates[lagged], columns["volume"][lagged], columns["mkt_cap"][lagged],
                                            columns["1h"][lagged], columns["price"][lagged],
                                            columns["liquidity_score"][lagged])
            forecast.append(result.forecast_score)
            low.append(result.band_low)
            high.append(result.band_high)
            level.append(result.level)
        picked = rows.iloc[shown].reset_index(drop=True)
        return picked.assign(forecast_score=forecast, band_low=low, band_high=high, level=level)

    return window.cache.get(("coin", model, version, coin_id, days), compute)
