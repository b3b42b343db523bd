"""The one read model the pages and the API are served from: every piece of state derived from the market store.

A MarketState holds what one store version gives: the latest snapshot (rows and names), the reference ratios a coin
given by its four inputs is ranked against, the last LONGEST_LAG + 1 days of every coin of that snapshot, the
snapshot's forecasts at every horizon of the model with their 80 % and 90 % intervals (the market table, each coin's
forecast), the calibration those intervals are drawn with (the newest the store keeps for the model, else the model
card's), the picker's coins; and, computed on first use and kept for that version only, coin histories, coin forecast
histories, past forecasts and the monitor's figures.

The ReadModel keeps the current MarketState and replaces it whole when the store's version changes. With
STORE_CHECK_SECONDS > 0 a thread of the serving process checks the version that often and builds the new state
while the old one keeps serving (gunicorn's post_worker_init builds the first one before the worker takes
requests); with STORE_CHECK_SECONDS = 0 (tests, development) each request checks, and rebuilds if need be, itself.
"""

import logging
import os
import threading
import time
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
    sorted_ratios,
)
from liquidity.store import StoreError

log = logging.getLogger("liquidity.web")

PICKER_COINS = 200  # the largest coins offered as suggestions; any stored coin can be typed
# Values a state computes on request (histories, pages, past forecasts) and keeps, least recently used first out.
MEMO_ENTRIES = 256
MARKET_COLUMNS = ["date", "coin_id", "coin", "symbol", "price", "volume", "mkt_cap", "turnover", "score",
                  "forecast_score", "level", "band_low", "band_high"]
# Fields of one horizon's forecast in the market table (forecast_score_7d, level_7d, low80_7d, ...) and on a page.
HORIZON_FIELDS = ("forecast_score", "level", "low80", "high80", "low90", "high90")
# A build runs beside the requests of its process: it reads the store and forecasts in slices this small, so no
# single call holds the interpreter lock for more than a few milliseconds (benchmarks/store_change.py measures it).
BUILD_CHUNK_ROWS = 2_000
BUILD_CHUNK_COINS = 500
# Columns of a coin's window, in the order LiquidityModel.forecast_history takes them.
WINDOW_COLUMNS = ("date", "volume", "mkt_cap", "1h", "price", "liquidity_score")


@dataclass(frozen=True)
class StoreVersion:
    """What a MarketState was built from: the latest snapshot date, the newest snapshot row, the newest log row,
    the newest calibration of the intervals, the newest backtest run.

    Rows are only ever added to the store (and every date a write touches is re-ranked), so the newest row id
    changes with any import; the newest log id changes whenever a forecast is logged; the newest calibration id
    whenever `daily` recalibrates the intervals.
    """

    latest: str | None = None
    newest_row: int | None = None
    newest_log: int | None = None
    newest_calibration: int | None = None
    newest_backtest: str | None = None  # when the newest backtest ran: a run from /monitor writes nothing else

    @property
    def market(self):
        """Return the part of the version the snapshots and the intervals' calibration decide (a logged forecast
        leaves it as it is)."""
        return self.latest, self.newest_row, self.newest_calibration

    @property
    def tag(self):
        """Return the version as one short text, fit for an ETag."""
        return (f"{self.latest or 'empty'}.{self.newest_row or 0}.{self.newest_log or 0}"
                f".{self.newest_calibration or 0}")


def read_version(store):
    """Return the StoreVersion of store now: five index lookups in one statement."""
    return StoreVersion(*store.version_marks())


@dataclass(frozen=True)
class Calibration:
    """The conformal tables the intervals are drawn with: the newest the store keeps for the model's version (the
    `daily` command's), else the model card's."""

    tables: MappingProxyType  # {horizon: table}, as LiquidityModel.forecast_snapshots takes calibration=
    prepared: MappingProxyType  # {horizon: conformal.Intervals}, for one coin's forecast in microseconds
    calibrated_on: str | None  # the date whose known outcomes it was computed from; None: the model card's
    calibration_id: int | None = None

    @property
    def source(self):
        """Return where the tables come from, in words."""
        return f"recalibrated on {self.calibrated_on}" if self.calibration_id is not None else "the model card"


def read_calibration(store, model, on_or_before=None):
    """Return the Calibration model's intervals are drawn with from the store (as of on_or_before, default now)."""
    from liquidity.store.calibrations import latest_calibration

    stored = latest_calibration(store, model.version, on_or_before) if store is not None else None
    if stored is None:
        tables, calibrated_on, calibration_id = model.calibration, None, None
    else:
        tables, calibrated_on, calibration_id = stored["tables"], stored["calibrated_on"], stored["id"]
    tables = {int(horizon): table for horizon, table in tables.items()}
    return Calibration(MappingProxyType(tables), MappingProxyType(model.prepared_intervals(tables)), calibrated_on,
                       calibration_id)


@dataclass(frozen=True)
class Freshness:
    """How old the latest stored snapshot is on a given day."""

    latest: str  # the latest snapshot's date, 'YYYY-MM-DD'
    today: Date

    @property
    def age_days(self):
        """Return the whole days from the latest snapshot to today (0: today's; never negative)."""
        return max(0, (self.today - Date.fromisoformat(self.latest)).days)


@dataclass(frozen=True)
class HorizonOutlook:
    """One horizon's forecast of a coin: the date it is for, the score, its level and its 80 % and 90 % intervals."""

    horizon: int  # calendar days ahead
    target_date: str
    forecast_score: float
    level: str
    low80: float
    high80: float
    low90: float
    high90: float


@dataclass(frozen=True)
class CoinHorizonsForecast(CoinForecast):
    """A CoinForecast (its fields are the 1-day forecast, band_low/band_high its 80 % interval) with every horizon
    of the model: HorizonOutlook per horizon, shortest first."""

    horizons: tuple = ()

    def horizon(self, days):
        """Return the HorizonOutlook `days` ahead; raise KeyError when the model has no such horizon."""
        for outlook in self.horizons:
            if outlook.horizon == days:
                return outlook
        raise KeyError(days)

    def next_day(self):
        """Return the plain 1-day CoinForecast (what liquidity.forecasting.forecast_coin gives)."""
        names = [name for name in CoinForecast.__dataclass_fields__]
        return CoinForecast(**{name: getattr(self, name) for name in names})


def horizons_forecast(model, prepared, coin_id, coin, symbol, arrays):
    """Return the CoinHorizonsForecast of one coin from its rows (WINDOW_COLUMNS arrays, the last one the day
    forecast from) with the prepared intervals."""
    result = model.forecast_history_horizons(*arrays, calibration=prepared)
    day, volume, mkt_cap, h1, price, _ = (column[-1] for column in arrays)
    day = str(day)
    start = Date.fromisoformat(day)
    outlooks = tuple(HorizonOutlook(h.horizon, (start + timedelta(days=h.horizon)).isoformat(), h.forecast_score,
                                    h.level, h.low80, h.high80, h.low90, h.high90) for h in result.horizons)
    first = outlooks[0]  # the model's shortest horizon is the next day (a 1-day forecast is always there)
    return CoinHorizonsForecast(coin_id=coin_id, coin=coin, symbol=symbol, date=day, score=result.score,
                                forecast_score=first.forecast_score, level=first.level, band_low=first.low80,
                                band_high=first.high80, **coin_inputs(volume, mkt_cap, h1, price), horizons=outlooks)


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
class CoinLookup:
    """The latest snapshot's coin ids, and its coins by lower-cased symbol, name, and name and symbol (ids largest
    market cap first), for naming coins row by row without a scan of the snapshot each time."""

    ids: frozenset
    by_id: MappingProxyType  # lower-cased id: the ids (one, unless two differ only in case)
    by_symbol: MappingProxyType
    by_name: MappingProxyType
    by_name_symbol: MappingProxyType

    @classmethod
    def of(cls, snapshot):
        """Return the lookup of a snapshot's rows (coin_id, coin, symbol, mkt_cap)."""
        by_id, by_symbol, by_name, by_name_symbol = {}, {}, {}, {}
        for row in snapshot.sort_values("mkt_cap", ascending=False, kind="stable").itertuples():
            name, symbol = str(row.coin).lower(), str(row.symbol).lower()
            by_id.setdefault(str(row.coin_id).lower(), []).append(row.coin_id)
            by_symbol.setdefault(symbol, []).append(row.coin_id)
            by_name.setdefault(name, []).append(row.coin_id)
            by_name_symbol.setdefault((name, symbol), row.coin_id)
        frozen = [MappingProxyType({k: tuple(v) for k, v in found.items()}) for found in (by_id, by_symbol, by_name)]
        return cls(frozenset(snapshot["coin_id"]), *frozen, MappingProxyType(by_name_symbol))

    def matches(self, text):
        """Return the coin_ids text names, case-insensitive, largest market cap first: the coins whose id is text,
        else whose symbol is, else whose name is; () when none."""
        needle = text.strip().lower()
        return self.by_id.get(needle) or self.by_symbol.get(needle) or self.by_name.get(needle) or ()

    def find(self, coin_id="", symbol="", name=""):
        """Return the coin_id a row names: its coin_id as given, else the coin of its name and symbol, its symbol or
        its name (the largest market cap where several share it); None when it names none of the latest snapshot."""
        if coin_id:
            return coin_id
        symbol, name = symbol.strip().lower(), name.strip().lower()
        if symbol and name and (name, symbol) in self.by_name_symbol:
            return self.by_name_symbol[(name, symbol)]
        found = self.by_symbol.get(symbol) if symbol else self.by_name.get(name) if name else None
        return found[0] if found else None


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
    table: pd.DataFrame | None  # the market table: every coin's forecast at every horizon (None without a model)
    calibration: Calibration | None = None  # what the intervals are drawn with (None without a model)
    memo: Memo = field(default_factory=Memo)  # histories and pages of this version, computed on request
    # The backtest's figures, per backtest run: seconds to compute, and they follow the snapshots (an import scores
    # the backtest's forecasts) and the runs, not the live log; kept apart so pages cannot push them out.
    backtests: Memo = field(default_factory=lambda: Memo(size=4))
    built_at: float = field(default_factory=time.time)  # when this process built it: the answers' Last-Modified

    @classmethod
    def build(cls, store, latest, model):
        """Read the window of the days up to latest from store and forecast every coin of latest with model, at
        every horizon, with the newest calibration of the intervals the store keeps (else the model card's)."""
        calibration = read_calibration(store, model) if model is not None else None
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
                   table=cls._market_table(frame, snapshot, latest, model, calibration) if model is not None else None,
                   calibration=calibration)

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
    def _market_table(frame, snapshot, latest, model, calibration):
        """Return the latest snapshot with each coin's forecast: one row per coin, largest market cap first; today's
        level (level_today), the 1-day forecast as forecast_score, level, band_low, band_high and every horizon H's as
        HORIZON_FIELDS + _{H}d and its change from today's score as change_{H}d."""
        horizon_columns = [f"{name}_{horizon}d" for horizon in model.horizons for name in HORIZON_FIELDS]
        if latest is None:
            return pd.DataFrame(columns=MARKET_COLUMNS + ["level_today"] + horizon_columns
                                + [f"change_{horizon}d" for horizon in model.horizons])
        # A coin's forecast reads its own rows only: forecasting the coins a slice at a time gives the same numbers,
        # and no single call holds the interpreter lock long enough to stall a request.
        slice_of = pd.factorize(frame["coin_id"])[0] // BUILD_CHUNK_COINS
        tables = dict(calibration.tables)
        forecasts = pd.concat([model.forecast_snapshots(frame[slice_of == number], dates=[latest],
                                                        horizons=model.horizons, calibration=tables)
                               for number in range(slice_of.max() + 1)], ignore_index=True)
        for horizon in model.horizons:
            forecasts[f"level_{horizon}d"] = model.levels(forecasts[f"forecast_score_{horizon}d"])
            # Computed here, once per snapshot: the movers view sorts every coin by it on request.
            forecasts[f"change_{horizon}d"] = forecasts[f"forecast_score_{horizon}d"] - forecasts["score"]
        scores = forecasts["score"].to_numpy(dtype=float)
        forecasts["level_today"] = np.where(np.isnan(scores), None, model.levels(scores))
        rows = snapshot[["coin_id", "coin", "symbol", "price", "volume", "mkt_cap"]]
        change_columns = [f"change_{horizon}d" for horizon in model.horizons]
        kept = ["coin_id", "score", "level_today", "forecast_score", "level", "band_low", "band_high",
                *horizon_columns, *change_columns]
        table = rows.merge(forecasts[kept], on="coin_id", how="left", validate="one_to_one")
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
    built_at: float = field(default_factory=time.time)  # when this process built it: the answers' Last-Modified

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
        matches = self.coin_matches(text)
        return matches[0] if matches else None

    def coin_matches(self, text):
        """Return the coin_ids of the latest snapshot text names (CoinLookup.matches): [] when none."""
        return list(self.coin_lookup().matches(text))

    def coin_names(self, coin_id):
        """Return (coin, symbol) of a coin of the latest snapshot, or None."""
        window = self.market.coins.get(coin_id)
        return None if window is None else (window.coin, window.symbol)

    def coin_lookup(self):
        """Return a CoinLookup of the latest snapshot's coins by id, symbol and name, built once per version."""
        return self.market.memo.get(("coin lookup",), lambda: CoinLookup.of(self.market.snapshot))

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
        """Return (rows of the listing's page, rows matching, pages, date) of the market table; the rows' forecast
        fields (forecast_score, level, change, band_low, band_high, low80 .. high90, target_date) are
        listing.horizon's."""
        from liquidity.web.market import page_of

        def compute():
            rows, date = self.market_rows(listing)
            return (*page_of(rows, listing), date)

        return self.market.memo.get(("listing", listing.key()), compute)

    def market_rows(self, listing):
        """Return (every row the listing selects, in its order, date) of the market table, its forecast fields
        listing.horizon's: the pages and the download read the same rows."""
        from liquidity.web.market import matching

        def compute():
            table = self._horizon_table(listing.horizon)
            return matching(table, listing), (table["date"].iloc[0] if len(table) else None)

        return self.market.memo.get(("listing rows", listing.filters()), compute)

    def _horizon_table(self, horizon):
        def compute():
            table = self._table()
            return horizon_view(table, horizon) if len(table) else table.assign(
                **{name: [] for name in (*HORIZON_FIELDS, "change", "target_date")})

        return self.market.memo.get(("horizon table", horizon), compute)

    def freshness(self, today):
        """Return the Freshness of the latest snapshot on the date today (None for an empty store)."""
        return None if self.latest is None else Freshness(self.latest, today)

    @property
    def calibration(self):
        """Return the Calibration the intervals are drawn with (None without a model)."""
        return self.market.calibration

    def coin_forecast(self, coin_id, date=None):
        """Return the coin's CoinHorizonsForecast from its row on date (default: the latest) and its own past: the
        1-day fields of a CoinForecast and every horizon with its 80 % and 90 % intervals.

        The latest date's come from the window in memory, each coin computed once; other dates from the store, with
        the intervals' calibration of that date. Raises ForecastError (an empty store) or CoinNotFound.
        """
        if self.latest is None:
            raise ForecastError(EMPTY_STORE)
        if date is not None and str(date) != self.latest:
            return self.market.memo.get(("forecast", coin_id, str(date)), lambda: self._forecast_on(coin_id, str(date)))
        return self.market.memo.get(("forecast", coin_id), lambda: self._latest_forecast(coin_id))

    def _latest_forecast(self, coin_id):
        window = self.market.coins.get(coin_id)
        if window is None:
            raise CoinNotFound(f"no stored snapshot of coin {coin_id!r} on {self.latest}")
        return horizons_forecast(self.model, self.market.calibration.prepared, coin_id, window.coin, window.symbol,
                                 window.arrays)

    def _forecast_on(self, coin_id, day):
        """Forecast the coin from its stored rows up to day, with the intervals as `daily` drew them that day."""
        rows = self.store.coin_history(coin_id, end=day, days=LONGEST_LAG + 1)
        if rows.empty or rows["date"].iloc[-1] != day:
            raise CoinNotFound(f"no stored snapshot of coin {coin_id!r} on {day}")
        calibration = read_calibration(self.store, self.model, on_or_before=day)
        last = rows.iloc[-1]
        return horizons_forecast(self.model, calibration.prepared, coin_id, last["coin"], last["symbol"],
                                 tuple(rows[name].to_numpy() for name in WINDOW_COLUMNS))

    def coin_history(self, coin_id, days):
        """Return the coin's stored rows over the `days` days up to the latest stored date, oldest first."""
        return self.market.memo.get(("history", coin_id, days),
                                    lambda: self.store.coin_history(coin_id, self.latest, days))

    def realized_scores(self, coin_id, dates):
        """Return {date: the coin's stored score that day} for those of dates ('YYYY-MM-DD') it has a stored row on."""
        known = sorted({day for day in dates if self.latest is not None and day <= self.latest})
        if not known:
            return {}

        def compute():
            span = (Date.fromisoformat(known[-1]) - Date.fromisoformat(known[0])).days + 1
            rows = self.store.coin_history(coin_id, end=known[-1], days=span)
            rows = rows[rows["date"].isin(known)]
            return MappingProxyType(dict(zip(rows["date"], rows["liquidity_score"].astype(float))))

        return self.market.memo.get(("realized", coin_id, tuple(known)), compute)
    def last_stored_rows(self, coin_id, days):
        """Return (the date of the coin's last stored row or None, its rows over the `days` days up to that date):
        for a coin that left the market, whose rows stop before the latest stored date."""
        from liquidity.web.market import MAX_DAYS

        rows = self.market.memo.get(("all history", coin_id),
                                    lambda: self.store.coin_history(coin_id, self.latest, MAX_DAYS))
        if rows.empty:
            return None, rows
        last = rows["date"].iloc[-1]
        first = (Date.fromisoformat(last) - timedelta(days=days)).isoformat()
        return last, rows[rows["date"] > first].reset_index(drop=True)

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
        prepared = self.market.calibration.prepared
        forecast, low, high, level = [], [], [], []
        shown = np.flatnonzero(dates > first_shown)
        for index in shown:
            lagged = (days_of > days_of[index] - (LONGEST_LAG + 1)) & (np.arange(len(dates)) <= index)
            result = self.model.forecast_history_horizons(
                dates[lagged], columns["volume"][lagged], columns["mkt_cap"][lagged], columns["1h"][lagged],
                columns["price"][lagged], columns["liquidity_score"][lagged], calibration=prepared).horizons[0]
            forecast.append(result.forecast_score)
            low.append(result.low80)
            high.append(result.high80)
            level.append(result.level)
        picked = rows.iloc[shown].reset_index(drop=True)
        return picked.assign(forecast_score=forecast, band_low=low, band_high=high, level=level)

    def rendered(self, key, render):
        """Return render() kept with this version's market data under key: a view's rendering of that data (an
        encoded JSON body, say) made once per version; render must read nothing but this state's market data."""
        return self.market.memo.get(("rendered", *key), render)

    def past_forecasts(self, coin_id, limit, horizon=1):
        """Return the coin's past logged forecasts `horizon` days ahead as records, newest first, one per date and
        model version."""
        from liquidity.store.predictions import coin_log

        return self.memo.get(("past", coin_id, limit, horizon),
                             lambda: tuple(coin_log(self.store, coin_id, limit, horizon).itertuples(index=False)))

    def monitor(self):
        """Return the monitor's figures: log counts, realized accuracy and input drift by week, the backtest's."""
        from liquidity.monitoring import backtest_figures, monitor_figures

        def backtest():
            return self.market.backtests.get(self.version.newest_backtest,
                                             lambda: backtest_figures(self.store, self.model))

        # Keyed by the day as well: the drift's "recent days" move with the calendar, not only with the log.
        return self.memo.get(("monitor", Date.today()),
                             lambda: monitor_figures(self.store, self.model, backtest=backtest()))


def _warm_listings(state):
    """Compute the market listing's first page at every horizon, and the movers view's (the largest forecast drops),
    before the state serves: /coins and /api/v1/coins open there, and sorting 10,000 coins on the first request
    after a new snapshot took ~100 ms."""
    from liquidity.web.market import Listing

    for horizon in state.model.horizons:
        state.market_page(Listing(horizon=horizon))
        state.market_page(Listing(sort="change", order="asc", horizon=horizon))


def horizon_view(table, horizon):
    """Return the market table with horizon's forecast as forecast_score, level, band_low/band_high (its 80 %
    interval), low80 .. high90, change and target_date, without the other horizons' columns."""
    # Only the columns a listing shows: a page's rows are read column by column (itertuples), ~40 columns were
    # most of the movers page's time.
    kept = [name for name in (*MARKET_COLUMNS, "level_today") if name in table]
    view = table[kept].assign(**{name: table[f"{name}_{horizon}d"] for name in (*HORIZON_FIELDS, "change")})
    view["band_low"], view["band_high"] = view["low80"], view["high80"]
    view["target_date"] = (Date.fromisoformat(table["date"].iloc[0]) + timedelta(days=horizon)).isoformat()
    return view


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
        self.checked_at = None  # time.monotonic() of the last check of the store's version
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

    def next_check_in(self):
        """Return the whole seconds until this process next checks the store's version (0: on the next request):
        how long an answer served now stays current."""
        if self.check_seconds <= 0 or self.checked_at is None:
            return 0
        return max(0, int(self.checked_at + self.check_seconds - time.monotonic()))

    def start(self):
        """Build the first state unless there is one, and start this process's refresher; return the state."""
        with self.build_lock:
            if self.state is None:
                store = self.store.open()
                self.state = self._build(store, read_version(store), None)
                self.checked_at = time.monotonic()
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
            self.checked_at = time.monotonic()
            return self.state

    def _build(self, store, version, old):
        if old is not None and old.version.market == version.market and old.store is store:
            market = old.market  # only the log moved: the snapshots' data and forecasts stand
        else:
            market = MarketData.build(store, version.latest, self.model)
        state = MarketState(version, market, store, self.model)
        if market is not getattr(old, "market", None) and market.table is not None:
            _warm_listings(state)
        return state

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
