"""A backtest's forecasts in the store: replace one model version's, score them, and say when one last ran.

No web code and no model: liquidity.backtest makes the forecasts, this module keeps them.
"""

from datetime import UTC, datetime

import numpy as np
import pandas as pd
import sqlalchemy as sa

from liquidity.store.schema import SCORE_BACKTEST_OUTCOMES, backtest_forecasts
from liquidity.store.times import naive_utc

# The columns of a backtest row besides its key, model version and time: what the log keeps of a forecast.
VALUE_COLUMNS = ("target_date", "score", "forecast_score", "low80", "high80", "low90", "high90")
DATE_COLUMNS = ("snapshot_date", "target_date")
INSERT_ROWS = 5_000  # rows per INSERT: bounds the parameters in memory, not the transaction


def _error(store, action, error):
    return store.error(action, error, what="the backtest")


def replace_backtest(store, rows, model_version, now=None):
    """Replace model_version's backtest with rows (a frame: coin_id, snapshot_date, horizon and VALUE_COLUMNS) and
    score those whose outcome is stored, in one transaction; return (rows written, rows scored)."""
    created_at = (now or datetime.now(UTC)).astimezone(UTC)
    frame = pd.DataFrame({"model_version": str(model_version), "coin_id": rows["coin_id"].astype(str),
                          "snapshot_date": rows["snapshot_date"], "horizon": rows["horizon"].astype(int),
                          "created_at": created_at, **{name: rows[name] for name in VALUE_COLUMNS}})
    for name in DATE_COLUMNS:
        frame[name] = pd.to_datetime(frame[name].astype(str).str[:10]).dt.date
    records = frame.astype(object).where(frame.notna(), None).to_dict("records")  # NaN is NULL
    for record in records:
        for name, value in record.items():
            if isinstance(value, np.generic):
                record[name] = value.item()
    table = backtest_forecasts
    try:
        with store.engine.begin() as connection:
            connection.execute(table.delete().where(table.c.model_version == str(model_version)))
            for begin in range(0, len(records), INSERT_ROWS):
                connection.execute(table.insert(), records[begin:begin + INSERT_ROWS])
            connection.execute(SCORE_BACKTEST_OUTCOMES)
            scored = connection.execute(
                sa.select(sa.func.count()).select_from(table).where(table.c.model_version == str(model_version),
                                                                    table.c.realized_score.isnot(None))).scalar_one()
    except sa.exc.DBAPIError as error:
        raise _error(store, "write to", error) from None
    return len(records), int(scored)


def score_backtests(store):
    """Give every backtest forecast whose outcome is now stored its realized score (an import after the backtest)."""
    try:
        with store.engine.begin() as connection:
            connection.execute(SCORE_BACKTEST_OUTCOMES)
    except sa.exc.DBAPIError as error:
        raise _error(store, "score", error) from None


def backtest_runs(store):
    """Return per model version: the forecasts its backtest holds, how many are scored, its first and last snapshot
    dates and when it ran, newest run first."""
    t = backtest_forecasts
    statement = (sa.select(t.c.model_version, sa.func.count().label("forecasts"),
                           sa.func.count(t.c.realized_score).label("scored"),
                           sa.cast(sa.func.min(t.c.snapshot_date), sa.Text).label("first_date"),
                           sa.cast(sa.func.max(t.c.snapshot_date), sa.Text).label("last_date"),
                           sa.func.max(t.c.created_at).label("ran_at"))
                 .group_by(t.c.model_version).order_by(sa.func.max(t.c.created_at).desc()))
    try:
        with store.engine.connect() as connection:
            rows = connection.execute(statement).all()
    except sa.exc.DBAPIError as error:
        raise _error(store, "read", error) from None
    return [{"model_version": row.model_version, "forecasts": int(row.forecasts), "scored": int(row.scored),
             "first_date": str(row.first_date)[:10], "last_date": str(row.last_date)[:10],
             "ran_at": _utc_text(row.ran_at)} for row in rows]


def _utc_text(value):
    """Return a stored time as 'YYYY-MM-DD HH:MM UTC' (SQLite gives naive UTC, PostgreSQL an aware time)."""
    value = naive_utc(value)
    return None if value is None else value.strftime("%Y-%m-%d %H:%M UTC")
