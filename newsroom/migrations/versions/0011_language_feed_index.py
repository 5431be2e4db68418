"""articles: an index for the language feeds, newest first

Revision ID: 0011_language_feed_index
Revises: 0010_tag_index
Create Date: 2026-12-05 09:00:00

A language feed reads the newest published articles of one language, and the newest
retracted ones for its tombstones. With only (status, published_at) and (language,
first_position) to choose from, SQLite read every article of the language and sorted them
for the tombstones (97 ms at 500k articles, on every publish) and a rare language walked
the whole archive for its entries. (status, language, published_at) is one range of each.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0011_language_feed_index"
down_revision: str | None = "0010_tag_index"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_articles_language_feed", "articles", ["status", "language", "published_at"]
    )


def downgrade() -> None:
    op.drop_index("ix_articles_language_feed", table_name="articles")
