"""The day's work in one command: ingest today's snapshot, score the forecasts it settles, forecast every coin of
it (logged, source daily), and prune the prediction log to its retention. Run it once a day from cron or a timer
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
    forecast: int  # forecasts logged (0 when this date and model were forecast already)
    pruned: int
    keep_days: int

    def summary(self):
        forecast = (f"forecast {self.forecast:,} coin(s) of {self.date}, logged" if self.forecast else
                    f"the forecasts of {self.date} by this model were logged already; not repeated")
        return "\n".join([self.ingested, f"scored {self.scored:,} logged forecast(s) against what happened",
                          forecast, f"pruned {self.pruned:,} log row(s) older than {self.keep_days} day(s)"])


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


def forecast_and_score(store, model, ingested, keep_days, scored_before=None, now=None):
    """Run every step after the ingest on store: score outcomes, forecast and log the latest snapshot, prune.

    scored_before, the scored count before the ingest, lets the summary count what the ingest itself scored.
    """
    from liquidity.forecasting import ForecastError, forecast_market
    from liquidity.store.predictions import forecast_rows, log_forecasts, prune, score_outcomes

    scored = score_outcomes(store)
    if scored_before is not None:
        scored = scored_count(store) - scored_before
    date = store.latest_date()
    if date is None:
        raise ForecastError("the market store is empty: import snapshots first (python -m liquidity import DATASET)")
    logged = 0
    if not already_forecast(store, date, model.version):
        forecasts = forecast_market(store, model, date)
        rows = forecast_rows(forecasts, inputs=store.snapshot(date))
        logged = log_forecasts(store, rows, source=DAILY_SOURCE, model_version=model.version, now=now)
    pruned = prune(store, keep_days, now=now)
    return DailyResult(ingested=ingested, scored=scored, date=date, forecast=logged, pruned=pruned,
                       keep_days=keep_days)


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
