"""The prediction log: write every forecast made, score it once the next snapshot is stored, read the figures back.

No web code: the app, the forecast command and the daily command all write through log_forecasts.
"""

from datetime import UTC, datetime, timedelta
from datetime import date as Date

import pandas as pd
import sqlalchemy as sa

from liquidity.settings import DEFAULT_KEEP_DAYS
from liquidity.store.schema import (
    RECORD_FIRST_FORECASTS,
    REPOINT_FIRST_FORECASTS,
    SCORE_OUTCOMES,
    backtest_forecasts,
    first_forecasts,
    prediction_log,
)

SOURCES = ("form", "api", "batch", "coin page", "forecast command", "daily")
# Log column -> the loader's input name (and the model card's): the four inputs a forecast can be checked against.
LOG_INPUT_COLUMNS = {"volume": "volume", "mkt_cap": "mkt_cap", "h1": "1h", "price": "price"}
LOG_FIELDS = ("coin_id", "snapshot_date", "volume", "mkt_cap", "h1", "price", "score", "forecast_score", "level",
              "band_low", "band_high", "horizon", "target_date", "low80", "high80", "low90", "high90")
DATE_FIELDS = ("snapshot_date", "target_date")
TEXT_FIELDS = ("coin_id", "level")
# A row that does not say otherwise is a next-snapshot forecast whose band is its 80 % interval.
DEFAULT_HORIZON = 1


def _clean(value):
    """Return value as a float or text the database takes: NaN and None are NULL, numpy scalars plain Python."""
    kind = type(value)
    if kind is float:  # the common case first: the writer cleans every field of every logged row
        return None if value != value else value
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, (Date, datetime)):
        return value.isoformat()
    number = float(value)
    return None if number != number else number


def _day(value):
    if value is None or isinstance(value, Date):
        return value
    return Date.fromisoformat(str(value))


def _error(store, action, error):
    return store.error(action, error, what="the prediction log")


# The order of every row log_forecasts writes.
INSERT_FIELDS = ("created_at", "source", "model_version", *LOG_FIELDS)


def log_forecasts(store, rows, *, source, model_version, now=None):
    """Write one log row per mapping in rows (keys from LOG_FIELDS, missing ones NULL), or per row of a DataFrame
    with those columns, in one transaction.

    Return the number of rows written; raise StoreError on a store failure (callers that must not fail catch it).
    """
    return log_forecast_batches(store, [(rows, source, model_version, now)])


def log_forecast_batches(store, batches):
    """Write several (rows, source, model_version, made_at) batches in one transaction, each with its own time.

    made_at None is now. Return the number of rows written; raise StoreError on a store failure.
    """
    sqlite = store.dialect == "sqlite"
    records = []
    for rows, source, model_version, made_at in batches:
        records.extend(_records(rows, source, model_version, made_at, sqlite))
    if not records:
        return 0
    try:
        with store.engine.begin() as connection:
            if sqlite:
                marks = ", ".join("?" * len(INSERT_FIELDS))
                cursor = connection.connection.driver_connection.cursor()
                cursor.executemany(f"INSERT INTO prediction_log ({', '.join(INSERT_FIELDS)}) VALUES ({marks})",
                                   records)
                # The transaction holds SQLite's only write lock, so its rows took consecutive ids ending here.
                last = cursor.execute("SELECT last_insert_rowid()").fetchone()[0]
                first = last - len(records) + 1
            else:
                ids = connection.execute(prediction_log.insert().returning(prediction_log.c.id),
                                         [dict(zip(INSERT_FIELDS, r)) for r in records]).scalars().all()
                first, last = min(ids), max(ids)
            if any(record[3] is not None and record[4] is not None for record in records):  # coin and date
                connection.execute(RECORD_FIRST_FORECASTS, {"first": first, "last": last})
    except sa.exc.DBAPIError as error:
        raise _error(store, "write to", error) from None
    except Exception as error:  # the raw driver raises its own errors, outside SQLAlchemy's wrapping
        if error.__class__.__module__.startswith("sqlite3"):
            raise _error(store, "write to", error) from None
        raise
    return len(records)


def _records(rows, source, model_version, made_at, sqlite):
    """Return the insert tuples of one batch of rows (mappings or a frame), stamped with made_at (default now)."""
    if source not in SOURCES:
        raise ValueError(f"source {source!r} is not one of {', '.join(SOURCES)}")
    created_at = (made_at or datetime.now(UTC)).astimezone(UTC)
    # On SQLite the driver's executemany with plain tuples, not SQLAlchemy's per-row type processing: logging a
    # 10,000-item API list took 0.18 s through SQLAlchemy. Times are UTC, stored as SQLAlchemy stores them.
    # 'YYYY-MM-DD HH:MM:SS.ffffff', as SQLAlchemy's DateTime stores a time in SQLite (isoformat: a sixth of strftime's
    # time, paid for every row the API logs).
    stamp = created_at.replace(tzinfo=None).isoformat(" ", "microseconds") if sqlite else created_at
    head = (stamp, source, str(model_version))
    if isinstance(rows, pd.DataFrame):
        return _frame_records(rows, head, sqlite)
    records = []
    for row in rows:
        values = dict(zip(LOG_FIELDS, (_clean(row.get(name)) for name in LOG_FIELDS)))
        _complete(values)
        for name in DATE_FIELDS:
            day = values[name]
            values[name] = (str(day)[:10] if sqlite else _day(day)) if day is not None else None
        records.append(head + tuple(values.values()))
    return records


def _complete(values):
    """Fill what a row can leave out: its horizon (1), its target date (snapshot date + horizon), its 80 % interval
    (the band) and its band (the 80 % interval)."""
    horizon = values["horizon"]
    values["horizon"] = horizon = DEFAULT_HORIZON if horizon is None else int(horizon)
    if values["target_date"] is None and values["snapshot_date"] is not None:
        values["target_date"] = (_day(str(values["snapshot_date"])[:10]) + timedelta(days=horizon)).isoformat()
    for interval, band in (("low80", "band_low"), ("high80", "band_high")):
        if values[interval] is None:
            values[interval] = values[band]
        elif values[band] is None:
            values[band] = values[interval]


def _frame_records(frame, head, sqlite):
    """Return a frame's rows as insert tuples, column by column (a 10,000-row list: milliseconds, not a loop)."""
    count = len(frame)
    frame = _completed_frame(frame)
    columns = [[head[0]] * count, [head[1]] * count, [head[2]] * count]
    for name in LOG_FIELDS:
        if name not in frame.columns:
            columns.append([None] * count)
            continue
        values = frame[name]
        if name in DATE_FIELDS:
            values = values.astype(str).str[:10] if sqlite else values.map(_day)
        elif name == "horizon":
            columns.append(values.astype(int).tolist())
            continue
        elif name not in TEXT_FIELDS:
            values = values.astype("float64")
        # None, not NaN: a missing value is NULL in the log
        columns.append(values.astype(object).where(values.notna(), None).tolist())
    return list(zip(*columns))


def _completed_frame(frame):
    """Return frame with what _complete fills for a mapping filled column by column."""
    filled = {}
    horizon = frame["horizon"] if "horizon" in frame.columns else pd.Series(DEFAULT_HORIZON, index=frame.index)
    filled["horizon"] = horizon.fillna(DEFAULT_HORIZON).astype(int)
    if "snapshot_date" in frame.columns and "target_date" not in frame.columns:
        snapshot_days = pd.to_datetime(frame["snapshot_date"].astype(str).str[:10], errors="coerce")
        target = snapshot_days + pd.to_timedelta(filled["horizon"], unit="D")
        filled["target_date"] = target.dt.strftime("%Y-%m-%d").where(snapshot_days.notna(), None)
    for interval, band in (("low80", "band_low"), ("high80", "band_high")):
        if band in frame.columns and interval not in frame.columns:
            filled[interval] = frame[band]
        elif interval in frame.columns and band not in frame.columns:
            filled[band] = frame[interval]
    return frame.assign(**filled)


def forecast_rows(forecasts, inputs=None):
    """Return the log rows (a frame) of a forecast frame (date, coin_id, score, forecast_score, level, band_low,
    band_high).

    inputs, if given, is the snapshot frame the forecasts came from (date, coin_id and the loader's input columns):
    its volume, market cap, 1h change and price are logged with each forecast.
    """
    frame = forecasts.rename(columns={"date": "snapshot_date"})
    if inputs is not None:
        columns = ["date", "coin_id", *LOG_INPUT_COLUMNS.values()]
        picked = inputs[[c for c in columns if c in inputs.columns]].rename(
            columns={"date": "snapshot_date", "1h": "h1"})
        frame = frame.merge(picked, on=["snapshot_date", "coin_id"], how="left", suffixes=("", "_input"))
    return frame[[name for name in LOG_FIELDS if name in frame.columns]]


def score_outcomes(store):
    """Give every logged forecast whose next snapshot is now stored its realized score; return how many got one."""
    scored = sa.select(sa.func.count()).select_from(prediction_log).where(prediction_log.c.realized_score.isnot(None))
    try:
        with store.engine.begin() as connection:
            before = connection.execute(scored).scalar_one()
            connection.execute(SCORE_OUTCOMES)
            return connection.execute(scored).scalar_one() - before
    except sa.exc.DBAPIError as error:
        raise _error(store, "score", error) from None


def prune(store, keep_days=DEFAULT_KEEP_DAYS, now=None):
    """Delete log rows older than keep_days; return how many went."""
    cutoff = (now or datetime.now(UTC)) - timedelta(days=keep_days)
    try:
        with store.engine.begin() as connection:
            connection.execute(REPOINT_FIRST_FORECASTS, {"cutoff": cutoff})
            return connection.execute(prediction_log.delete().where(prediction_log.c.created_at < cutoff)).rowcount
    except sa.exc.DBAPIError as error:
        raise _error(store, "prune", error) from None


def _read(store, statement, parameters=None):
    try:
        with store.engine.connect() as connection:
            result = connection.execute(statement, parameters or {})
            # Plain tuples: pandas probes each SQLAlchemy Row for attributes; reading the 502,000 scored forecasts of
            # 180 days x 1,000 coins x 3 horizons took 12.9 s from the rows, 5.6 s from their tuples.
            return pd.DataFrame(list(map(tuple, result.all())), columns=list(result.keys()))
    except sa.exc.DBAPIError as error:
        raise _error(store, "read", error) from None


def counts(store):
    """Return {source: rows logged} and the number of rows with a realized score."""
    p = prediction_log
    by_source = _read(store, sa.select(p.c.source, sa.func.count().label("rows")).group_by(p.c.source))
    scored = _read(store, sa.select(sa.func.count().label("rows")).where(p.c.realized_score.isnot(None)))
    return dict(zip(by_source["source"], by_source["rows"].astype(int))), int(scored["rows"].iloc[0])


def _first_per_forecast():
    """Return the ids of the first logged row per (coin, snapshot date, model version).

    A coin page viewed a hundred times logs the same forecast a hundred times; it is one forecast to score.
    """
    return sa.select(first_forecasts.c.log_id)


# Where scored forecasts are read from: the live log (each forecast counted once) or a backtest's own table.
LIVE, BACKTEST = "live", "backtest"


def _forecasts(kind):
    """Return the table of kind's forecasts and the condition that keeps one row per forecast."""
    if kind == LIVE:
        return prediction_log, prediction_log.c.id.in_(_first_per_forecast())
    if kind == BACKTEST:
        return backtest_forecasts, sa.true()  # its primary key is one row per forecast already
    raise ValueError(f"forecasts are {LIVE!r} or {BACKTEST!r}, not {kind!r}")


def accuracy_by_date(store, threshold, horizon=DEFAULT_HORIZON, kind=LIVE):
    """Return per snapshot date and model version: forecasts `horizon` days ahead scored, summed absolute errors of
    the model and of persistence (the score then = today's), and how many High/Low levels each got right at
    threshold; kind: the live log's forecasts or the backtest's."""
    p, once = _forecasts(kind)

    def hits(predicted):
        right = (predicted >= threshold) == (p.c.realized_score >= threshold)
        return sa.func.sum(sa.case((right, 1), else_=0))

    statement = (sa.select(sa.cast(p.c.snapshot_date, sa.Text).label("date"), p.c.model_version,
                           sa.func.count().label("scored"),
                           sa.func.sum(sa.func.abs(p.c.forecast_score - p.c.realized_score)).label("model_error"),
                           sa.func.sum(sa.func.abs(p.c.score - p.c.realized_score)).label("persistence_error"),
                           hits(p.c.forecast_score).label("model_hits"),
                           hits(p.c.score).label("persistence_hits"))
                 .where(once, p.c.realized_score.isnot(None), p.c.score.isnot(None), p.c.horizon == horizon)
                 .group_by(p.c.snapshot_date, p.c.model_version)
                 .order_by(p.c.snapshot_date))
    frame = _read(store, statement)
    for column in ("scored", "model_hits", "persistence_hits"):
        frame[column] = frame[column].astype(int)
    for column in ("model_error", "persistence_error"):
        frame[column] = frame[column].astype(float)
    return frame


def _logged_day(dialect):
    """Return the UTC day a row was logged on, as 'YYYY-MM-DD' text, on either backend."""
    if dialect == "postgresql":
        return sa.func.to_char(sa.func.timezone("UTC", prediction_log.c.created_at), "YYYY-MM-DD")
    return sa.func.substr(prediction_log.c.created_at, 1, 10)  # SQLite keeps 'YYYY-MM-DD HH:MM:SS' text, in UTC


def inputs_by_day(store, ranges, since=None):
    """Return per logged day and input: rows logged with that input, and how many lay outside ranges[input].

    ranges maps the loader's input names (volume, mkt_cap, 1h, price) to {"min": ..., "max": ...}, as the model
    card's inputs section does; a range of None (an input never present in training) puts every value outside.
    A missing input (NULL) is neither in nor out of range.
    """
    p = prediction_log
    day = _logged_day(store.dialect).label("day")
    columns = [day]
    for column, name in LOG_INPUT_COLUMNS.items():
        value = p.c[column]
        low, high = ranges[name].get("min"), ranges[name].get("max")
        columns.append(sa.func.count(value).label(f"{column}_logged"))
        if low is None or high is None:
            # The model never saw this input (e.g. 1h, absent from the daily history): every value given is outside.
            outside = sa.func.count(value)
        else:
            outside = sa.func.sum(sa.case(((value < float(low)) | (value > float(high)), 1), else_=0))
        columns.append(outside.label(f"{column}_outside"))
    # One row per forecast made: a coin forecast at three horizons logs its inputs three times.
    statement = sa.select(*columns).where(p.c.horizon == DEFAULT_HORIZON)
    if since is not None:
        statement = statement.where(p.c.created_at >= since)
    frame = _read(store, statement.group_by(day).order_by(day))
    parts = []
    for column, name in LOG_INPUT_COLUMNS.items():
        parts.append(pd.DataFrame({"day": frame["day"].astype(str), "input": name,
                                   "logged": frame[f"{column}_logged"].fillna(0).astype(int),
                                   "outside": frame[f"{column}_outside"].fillna(0).astype(int)}))
    if not parts or frame.empty:
        return pd.DataFrame(columns=["day", "input", "logged", "outside"])
    return pd.concat(parts, ignore_index=True)


def coin_log(store, coin_id, limit=30, horizon=DEFAULT_HORIZON):
    """Return the coin's logged forecasts `horizon` days ahead, newest snapshot date first, one per snapshot date and
    model version."""
    p, f = prediction_log, first_forecasts
    statement = (sa.select(sa.cast(f.c.snapshot_date, sa.Text).label("date"), f.c.model_version, p.c.score,
                           p.c.forecast_score, p.c.level, p.c.band_low, p.c.band_high, p.c.horizon,
                           sa.cast(p.c.target_date, sa.Text).label("target_date"), p.c.low80, p.c.high80,
                           p.c.low90, p.c.high90,
                           sa.cast(p.c.realized_date, sa.Text).label("realized_date"), p.c.realized_score)
                 .join_from(f, p, p.c.id == f.c.log_id)
                 .where(f.c.coin_id == coin_id, f.c.horizon == horizon)
                 .order_by(f.c.snapshot_date.desc(), f.c.model_version).limit(limit))
    frame = _read(store, statement)
    # pandas reads a text column with blanks as strings with NaN: a forecast without its outcome yet must say None.
    for name in ("date", "model_version", "level", "target_date", "realized_date"):
        frame[name] = frame[name].astype(object).where(frame[name].notna(), None)
    return frame


def scored_forecasts(store, model_version=None, horizons=None, known_by=None, since=None, kind=LIVE):
    """Return the first logged forecast per coin, snapshot date, model version and horizon whose outcome is stored:
    date, target_date, horizon, model_version, score, predicted, actual, low80, high80, low90, high90.

    known_by: only outcomes whose target date is on or before it (what was known that day); since: only snapshot
    dates on or after it; kind: the live log's forecasts or the backtest's. The frame
    liquidity.modeling.conformal.calibration_tables and the monitor's coverage read.
    """
    p, once = _forecasts(kind)
    statement = (sa.select(sa.cast(p.c.snapshot_date, sa.Text).label("date"),
                           sa.cast(p.c.target_date, sa.Text).label("target_date"), p.c.horizon, p.c.model_version,
                           p.c.score, p.c.forecast_score.label("predicted"), p.c.realized_score.label("actual"),
                           p.c.low80, p.c.high80, p.c.low90, p.c.high90)
                 .where(once, p.c.realized_score.isnot(None), p.c.target_date.isnot(None)))
    if model_version is not None:
        statement = statement.where(p.c.model_version == str(model_version))
    if horizons is not None:
        statement = statement.where(p.c.horizon.in_([int(h) for h in horizons]))
    if known_by is not None:
        statement = statement.where(p.c.target_date <= _day(str(known_by)[:10]))
    if since is not None:
        statement = statement.where(p.c.snapshot_date >= _day(str(since)[:10]))
    frame = _read(store, statement.order_by(p.c.snapshot_date, p.c.horizon))
    frame["horizon"] = frame["horizon"].astype(int)
    return frame
