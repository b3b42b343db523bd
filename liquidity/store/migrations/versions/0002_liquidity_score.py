"""Store each row's liquidity score (its rank within its date), so a coin's history reads without re-ranking.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22
"""

import sqlalchemy as sa
from alembic import op

from liquidity.store.schema import score_update

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade():
    op.add_column("snapshots", sa.Column("liquidity_score", sa.Double(), nullable=True))
    bind = op.get_bind()
    bind.execute(score_update(bind.dialect.name), {"start": "0001-01-01", "end": "9999-12-31"})


def downgrade():
    op.drop_column("snapshots", "liquidity_score")
