"""tag index: tag feeds read their newest entries from an index

Revision ID: 0010_tag_index
Revises: 0009_first_position
Create Date: 2026-12-05 07:00:00

A tag feed walked the articles newest first through a correlated subquery until it had
found a page of the tag's articles: all of them, for a rare tag. Each (article, tag) of
a published or retracted article now has a row in tag_entries, ordered as the feed is,
so the feed's page is a range scan of its tag. And tag_days counts each tag's published
articles per day and language, so the tag cloud sums its window's days instead of
counting every article in the window. The rows of today's articles are made here,
set-based, as newsroom.tagindex.sync would make them.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010_tag_index"
down_revision: str | None = "0009_first_position"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The UTC day of tag_entries.at: SQLite keeps "YYYY-MM-DD HH:MM:SS.ffffff" in UTC.
_DAY = {"sqlite": "substr(at, 1, 10)", "postgresql": "CAST(at AT TIME ZONE 'UTC' AS DATE)"}


def fills(dialect: str) -> list[str]:
    """The statements that fill the new tables from today's articles, set-based (the
    same but for the day expression on SQLite and PostgreSQL); bench/tagfeeds.py uses
    them too."""
    return [_FILL_ENTRIES, _FILL_DAYS.format(day=_DAY[dialect])]


_FILL_ENTRIES = """
    INSERT INTO tag_entries (article_id, tag_id, status, language, at)
    SELECT articles.id, article_tags.tag_id, articles.status, articles.language,
           CASE WHEN articles.status = 'published' THEN articles.published_at
                ELSE COALESCE(articles.retracted_at, articles.updated_at) END
    FROM articles
    JOIN article_tags ON article_tags.article_id = articles.id
    WHERE articles.status IN ('published', 'retracted')
"""
_FILL_DAYS = """
    INSERT INTO tag_days (day, tag_id, language, articles)
    SELECT {day}, tag_id, language, COUNT(*)
    FROM tag_entries WHERE status = 'published'
    GROUP BY {day}, tag_id, language
"""


def upgrade() -> None:
    op.create_table(
        "tag_entries",
        sa.Column("article_id", sa.Integer(), nullable=False),
        sa.Column("tag_id", sa.Integer(), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "draft",
                "scheduled",
                "published",
                "retracted",
                name="articlestatus",
                native_enum=False,
                length=16,
            ),
            nullable=False,
        ),
        sa.Column("language", sa.String(length=8), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["article_id"], ["articles.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["tag_id"], ["tags.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("article_id", "tag_id"),
    )
    op.create_index(
        "ix_tag_entries_feed", "tag_entries", ["tag_id", "status", "at", "article_id"]
    )
    op.create_index(
        "ix_tag_entries_language",
        "tag_entries",
        ["tag_id", "status", "language", "at", "article_id"],
    )
    op.create_table(
        "tag_days",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("tag_id", sa.Integer(), nullable=False),
        sa.Column("language", sa.String(length=8), nullable=False),
        sa.Column("articles", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["tag_id"], ["tags.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("day", "tag_id", "language"),
    )
    for statement in fills(op.get_bind().dialect.name):
        op.execute(statement)


def downgrade() -> None:
    op.drop_table("tag_days")
    op.drop_index("ix_tag_entries_language", table_name="tag_entries")
    op.drop_index("ix_tag_entries_feed", table_name="tag_entries")
    op.drop_table("tag_entries")
