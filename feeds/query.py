"""Articles out of the database, into feed documents: the current one and archive pages.

RFC 5005 archives: the published articles of a feed, oldest first, cut into pages of
``feed_size``; page 1 holds the oldest. Only full pages are archives, and the current
document (the newest ``feed_size``) points to the newest of them with prev-archive, so a
reader paging back from the current document sees every entry.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from datetime import UTC, datetime

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from config import Settings
from feeds.keys import FeedKey
from feeds.model import Entry, FeedDocument, Image, Links, Tag, Tombstone
from newsroom.languages import language_name
from newsroom.models import Article, ArticleStatus
from newsroom.models import Tag as TagRow

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def current(session: Session, key: FeedKey, settings: Settings) -> FeedDocument:
    size = settings.feed_size
    articles = session.scalars(
        _selection(key, ArticleStatus.PUBLISHED)
        .order_by(Article.published_at.desc(), Article.id.desc())
        .limit(size)
    ).all()
    retracted = session.scalars(
        _selection(key, ArticleStatus.RETRACTED)
        .order_by(Article.retracted_at.desc(), Article.id.desc())
        .limit(settings.feed_tombstones)
    ).all()
    full_pages = _count(session, key) // size
    base = _feeds_base(settings)
    links = Links(
        home=settings.public_url + "/",
        self_url=key.urls(base),
        hub=settings.public_url + "/websub",
        prev_archive=key.urls(base, full_pages) if full_pages else None,
    )
    # A retraction changes every format, Atom's tombstones or not: Last-Modified must move.
    retractions = _selection(key, ArticleStatus.RETRACTED).subquery()
    last_retraction = session.scalar(select(func.max(retractions.c.retracted_at)))
    return _document(
        session, key, settings, links, articles,
        tombstones=[_tombstone(article, settings) for article in retracted],
        newest=[last_retraction] if last_retraction else [],
    )  # fmt: skip


def archive_page(
    session: Session, key: FeedKey, page: int, settings: Settings
) -> FeedDocument | None:
    size = settings.feed_size
    full_pages = _count(session, key) // size
    if not 1 <= page <= full_pages:
        return None
    oldest_first = session.scalars(
        _selection(key, ArticleStatus.PUBLISHED)
        .order_by(Article.published_at, Article.id)
        .offset((page - 1) * size)
        .limit(size)
    ).all()
    base = _feeds_base(settings)
    links = Links(
        home=settings.public_url + "/",
        self_url=key.urls(base, page),
        hub=settings.public_url + "/websub",
        current=key.urls(base),
        prev_archive=key.urls(base, page - 1) if page > 1 else None,
        next_archive=key.urls(base, page + 1) if page < full_pages else None,
    )
    return _document(session, key, settings, links, oldest_first[::-1], archive=True)


def for_partner(
    session: Session, tags: list[str], languages: list[str], settings: Settings
) -> FeedDocument:
    """A partner's own feed: the newest articles matching its filters (built per request)."""
    selection = select(Article).where(Article.status == ArticleStatus.PUBLISHED)
    if languages:
        selection = selection.where(Article.language.in_(languages))
    if tags:
        selection = selection.where(Article.tags.any(TagRow.slug.in_(tags)))
    articles = session.scalars(
        selection.order_by(Article.published_at.desc(), Article.id.desc()).limit(
            settings.feed_size
        )
    ).all()
    base = f"{settings.public_url}/api/partner/feed"
    links = Links(
        home=settings.public_url + "/",
        self_url={fmt: f"{base}.{fmt}" for fmt in ("atom", "rss", "json")},
        hub=settings.public_url + "/websub",
    )
    entries = tuple(entry(article, settings) for article in articles)
    return FeedDocument(
        feed_id=base,
        title=settings.site_name,
        subtitle=settings.site_name,
        language=languages[0] if len(languages) == 1 else settings.default_language,
        links=links,
        updated=max((e.updated for e in entries), default=EPOCH),
        entries=entries,
    )


def entry(article: Article, settings: Settings) -> Entry:
    image = None
    content = article.body_html
    if article.image_url:
        image = Image(article.image_url, article.image_alt, article.image_caption)
        content = _figure(image) + content
    published = article.published_at or article.created_at
    return Entry(
        uid=f"urn:uuid:{article.uuid}",
        url=article_url(article, settings),
        title=article.title,
        summary=article.summary,
        content_html=content,
        language=article.language,
        published=published,
        updated=max(article.updated_at, published),
        version=article.version,
        authors=tuple(article.authors),
        tags=tuple(Tag(tag.slug, tag.label) for tag in article.tags),
        image=image,
    )


def article_url(article: Article, settings: Settings) -> str:
    return article_url_for(article.canonical_url, article.slug, settings)


def article_url_for(canonical_url: str | None, slug: str, settings: Settings) -> str:
    """The newsroom's own page when it gave one, else ours."""
    return canonical_url or f"{settings.public_url}/articles/{slug}"


def _document(
    session: Session,
    key: FeedKey,
    settings: Settings,
    links: Links,
    articles: Sequence[Article],
    *,
    tombstones: list[Tombstone] | None = None,
    newest: list[datetime] | None = None,
    archive: bool = False,
) -> FeedDocument:
    entries = tuple(entry(article, settings) for article in articles)
    stamps = [e.updated for e in entries] + [t.when for t in tombstones or []] + (newest or [])
    title = _title(session, key, settings)
    return FeedDocument(
        feed_id=f"{settings.public_url}/feeds/{key}",
        title=title,
        subtitle=title,
        language=key.value if key.kind == "lang" else settings.default_language,
        links=links,
        updated=max(stamps, default=EPOCH),
        entries=entries,
        tombstones=tuple(tombstones or ()),
        archive=archive,
    )


def _title(session: Session, key: FeedKey, settings: Settings) -> str:
    if key.kind == "tags":
        label = session.scalar(select(TagRow.label).where(TagRow.slug == key.value))
        return f"{settings.site_name} – {label or key.value}"
    if key.kind == "lang":
        return f"{settings.site_name} – {language_name(key.value)}"
    return settings.site_name


def _tombstone(article: Article, settings: Settings) -> Tombstone:
    return Tombstone(
        uid=f"urn:uuid:{article.uuid}",
        url=article_url(article, settings),
        when=article.retracted_at or article.updated_at,
    )


def _figure(image: Image) -> str:
    alt = html.escape(image.alt, quote=True)
    src = html.escape(image.url, quote=True)
    caption = f"<figcaption>{html.escape(image.caption)}</figcaption>" if image.caption else ""
    return f'<figure><img src="{src}" alt="{alt}">{caption}</figure>'


def _selection(key: FeedKey, status: ArticleStatus) -> Select[Article]:
    query = select(Article).where(Article.status == status)
    if key.kind == "lang":
        query = query.where(Article.language == key.value)
    elif key.kind == "tags":
        query = query.where(Article.tags.any(TagRow.slug == key.value))
    return query


def _count(session: Session, key: FeedKey) -> int:
    subquery = _selection(key, ArticleStatus.PUBLISHED).subquery()
    return session.scalar(select(func.count()).select_from(subquery)) or 0


def _feeds_base(settings: Settings) -> str:
    return settings.public_url + "/feeds"
