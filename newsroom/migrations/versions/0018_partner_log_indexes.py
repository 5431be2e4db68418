"""partner_deliveries: a partner's log and last success by index

Revision ID: 0018_partner_log_indexes
Revises: 0017_desk_article_list
Create Date: 2026-12-05 17:30:00

The desk reads, per partner, the newest deliveries (its log) and the newest delivered_at
(its last success). With no index starting (partner_id, id) or (partner_id, delivered_at),
PostgreSQL walked the primary key backwards past every other partner's deliveries for the
log, and the overview and partners pages aggregated the whole log: 90 days of it for 50
partners (100,000 deliveries) made them 190-250 ms (bench/desk_pages.py).
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0018_partner_log_indexes"
down_revision: str | None = "0017_desk_article_list"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_partner_deliveries_log", "partner_deliveries", ["partner_id", "id"])
    op.create_index(
        "ix_partner_deliveries_delivered", "partner_deliveries", ["partner_id", "delivered_at"]
    )


def downgrade() -> None:
    op.drop_index("ix_partner_deliveries_delivered", table_name="partner_deliveries")
    op.drop_index("ix_partner_deliveries_log", table_name="partner_deliveries")
