"""archive slots: stable RFC 5005 archive pages

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-26 21:30:00

Archive pages used to be cut from the published articles counted oldest first, so a
retraction or a backdated article moved every later page's boundaries. Each article now
keeps the slot it got when it first appeared in a feed, and a slot notes when its article
left the feed. The published articles of today get theirs in the order the pages had, so
no page changes on the upgrade.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Per feed key: its published articles, numbered oldest first as the old pages were.
_BACKFILL = [
    """
    INSERT INTO archive_slots (feed_key, position, article_id)
    SELECT 'all', ROW_NUMBER() OVER (ORDER BY published_at, id), id
    FROM articles WHERE status = 'published'
    """,
    """
    INSERT INTO archive_slots (feed_key, position, article_id)
    SELECT 'lang/' || language,
           ROW_NUMBER() OVER (PARTITION BY language ORDER BY published_at, id), id
    FROM articles WHERE status = 'published'
    """,
    """
    INSERT INTO archive_slots (feed_key, position, article_id)
    SELECT 'tags/' || tags.slug,
           ROW_NUMBER() OVER (PARTITION BY tags.slug ORDER BY articles.published_at, articles.id),
           articles.id
    FROM articles
    JOIN article_tags ON article_tags.article_id = articles.id
    JOIN tags ON tags.id = article_tags.tag_id
    WHERE articles.status = 'published'
    """,
]


def upgrade() -> None:
    op.create_table(
        "archive_slots",
        sa.Column("feed_key", sa.String(length=90), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("article_id", sa.Integer(), nullable=False),
        sa.Column("left_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["article_id"], ["articles.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("feed_key", "position"),
        sa.UniqueConstraint("feed_key", "article_id", name="uq_archive_slots_article"),
    )
    for statement in _BACKFILL:
        op.execute(statement)


def downgrade() -> None:
    op.drop_table("archive_slots")
