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
    # Its index leads with date, so it also serves every by-date read: a separate date index would only slow imports.
    sa.UniqueConstraint("date", "coin_id", name="uq_snapshots_date_coin_id"),
    sa.Index("ix_snapshots_coin_id_date", "coin_id", "date"),
)

# Store column -> loader column: the frames the store returns use the loader's names.
CHANGE_COLUMNS = {"h1": "1h", "h24": "24h", "d7": "7d"}
FRAME_COLUMNS = ("date", "coin_id", "coin", "symbol", "price", "volume", "mkt_cap", "1h", "24h", "7d", "source")
