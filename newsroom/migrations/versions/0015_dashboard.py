"""the desk's dashboard: the times it charts, and an index for each

Revision ID: 0015_dashboard
Revises: 0014_desk_accounts
Create Date: 2026-12-05 17:20:00

The dashboard (issue 13, point 7) counts per hour what happened in a recent window, so
each of its queries is a range of an index on a time:

- email_deliveries.sent_at, and a new failed_at (when a delivery failed for good; null
  before this revision, so older failures are not charted), partial: only failed rows;
- partner_delivery_attempts.attempted_at;
- processed_reports.processed_at, and the hard bounces and complaints a report counted
  (0 for the reports applied before this revision).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015_dashboard"
down_revision: str | None = "0014_desk_accounts"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Plain ADD COLUMN on both databases: no copy of the tables.
    op.add_column(
        "email_deliveries", sa.Column("failed_at", sa.DateTime(timezone=True), nullable=True)
    )
    op.create_index("ix_email_deliveries_sent", "email_deliveries", ["sent_at"])
    op.create_index(
        "ix_email_deliveries_failed",
        "email_deliveries",
        ["failed_at"],
        postgresql_where=sa.text("failed_at IS NOT NULL"),
        sqlite_where=sa.text("failed_at IS NOT NULL"),
    )
    op.create_index(
        "ix_partner_delivery_attempts_at", "partner_delivery_attempts", ["attempted_at"]
    )
    op.add_column(
        "processed_reports",
        sa.Column("bounces", sa.Integer(), nullable=False, server_default="0"),
    )
    op.add_column(
        "processed_reports",
        sa.Column("complaints", sa.Integer(), nullable=False, server_default="0"),
    )
    op.create_index("ix_processed_reports_at", "processed_reports", ["processed_at"])


def downgrade() -> None:
    op.drop_index("ix_processed_reports_at", table_name="processed_reports")
    # ALTER TABLE ... DROP COLUMN (SQLite 3.35+), never a batch copy of a big table.
    op.execute("ALTER TABLE processed_reports DROP COLUMN complaints")
    op.execute("ALTER TABLE processed_reports DROP COLUMN bounces")
    op.drop_index("ix_partner_delivery_attempts_at", table_name="partner_delivery_attempts")
    op.drop_index("ix_email_deliveries_failed", table_name="email_deliveries")
    op.drop_index("ix_email_deliveries_sent", table_name="email_deliveries")
    op.execute("ALTER TABLE email_deliveries DROP COLUMN failed_at")
