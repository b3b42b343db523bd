"""Create the snapshots table: one row per coin per snapshot date.

Revision ID: 0001
Revises:
Create Date: 2026-11-22
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "snapshots",
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
        sa.UniqueConstraint("date", "coin_id", name="uq_snapshots_date_coin_id"),
    )
    op.create_index("ix_snapshots_coin_id_date", "snapshots", ["coin_id", "date"])


def downgrade():
    op.drop_index("ix_snapshots_coin_id_date", table_name="snapshots")
    op.drop_table("snapshots")
