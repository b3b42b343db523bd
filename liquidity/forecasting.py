"""Forecasts from the market store: one coin from its own history, a whole snapshot, a range of dates.

The store holds each row's liquidity score (its rank within its date), so a coin's history is read, not
re-ranked; the model computes the features from those rows with the same function training used.
"""

import json
from dataclasses import dataclass
from datetime import date as Date
from datetime import timedelta

import numpy as np
import pandas as pd

from liquidity.features import LONGEST_LAG
from liquidity.modeling import conformal

FORECAST_COLUMNS = ("date", "coin_id", "symbol", "score", "forecast_score", "level", "band_low", "band_high")
# Dates forecast per pass over a range: bounds the feature matrix in memory.
DATES_PER_PASS = 30
# A horizon's logged outcomes replace the model card's interval table only when they fill the card's window (its
# window_days forecast dates, e.g. 14) with at least this many rows: a quantile per bin needs rows to stand on
# (conformal.MIN_BIN_ROWS each), and a table from two days of outcomes would describe two days of the market.
MIN_CALIBRATION_ROWS = 200


def horizon_columns(horizon):
    """Return the CSV columns of one horizon: target_date_{H}d, forecast_score_{H}d, low80_{H}d, ... high90_{H}d."""
    from liquidity.modeling.predict import interval_columns  # scikit-learn loads only for a forecast

    return [f"target_date_{horizon}d", *interval_columns(horizon)]


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


def forecast_coin(store, model, coin_id, date=None, calibration=None):
    """Forecast coin_id's next-snapshot score from its row on date (default: the latest stored date) and its past.

    calibration: {horizon: table} the 80 % interval (band_low, band_high) is drawn with (default: the model card's).
    """
    day = str(date) if date is not None else _latest(store)
    rows = store.coin_history(coin_id, end=day, days=LONGEST_LAG + 1)
    if rows.empty or rows["date"].iloc[-1] != day:
        raise CoinNotFound(f"no stored snapshot of coin {coin_id!r} on {day}")
    result = model.forecast_history(rows["date"].to_numpy(), rows["volume"].to_numpy(), rows["mkt_cap"].to_numpy(),
                                    rows["1h"].to_numpy(), rows["price"].to_numpy(),
                                    rows["liquidity_score"].to_numpy())
    band_low, band_high = result.band_low, result.band_high
    if calibration is not None:
        low, high = model.intervals([result.forecast_score], model.horizons[0], 80, calibration)
        band_low, band_high = float(low[0]), float(high[0])
    last = rows.iloc[-1]
    return CoinForecast(coin_id=coin_id, coin=last["coin"], symbol=last["symbol"], date=day, score=result.score,
                        forecast_score=result.forecast_score, level=result.level, band_low=band_low,
                        band_high=band_high,
                        **coin_inputs(last["volume"], last["mkt_cap"], last["1h"], last["price"]))


def forecast_dates(store, model, dates, calibrations=None):
    """Return one forecast row per coin per stored date in dates, oldest first: FORECAST_COLUMNS, coin, and for every
    horizon H of the model horizon_columns(H).

    calibrations: {date: {horizon: table}} each date's intervals are drawn with (e.g. calibrations_as_of's tables);
    a date it lacks, or None, draws with the model card's tables.
    """
    dates = sorted({str(day) for day in dates})
    parts = []
    for begin in range(0, len(dates), DATES_PER_PASS):
        chosen = dates[begin:begin + DATES_PER_PASS]
        # Each pass reads its dates plus the LONGEST_LAG days before them, so every history feature is present.
        history = store.history(start=_day(chosen[0]) - timedelta(days=LONGEST_LAG), end=chosen[-1])
        # One pass through the forest for all its dates; only the intervals differ from date to date.
        forecasts = model.forecast_snapshots(history, dates=chosen, horizons=model.horizons)
        if calibrations:
            redraw_intervals(model, forecasts, calibrations)
        names = history.loc[history["date"].isin(chosen), ["date", "coin_id", "coin"]]
        parts.append(forecasts.merge(names, on=["date", "coin_id"], how="left", validate="one_to_one"))
    if not parts:
        return pd.DataFrame(columns=[*FORECAST_COLUMNS, "coin",
                                     *(c for h in model.horizons for c in horizon_columns(h))])
    frame = pd.concat(parts, ignore_index=True)
    days = pd.to_datetime(frame["date"])
    return frame.assign(**{f"target_date_{h}d": (days + pd.Timedelta(days=h)).dt.strftime("%Y-%m-%d")
                           for h in model.horizons})


def redraw_intervals(model, forecasts, calibrations):
    """Draw each date's intervals of forecasts (forecast_snapshots' frame, every horizon) in place with
    calibrations[date] ({horizon: table}); dates it lacks keep the model card's."""
    # (score column, horizon, level, low column, high column): the band is the 1-day 80 % interval
    drawn = [("forecast_score", model.horizons[0], 80, "band_low", "band_high")]
    drawn += [(f"forecast_score_{h}d", h, level, f"low{level}_{h}d", f"high{level}_{h}d")
              for h in model.horizons for level in conformal.LEVELS]
    columns = {name: forecasts[name].to_numpy(dtype=np.float64, copy=True) for *_, low, high in drawn
               for name in (low, high)}
    dates = forecasts["date"].to_numpy()
    for day, tables in calibrations.items():
        rows = dates == day
        if tables is None or not rows.any():
            continue
        for score, horizon, level, low, high in drawn:
            columns[low][rows], columns[high][rows] = model.intervals(forecasts[score].to_numpy()[rows], horizon,
                                                                      level, tables)
    for name, values in columns.items():
        forecasts[name] = values


def forecast_market(store, model, date=None, calibration=None):
    """Forecast every coin of the snapshot on date (default: the latest stored one) from its own history, at every
    horizon of the model (forecast_dates' columns).

    calibration: {horizon: table} the intervals are drawn with (default: the model card's).
    """
    day = str(date) if date is not None else _latest(store)
    forecasts = forecast_dates(store, model, [day], None if calibration is None else {day: calibration})
    if forecasts.empty:
        raise ForecastError(f"no stored snapshot on {day}")
    return forecasts


def horizon_log_rows(model, forecasts, inputs=None):
    """Return the prediction-log rows of forecast_dates' frame: one per coin, date and horizon of the model, each
    with its target date, level and 80 % / 90 % intervals (band_low/band_high: its 80 % interval).

    inputs: the snapshot rows the forecasts came from (date, coin_id, volume, mkt_cap, 1h, price), logged with each.
    """
    from liquidity.store.predictions import forecast_rows

    parts = []
    for horizon in model.horizons:
        forecast = forecasts[f"forecast_score_{horizon}d"].to_numpy(dtype=np.float64)
        parts.append(pd.DataFrame({
            "date": forecasts["date"].to_numpy(), "coin_id": forecasts["coin_id"].to_numpy(),
            "score": forecasts["score"].to_numpy(dtype=np.float64), "forecast_score": forecast,
            "level": model.levels(forecast), "horizon": horizon,
            "target_date": forecasts[f"target_date_{horizon}d"].to_numpy(),
            "band_low": forecasts[f"low80_{horizon}d"].to_numpy(),
            "band_high": forecasts[f"high80_{horizon}d"].to_numpy(),
            **{f"{side}{level}": forecasts[f"{side}{level}_{horizon}d"].to_numpy()
               for level in conformal.LEVELS for side in ("low", "high")}}))
    return forecast_rows(pd.concat(parts, ignore_index=True), inputs=inputs)


@dataclass(frozen=True)
class Calibration:
    """The intervals' calibration on one day: a table per horizon of the model, from the outcomes the prediction log
    knew that day where they fill the card's window, else the model card's."""

    day: str
    tables: dict  # {str(horizon): conformal table}, what calibration= takes and save_calibration stores
    outcomes: dict  # {horizon: outcomes of the card's window the log held that day}
    recalibrated: tuple  # the horizons whose table comes from the log

    def summary(self):
        """Return one line per kind: the horizons recalibrated (on how many outcomes) and those kept (why)."""
        lines = []
        if self.recalibrated:
            lines.append(f"recalibrated the {'/'.join(map(str, self.recalibrated))}-day intervals on "
                         f"{'/'.join(f'{self.outcomes[h]:,}' for h in self.recalibrated)} outcomes up to {self.day}")
        kept = [h for h in self.outcomes if h not in self.recalibrated]
        if kept:
            lines.append(f"kept the model card's intervals for {'/'.join(map(str, kept))} days: only "
                         f"{'/'.join(f'{self.outcomes[h]:,}' for h in kept)} outcomes (a recalibration needs "
                         f"{MIN_CALIBRATION_ROWS} over the card's window)")
        return "\n".join(lines)


def calibrations_as_of(store, model, days):
    """Return {day: Calibration} for each day: the intervals a forecast on that day is drawn with, calibrated only on
    outcomes known by then (target date on or before it), of this model version.

    A horizon H is recalibrated when its outcomes fill the card's window: window_days forecast dates, all within the
    last H + 2 x window_days days (a daily log's window with a week of slack for missed runs; older outcomes describe
    another market), and at least MIN_CALIBRATION_ROWS rows; otherwise it keeps the model card's table. Each table is
    conformal.calibration_table's on that day; the log is read once for every day, from that lookback on.
    """
    days = sorted({str(day)[:10] for day in days})
    if not days:
        return {}
    window_days = _window_days(model)
    return _calibrations(store, model, days, _lookback(days[0], max(model.horizons), window_days))


def _window_days(model):
    return int(model.card["conformal"].get("window_days", conformal.WINDOW_DAYS))


def _lookback(day, horizon, window_days):
    """Return the first forecast date a calibration of horizon on day may draw on."""
    return (_day(day) - timedelta(days=horizon + 2 * window_days)).isoformat()


def _calibrations(store, model, days, since):
    from liquidity.store.predictions import scored_forecasts

    settings = model.card["conformal"]
    window_days = _window_days(model)
    bins = int(settings.get("bins", conformal.BINS))
    levels = tuple(int(level) for level in settings.get("levels", conformal.LEVELS))
    scored = scored_forecasts(store, model.version, model.horizons, known_by=days[-1], since=since)
    logs = {horizon: _HorizonLog(scored[scored["horizon"].to_numpy() == horizon]) for horizon in model.horizons}
    # A card with a spread factor scales the longer horizons' tables by the shortest's fresh misses, as training did
    # (conformal.calibration_table's shortest=); older cards have none.
    spread = settings.get("spread")
    shortest = None
    if spread and int(spread["horizon"]) in logs:
        log = logs[int(spread["horizon"])]
        shortest = conformal.ShortestMisses(forecast_day=log.forecast_day, target_day=log.target_day,
                                            miss=np.abs(log.actual - log.predicted))
    result = {}
    for day in days:
        on_day = _day_number(day)
        tables, outcomes, recalibrated = {}, {}, []
        for horizon in model.horizons:
            log = logs[horizon]
            window, rows = log.window(on_day, window_days, _day_number(_lookback(day, horizon, window_days)))
            outcomes[horizon] = int(rows.sum())
            if len(window) >= window_days and outcomes[horizon] >= MIN_CALIBRATION_ROWS:
                table = {
                    # conformal.calibration_table's table, from the window's rows found once per horizon above
                    "calibrated_on": day, "window_days": window_days,
                    "forecast_dates": [_day_text(window[0]), _day_text(window[-1])], "rows": outcomes[horizon],
                    **conformal.table_from_rows(log.predicted[rows], log.actual[rows], levels=levels, bins=bins)}
                if shortest is not None and horizon > int(spread["horizon"]):
                    table = conformal.scaled(table, shortest.factor(on_day, int(window[0]), int(spread["fresh_days"]),
                                                                    float(spread["power"])))
                tables[str(horizon)] = table
                recalibrated.append(horizon)
            else:
                tables[str(horizon)] = model.calibration[str(horizon)]
        result[day] = Calibration(day, tables, outcomes, tuple(recalibrated))
    return result


class _HorizonLog:
    """One horizon's scored forecasts as day numbers, with each forecast date's earliest target day."""

    def __init__(self, rows):
        self.forecast_day = _day_numbers(rows["date"])
        self.target_day = _day_numbers(rows["target_date"])
        self.predicted = rows["predicted"].to_numpy(dtype=np.float64)
        self.actual = rows["actual"].to_numpy(dtype=np.float64)
        order = np.argsort(self.forecast_day, kind="stable")
        self.dates, first = np.unique(self.forecast_day[order], return_index=True)
        self.earliest_target = np.minimum.reduceat(self.target_day[order], first) if len(first) else self.dates

    def window(self, on_day, window_days, first_day):
        """Return the last window_days forecast dates with an outcome known on on_day (as conformal's window:
        outcomes with target day <= on_day), those before first_day left out, and the mask of their known rows."""
        window = self.dates[self.earliest_target <= on_day][-window_days:]
        window = window[window >= first_day]
        if not len(window):
            return window, np.zeros(len(self.forecast_day), dtype=bool)
        return window, (self.target_day <= on_day) & (self.forecast_day >= window[0])


def _day_text(day_number):
    return str(np.datetime64(int(day_number), "D"))


def calibration_as_of(store, model, day):
    """Return the Calibration a forecast on day is drawn with: what daily stores and the forecast command uses."""
    return calibrations_as_of(store, model, [day])[str(day)[:10]]


def same_tables(first, second):
    """Return True when two {horizon: table} calibrations are equal once stored (as JSON)."""
    return json.loads(json.dumps(first)) == json.loads(json.dumps(second))


def _day_number(text):
    """Return one date (YYYY-MM-DD text) as a day number."""
    return int(np.datetime64(str(text)[:10], "D").astype(np.int64))


def _day_numbers(values):
    """Return dates (YYYY-MM-DD text) as day numbers."""
    return np.asarray(pd.to_datetime(pd.Series(values, dtype=object).astype(str).str[:10]).to_numpy(),
                      dtype="datetime64[D]").astype(np.int64)


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
