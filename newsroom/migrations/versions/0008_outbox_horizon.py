"""outbox: the horizon of the changes still served, and the delivery log by age

Revision ID: 0008_outbox_horizon
Revises: 0007
Create Date: 2026-12-05 07:15:00

Outbox events older than BUDKAVLE_OUTBOX_RETENTION_DAYS are slimmed or deleted
(newsroom/retention.py). One row holds the oldest position still served whole, so the
pull API can answer a cursor from before it with a 410 at the cost of one read. Partner
deliveries get an index on their age, so the log's retention deletes the oldest without
reading the whole log.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008_outbox_horizon"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    horizon = op.create_table(
        "outbox_horizon",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("moved_at", sa.DateTime(timezone=True), nullable=True),
    )
    # Nothing pruned yet: every position from the first is served.
    op.bulk_insert(horizon, [{"id": 1, "position": 1, "moved_at": None}])
    op.create_index("ix_partner_deliveries_created", "partner_deliveries", ["created_at"])


def downgrade() -> None:
    op.drop_index("ix_partner_deliveries_created", table_name="partner_deliveries")
    op.drop_table("outbox_horizon")
