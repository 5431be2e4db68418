"""articles: the editor's lead and keep-out-of-email flags

Revision ID: 0014_article_email_flags
Revises: 0011_language_feed_index
Create Date: 2026-12-05 13:30:00

Two booleans an editor sets per article (issue 13, point 2): ``lead`` makes it the lead
story of the digests it is in, ``keep_out_of_email`` keeps it out of every email while
feeds, pages and partners still carry it. Both false for every existing article, so
digests go on as before.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014_article_email_flags"
down_revision: str | None = "0011_language_feed_index"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("articles") as batch:
        batch.add_column(sa.Column("lead", sa.Boolean(), nullable=False, server_default=sa.false()))
        batch.add_column(
            sa.Column("keep_out_of_email", sa.Boolean(), nullable=False, server_default=sa.false())
        )


def downgrade() -> None:
    with op.batch_alter_table("articles") as batch:
        batch.drop_column("keep_out_of_email")
        batch.drop_column("lead")
