"""Articles out of the database, into feed documents: the current one and archive pages.

RFC 5005 archives: a feed's archive slots (feeds.archive), cut into pages of
``feed_size``; page 1 holds the first slots, the articles that appeared first. Only full
pages are archives, and the current document (the newest ``feed_size``, and any article
in the slots after the last full page) points to the newest of them with prev-archive, so
a reader paging back from the current document sees every entry. An article that leaves
the feed (retracted, back to draft, or retagged) keeps its slot: Atom shows its
tombstone there.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from typing import Any

from sqlalchemy import ColumnElement, Row, Select, and_, bindparam, func, select, true
from sqlalchemy.orm import Session

from config import Settings
from feeds.keys import FeedKey
from feeds.model import Entry, FeedDocument, Image, Links, Tag, Tombstone
from newsroom import urls
from newsroom.languages import language_name
from newsroom.models import ArchiveSlot, Article, ArticleStatus, TagEntry, article_tags
from newsroom.models import Tag as TagRow

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_TAG = select(TagRow.id, TagRow.label).where(TagRow.slug == bindparam("value"))


def _tag(session: Session, slug: str) -> tuple[int, str] | None:
    """The id and label of the tag ``slug``, read once per session: a refresh needs them
    three times (slots, entries, title), and a rebuild's batch has a feed per tag."""
    known: dict[str, tuple[int, str]] = session.info.setdefault("feeds.tags", {})
    if slug not in known:
        row = session.execute(_TAG, {"value": slug}).first()
        if row is None:  # not remembered: the tag may be made later in the session
            return None
        known[slug] = (row.id, row.label)
    return known[slug]


def current(session: Session, key: FeedKey, settings: Settings) -> FeedDocument:
    size = settings.feed_size
    statements = _current_statements(key.kind)
    # At least one retraction, even with no tombstones: the newest dates the document.
    params = {**feed_params(session, key), "size": size}
    params["retracted"] = max(settings.feed_tombstones, 1)
    entries = _entries(session, statements.newest, params, settings)
    retracted = session.execute(statements.gone, params).all()
    full_pages = _full_pages(session, key, size)
    # RFC 5005 §2: the current document and the archives hold every entry between them.
    # The slots after the last full page are on no archive page yet; an article there
    # that is not among the newest (published with an old date) is shown here too.
    shown = [entry.uid.removeprefix("urn:uuid:") for entry in entries]
    slot_params = {"feed": str(key), "archived": full_pages * size}
    if unarchived := list(session.scalars(_UNARCHIVED_IDS, slot_params)):
        more = {**params, "unarchived": unarchived, "shown": shown}
        entries += _entries(session, _unarchived(key.kind), more, settings)
    base = _feeds_base(settings)
    links = Links(
        home=urls.home_url(settings),
        self_url=key.urls(base),
        hub=urls.hub_url(settings),
        prev_archive=key.urls(base, full_pages) if full_pages else None,
    )
    # A retraction changes every format, Atom's tombstones or not: Last-Modified must move.
    last_retraction = retracted[0].retracted_at if retracted else None
    return _document(
        session, key, settings, links, entries,
        tombstones=[_tombstone(row, settings) for row in retracted[: settings.feed_tombstones]],
        newest=[last_retraction] if last_retraction else [],
    )  # fmt: skip


@dataclass(frozen=True)
class _Statements:
    """What a document is read with, built once per kind of feed: building a statement
    cost more than running it. Parameters: value (the tag or language), and for
    current() size and retracted, for archive_page() feed, first and last."""

    newest: Select[Any]  # the published articles' entry columns, newest first
    gone: Select[Any]  # for tombstones: archive, what left the feed; current, the retracted


@cache
def _current_statements(kind: str) -> _Statements:
    return _Statements(
        newest=selection(kind, ArticleStatus.PUBLISHED)
        .order_by(*newest_first(kind, ArticleStatus.PUBLISHED))
        .limit(bindparam("size")),
        gone=selection(kind, ArticleStatus.RETRACTED, *_TOMBSTONE_COLUMNS)
        .order_by(*newest_first(kind, ArticleStatus.RETRACTED))
        .limit(bindparam("retracted")),
    )


def archive_page(
    session: Session, key: FeedKey, page: int, settings: Settings
) -> FeedDocument | None:
    size = settings.feed_size
    full_pages = _full_pages(session, key, size)
    if not 1 <= page <= full_pages:
        return None
    first, last = (page - 1) * size + 1, page * size
    params = {"value": key.value, "feed": str(key), "first": first, "last": last}
    statements = _archive_statements(key.kind)
    entries = _entries(session, statements.newest, params, settings)
    gone = session.execute(statements.gone, params).all()
    base = _feeds_base(settings)
    links = Links(
        home=urls.home_url(settings),
        self_url=key.urls(base, page),
        hub=urls.hub_url(settings),
        current=key.urls(base),
        prev_archive=key.urls(base, page - 1) if page > 1 else None,
        next_archive=key.urls(base, page + 1) if page < full_pages else None,
    )
    tombstones = [_tombstone(row, settings, left_at=row.left_at) for row in gone]
    return _document(session, key, settings, links, entries, tombstones=tombstones, archive=True)


@cache
def _archive_statements(kind: str) -> _Statements:
    """An archive page's articles, those in its slots ("first" to "last" of "feed"): the
    ones still in the feed as entries; as tombstones, the ones that have left it since
    (retracted, back to draft, or no longer of its tag or language)."""
    in_feed = and_(Article.status == ArticleStatus.PUBLISHED, _of_feed(kind))
    return _Statements(
        newest=_in_page(select(*_ENTRY_COLUMNS).where(in_feed)),
        gone=_in_page(select(*_TOMBSTONE_COLUMNS, ArchiveSlot.left_at).where(~in_feed)),
    )


def _in_page(query: Select[Any]) -> Select[Any]:
    return (
        _slotted(query)
        .where(ArchiveSlot.position.between(bindparam("first"), bindparam("last")))
        .order_by(ArchiveSlot.position.desc())
    )


# The articles in the slots after the last full page: fewer than a page. Read first, on
# their own, so that the query below looks them up by id. Joined in one statement,
# PostgreSQL misjudged how few they are and read every entry of a common tag to find them
# (62,570 rows of "klimat", 42-185 ms a publish at 500k articles).
_UNARCHIVED_IDS = select(ArchiveSlot.article_id).where(
    ArchiveSlot.feed_key == bindparam("feed"), ArchiveSlot.position > bindparam("archived")
)


@cache
def _unarchived(kind: str) -> Select[Any]:
    """Of the articles "unarchived" (ids from _UNARCHIVED_IDS), those still published in
    the feed, but for those "shown"."""
    return (
        selection(kind, ArticleStatus.PUBLISHED)
        .where(
            Article.id.in_(bindparam("unarchived", expanding=True)),
            Article.uuid.not_in(bindparam("shown", expanding=True)),
        )
        .order_by(*newest_first(kind, ArticleStatus.PUBLISHED))
    )


def _slotted(query: Select[Any]) -> Select[Any]:
    """``query`` of articles, joined to their slots in the feed named by "feed"."""
    return query.join(ArchiveSlot, ArchiveSlot.article_id == Article.id).where(
        ArchiveSlot.feed_key == bindparam("feed")
    )


# The last slot given, not how many there are: a deleted article leaves a hole (ON DELETE
# CASCADE), and the pages are cut by position.
_LAST_SLOT = select(func.max(ArchiveSlot.position)).where(ArchiveSlot.feed_key == bindparam("feed"))


def _full_pages(session: Session, key: FeedKey, size: int) -> int:
    return (session.scalar(_LAST_SLOT, {"feed": str(key)}) or 0) // size


def for_partner(
    session: Session, tags: list[str], languages: list[str], settings: Settings
) -> FeedDocument:
    """A partner's own feed: the newest articles matching its filters (built per request)."""
    selection = select(*_ENTRY_COLUMNS).where(Article.status == ArticleStatus.PUBLISHED)
    if tags:
        # The newest of each (tag, language) page of the tag index hold the newest of all.
        ids = _newest_tagged(session, tags, languages, settings.feed_size)
        selection = selection.where(Article.id.in_(ids))
    elif languages:
        selection = selection.where(Article.language.in_(languages))
    entries = _entries(
        session,
        selection.order_by(Article.published_at.desc(), Article.id.desc()).limit(
            settings.feed_size
        ),
        {},
        settings,
    )
    base = f"{settings.public_url}/api/partner/feed"
    links = Links(
        home=urls.home_url(settings),
        self_url={fmt: f"{base}.{fmt}" for fmt in ("atom", "rss", "json")},
        hub=urls.hub_url(settings),
    )
    return FeedDocument(
        feed_id=base,
        title=settings.site_name,
        subtitle=settings.site_name,
        language=languages[0] if len(languages) == 1 else settings.default_language,
        links=links,
        updated=max((e.updated for e in entries), default=EPOCH),
        entries=entries,
    )


_TAGGED = (
    select(TagEntry.at, TagEntry.article_id)
    .where(
        TagEntry.tag_id == bindparam("tag"),
        TagEntry.status == ArticleStatus.PUBLISHED,
    )
    .order_by(TagEntry.at.desc(), TagEntry.article_id.desc())
    .limit(bindparam("size"))
)
_TAGGED_IN_LANGUAGE = _TAGGED.where(TagEntry.language == bindparam("language"))


def _newest_tagged(
    session: Session, tags: list[str], languages: list[str], size: int
) -> list[int]:
    """The ids of the ``size`` newest published articles with any of ``tags`` (and in any
    of ``languages``, when given): one range scan of the tag index per tag and language,
    each reading at most ``size`` rows."""
    newest: set[tuple[datetime, int]] = set()
    for tag in tags:
        found = _tag(session, tag)
        params: dict[str, Any] = {"tag": found[0] if found else None, "size": size}
        for language in languages or [""]:
            statement = _TAGGED_IN_LANGUAGE if language else _TAGGED
            params["language"] = language
            newest.update((row.at, row.article_id) for row in session.execute(statement, params))
    return [article_id for _, article_id in sorted(newest, reverse=True)[:size]]


# What a feed entry is made of: columns, not ORM objects, since a refresh reads a whole
# feed's worth of articles and building (and tracking) entities cost more than the rest.
_ENTRY_COLUMNS: tuple[Any, ...] = (
    Article.id, Article.uuid, Article.slug, Article.canonical_url, Article.title,
    Article.summary, Article.body_html, Article.language, Article.published_at,
    Article.created_at, Article.updated_at, Article.version, Article.authors,
    Article.image_url, Article.image_alt, Article.image_caption,
)  # fmt: skip
_TOMBSTONE_COLUMNS: tuple[Any, ...] = (
    Article.uuid,
    Article.slug,
    Article.canonical_url,
    Article.retracted_at,
    Article.updated_at,
)


_TAGS = (
    select(article_tags.c.article_id, TagRow.slug, TagRow.label)
    .join(TagRow, TagRow.id == article_tags.c.tag_id)
    .where(article_tags.c.article_id.in_(bindparam("ids", expanding=True)))
    .order_by(TagRow.slug)
)


def _entries(
    session: Session, selection: Select[Any], params: dict[str, Any], settings: Settings
) -> tuple[Entry, ...]:
    """The entries of the articles ``selection`` picks (with _ENTRY_COLUMNS), in its order."""
    rows = session.execute(selection, params).all()
    tags: dict[int, list[Tag]] = {row.id: [] for row in rows}
    if rows:
        for article_id, slug, label in session.execute(_TAGS, {"ids": list(tags)}):
            tags[article_id].append(Tag(slug, label))
    return tuple(_entry(row, tuple(tags[row.id]), settings) for row in rows)


def _entry(row: Row[Any], tags: tuple[Tag, ...], settings: Settings) -> Entry:
    image = None
    content = row.body_html
    if row.image_url:
        image = Image(row.image_url, row.image_alt, row.image_caption)
        content = _figure(image) + content
    published = row.published_at or row.created_at
    return Entry(
        uid=f"urn:uuid:{row.uuid}",
        url=article_url_for(row.canonical_url, row.slug, settings),
        title=row.title,
        summary=row.summary,
        content_html=content,
        language=row.language,
        published=published,
        updated=max(row.updated_at, published),
        version=row.version,
        authors=tuple(row.authors),
        tags=tags,
        image=image,
    )


def article_url(article: Article, settings: Settings) -> str:
    return article_url_for(article.canonical_url, article.slug, settings)


def article_url_for(canonical_url: str | None, slug: str, settings: Settings) -> str:
    """The newsroom's own page when it gave one, else ours."""
    return canonical_url or urls.article_url(slug, settings)


def _document(
    session: Session,
    key: FeedKey,
    settings: Settings,
    links: Links,
    entries: tuple[Entry, ...],
    *,
    tombstones: list[Tombstone] | None = None,
    newest: list[datetime] | None = None,
    archive: bool = False,
) -> FeedDocument:
    stamps = [e.updated for e in entries] + [t.when for t in tombstones or []] + (newest or [])
    title = _title(session, key, settings)
    return FeedDocument(
        feed_id=urls.feed_url(str(key), settings),
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
        found = _tag(session, key.value)
        return f"{settings.site_name} – {found[1] if found else key.value}"
    if key.kind == "lang":
        return f"{settings.site_name} – {language_name(key.value)}"
    return settings.site_name


def _tombstone(row: Row[Any], settings: Settings, left_at: datetime | None = None) -> Tombstone:
    return Tombstone(
        uid=f"urn:uuid:{row.uuid}",
        url=article_url_for(row.canonical_url, row.slug, settings),
        when=row.retracted_at or left_at or row.updated_at,
    )


def _figure(image: Image) -> str:
    alt = html.escape(image.alt, quote=True)
    src = html.escape(image.url, quote=True)
    caption = f"<figcaption>{html.escape(image.caption)}</figcaption>" if image.caption else ""
    return f'<figure><img src="{src}" alt="{alt}">{caption}</figure>'


def feed_params(session: Session, key: FeedKey) -> dict[str, Any]:
    """The parameters of a ``selection`` of the feed ``key``: "value", its tag or language,
    and for a tag feed "tag", the tag's id (None for a tag that does not exist).

    The id, not the slug in a subquery: with the id in hand, PostgreSQL plans for that
    tag (its statistics know the common tags), and reads a common tag's newest rows from
    the index in order instead of sorting all of them.
    """
    params: dict[str, Any] = {"value": key.value}
    if key.kind == "tags":
        found = _tag(session, key.value)
        params["tag"] = found[0] if found else None
    return params


def selection(kind: str, status: ArticleStatus, *columns: Any) -> Select[Any]:
    """The articles in ``status`` of a feed of ``kind``, whose tag or language is the
    parameter "value" (for a tag, its id is "tag": feed_params gives both): ``columns`` of
    them, _ENTRY_COLUMNS by default.

    A tag's articles are read from the tag index (models.TagEntry): ordered by
    ``newest_first``, a page of them is a range scan of the tag's rows, whether the tag
    has been used twice or on every other article.
    """
    columns = columns or _ENTRY_COLUMNS
    if kind == "tags":
        return (
            select(*columns)
            .select_from(TagEntry)
            .join(Article, Article.id == TagEntry.article_id)
            .where(TagEntry.tag_id == bindparam("tag"), TagEntry.status == status)
        )
    return select(*columns).where(Article.status == status, _of_feed(kind))



def newest_first(kind: str, status: ArticleStatus) -> tuple[ColumnElement[Any], ...]:
    """The order of a ``selection``, newest first: published articles by publication,
    retracted ones by retraction (ties: the later id first). For a tag, the same order
    in the index's own columns, so that the database reads it from the index."""
    if kind == "tags":
        # TagEntry.at: the publication or retraction time (never NULL, as retracted_at
        # is never NULL for a retracted article); article_id is Article.id.
        return (TagEntry.at.desc(), TagEntry.article_id.desc())
    if status is ArticleStatus.RETRACTED:
        return (Article.retracted_at.desc().nulls_last(), Article.id.desc())
    return (Article.published_at.desc(), Article.id.desc())


def _of_feed(kind: str) -> ColumnElement[bool]:
    """Whether an article has the tag or language "value" that a feed of ``kind`` follows."""
    if kind == "lang":
        return Article.language == bindparam("value")
    if kind == "tags":
        return Article.tags.any(TagRow.slug == bindparam("value"))
    return true()


def _feeds_base(settings: Settings) -> str:
    return settings.public_url + "/feeds"
