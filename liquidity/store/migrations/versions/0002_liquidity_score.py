"""Store each row's liquidity score (its rank within its date), so a coin's history reads without re-ranking.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22
"""

import sqlalchemy as sa
from alembic import op

# Frozen here, as migrations are: the ranking as it stood when this revision was written (liquidity.store.schema's
# SCORE_UPDATE is the live one), the loader's mid-rank percentile in double precision on both backends.
RANK_EVERY_ROW = sa.text(
    "UPDATE snapshots SET liquidity_score = ranked.score FROM ("
    "SELECT id, ((CAST(RANK() OVER (PARTITION BY date ORDER BY volume / mkt_cap) AS DOUBLE PRECISION) "
    "+ (CAST(COUNT(*) OVER (PARTITION BY date, volume / mkt_cap) AS DOUBLE PRECISION) - 1) / 2) - 0.5) "
    "/ CAST(COUNT(*) OVER (PARTITION BY date) AS DOUBLE PRECISION) AS score FROM snapshots) AS ranked "
    "WHERE snapshots.id = ranked.id")

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade():
    op.add_column("snapshots", sa.Column("liquidity_score", sa.Double(), nullable=True))
    op.get_bind().execute(RANK_EVERY_ROW)


def downgrade():
    op.drop_column("snapshots", "liquidity_score")
