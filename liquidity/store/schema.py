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


def score_update(dialect):
    """Return the UPDATE that sets liquidity_score on every row dated :start..:end from its date's whole snapshot.

    The same mid-rank percentile as liquidity.dataset.add_liquidity_score, bit for bit: (average rank - 0.5) / n,
    ties averaged, in double precision on both backends (PostgreSQL would otherwise divide in numeric).
    """
    real = "DOUBLE PRECISION"
    ratio = "volume / mkt_cap"
    ranked = (f"SELECT id, ((CAST(RANK() OVER (PARTITION BY date ORDER BY {ratio}) AS {real}) "
              f"+ (CAST(COUNT(*) OVER (PARTITION BY date, {ratio}) AS {real}) - 1) / 2) - 0.5) "
              f"/ CAST(COUNT(*) OVER (PARTITION BY date) AS {real}) AS score "
              "FROM snapshots WHERE date BETWEEN :start AND :end")
    return sa.text(f"UPDATE snapshots SET liquidity_score = ranked.score FROM ({ranked}) AS ranked "
                   "WHERE snapshots.id = ranked.id")
