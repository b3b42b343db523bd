"""The one read model the pages and the API are served from: every piece of state derived from the market store.

A MarketState holds what one store version gives: the latest snapshot (rows and names), the reference ratios a coin
given by its four inputs is ranked against, the last LONGEST_LAG + 1 days of every coin of that snapshot, the
snapshot's forecasts (the market table, each coin's forecast), the picker's coins; and, computed on first use and
kept for that version only, coin histories, coin forecast histories, past forecasts and the monitor's figures.

The ReadModel keeps the current MarketState and replaces it whole when the store's version changes. With
STORE_CHECK_SECONDS > 0 a thread of the serving process checks the version that often and builds the new state
while the old one keeps serving (gunicorn's post_worker_init builds the first one before the worker takes
requests); with STORE_CHECK_SECONDS = 0 (tests, development) each request checks, and rebuilds if need be, itself.
"""

import logging
import os
import threading
import weakref
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import date as Date
from datetime import timedelta
from types import MappingProxyType

import numpy as np
import pandas as pd

from liquidity.features import LONGEST_LAG
from liquidity.forecasting import (
    EMPTY_STORE,
    CoinForecast,
    CoinNotFound,
    ForecastError,
    coin_inputs,
    forecast_coin,
    sorted_ratios,
)
from liquidity.store import StoreError

log = logging.getLogger("liquidity.web")

PICKER_COINS = 200  # the largest coins offered as suggestions; any stored coin can be typed
# Values a state computes on request (histories, pages, past forecasts) and keeps, least recently used first out.
MEMO_ENTRIES = 256
MARKET_COLUMNS = ["date", "coin_id", "coin", "symbol", "price", "volume", "mkt_cap", "turnover", "score",
                  "forecast_score", "level", "band_low", "band_high"]
# A build runs beside the requests of its process: it reads the store and forecasts in slices this small, so no
# single call holds the interpreter lock for more than a few milliseconds (benchmarks/store_change.py measures it).
BUILD_CHUNK_ROWS = 2_000
BUILD_CHUNK_COINS = 500
# Columns of a coin's window, in the order LiquidityModel.forecast_history takes them.
WINDOW_COLUMNS = ("date", "volume", "mkt_cap", "1h", "price", "liquidity_score")


@dataclass(frozen=True)
class StoreVersion:
    """What a MarketState was built from: the latest snapshot date, the newest snapshot row, the newest log row.

    Rows are only ever added to the store (and every date a write touches is re-ranked), so the newest row id
    changes with any import; the newest log id changes whenever a forecast is logged.
    """

    latest: str | None = None
    newest_row: int | None = None
    newest_log: int | None = None

    @property
    def market(self):
        """Return the part of the version the snapshots decide (a logged forecast leaves it as it is)."""
        return self.latest, self.newest_row

    @property
    def tag(self):
        """Return the version as one short text, fit for an ETag."""
        return f"{self.latest or 'empty'}.{self.newest_row or 0}.{self.newest_log or 0}"


def read_version(store):
    """Return the StoreVersion of store now: three index lookups."""
    from liquidity.store.predictions import newest_log_id

    latest, newest_row = store.latest_signature()
    return StoreVersion(latest, newest_row, newest_log_id(store))


class Memo:
    """Values computed on first use and kept by the state that owns it, least recently used first out."""

    def __init__(self, size=MEMO_ENTRIES):
        self.size = size
        self._lock = threading.Lock()
        self._entries = OrderedDict()

    def get(self, key, compute):
        """Return the value kept under key, computing it when absent."""
        with self._lock:
            if key in self._entries:
                self._entries.move_to_end(key)
                return self._entries[key]
        value = compute()  # outside the lock: two threads may compute one key, neither waits on the other
        with self._lock:
            self._entries[key] = value
            self._entries.move_to_end(key)
            while len(self._entries) > self.size:
                self._entries.popitem(last=False)
        return value


@dataclass(frozen=True)
class CoinWindow:
    """One coin's rows of the window, oldest first, as the arrays forecast_history reads (WINDOW_COLUMNS)."""

    coin: str
    symbol: str
    arrays: tuple


@dataclass(frozen=True, eq=False)
class MarketData:
    """What the snapshots of one store version give, built whole before it serves: shared by the states of that
    version (a logged forecast makes a new state, not new market data)."""

    latest: str | None
    snapshot: pd.DataFrame  # the latest snapshot's rows, by coin_id, as store.snapshot gives them
    coins: MappingProxyType  # coin_id -> CoinWindow, for every coin of the latest snapshot
    ratios: np.ndarray | None  # the latest snapshot's sorted liquidity ratios (read-only)
    picker: tuple  # (coin_id, label) of the largest coins
    table: pd.DataFrame | None  # the market table: every coin's forecast (None without a model)
    memo: Memo = field(default_factory=Memo)  # histories and pages of this version, computed on request

    @classmethod
    def build(cls, store, latest, model):
        """Read the window of the days up to latest from store and forecast every coin of latest with model."""
        frame = cls._window_rows(store, latest)
        snapshot = frame[frame["date"] == latest].reset_index(drop=True)
        ratios = sorted_ratios(snapshot["volume"], snapshot["mkt_cap"])
        if ratios is not None:
            ratios.setflags(write=False)
        largest = snapshot.sort_values("mkt_cap", ascending=False).head(PICKER_COINS)
        # The expensive part (every coin of the latest snapshot forecast) is done here, off the request's path.
        return cls(latest=latest, snapshot=snapshot, coins=MappingProxyType(cls._coin_windows(frame, latest)),
                   ratios=ratios,
                   picker=tuple((row.coin_id, f"{row.coin} ({row.symbol})") for row in largest.itertuples()),
                   table=cls._market_table(frame, snapshot, latest, model) if model is not None else None)

    @staticmethod
    def _window_rows(store, latest):
        if latest is None:
            from liquidity.store.store import _rows_to_frame

            return _rows_to_frame([])
        return store.history(start=Date.fromisoformat(latest) - timedelta(days=LONGEST_LAG), end=latest,
                             chunk_rows=BUILD_CHUNK_ROWS)

    @staticmethod
    def _coin_windows(frame, latest):
        columns = [frame[name].to_numpy() for name in WINDOW_COLUMNS]
        names, symbols, dates = frame["coin"].to_numpy(), frame["symbol"].to_numpy(), columns[0]
        coins = {}
        for coin_id, rows in frame.groupby("coin_id", sort=False).indices.items():
            if dates[rows[-1]] == latest:  # history() orders by date, so a coin's rows are oldest first
                coins[coin_id] = CoinWindow(names[rows[-1]], symbols[rows[-1]],
                                            tuple(column[rows] for column in columns))
        return coins

    @staticmethod
    def _market_table(frame, snapshot, latest, model):
        """Return the latest snapshot with each coin's forecast: one row per coin, largest market cap first."""
        if latest is None:
            return pd.DataFrame(columns=MARKET_COLUMNS)
        # A coin's forecast reads its own rows only: forecasting the coins a slice at a time gives the same numbers,
        # and no single call holds the interpreter lock long enough to stall a request.
        slice_of = pd.factorize(frame["coin_id"])[0] // BUILD_CHUNK_COINS
        forecasts = pd.concat([model.forecast_snapshots(frame[slice_of == number], dates=[latest])
                               for number in range(slice_of.max() + 1)], ignore_index=True)
        rows = snapshot[["coin_id", "coin", "symbol", "price", "volume", "mkt_cap"]]
        table = rows.merge(forecasts[["coin_id", "score", "forecast_score", "level", "band_low", "band_high"]],
                           on="coin_id", how="left", validate="one_to_one")
        table.insert(0, "date", latest)
        table["turnover"] = table["volume"] / table["mkt_cap"]
        return table.sort_values("mkt_cap", ascending=False, kind="stable").reset_index(drop=True)


@dataclass(frozen=True, eq=False)
class MarketState:
    """Everything the views read from the store, for one StoreVersion; never changed once built.

    Values computed on request are kept in a Memo (a lock-protected dict) the state or its market data owns, so
    they go when the state is replaced.
    """

    version: StoreVersion
    market: MarketData
    store: object  # this process's MarketStore, for what is read on request (other dates, the log)
    model: object  # the app's LiquidityModel, or None when it did not load
    memo: Memo = field(default_factory=Memo)  # past forecasts and monitor figures: they follow the log

    @property
    def latest(self):
        """Return the latest stored date ('YYYY-MM-DD'), or None for an empty store."""
        return self.version.latest

    def reference_ratios(self):
        """Return the ratios a coin given by its four inputs is ranked against (None: the model card's)."""
        return self.market.ratios

    def picker_coins(self):
        """Return (coin_id, label) of the largest coins of the latest snapshot."""
        return list(self.market.picker)

    def resolve_coin(self, text):
        """Return the coin_id text names (an id, else a symbol or a name, largest market cap first), or None."""
        rows = self.market.snapshot
        if rows.empty:
            return None
        needle = text.strip().lower()
        for column in ("coin_id", "symbol", "coin"):
            found = rows[rows[column].str.lower() == needle]
            if len(found):
                return found.sort_values("mkt_cap", ascending=False)["coin_id"].iloc[0]
        return None

    def latest_row(self, coin_id):
        """Return the coin's row on the latest date: date, volume, mkt_cap, 1h, price; None when it has none."""
        window = self.market.coins.get(coin_id)
        if window is None:
            return None
        day, volume, mkt_cap, h1, price, _ = (column[-1] for column in window.arrays)
        return {"date": day, "volume": float(volume), "mkt_cap": float(mkt_cap), "1h": float(h1),
                "price": float(price)}

    def market_table(self):
        """Return the latest snapshot with each coin's forecast, largest market cap first (a copy to change)."""
        return self._table().copy()

    def _table(self):
        if self.market.table is None:
            raise ForecastError("no model is loaded to forecast the market with")
        return self.market.table

    def market_page(self, listing):
        """Return (rows of the listing's page, rows matching, pages, date) of the market table."""
        from liquidity.web.market import select

        def compute():
            table = self._table()
            rows, total, pages = select(table, listing)
            return rows, total, pages, (table["date"].iloc[0] if len(table) else None)

        return self.market.memo.get(("listing", listing.key()), compute)

    def coin_forecast(self, coin_id, date=None):
        """Return the coin's CoinForecast from its row on date (default: the latest) and its own past.

        The latest date's come from the window in memory, each coin computed once; other dates from the store.
        Raises ForecastError (an empty store) or CoinNotFound.
        """
        if self.latest is None:
            raise ForecastError(EMPTY_STORE)
        if date is not None and str(date) != self.latest:
            return forecast_coin(self.store, self.model, coin_id, date)
        return self.market.memo.get(("forecast", coin_id), lambda: self._latest_forecast(coin_id))

    def _latest_forecast(self, coin_id):
        window = self.market.coins.get(coin_id)
        if window is None:
            raise CoinNotFound(f"no stored snapshot of coin {coin_id!r} on {self.latest}")
        result = self.model.forecast_history(*window.arrays)
        _, volume, mkt_cap, h1, price, _ = (column[-1] for column in window.arrays)
        return CoinForecast(coin_id=coin_id, coin=window.coin, symbol=window.symbol, date=self.latest,
                            score=result.score, forecast_score=result.forecast_score, level=result.level,
                            band_low=result.band_low, band_high=result.band_high,
                            **coin_inputs(volume, mkt_cap, h1, price))

    def coin_history(self, coin_id, days):
        """Return the coin's stored rows over the `days` days up to the latest stored date, oldest first."""
        return self.market.memo.get(("history", coin_id, days),
                                    lambda: self.store.coin_history(coin_id, self.latest, days))

    def coin_forecast_history(self, coin_id, days):
        """Return the coin's rows over the last `days` days, each with the forecast made from it (for the next date).

        Each date's forecast is the one forecast_coin gives for that date: the same history window, the same model.
        """
        return self.market.memo.get(("forecast history", coin_id, days),
                                    lambda: self._forecast_history(coin_id, days))

    def _forecast_history(self, coin_id, days):
        rows = self.coin_history(coin_id, days + LONGEST_LAG + 1)
        if rows.empty:
            return rows.assign(forecast_score=[], band_low=[], band_high=[], level=[])
        first_shown = (Date.fromisoformat(self.latest) - timedelta(days=days)).isoformat()
        dates = rows["date"].to_numpy()
        days_of = np.array([Date.fromisoformat(d).toordinal() for d in dates])
        columns = {name: rows[name].to_numpy() for name in ("volume", "mkt_cap", "1h", "price", "liquidity_score")}
        forecast, low, high, level = [], [], [], []
        shown = np.flatnonzero(dates > first_shown)
        for index in shown:
            lagged = (days_of > days_of[index] - (LONGEST_LAG + 1)) & (np.arange(len(dates)) <= index)
            result = self.model.forecast_history(dates[lagged], columns["volume"][lagged],
                                                 columns["mkt_cap"][lagged], columns["1h"][lagged],
                                                 columns["price"][lagged], columns["liquidity_score"][lagged])
            forecast.append(result.forecast_score)
            low.append(result.band_low)
            high.append(result.band_high)
            level.append(result.level)
        picked = rows.iloc[shown].reset_index(drop=True)
        return picked.assign(forecast_score=forecast, band_low=low, band_high=high, level=level)

    def rendered(self, key, render):
        """Return render() kept with this version's market data under key: a view's rendering of that data (an
        encoded JSON body, say) made once per version; render must read nothing but this state's market data."""
        return self.market.memo.get(("rendered", *key), render)

    def past_forecasts(self, coin_id, limit):
        """Return the coin's past logged forecasts as records, newest first, one per date and model version."""
        from liquidity.store.predictions import coin_log

        return self.memo.get(("past", coin_id, limit),
                             lambda: tuple(coin_log(self.store, coin_id, limit).itertuples(index=False)))

    def monitor(self):
        """Return the monitor's figures: log counts, realized accuracy and input drift by week."""
        from liquidity.monitoring import monitor_figures

        # Keyed by the day as well: the drift's "recent days" move with the calendar, not only with the log.
        return self.memo.get(("monitor", Date.today()), lambda: monitor_figures(self.store, self.model))


class ReadModel:
    """The current MarketState of one app in this process, replaced whole when the store's version changes."""

    def __init__(self, store, model, check_seconds):
        self.store = store  # a ProcessStore: the MarketStore is opened in the process that serves
        self.model = model
        self.check_seconds = check_seconds
        self._reset()
        # A forked worker starts with no state, no thread and fresh locks: the parent's are not this process's.
        weak = weakref.ref(self)
        os.register_at_fork(after_in_child=lambda: weak() and weak()._reset())

    def _reset(self):
        self.state = None
        self.build_lock = threading.Lock()  # one build at a time; readers never take it
        self.thread_lock = threading.Lock()
        self.thread = None
        self.stopped = threading.Event()

    @property
    def version(self):
        """Return the StoreVersion now served."""
        return self.current().version

    def current(self):
        """Return the MarketState to serve from; raise StoreError when there is none and the store cannot be read.

        With check_seconds = 0 this checks the store and rebuilds first; else it returns the state the refresher
        keeps (building the first one now if post_worker_init has not).
        """
        if self.check_seconds <= 0:
            return self.refresh()
        state = self.state
        if state is not None and self._refreshing():
            return state
        return self.start()

    def start(self):
        """Build the first state unless there is one, and start this process's refresher; return the state."""
        with self.build_lock:
            if self.state is None:
                store = self.store.open()
                self.state = self._build(store, read_version(store), None)
            state = self.state
        if self.check_seconds > 0:
            self._start_refresher()
        return state

    def refresh(self):
        """Check the store's version, and if it changed build the new state and swap it in; return the state."""
        with self.build_lock:
            store = self.store.open()
            version = read_version(store)
            old = self.state
            if old is None or version != old.version:
                self.state = self._build(store, version, old)  # one assignment: a reader sees old or new, whole
            return self.state

    def _build(self, store, version, old):
        if old is not None and old.version.market == version.market and old.store is store:
            market = old.market  # only the log moved: the snapshots' data and forecasts stand
        else:
            market = MarketData.build(store, version.latest, self.model)
        return MarketState(version, market, store, self.model)

    def reference_ratios(self):
        """Return the latest snapshot's sorted ratios, or None (the model card's reference) while the store is
        empty or cannot be read: a coin given by its four inputs is still scored."""
        try:
            return self.current().reference_ratios()
        except StoreError as error:
            log.warning("ranking against the model card's reference snapshot: %s", error)
            return None

    def stop(self):
        """Stop this process's refresher (it ends at its next wake-up)."""
        self.stopped.set()

    def _refreshing(self):
        return self.thread is not None and self.thread.is_alive()

    def _start_refresher(self):
        with self.thread_lock:
            if self._refreshing() or self.stopped.is_set():
                return
            # The thread holds the model weakly: an app that is dropped (tests make many) takes its thread along.
            self.thread = threading.Thread(target=_refresh_every, args=(weakref.ref(self), self.check_seconds,
                                                                        self.stopped),
                                           name="read-model-refresher", daemon=True)
            self.thread.start()

    def _refresh_quietly(self):
        try:
            state = self.state
            gone = state is not None and self.store.changed(state.store)
            if gone:  # serve the file now at the path, not the deleted one this state still reads
                log.error("read model: %s; reopening the store at its path", gone)
                self.store.reopen(state.store, gone)
            self.refresh()
        except StoreError as error:
            served = self.state.version.tag if self.state is not None else "nothing"
            log.warning("read model not refreshed, still serving %s: %s", served, error)
            self.store.reset()  # connect afresh next time: the server or the file may be back by then
        except Exception:  # the refresher must outlive any one failed build
            log.exception("read model not refreshed")


def _refresh_every(weak, seconds, stopped):
    """Refresh the read model weak points at every `seconds` until it is stopped or dropped."""
    while not stopped.wait(seconds):
        read_model = weak()
        if read_model is None:
            return
        read_model._refresh_quietly()
        del read_model
