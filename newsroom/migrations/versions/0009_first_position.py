"""digests: an article's first position, editions planned in steps

Revision ID: 0009_first_position
Revises: 0008_outbox_horizon
Create Date: 2026-12-05 07:10:00

"Which articles are new since position P" grouped every "published" outbox event ever,
once per subscriber group. Each article now keeps the position of its first such event,
indexed per language, so the question is a range of that index; and the outbox can be
pruned without digests noticing. Readers of a rare tag are served by the tag's own
articles: article_tags gets an index that starts with the tag. An edition's deliveries
are written in short transactions, so a lease and a "done" mark say whether its
planning is finished; editions planned before this were planned in one transaction,
and are done.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009_first_position"
down_revision: str | None = "0008_outbox_horizon"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# One pass over the events, joined by id (UPDATE ... FROM: PostgreSQL, SQLite >= 3.33);
# a correlated subquery per article would scan the outbox once per article.
_BACKFILL = """
UPDATE articles SET first_position = firsts.position
FROM (
    SELECT article_id, min(position) AS position FROM outbox_events
    WHERE kind = 'article.published' AND position IS NOT NULL
    GROUP BY article_id
) AS firsts
WHERE articles.id = firsts.article_id
"""


def upgrade() -> None:
    with op.batch_alter_table("articles") as batch:
        batch.add_column(sa.Column("first_position", sa.Integer(), nullable=True))
    op.execute(_BACKFILL)
    op.create_index("ix_articles_first_position", "articles", ["language", "first_position"])
    op.create_index("ix_article_tags_tag", "article_tags", ["tag_id", "article_id"])
    with op.batch_alter_table("editions") as batch:
        batch.add_column(
            sa.Column("plan_lease_until", sa.DateTime(timezone=True), nullable=True)
        )
        batch.add_column(sa.Column("plan_done_at", sa.DateTime(timezone=True), nullable=True))
    op.execute("UPDATE editions SET plan_done_at = planned_at")


def downgrade() -> None:
    with op.batch_alter_table("editions") as batch:
        batch.drop_column("plan_done_at")
        batch.drop_column("plan_lease_until")
    op.drop_index("ix_article_tags_tag", table_name="article_tags")
    op.drop_index("ix_articles_first_position", table_name="articles")
    with op.batch_alter_table("articles") as batch:
        batch.drop_column("first_position")
