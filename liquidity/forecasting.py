"""Forecasts from the market store: one coin from its own history, a whole snapshot, a range of dates.

The store holds each row's liquidity score (its rank within its date), so a coin's history is read, not
re-ranked; the model computes the features from those rows with the same function training used.
"""

import logging
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import date as Date
from datetime import timedelta

import numpy as np
import pandas as pd

from liquidity.features import LONGEST_LAG

log = logging.getLogger(__name__)

FORECAST_COLUMNS = ("date", "coin_id", "symbol", "score", "forecast_score", "level", "band_low", "band_high")
# Values a MarketWindow's cache keeps (pages, answers, histories), least recently used first out.
CACHE_ENTRIES = 256
# Dates forecast per pass over a range: bounds the per-tree matrix of the band (rows x trees) in memory.
DATES_PER_PASS = 30


class ForecastError(LookupError):
    """A forecast the store cannot support (no such coin or date, an empty store), said in one line."""


class CoinNotFound(ForecastError):
    """The coin has no stored row on the date asked for."""


@dataclass(frozen=True)
class CoinForecast:
    """One coin's forecast for the snapshot after `date`, from its row on `date` and its own past."""

    coin_id: str
    coin: str
    symbol: str
    date: str
    score: float  # today's liquidity score, its rank within its own snapshot
    forecast_score: float  # the next snapshot's, forecast
    level: str
    band_low: float
    band_high: float
    # The coin's row on `date`, so a caller that logs or shows the inputs need not read the store again.
    volume: float = float("nan")
    mkt_cap: float = float("nan")
    h1: float | None = None  # None where the source has no 1h change
    price: float = float("nan")


def _inputs(volume, mkt_cap, h1, price):
    """Return the CoinForecast input fields of one stored row (a missing 1h as None, so forecasts compare equal)."""
    return {"volume": float(volume), "mkt_cap": float(mkt_cap), "h1": None if h1 != h1 else float(h1),
            "price": float(price)}


def _day(value):
    return value if isinstance(value, Date) else Date.fromisoformat(str(value))


EMPTY_STORE = "the market store is empty: import snapshots first (python -m liquidity import DATASET)"


def _latest(store):
    latest = store.latest_date()
    if latest is None:
        raise ForecastError(EMPTY_STORE)
    return latest


def forecast_coin(store, model, coin_id, date=None):
    """Forecast coin_id's next-snapshot score from its row on date (default: the latest stored date) and its past.

    store: a MarketStore, or a MarketWindow that answers the latest date from memory.
    """
    if isinstance(store, MarketWindow):
        return store.forecast_coin(model, coin_id, date)
    day = str(date) if date is not None else _latest(store)
    rows = store.coin_history(coin_id, end=day, days=LONGEST_LAG + 1)
    if rows.empty or rows["date"].iloc[-1] != day:
        raise CoinNotFound(f"no stored snapshot of coin {coin_id!r} on {day}")
    result = model.forecast_history(rows["date"].to_numpy(), rows["volume"].to_numpy(), rows["mkt_cap"].to_numpy(),
                                    rows["1h"].to_numpy(), rows["price"].to_numpy(),
                                    rows["liquidity_score"].to_numpy())
    last = rows.iloc[-1]
    return CoinForecast(coin_id=coin_id, coin=last["coin"], symbol=last["symbol"], date=day, score=result.score,
                        forecast_score=result.forecast_score, level=result.level, band_low=result.band_low,
                        band_high=result.band_high,
                        **_inputs(last["volume"], last["mkt_cap"], last["1h"], last["price"]))


def forecast_dates(store, model, dates):
    """Return one forecast row per coin per stored date in dates (FORECAST_COLUMNS plus coin), oldest first."""
    dates = sorted({str(day) for day in dates})
    parts = []
    for begin in range(0, len(dates), DATES_PER_PASS):
        chosen = dates[begin:begin + DATES_PER_PASS]
        # Each pass reads its dates plus the LONGEST_LAG days before them, so every history feature is present.
        history = store.history(start=_day(chosen[0]) - timedelta(days=LONGEST_LAG), end=chosen[-1])
        forecasts = model.forecast_snapshots(history, dates=chosen)
        names = history.loc[history["date"].isin(chosen), ["date", "coin_id", "coin"]]
        parts.append(forecasts.merge(names, on=["date", "coin_id"], how="left", validate="one_to_one"))
    if not parts:
        return pd.DataFrame(columns=[*FORECAST_COLUMNS, "coin"])
    return pd.concat(parts, ignore_index=True)


def forecast_market(store, model, date=None):
    """Forecast every coin of the snapshot on date (default: the latest stored one) from its own history.

    store: a MarketStore, or a MarketWindow that keeps the latest snapshot's forecasts in memory.
    """
    if isinstance(store, MarketWindow):
        return store.forecast_market(model, date)
    day = str(date) if date is not None else _latest(store)
    forecasts = forecast_dates(store, model, [day])
    if forecasts.empty:
        raise ForecastError(f"no stored snapshot on {day}")
    return forecasts


def stored_dates(store, start, end):
    """Return the stored snapshot dates from start to end inclusive, as 'YYYY-MM-DD'."""
    return [day for day in store.dates() if str(start) <= day <= str(end)]


def latest_ratios(store):
    """Return the sorted liquidity ratios of the store's latest snapshot, or None for an empty store."""
    latest = store.latest_date()
    if latest is None:
        return None
    snapshot = store.snapshot(latest)
    return _sorted_ratios(snapshot["volume"], snapshot["mkt_cap"])


def _sorted_ratios(volume, mkt_cap):
    """Return the sorted finite volume / mkt_cap ratios of a snapshot's rows, or None when it has none."""
    if not len(volume):
        return None
    ratios = np.asarray(volume, dtype=np.float64) / np.asarray(mkt_cap, dtype=np.float64)
    return np.sort(ratios[np.isfinite(ratios)])


class LatestReference:
    """The latest stored snapshot's sorted ratios, re-read at most every max_age seconds, that a coin given by its
    four inputs is ranked against; None (the model card's reference) while the store is empty or unreadable."""

    def __init__(self, url, max_age=60.0):
        self.url = url  # a URL, or a callable returning one (read when the store is first opened)
        self.max_age = max_age
        self._lock = threading.Lock()
        self._read_at = None
        self._ratios = None

    def ratios(self):
        """Return the sorted ratios, or None to rank against the model card's reference snapshot."""
        now = time.monotonic()
        if self._read_at is not None and now - self._read_at < self.max_age:
            return self._ratios
        with self._lock:
            if self._read_at is None or now - self._read_at >= self.max_age:
                self._ratios = self._read()
                self._read_at = time.monotonic()
        return self._ratios

    def _read(self):
        from liquidity.store import MarketStore, StoreError, parse_database_url
        from liquidity.store.store import sqlite_file

        url = self.url() if callable(self.url) else self.url
        try:
            path = sqlite_file(parse_database_url(url))
            if path is not None and not path.exists():
                return None  # no store yet: opening one would create an empty database as a side effect
            with MarketStore(url) as store:
                return latest_ratios(store)
        except StoreError as error:
            log.warning("ranking against the model card's reference snapshot: %s", error)
            return None


class LookupCache:
    """A small LRU of computed values, keyed by what they depend on (the store's version, the model, the query)."""

    def __init__(self, size=CACHE_ENTRIES):
        self.size = size
        self.lock = threading.Lock()
        self.entries = OrderedDict()

    def get(self, key, compute, max_age=None):
        """Return the value cached for key, computing it when absent or (with max_age) older than max_age seconds."""
        with self.lock:
            entry = self.entries.get(key)
            if entry is not None and (max_age is None or time.monotonic() - entry[1] < max_age):
                self.entries.move_to_end(key)
                return entry[0]
        made_at = time.monotonic()
        value = compute()  # outside the lock: two threads may compute one key, neither waits on the other
        with self.lock:
            self.entries[key] = (value, made_at)
            self.entries.move_to_end(key)
            while len(self.entries) > self.size:
                self.entries.popitem(last=False)
        return value


@dataclass(frozen=True)
class _CoinRows:
    """One coin's rows of the window, oldest first, as the arrays forecast_history reads."""

    coin: str
    symbol: str
    arrays: tuple  # dates, volume, mkt_cap, 1h, price, liquidity_score


@dataclass(frozen=True)
class _WindowState:
    """What the window holds for one store version; replaced whole, so a reader never mixes two versions."""

    signature: tuple = (None, None)  # (latest date, newest row id)
    coins: dict = field(default_factory=dict)  # coin_id -> _CoinRows
    ratios: object = None  # the latest snapshot's sorted liquidity ratios
    market: dict = field(default_factory=dict)  # model -> forecasts of the latest snapshot, filled on first use
    forecasts: dict = field(default_factory=dict)  # (model, coin_id) -> CoinForecast, filled on first use

    @property
    def latest(self):
        return self.signature[0]


class MarketWindow:
    """The store's last LONGEST_LAG + 1 days in memory, and the latest snapshot's forecasts once computed.

    Pages and the API ask for forecasts of the latest snapshot all day, while the store changes about once
    a day: the window re-checks the store's latest date and newest row at most every check_every seconds
    and reloads only when they changed. Other dates go to the store.
    """

    def __init__(self, store, check_every=5.0):
        self.store = store
        self.check_every = check_every
        self._lock = threading.Lock()
        self._checked_at = None
        self._state = _WindowState()
        # What callers compute from this store: their keys carry the version they were computed at.
        self.cache = LookupCache()

    @property
    def version(self):
        """Return (latest date, newest row id) as last checked: what a cache built from the store is keyed on."""
        return self._current().signature

    @property
    def latest(self):
        """Return the latest stored date ('YYYY-MM-DD'), or None for an empty store."""
        return self._current().latest

    def latest_date(self):
        """Return the latest stored date, as MarketStore.latest_date does."""
        return self.latest

    def latest_ratios(self):
        """Return the latest snapshot's sorted ratios, as latest_ratios(store) does, from memory."""
        return self._current().ratios

    def _current(self):
        """Return the state of the store's current version, checking the store at most every check_every seconds."""
        now = time.monotonic()
        if self._checked_at is not None and now - self._checked_at < self.check_every:
            return self._state
        with self._lock:
            if self._checked_at is None or now - self._checked_at >= self.check_every:
                signature = self.store.latest_signature()
                if signature != self._state.signature:
                    coins = self._load(signature[0])
                    ratios = _sorted_ratios([rows.arrays[1][-1] for rows in coins.values()],
                                            [rows.arrays[2][-1] for rows in coins.values()])
                    self._state = _WindowState(signature, coins, ratios)
                self._checked_at = time.monotonic()
            return self._state

    def _load(self, latest):
        if latest is None:
            return {}
        frame = self.store.history(start=_day(latest) - timedelta(days=LONGEST_LAG), end=latest)
        columns = [frame[name].to_numpy() for name in ("date", "volume", "mkt_cap", "1h", "price", "liquidity_score")]
        names, symbols, dates = frame["coin"].to_numpy(), frame["symbol"].to_numpy(), columns[0]
        coins = {}
        for coin_id, rows in frame.groupby("coin_id", sort=False).indices.items():
            if dates[rows[-1]] == latest:  # history() orders by date, so a coin's rows are oldest first
                coins[coin_id] = _CoinRows(names[rows[-1]], symbols[rows[-1]],
                                           tuple(column[rows] for column in columns))
        return coins

    def forecast_coin(self, model, coin_id, date=None):
        """Forecast one coin as forecast_coin does; the latest date from memory, each coin computed once."""
        state = self._current()
        if state.latest is None:
            raise ForecastError(EMPTY_STORE)
        if date is not None and str(date) != state.latest:
            return forecast_coin(self.store, model, coin_id, date)
        # Keyed by the model object itself: two apps on one version may differ in threshold, hence in level.
        known = state.forecasts.get((model, coin_id))
        if known is not None:
            return known
        rows = state.coins.get(coin_id)
        if rows is None:
            raise CoinNotFound(f"no stored snapshot of coin {coin_id!r} on {state.latest}")
        result = model.forecast_history(*rows.arrays)
        _, volume, mkt_cap, h1, price, _ = (column[-1] for column in rows.arrays)
        forecast = CoinForecast(coin_id=coin_id, coin=rows.coin, symbol=rows.symbol, date=state.latest,
                                score=result.score, forecast_score=result.forecast_score, level=result.level,
                                band_low=result.band_low, band_high=result.band_high,
                                **_inputs(volume, mkt_cap, h1, price))
        state.forecasts[(model, coin_id)] = forecast  # bounded: one per coin of the latest snapshot and model
        return forecast

    def forecast_market(self, model, date=None):
        """Forecast every coin of a snapshot as forecast_market does; the latest one computed once per model."""
        state = self._current()
        if date is not None and str(date) != state.latest:
            return forecast_market(self.store, model, date)
        forecasts = state.market.get(model)
        if forecasts is None:
            forecasts = forecast_market(self.store, model, state.latest)
            state.market[model] = forecasts
        return forecasts.copy()  # the caller may sort or add columns; the cached frame stays as computed
