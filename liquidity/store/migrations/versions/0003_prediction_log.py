"""Create the prediction log: every forecast made, its inputs and, once known, what happened.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "prediction_log",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("model_version", sa.Text(), nullable=False),
        sa.Column("coin_id", sa.Text(), nullable=True),
        sa.Column("snapshot_date", sa.Date(), nullable=True),
        sa.Column("volume", sa.Double(), nullable=True),
        sa.Column("mkt_cap", sa.Double(), nullable=True),
        sa.Column("h1", sa.Double(), nullable=True),
        sa.Column("price", sa.Double(), nullable=True),
        sa.Column("score", sa.Double(), nullable=True),
        sa.Column("forecast_score", sa.Double(), nullable=False),
        sa.Column("level", sa.Text(), nullable=False),
        sa.Column("band_low", sa.Double(), nullable=True),
        sa.Column("band_high", sa.Double(), nullable=True),
        sa.Column("realized_date", sa.Date(), nullable=True),
        sa.Column("realized_score", sa.Double(), nullable=True),
    )
    op.create_index("ix_prediction_log_coin_id_snapshot_date", "prediction_log", ["coin_id", "snapshot_date"])
    op.create_index("ix_prediction_log_created_at", "prediction_log", ["created_at"])


def downgrade():
    op.drop_index("ix_prediction_log_created_at", table_name="prediction_log")
    op.drop_index("ix_prediction_log_coin_id_snapshot_date", table_name="prediction_log")
    op.drop_table("prediction_log")
