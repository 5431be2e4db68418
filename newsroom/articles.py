"""Publishing: create, update, retract and schedule articles, each with its outbox event.

Every function works inside the caller's transaction, so the article row and its event
commit together or not at all; the caller rings the bell after the commit.
"""

from __future__ import annotations

import secrets
import string
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from newsroom import outbox, tagindex
from newsroom.errors import DomainError
from newsroom.models import Article, ArticleStatus, EventKind, OutboxEvent, Tag
from newsroom.sanitize import visible_text
from newsroom.schemas import ArticleIn
from newsroom.text import make_slug

AUTO_SUMMARY_LENGTH = 280


class ArticleError(DomainError):
    pass


class SlugTaken(ArticleError):
    status = 409


class NotFound(ArticleError):
    status = 404


class Conflict(ArticleError):
    status = 409


def get(session: Session, slug: str, *, for_update: bool = False) -> Article:
    """The article; ``for_update`` locks its row until the commit (PostgreSQL), so two
    concurrent changes take turns instead of both building on the same version."""
    query = select(Article).where(Article.slug == slug)
    if for_update:
        query = query.with_for_update()
    article = session.scalar(query)
    if article is None:
        raise NotFound("slug", f"no article {slug!r}")
    return article


def create(
    session: Session, data: ArticleIn, now: datetime, grace: timedelta
) -> tuple[Article, OutboxEvent | None]:
    if data.slug is not None:
        if _slug_exists(session, data.slug):
            raise SlugTaken("slug", f"{data.slug!r} is taken by another article")
        slug = data.slug
    else:
        slug = _free_slug(session, make_slug(data.title) or "artikel")
    article = Article(slug=slug, version=1, created_at=now)
    before: dict[str, Any] = {"visible": False, "language": None, "tags": []}
    _apply(session, article, data, now)
    session.add(article)
    session.flush()  # the id, even when no event is written (drafts, schedules)
    tagindex.sync(session, article)
    return article, _event_for(session, article, before, None, now, grace)


def update(
    session: Session, slug: str, data: ArticleIn, now: datetime, grace: timedelta
) -> tuple[Article, OutboxEvent | None]:
    """Replace the article's content (PUT). Sending the same content again changes nothing."""
    article = get(session, slug, for_update=True)
    if data.slug is not None and data.slug != slug:
        raise ArticleError("slug", f"cannot change from {slug!r}; retract and publish anew")
    if article.status is ArticleStatus.RETRACTED:
        raise Conflict("slug", f"{slug!r} is retracted and cannot be updated")
    fingerprint, updated_at = _fingerprint(article), article.updated_at
    was = article.status
    before = outbox.visibility(article)
    _apply(session, article, data, now)
    if _fingerprint(article) == fingerprint:
        article.updated_at = updated_at
        return article, None
    article.version += 1
    tagindex.sync(session, article)
    return article, _event_for(session, article, before, was, now, grace)


def retract(
    session: Session, slug: str, now: datetime, grace: timedelta
) -> tuple[Article, OutboxEvent | None]:
    """Take an article out of circulation (DELETE); retracting twice is a no-op."""
    article = get(session, slug, for_update=True)
    if article.status is ArticleStatus.RETRACTED:
        return article, None
    was = article.status
    before = outbox.visibility(article)
    article.status = ArticleStatus.RETRACTED
    article.retracted_at = now
    article.version += 1
    tagindex.sync(session, article)  # here: a retracted draft is a tombstone too
    if was is not ArticleStatus.PUBLISHED:  # never seen by anyone: nothing to tell
        return article, None
    event = outbox.record(session, article, EventKind.RETRACTED, before, now, grace)
    return article, event


def publish_due(session: Session, now: datetime, grace: timedelta) -> list[OutboxEvent]:
    """Scheduled articles whose time has come go live, each with its event."""
    due = session.scalars(
        select(Article)
        .where(Article.status == ArticleStatus.SCHEDULED, Article.published_at <= now)
        .order_by(Article.published_at, Article.id)
        .with_for_update(skip_locked=True)
    ).all()
    events = []
    for article in due:
        before = outbox.visibility(article)
        article.status = ArticleStatus.PUBLISHED
        article.updated_at = max(article.updated_at, article.published_at or now)
        tagindex.sync(session, article)
        events.append(outbox.record(session, article, EventKind.PUBLISHED, before, now, grace))
    return events


def listing(
    session: Session, status: ArticleStatus | None = None, limit: int = 50, offset: int = 0
) -> Sequence[Article]:
    query = select(Article).order_by(Article.id.desc()).limit(limit).offset(offset)
    if status is not None:
        query = query.where(Article.status == status)
    return session.scalars(query).all()


def _apply(session: Session, article: Article, data: ArticleIn, now: datetime) -> None:
    html = data.html
    article.title = data.title
    article.language = data.language
    article.body_html = html
    article.body_markdown = data.body_markdown
    article.summary = data.summary or _auto_summary(html)
    article.authors = list(data.authors)
    article.tags = _tags(session, data.tags)
    article.image_url = data.image.url if data.image else None
    article.image_alt = data.image.alt if data.image else ""
    article.image_caption = data.image.caption if data.image else ""
    article.canonical_url = data.canonical_url
    article.lead = data.lead
    article.keep_out_of_email = data.keep_out_of_email
    if data.status == "draft":
        article.status = ArticleStatus.DRAFT
        article.published_at = data.published_at
    elif article.status is ArticleStatus.PUBLISHED and data.published_at is None:
        pass  # an update keeps the original publication time
    else:
        article.published_at = data.published_at or article.published_at or now
        live = article.published_at <= now
        article.status = ArticleStatus.PUBLISHED if live else ArticleStatus.SCHEDULED
    article.updated_at = now


def _event_for(
    session: Session,
    article: Article,
    before: dict[str, Any],
    was: ArticleStatus | None,
    now: datetime,
    grace: timedelta,
) -> OutboxEvent | None:
    """Which event, if any, a change makes: only what readers could see matters."""
    if article.status is ArticleStatus.PUBLISHED:
        kind = EventKind.UPDATED if was is ArticleStatus.PUBLISHED else EventKind.PUBLISHED
    elif was is ArticleStatus.PUBLISHED:  # back to draft or to a later schedule
        kind = EventKind.RETRACTED
    else:
        return None
    return outbox.record(session, article, kind, before, now, grace)


def _fingerprint(article: Article) -> tuple[object, ...]:
    # Without ``lead`` and ``keep_out_of_email``: they change no feed and no partner's
    # copy, so changing only them is stored but makes no new version and no event.
    return (
        article.title, article.language, article.body_html, article.body_markdown,
        article.summary, tuple(article.authors), tuple(article.tag_slugs),
        article.image_url, article.image_alt, article.image_caption,
        article.canonical_url, article.status, article.published_at,
    )  # fmt: skip


def _tags(session: Session, labels: list[str]) -> list[Tag]:
    by_slug: dict[str, str] = {}
    for label in labels:
        by_slug.setdefault(make_slug(label, max_length=80), label)
    tags = []
    # In slug order: two publishes that create the same new tags then lock them in the same
    # order, and one waits for the other. In the order the editors wrote them, each could
    # wait for a tag the other had just made (PostgreSQL: a deadlock, and a 500).
    for slug in sorted(by_slug):
        tag = session.scalar(select(Tag).where(Tag.slug == slug))
        if tag is None:
            tag = _new_tag(session, slug, by_slug[slug])
        tags.append(tag)
    return tags


def _new_tag(session: Session, slug: str, label: str) -> Tag:
    # A savepoint, so that a concurrent request creating the same tag costs a re-read,
    # not the whole publish.
    try:
        with session.begin_nested():
            tag = Tag(slug=slug, label=label)
            session.add(tag)
        return tag
    except IntegrityError:
        return session.scalars(select(Tag).where(Tag.slug == slug)).one()


def _auto_summary(html: str) -> str:
    """The lede, cut at a word, when the editor gave no summary."""
    text = visible_text(html.split("</p>", 1)[0])
    if len(text) <= AUTO_SUMMARY_LENGTH:
        return text
    return text[:AUTO_SUMMARY_LENGTH].rsplit(" ", 1)[0] + " …"


def _slug_exists(session: Session, slug: str) -> bool:
    return session.scalar(select(Article.id).where(Article.slug == slug)) is not None


def _free_slug(session: Session, base: str) -> str:
    """``base``, or ``base-2`` ... ``base-10``, the first one no article has; if all are
    taken, ``base-`` and a short random suffix.

    Exact lookups in the slug's unique index, one per candidate: this runs inside the
    write transaction of every POST without a slug, where a LIKE over every slug that
    begins with ``base`` grew with the archive (a common title has hundreds).
    """
    candidates = [_with_suffix(base, f"-{n}" if n > 1 else "") for n in range(1, SLUG_PROBES + 1)]
    taken = set(session.scalars(select(Article.slug).where(Article.slug.in_(candidates))))
    for slug in candidates:
        if slug not in taken:
            return slug
    while True:  # 36^6 suffixes: a second round is already unlikely
        slug = _with_suffix(base, "-" + "".join(secrets.choice(_SUFFIX) for _ in range(6)))
        if not _slug_exists(session, slug):
            return slug


SLUG_PROBES = 10
SLUG_LENGTH = 120  # models.Article.slug
_SUFFIX = string.ascii_lowercase + string.digits


def _with_suffix(base: str, suffix: str) -> str:
    """``base`` + ``suffix``, ``base`` cut so that the slug fits its column (120)."""
    room = SLUG_LENGTH - len(suffix)
    return base[:room].rstrip("-") + suffix


def create_or_update(
    session: Session, data: ArticleIn, now: datetime, grace: timedelta
) -> tuple[Article, OutboxEvent | None]:
    """Publishing a file again updates its article (by slug) instead of failing."""
    if data.slug is not None and _slug_exists(session, data.slug):
        return update(session, data.slug, data, now, grace)
    return create(session, data, now, grace)
