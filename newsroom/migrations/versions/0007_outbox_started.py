"""outbox: note when an event's first step is done

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-04 17:00:00

The sweeper re-rings an unhandled event. Knowing that its first step (the "all" feed) is
done lets that bell run the second step at once, instead of queueing it again at the
lowest priority, where a long backlog of first steps could starve it (worker/events.py).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("outbox_events") as batch:
        batch.add_column(sa.Column("started_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("outbox_events") as batch:
        batch.drop_column("started_at")
