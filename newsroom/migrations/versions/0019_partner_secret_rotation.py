"""partners: the previous signing secret and the end of its overlap

Revision ID: 0019_partner_secret_rotation
Revises: 0018_partner_log_indexes
Create Date: 2026-12-05 17:10:00

Rotating a partner's signing secret (issue 13, point 6) keeps the old one signing beside
the new one for an overlap period, so a partner can switch without a push it rejects.
Both columns empty for every existing partner: nothing is rotating.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0019_partner_secret_rotation"
down_revision: str | None = "0018_partner_log_indexes"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Plain ADD COLUMN on both databases: no copy of the partners table.
    op.add_column("partners", sa.Column("previous_secret", sa.String(100), nullable=True))
    op.add_column(
        "partners",
        sa.Column("previous_secret_expires_at", sa.DateTime(timezone=True), nullable=True),
    )


def downgrade() -> None:
    # ALTER TABLE ... DROP COLUMN (SQLite 3.35+), never a batch copy: on SQLite that
    # recreates the partners table, and with foreign keys on, dropping it deletes every
    # delivery that cascades from a partner.
    op.execute("ALTER TABLE partners DROP COLUMN previous_secret_expires_at")
    op.execute("ALTER TABLE partners DROP COLUMN previous_secret")
