"""Planning digests: decide each due edition, render each segment once, queue the batches."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from config import Settings
from email_templates.render import DigestArticle, DigestContent, RenderedEmail, render_digest
from feeds.query import article_url_for
from newsroom import editions, tagcloud
from newsroom.db import session_scope
from newsroom.editions import Segment, Slot
from newsroom.models import Article, ArticleStatus, Edition, EditionSegment

log = logging.getLogger(__name__)

ARCHIVE_PATH = "/newsletter"

Batch = tuple[int, int]  # (edition id, batch number)


def plan_due(settings: Settings, now: datetime) -> list[Batch]:
    """Plan every edition whose time has come; the batches to send."""
    with session_scope() as session:
        slots = editions.due_slots(
            session,
            now,
            window=timedelta(seconds=settings.digest_window_seconds),
            hour=settings.digest_hour,
            weekday=settings.digest_weekday,
        )
    batches: list[Batch] = []
    for slot in slots:
        batches.extend(plan_edition(slot, settings, now))
    return batches


def plan_edition(slot: Slot, settings: Settings, now: datetime) -> list[Batch]:
    """One transaction: the edition, its rendered segments, every delivery row and the
    subscribers' new positions commit together, or none of them does."""
    with session_scope() as session:
        plan = editions.plan(session, slot, now, max_articles=settings.digest_max_articles)
        if plan is None:
            return []  # planned already: by another worker, or by an earlier bell
        zone = slot.time_zone or settings.time_zone
        segment_ids = []
        for segment in plan.segments:
            row = EditionSegment(
                edition_id=plan.edition.id,
                language=segment.language,
                article_ids=list(segment.article_ids),
                subject="",
                html="",
                text="",
                created_at=now,
            )
            session.add(row)
            session.flush()  # the id names the segment's "view in browser" page
            rendered = render_segment(session, row.id, segment, settings, zone, now)
            row.subject, row.html, row.text = rendered.subject, rendered.html, rendered.text
            segment_ids.append(row.id)
        count = editions.record_deliveries(
            session, plan, segment_ids, batch_size=settings.digest_batch_size, now=now
        )
        edition_id, key = plan.edition.id, plan.edition.key
    log.info(
        "edition %s (%s) planned: %s segments, %s batches", edition_id, key, len(segment_ids),
        count, extra={"edition_id": edition_id},
    )  # fmt: skip
    return [(edition_id, batch) for batch in range(count)]


def refresh_segment(session: Session, row: EditionSegment, settings: Settings) -> bool:
    """Render the segment again if some of its articles were retracted since; False when
    none is left (nothing to send)."""
    published = {article.id for article in _published(session, row.article_ids)}
    if published == set(row.article_ids):
        return True
    remaining = tuple(article_id for article_id in row.article_ids if article_id in published)
    row.article_ids = list(remaining)
    if not remaining:
        return False
    edition = session.get(Edition, row.edition_id)
    assert edition is not None
    rendered = render_segment(
        session,
        row.id,
        Segment(row.language, remaining),
        settings,
        zone_of(edition.key) or settings.time_zone,
        row.created_at,
    )
    row.subject, row.html, row.text = rendered.subject, rendered.html, rendered.text
    return True


def zone_of(key: str) -> str | None:
    """'daily:Europe/Helsinki:2026-11-26' -> 'Europe/Helsinki'; manual and immediate: None."""
    parts = key.split(":")
    return parts[1] if len(parts) == 3 and "/" in parts[1] else None


def render_segment(
    session: Session,
    segment_id: int,
    segment: Segment,
    settings: Settings,
    zone: str,
    now: datetime,
    *,
    personal_links: bool = True,
) -> RenderedEmail:
    return render_digest(
        digest_content(
            session, segment_id, segment.language, segment.article_ids, settings, zone, now
        ),
        personal_links=personal_links,
    )


def digest_content(
    session: Session,
    segment_id: int,
    language: str,
    article_ids: Sequence[int],
    settings: Settings,
    zone: str,
    now: datetime,
) -> DigestContent:
    """What a segment shows: its articles, the latest news beside them, the tag cloud."""
    chosen = {article.id: article for article in _published(session, article_ids)}
    articles = [chosen[article_id] for article_id in article_ids if article_id in chosen]
    latest = session.scalars(
        select(Article)
        .where(Article.status == ArticleStatus.PUBLISHED, Article.language == language)
        .where(Article.id.not_in(list(article_ids)))
        .where(Article.published_at <= now)
        .order_by(Article.published_at.desc(), Article.id.desc())
        .limit(settings.digest_latest_count)
    ).all()
    cloud = tagcloud.tag_cloud(
        session, since=now - timedelta(days=settings.tag_cloud_days), until=now, language=language
    )
    return DigestContent(
        language=language,
        site_name=settings.site_name,
        public_url=settings.public_url,
        time_zone=zone,
        edition_date=now,
        articles=[_digest_article(article, settings) for article in articles],
        latest=[_digest_article(article, settings) for article in latest],
        cloud=cloud,
        view_url=f"{settings.public_url}{ARCHIVE_PATH}/{segment_id}",
        archive_url=f"{settings.public_url}{ARCHIVE_PATH}",
    )


def _published(session: Session, article_ids: Sequence[int]) -> Sequence[Article]:
    # A retraction after planning takes the article out of the rendering too.
    return session.scalars(
        select(Article)
        .where(Article.id.in_(list(article_ids)))
        .where(Article.status == ArticleStatus.PUBLISHED)
    ).all()


def _digest_article(article: Article, settings: Settings) -> DigestArticle:
    assert article.published_at is not None
    return DigestArticle(
        title=article.title,
        summary=article.summary,
        url=article_url_for(article.canonical_url, article.slug, settings),
        image_url=article.image_url,
        image_alt=article.image_alt,
        image_caption=article.image_caption,
        published_at=article.published_at,
        tags=[(tag.slug, tag.label) for tag in article.tags],
        authors=list(article.authors),
    )
