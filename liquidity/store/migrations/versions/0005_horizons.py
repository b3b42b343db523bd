"""Forecasts at 1, 7 and 30 days: each logged forecast says its horizon, its target date and its 80 % and 90 %
intervals; the first forecast is kept per horizon too; the intervals' live calibration has a table of its own.

Rows logged before this revision were next-snapshot forecasts with a band: horizon 1, their band as the 80 % interval.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("prediction_log") as batch:
        batch.add_column(sa.Column("horizon", sa.Integer(), nullable=False, server_default="1"))
        batch.add_column(sa.Column("target_date", sa.Date(), nullable=True))
        for name in ("low80", "high80", "low90", "high90"):
            batch.add_column(sa.Column(name, sa.Double(), nullable=True))
    op.execute("UPDATE prediction_log SET low80 = band_low, high80 = band_high")
    # The primary key gains the horizon: rebuilt and refilled (frozen SQL) from the log, as 0004 first filled it.
    op.drop_index("ix_first_forecasts_log_id", table_name="first_forecasts")
    op.drop_table("first_forecasts")
    op.create_table(
        "first_forecasts",
        sa.Column("coin_id", sa.Text(), nullable=False),
        sa.Column("snapshot_date", sa.Date(), nullable=False),
        sa.Column("model_version", sa.Text(), nullable=False),
        sa.Column("horizon", sa.Integer(), nullable=False),
        sa.Column("log_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
                  sa.ForeignKey("prediction_log.id", ondelete="CASCADE"), nullable=False),
        sa.PrimaryKeyConstraint("coin_id", "snapshot_date", "model_version", "horizon", name="pk_first_forecasts"),
    )
    op.create_index("ix_first_forecasts_log_id", "first_forecasts", ["log_id"], unique=True)
    op.execute("INSERT INTO first_forecasts (coin_id, snapshot_date, model_version, horizon, log_id) "
               "SELECT coin_id, snapshot_date, model_version, horizon, MIN(id) FROM prediction_log "
               "WHERE coin_id IS NOT NULL AND snapshot_date IS NOT NULL "
               "GROUP BY coin_id, snapshot_date, model_version, horizon")
    op.create_table(
        "calibrations",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("calibrated_on", sa.Date(), nullable=False),
        sa.Column("model_version", sa.Text(), nullable=False),
        sa.Column("tables", sa.Text(), nullable=False),
    )
    op.create_index("ix_calibrations_model_version_calibrated_on", "calibrations",
                    ["model_version", "calibrated_on"])


def downgrade():
    op.drop_index("ix_calibrations_model_version_calibrated_on", table_name="calibrations")
    op.drop_table("calibrations")
    op.drop_index("ix_first_forecasts_log_id", table_name="first_forecasts")
    op.drop_table("first_forecasts")
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
    op.execute("INSERT INTO first_forecasts (coin_id, snapshot_date, model_version, log_id) "
               "SELECT coin_id, snapshot_date, model_version, MIN(id) FROM prediction_log "
               "WHERE coin_id IS NOT NULL AND snapshot_date IS NOT NULL AND horizon = 1 "
               "GROUP BY coin_id, snapshot_date, model_version")
    with op.batch_alter_table("prediction_log") as batch:
        for name in ("high90", "low90", "high80", "low80", "target_date", "horizon"):
            batch.drop_column(name)
