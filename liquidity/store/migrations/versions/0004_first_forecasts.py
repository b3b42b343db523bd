"""Index the first logged forecast per coin, snapshot date and model version, filled from the log already stored.

The coin pages' past forecasts and the monitor read one forecast per (coin, date, model version); finding it by
grouping the log read every row a coin was ever logged with, which grows with traffic.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "first_forecasts",
        sa.Column("coin_id", sa.Text(), nullable=False),
        sa.Column("snapshot_date", sa.Date(), nullable=False),
        sa.Column("model_version", sa.Text(), nullable=False),
        sa.Column("log_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
                  sa.ForeignKey("prediction_log.id", ondelete="CASCADE"), nullable=False),
        sa.PrimaryKeyConstraint("coin_id", "snapshot_date", "model_version", name="pk_first_forecasts"),
    )
    op.create_index("ix_first_forecasts_log_id", "first_forecasts", ["log_id"], unique=True)
    # Frozen SQL: the rows logged before this table existed.
    op.execute("INSERT INTO first_forecasts (coin_id, snapshot_date, model_version, log_id) "
               "SELECT coin_id, snapshot_date, model_version, MIN(id) FROM prediction_log "
               "WHERE coin_id IS NOT NULL AND snapshot_date IS NOT NULL "
               "GROUP BY coin_id, snapshot_date, model_version")


def downgrade():
    op.drop_index("ix_first_forecasts_log_id", table_name="first_forecasts")
    op.drop_table("first_forecasts")
