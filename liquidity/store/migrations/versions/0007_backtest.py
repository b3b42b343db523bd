"""A backtest's forecasts, kept apart from the live prediction log: what one model version would have forecast from
each stored snapshot, and what happened.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "backtest_forecasts",
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
    )
    op.create_index("ix_backtest_forecasts_created_at", "backtest_forecasts", ["created_at"])


def downgrade():
    op.drop_index("ix_backtest_forecasts_created_at", table_name="backtest_forecasts")
    op.drop_table("backtest_forecasts")
