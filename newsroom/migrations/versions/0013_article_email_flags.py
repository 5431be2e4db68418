"""articles: the editor's lead and keep-out-of-email flags

Revision ID: 0013_article_email_flags
Revises: 0012_tag_days_version
Create Date: 2026-12-05 13:30:00

Two booleans an editor sets per article (issue 13, point 2): ``lead`` makes it the lead
story of the digests it is in, ``keep_out_of_email`` keeps it out of every email while
feeds, pages and partners still carry it. Both false for every existing article, so
digests go on as before.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013_article_email_flags"
down_revision: str | None = "0012_tag_days_version"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Plain ADD COLUMN on both databases: no copy of the articles table.
    op.add_column(
        "articles", sa.Column("lead", sa.Boolean(), nullable=False, server_default=sa.false())
    )
    op.add_column(
        "articles",
        sa.Column("keep_out_of_email", sa.Boolean(), nullable=False, server_default=sa.false()),
    )


def downgrade() -> None:
    # ALTER TABLE ... DROP COLUMN (SQLite 3.35+), never a batch copy: on SQLite that drops
    # and recreates the articles table, and with foreign keys on, dropping it deletes every
    # row that cascades from an article (tags, archive slots, outbox events).
    op.execute("ALTER TABLE articles DROP COLUMN keep_out_of_email")
    op.execute("ALTER TABLE articles DROP COLUMN lead")
