"""Forecasts from the market store: one coin from its own history, a whole snapshot, a range of dates.

The store holds each row's liquidity score (its rank within its date), so a coin's history is read, not
re-ranked; the model computes the features from those rows with the same function training used.
"""

from dataclasses import dataclass
from datetime import date as Date
from datetime import timedelta

import numpy as np
import pandas as pd

from liquidity.features import LONGEST_LAG

FORECAST_COLUMNS = ("date", "coin_id", "symbol", "score", "forecast_score", "level", "band_low", "band_high")
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


def coin_inputs(volume, mkt_cap, h1, price):
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

    """
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
                        **coin_inputs(last["volume"], last["mkt_cap"], last["1h"], last["price"]))


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

    """
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
    return sorted_ratios(snapshot["volume"], snapshot["mkt_cap"])


def sorted_ratios(volume, mkt_cap):
    """Return the sorted finite volume / mkt_cap ratios of a snapshot's rows, or None when it has none."""
    if not len(volume):
        return None
    ratios = np.asarray(volume, dtype=np.float64) / np.asarray(mkt_cap, dtype=np.float64)
    return np.sort(ratios[np.isfinite(ratios)])
