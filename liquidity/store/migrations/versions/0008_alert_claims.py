"""When an alert's delivery was claimed: a run killed while sending leaves the alert claimed, and a later run must be
able to tell such an abandoned claim from one still being sent.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade():
    op.add_column("alerts", sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=True))


def downgrade():
    with op.batch_alter_table("alerts") as batch:
        batch.drop_column("claimed_at")
