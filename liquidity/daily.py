"""The day's work in one command: ingest today's snapshot, score the forecasts it settles, recalibrate the intervals
on the outcomes known today, forecast every coin of it at every horizon (logged, source daily), and prune the
prediction log to its retention. Run it once a day from cron or a timer
(the command: liquidity/commands/daily.py).
"""

from dataclasses import dataclass
from datetime import UTC, datetime

import sqlalchemy as sa

from liquidity.ingest import ingest, snapshot_path

DAILY_SOURCE = "daily"


@dataclass
class DailyResult:
    """What one run did, step by step."""

    ingested: str  # one line about the snapshot
    scored: int  # logged forecasts given their outcome
    date: str  # the snapshot forecast
    forecast: int  # coins forecast and logged (0 when this date and model were forecast already)
    pruned: int
    keep_days: int
    calibration: str = ""  # what the recalibration did, one line per kind (Calibration.summary)
    horizons: tuple = (1,)  # the horizons each coin was forecast at
    alerts: object = None  # what the alert rules raised and delivered (liquidity.alerts.AlertRun)

    def summary(self):
        days = "/".join(map(str, self.horizons))
        forecast = (f"forecast {self.forecast:,} coin(s) of {self.date}, logged, each {days} day(s) ahead"
                    if self.forecast else
                    f"the forecasts of {self.date} by this model were logged already; not repeated")
        lines = [self.ingested, f"scored {self.scored:,} logged forecast(s) against what happened"]
        if self.calibration:
            lines.append(self.calibration)
        lines.append(forecast)
        if self.alerts is not None:
            lines.append(self.alerts.summary())
        return "\n".join([*lines, f"pruned {self.pruned:,} log row(s) older than {self.keep_days} day(s)"])


def already_forecast(store, date, model_version):
    """Return True when the daily run logged forecasts of date by this model before (a re-run must not repeat)."""
    from liquidity.store.schema import prediction_log as log

    statement = (sa.select(sa.func.count()).select_from(log)
                 .where(log.c.source == DAILY_SOURCE, log.c.snapshot_date == sa.bindparam("day", type_=sa.Date),
                        log.c.model_version == model_version))
    with store.engine.connect() as connection:
        return connection.execute(statement, {"day": datetime.fromisoformat(date).date()}).scalar_one() > 0


def scored_count(store):
    """Return how many logged forecasts have their outcome."""
    from liquidity.store.predictions import counts

    return counts(store)[1]


def forecast_and_score(store, model, ingested, keep_days, scored_before=None, now=None, webhooks=None):
    """Run every step after the ingest on store: score outcomes, recalibrate the intervals on the outcomes known on
    the latest snapshot's date, forecast and log that snapshot at every horizon with them, store the calibration,
    raise and deliver the alerts of the rules, prune.

    scored_before, the scored count before the ingest, lets the summary count what the ingest itself scored.
    webhooks: keyword arguments of liquidity.alerts.raise_and_deliver (timeout, retries, backoff, sleep).
    """
    from liquidity.forecasting import ForecastError, calibration_as_of, forecast_market, horizon_log_rows, same_tables
    from liquidity.store.backtests import score_backtests
    from liquidity.store.calibrations import latest_calibration, save_calibration
    from liquidity.store.predictions import log_forecasts, prune, score_outcomes

    scored = score_outcomes(store)
    score_backtests(store)  # a backtest's forecasts whose outcome today's snapshot brings
    if scored_before is not None:
        scored = scored_count(store) - scored_before
    date = store.latest_date()
    if date is None:
        raise ForecastError("the market store is empty: import snapshots first (python -m liquidity import DATASET)")
    # Outcomes up to today only (calibration_as_of reads none after date), so the forecast command run later over
    # this date draws the same intervals.
    calibration = calibration_as_of(store, model, date)
    coins = 0
    if not already_forecast(store, date, model.version):
        forecasts = forecast_market(store, model, date, calibration=calibration.tables)
        rows = horizon_log_rows(model, forecasts, inputs=store.snapshot(date))
        log_forecasts(store, rows, source=DAILY_SOURCE, model_version=model.version, now=now)
        coins = len(forecasts)
    stored = latest_calibration(store, model.version, on_or_before=date)
    # A re-run the same day stores nothing new: a new calibration row would rebuild the app's state for nothing.
    if stored is None or stored["calibrated_on"] != date or not same_tables(stored["tables"], calibration.tables):
        save_calibration(store, date, model.version, calibration.tables)
    alerts = evaluate_alerts(store, model, date, webhooks or {})
    pruned = prune(store, keep_days, now=now)
    return DailyResult(ingested=ingested, scored=scored, date=date, forecast=coins, pruned=pruned,
                       keep_days=keep_days, calibration=calibration.summary(), horizons=model.horizons,
                       alerts=alerts)


def evaluate_alerts(store, model, date, webhooks):
    """Raise and deliver the alerts of date (liquidity.alerts.raise_and_deliver); a store failure is reported in the
    result, not raised: the forecasts are logged already, and the alerts of date are raised on the next run."""
    from liquidity.alerts import AlertRun, raise_and_deliver
    from liquidity.store import StoreError

    try:
        return raise_and_deliver(store, model.version, model.threshold, date, **webhooks)
    except StoreError as error:
        return AlertRun(error=str(error))


def ingest_today(out, coins, client, snapshot_date, database):
    """Ingest today's snapshot into out and the store; a snapshot already on disk is imported (idempotent) instead."""
    from liquidity.store import MarketStore
    from liquidity.store.importer import import_snapshots

    day = snapshot_date or datetime.now(UTC).date().isoformat()
    path = snapshot_path(out, day)
    if path.exists():  # a re-run the same day: CoinGecko is not asked again
        with MarketStore(database, migrate=True) as store:
            result = import_snapshots(path, store)
        return f"{path} exists already: imported it again ({result.added:,} new row(s))"
    result = ingest(out, coins, client=client, snapshot_date=day, database=database)
    return result.summary().splitlines()[0] + f"; {result.stored.added:,} row(s) new in the store"
