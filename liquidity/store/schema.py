"""The market store's tables, as SQLAlchemy Core metadata (the migrations create them)."""

import sqlalchemy as sa

metadata = sa.MetaData()

# One row per coin per snapshot date, in the loader's units: changes are fractions, missing is NULL (never 0).
snapshots = sa.Table(
    "snapshots",
    metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True),
    sa.Column("date", sa.Date(), nullable=False),
    sa.Column("coin_id", sa.Text(), nullable=False),
    sa.Column("coin", sa.Text(), nullable=False),
    sa.Column("symbol", sa.Text(), nullable=False),
    sa.Column("price", sa.Double(), nullable=False),
    sa.Column("volume", sa.Double(), nullable=False),
    sa.Column("mkt_cap", sa.Double(), nullable=False),
    sa.Column("h1", sa.Double(), nullable=True),
    sa.Column("h24", sa.Double(), nullable=True),
    sa.Column("d7", sa.Double(), nullable=True),
    sa.Column("source", sa.Text(), nullable=False),
    # The coin's mid-rank percentile of volume / mkt_cap within its date; recomputed for every date a write touches.
    sa.Column("liquidity_score", sa.Double(), nullable=True),
    # Its index leads with date, so it also serves every by-date read: a separate date index would only slow imports.
    sa.UniqueConstraint("date", "coin_id", name="uq_snapshots_date_coin_id"),
    sa.Index("ix_snapshots_coin_id_date", "coin_id", "date"),
)

# Store column -> loader column: the frames the store returns use the loader's names.
CHANGE_COLUMNS = {"h1": "1h", "h24": "24h", "d7": "7d"}
FRAME_COLUMNS = ("date", "coin_id", "coin", "symbol", "price", "volume", "mkt_cap", "1h", "24h", "7d", "source",
                 "liquidity_score")
# What a frame written to the store must hold (the score is the store's to compute).
INPUT_FRAME_COLUMNS = FRAME_COLUMNS[:-2]


# The UPDATE that sets liquidity_score on every row dated :start..:end from its date's whole snapshot: the same
# mid-rank percentile as liquidity.dataset.add_liquidity_score, bit for bit ((average rank - 0.5) / n, ties
# averaged), in double precision on both backends (PostgreSQL would otherwise divide in numeric).
SCORE_UPDATE = sa.text(
    "UPDATE snapshots SET liquidity_score = ranked.score FROM ("
    "SELECT id, ((CAST(RANK() OVER (PARTITION BY date ORDER BY volume / mkt_cap) AS DOUBLE PRECISION) "
    "+ (CAST(COUNT(*) OVER (PARTITION BY date, volume / mkt_cap) AS DOUBLE PRECISION) - 1) / 2) - 0.5) "
    "/ CAST(COUNT(*) OVER (PARTITION BY date) AS DOUBLE PRECISION) AS score "
    "FROM snapshots WHERE date BETWEEN :start AND :end) AS ranked "
    "WHERE snapshots.id = ranked.id")

# Every forecast the app or a command made: what went in, what came out, and (once the next snapshot is stored)
# what happened. Inputs are in the loader's units (changes as fractions); a missing input is NULL.
prediction_log = sa.Table(
    "prediction_log",
    metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("source", sa.Text(), nullable=False),
    sa.Column("model_version", sa.Text(), nullable=False),
    # Known when the forecast came from a stored snapshot (coin pages, the API by coin, daily, the forecast command).
    sa.Column("coin_id", sa.Text(), nullable=True),
    sa.Column("snapshot_date", sa.Date(), nullable=True),
    sa.Column("volume", sa.Double(), nullable=True),
    sa.Column("mkt_cap", sa.Double(), nullable=True),
    sa.Column("h1", sa.Double(), nullable=True),
    sa.Column("price", sa.Double(), nullable=True),
    # Today's liquidity score, when the forecast knew it: what persistence forecasts for the next snapshot.
    sa.Column("score", sa.Double(), nullable=True),
    sa.Column("forecast_score", sa.Double(), nullable=False),
    sa.Column("level", sa.Text(), nullable=False),
    sa.Column("band_low", sa.Double(), nullable=True),
    sa.Column("band_high", sa.Double(), nullable=True),
    # Days ahead the forecast looks (1 = the next snapshot) and the date it is for: snapshot_date + horizon.
    sa.Column("horizon", sa.Integer(), nullable=False, server_default="1"),
    sa.Column("target_date", sa.Date(), nullable=True),
    # The conformal 80 % and 90 % intervals (band_low/band_high repeat the 80 % one for older readers).
    sa.Column("low80", sa.Double(), nullable=True),
    sa.Column("high80", sa.Double(), nullable=True),
    sa.Column("low90", sa.Double(), nullable=True),
    sa.Column("high90", sa.Double(), nullable=True),
    # The next stored snapshot date after snapshot_date and the coin's score on it: set when that snapshot arrives.
    sa.Column("realized_date", sa.Date(), nullable=True),
    sa.Column("realized_score", sa.Double(), nullable=True),
    sa.Index("ix_prediction_log_coin_id_snapshot_date", "coin_id", "snapshot_date"),
    sa.Index("ix_prediction_log_created_at", "created_at"),
)

# The first logged forecast per coin, snapshot date, model version and horizon: a coin page viewed a hundred times
# logs the same forecast a hundred times, and the past-forecast table and the monitor count it once. Reading it here,
# not by grouping the log, keeps those reads as fast after a million requests as after ten.
first_forecasts = sa.Table(
    "first_forecasts",
    metadata,
    sa.Column("coin_id", sa.Text(), nullable=False),
    sa.Column("snapshot_date", sa.Date(), nullable=False),
    sa.Column("model_version", sa.Text(), nullable=False),
    sa.Column("horizon", sa.Integer(), nullable=False),
    sa.Column("log_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
              sa.ForeignKey("prediction_log.id", ondelete="CASCADE"), nullable=False),
    sa.PrimaryKeyConstraint("coin_id", "snapshot_date", "model_version", "horizon", name="pk_first_forecasts"),
    sa.Index("ix_first_forecasts_log_id", "log_id", unique=True),
)

# The intervals' live calibration: each run of `daily` stores the conformal tables (liquidity.modeling.conformal)
# computed from the outcomes known on calibrated_on, as JSON in the model card's conformal.tables shape.
calibrations = sa.Table(
    "calibrations",
    metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("calibrated_on", sa.Date(), nullable=False),
    sa.Column("model_version", sa.Text(), nullable=False),
    sa.Column("tables", sa.Text(), nullable=False),
    sa.Index("ix_calibrations_model_version_calibrated_on", "model_version", "calibrated_on"),
)

# A backtest of one model version over the stored history: what it would have forecast from each stored snapshot, at
# each horizon, with the intervals the forecast command reproduces for that date, and (once stored) what happened.
# Kept apart from prediction_log: these forecasts were never served, so the live monitor must not count them.
backtest_forecasts = sa.Table(
    "backtest_forecasts",
    metadata,
    sa.Column("model_version", sa.Text(), nullable=False),
    sa.Column("coin_id", sa.Text(), nullable=False),
    sa.Column("snapshot_date", sa.Date(), nullable=False),
    sa.Column("horizon", sa.Integer(), nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("target_date", sa.Date(), nullable=True),
    sa.Column("score", sa.Double(), nullable=True),
    sa.Column("forecast_score", sa.Double(), nullable=False),
    sa.Column("low80", sa.Double(), nullable=True),
    sa.Column("high80", sa.Double(), nullable=True),
    sa.Column("low90", sa.Double(), nullable=True),
    sa.Column("high90", sa.Double(), nullable=True),
    sa.Column("realized_date", sa.Date(), nullable=True),
    sa.Column("realized_score", sa.Double(), nullable=True),
    sa.PrimaryKeyConstraint("model_version", "coin_id", "snapshot_date", "horizon", name="pk_backtest_forecasts"),
    # The read model's version check reads the newest run's time from this index at every check.
    sa.Index("ix_backtest_forecasts_created_at", "created_at"),
)

# Record the first of the log rows :first..:last per (coin, date, model version, horizon) not recorded yet. The writer
# runs it in the transaction that wrote those rows, so no later row can be recorded before an earlier one of its key.
RECORD_FIRST_FORECASTS = sa.text(
    "INSERT INTO first_forecasts (coin_id, snapshot_date, model_version, horizon, log_id) "
    "SELECT coin_id, snapshot_date, model_version, horizon, MIN(id) FROM prediction_log "
    "WHERE id BETWEEN :first AND :last AND coin_id IS NOT NULL AND snapshot_date IS NOT NULL "
    "GROUP BY coin_id, snapshot_date, model_version, horizon "
    "ON CONFLICT (coin_id, snapshot_date, model_version, horizon) DO NOTHING")

# Before log rows older than :cutoff are pruned, point each first forecast they hold at its key's first row that
# stays (the table then says what grouping the remaining log would say); keys with none left go with the rows.
REPOINT_FIRST_FORECASTS = sa.text("""
UPDATE first_forecasts SET log_id = COALESCE((
    SELECT MIN(p.id) FROM prediction_log p
    WHERE p.coin_id = first_forecasts.coin_id AND p.snapshot_date = first_forecasts.snapshot_date
      AND p.model_version = first_forecasts.model_version AND p.horizon = first_forecasts.horizon
      AND p.created_at >= :cutoff), log_id)
WHERE log_id IN (SELECT id FROM prediction_log WHERE created_at < :cutoff)
""").bindparams(sa.bindparam("cutoff", type_=sa.DateTime(timezone=True)))  # stored as the log's created_at is

# Set on every logged forecast whose outcome is now stored: the next snapshot's date for a 1-day (next-snapshot)
# forecast, the target date (snapshot date + horizon) for a longer one, and the coin's score on it (NULL when the coin
# is not in it). Rows still without a score are looked at again, so a re-run of an interrupted
# import completes them. Correlated subqueries on the (date, coin_id) index: portable, and one lookup per row.
_SCORE_OUTCOMES = """
UPDATE {table} SET
  realized_date = CASE WHEN horizon = 1
                       THEN (SELECT MIN(n.date) FROM snapshots n WHERE n.date > {table}.snapshot_date)
                       ELSE target_date END,
  realized_score = (SELECT s.liquidity_score FROM snapshots s
                    WHERE s.coin_id = {table}.coin_id
                      AND s.date = CASE WHEN {table}.horizon = 1
                                        THEN (SELECT MIN(n.date) FROM snapshots n
                                              WHERE n.date > {table}.snapshot_date)
                                        ELSE {table}.target_date END)
WHERE realized_score IS NULL AND coin_id IS NOT NULL AND snapshot_date IS NOT NULL
  AND ((horizon = 1 AND snapshot_date < (SELECT MAX(d.date) FROM snapshots d))
       OR (horizon > 1 AND target_date <= (SELECT MAX(d.date) FROM snapshots d)))
"""
SCORE_OUTCOMES = sa.text(_SCORE_OUTCOMES.format(table="prediction_log"))
# The same for a backtest's forecasts, set once its run has written them.
SCORE_BACKTEST_OUTCOMES = sa.text(_SCORE_OUTCOMES.format(table="backtest_forecasts"))


# Alert rules a risk desk keeps: a watchlist (NULL: every coin), one horizon, one condition and its number, and where
# to POST each alert (NULL: shown on /alerts only). liquidity/alerts.py says what the conditions mean.
alert_rules = sa.Table(
    "alert_rules",
    metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("name", sa.Text(), nullable=False),
    sa.Column("coins", sa.Text(), nullable=True),  # a JSON list of coin ids
    sa.Column("horizon", sa.Integer(), nullable=False),
    sa.Column("condition", sa.Text(), nullable=False),
    sa.Column("value", sa.Double(), nullable=True),
    sa.Column("webhook_url", sa.Text(), nullable=True),
)

# Every alert raised, once per rule, coin, snapshot date and horizon (so a re-run of `daily` raises nothing twice),
# with what was forecast and how its delivery went. A deleted rule's alerts stay, with its name.
alerts = sa.Table(
    "alerts",
    metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True),
    sa.Column("rule_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
              sa.ForeignKey("alert_rules.id", ondelete="SET NULL"), nullable=True),
    sa.Column("rule_name", sa.Text(), nullable=False),
    sa.Column("coin_id", sa.Text(), nullable=False),
    sa.Column("snapshot_date", sa.Date(), nullable=False),
    sa.Column("horizon", sa.Integer(), nullable=False),
    sa.Column("raised_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("message", sa.Text(), nullable=False),
    sa.Column("payload", sa.Text(), nullable=False),  # the JSON a webhook receives
    # shown (no webhook), pending, sending, delivered or failed
    sa.Column("status", sa.Text(), nullable=False),
    sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"),
    sa.Column("last_error", sa.Text(), nullable=True),
    sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=True),  # when a run began sending it
    sa.UniqueConstraint("rule_id", "coin_id", "snapshot_date", "horizon", name="uq_alerts_rule_coin_date_horizon"),
    sa.Index("ix_alerts_raised_at", "raised_at"),
)
