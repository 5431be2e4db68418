"""desk: test sends of the next edition

Revision ID: 0016_test_sends
Revises: 0015_dashboard
Create Date: 2026-12-05 17:10:00

An editor sends the next edition to any address as a test: one row per request, with a
unique key, that a worker claims and marks sent or failed.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016_test_sends"
down_revision: str | None = "0015_dashboard"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "test_sends",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("key", sa.String(32), nullable=False, unique=True),
        sa.Column(
            "requested_by",
            sa.Integer(),
            sa.ForeignKey("desk_users.id", ondelete="SET NULL"),
            nullable=True,
        ),
        sa.Column("email", sa.String(254), nullable=False),
        sa.Column("language", sa.String(8), nullable=False),
        sa.Column(
            "frequency",
            sa.Enum(
                "immediate", "daily", "weekly", name="frequency", native_enum=False, length=16
            ),
            nullable=False,
        ),
        sa.Column(
            "status",
            sa.Enum(
                "queued", "sent", "failed", name="testsendstatus", native_enum=False, length=16
            ),
            nullable=False,
        ),
        sa.Column("subject", sa.String(400), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("leased_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index("ix_test_sends_due", "test_sends", ["status", "requested_at"])


def downgrade() -> None:
    op.drop_table("test_sends")
