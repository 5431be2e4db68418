"""The fill's fast path: the rows `articles.create` and the worker make, in bulk.

Creating articles one by one through `newsroom.articles.create`, each followed by the
worker's steps, ran at 220 a second on SQLite and 33 on PostgreSQL here (at 10k, on a
shared machine): 500,000 would take 40 minutes and 4 hours. This
writes the same rows with one multi-row INSERT per table and batch, computing every
derived value with the project's own functions (`outbox.snapshot`, `outbox.visibility`,
`articles._auto_summary`, `make_slug`). `growth.py --check` proves it: a sample made both
ways, compared table by table and row by row; it fails by name when the real path writes
rows in a table this loader does not know. When it fails, teach this file what the new
code writes.

Tables it fills: articles, tags, article_tags, outbox_events (handled, with positions),
archive_slots, and the tag index and day counts (tag_entries, tag_days, as
newsroom.tagindex.sync keeps them). Partners are registered after a fill, so no
partner_deliveries.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, timedelta
from functools import cache
from typing import Any

from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session

from feeds.keys import touched_by
from newsroom import articles, outbox, tagindex
from newsroom.models import (
    ArchiveSlot,
    Article,
    ArticleStatus,
    EventKind,
    OutboxEvent,
    Tag,
    TagEntry,
    article_tags,
)
from newsroom.schemas import ArticleIn
from newsroom.text import make_slug

# The tables this loader writes; growth.py --check names any other table in which the
# real path wrote rows.
FILLS = {"articles", "tags", "article_tags", "outbox_events", "archive_slots"}
FILLS |= {"tag_entries", "tag_days", "tag_days_version"}


class Loader:
    """Keeps what the next batch needs: the tags by slug, the last position of each feed
    and of the outbox. One loader per database, used for one fill from start to end."""

    def __init__(self, session: Session) -> None:
        self.tags: dict[str, Tag] = {tag.slug: tag for tag in session.scalars(select(Tag))}
        for tag in self.tags.values():
            session.expunge(tag)
        self.slots: dict[str, int] = dict(
            session.execute(  # type: ignore[arg-type]
                select(ArchiveSlot.feed_key, func.max(ArchiveSlot.position)).group_by(
                    ArchiveSlot.feed_key
                )
            ).all()
        )
        self.position = outbox.last_position(session)

    def load(self, session: Session, batch: Sequence[ArticleIn], grace: timedelta) -> None:
        """The batch's articles published at their ``published_at``, events handled."""
        made = [self._article(data) for data in batch]
        for position, article in enumerate(made, start=self.position + 1):
            article.first_position = position  # its event's, below (outbox.assign_position)
        self._insert_tags(session, made)
        ids = session.scalars(
            insert(Article).returning(Article.id, sort_by_parameter_order=True),
            [_columns(article) for article in made],
        ).all()
        links, events, slots, entries = [], [], [], []
        days: Counter[tagindex.DayKey] = Counter()
        for article, article_id in zip(made, ids, strict=True):
            article.id = article_id
            links += [{"article_id": article_id, "tag_id": tag.id} for tag in article.tags]
            assert article.published_at is not None
            for tag in article.tags:
                entries.append(
                    {"article_id": article_id, "tag_id": tag.id, "status": article.status,
                     "language": article.language, "at": article.published_at}
                )  # fmt: skip
                days[(article.published_at.astimezone(UTC).date(), tag.id, article.language)] += 1
            now = article.created_at
            handled = now + timedelta(seconds=1)
            self.position += 1
            before = {"visible": False, "language": None, "tags": []}
            payload = {
                "before": before,
                "after": outbox.visibility(article),
                "article": outbox.snapshot(article),
            }
            events.append(
                {
                    "kind": EventKind.PUBLISHED, "article_id": article_id, "version": 1,
                    "payload": payload, "position": self.position, "created_at": now,
                    "next_ring_at": now + grace, "attempts": 0, "last_error": None,
                    "started_at": handled, "handled_at": handled,
                }
            )  # fmt: skip
            for key in touched_by(payload):
                feed = str(key)
                self.slots[feed] = self.slots.get(feed, 0) + 1
                slots.append(
                    {"feed_key": feed, "position": self.slots[feed], "article_id": article_id}
                )
        for table, rows in (
            (article_tags, links), (OutboxEvent, events), (ArchiveSlot, slots),
            (TagEntry, entries),
        ):  # fmt: skip
            if rows:  # an empty list would be one row of defaults
                session.execute(insert(table), rows)
        tagindex.add_days(session, days)

    def _article(self, data: ArticleIn) -> Article:
        """A transient Article as create() leaves it (status published, version 1)."""
        assert data.slug is not None and data.published_at is not None
        now = data.published_at
        html = data.html
        by_slug: dict[str, str] = {}
        for label in data.tags:
            by_slug.setdefault(_tag_slug(label), label)
        tags = []
        for slug in sorted(by_slug):
            if slug not in self.tags:
                self.tags[slug] = Tag(slug=slug, label=by_slug[slug])
            tags.append(self.tags[slug])
        return Article(
            uuid=str(uuid.uuid4()),
            slug=data.slug,
            version=1,
            status=ArticleStatus.PUBLISHED,
            language=data.language,
            title=data.title,
            summary=data.summary or articles._auto_summary(html),
            body_html=html,
            body_markdown=data.body_markdown,
            authors=list(data.authors),
            tags=tags,
            image_url=data.image.url if data.image else None,
            image_alt=data.image.alt if data.image else "",
            image_caption=data.image.caption if data.image else "",
            canonical_url=data.canonical_url,
            published_at=now,
            created_at=now,
            updated_at=now,
            retracted_at=None,
        )

    def _insert_tags(self, session: Session, made: list[Article]) -> None:
        # Ids in order of first use, and in slug order within an article, as one create()
        # after another gives them.
        first_use: dict[str, Tag] = {}
        for article in made:
            for tag in article.tags:
                if tag.id is None:
                    first_use.setdefault(tag.slug, tag)
        new = list(first_use.values())
        if not new:
            return
        ids = session.scalars(
            insert(Tag).returning(Tag.id, sort_by_parameter_order=True),
            [{"slug": tag.slug, "label": tag.label} for tag in new],
        ).all()
        for tag, tag_id in zip(new, ids, strict=True):
            tag.id = tag_id


@cache
def _tag_slug(label: str) -> str:
    return make_slug(label, max_length=80)  # as articles._tags makes it


def _columns(article: Article) -> dict[str, Any]:
    names = [column.key for column in Article.__table__.columns if column.key != "id"]
    return {name: getattr(article, name) for name in names}
