"""What an email shows, read from the newsroom: an edition segment's articles, the latest
news beside them and the tag cloud; a welcome email's recent articles.

Beside the renderer, below the worker and the web app, so both the digest's planning
(worker/digest.py) and the public "view in browser" page (web/newsletter.py) read an
edition the same way without one importing the other.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from functools import partial

from sqlalchemy import exists, false, func, select
from sqlalchemy.orm import Session

from config import Settings
from email_templates.render import Brand, DigestArticle, DigestContent, WelcomeContent
from newsroom import editions, outbox, tagcloud, urls
from newsroom.models import (
    Article,
    ArticleStatus,
    Frequency,
    Subscriber,
    SubscriberStatus,
    Tag,
    article_tags,
)

# What an email may carry: published, and not kept out of email by an editor.
_EMAILABLE = (Article.status == ArticleStatus.PUBLISHED, Article.keep_out_of_email == false())


@dataclass
class Shared:
    """What the segments of one edition show in common, read once for all of them."""

    articles: dict[int, DigestArticle]  # every article a segment shows that may be mailed
    latest: dict[str, list[tuple[int, DigestArticle]]]  # newest first, per language
    clouds: dict[str, list[tagcloud.CloudTag]]


def read_shared(
    session: Session, segments: Sequence[editions.Segment], settings: Settings, now: datetime
) -> Shared:
    """A segment's "latest news" are the newest articles in its language that it does
    not show: among the newest (latest count + max articles) whatever it shows."""
    ids = sorted({article_id for segment in segments for article_id in segment.article_ids})
    articles = {
        article.id: digest_article(article, settings)
        for start in range(0, len(ids), 1000)
        for article in emailable(session, ids[start : start + 1000])
    }
    languages = sorted({segment.language for segment in segments})
    enough = settings.digest_latest_count + settings.digest_max_articles
    latest = {
        language: [
            (article.id, digest_article(article, settings))
            for article in _latest(session, language, (), now, enough)
        ]
        for language in languages
    }
    clouds = {language: _cloud(session, language, settings, now) for language in languages}
    return Shared(articles, latest, clouds)


def digest_content(
    session: Session,
    segment_id: int,
    language: str,
    article_ids: Sequence[int],
    settings: Settings,
    zone: str,
    now: datetime,
    *,
    shared: Shared | None = None,
) -> DigestContent:
    """What a segment shows: its articles, the latest news beside them, the tag cloud
    (``shared``: read once for all the segments of an edition)."""
    if shared is None:
        shared = read_shared(session, [editions.Segment(language, tuple(article_ids))],
                             settings, now)  # fmt: skip
    articles = [shared.articles[i] for i in article_ids if i in shared.articles]
    # Newest published first. The segment lists them by feed position, which the worker
    # gives as it handles each publish: under load a burst's events may be handled out of
    # order, and the reader would find an older story above a newer one. (Stable: equal
    # times keep the position order.)
    articles.sort(key=lambda article: article.published_at, reverse=True)
    shown = set(article_ids)
    latest = [item for i, item in shared.latest[language] if i not in shown]
    return DigestContent(
        language=language,
        brand=Brand.from_settings(settings),
        time_zone=zone,
        edition_date=now,
        articles=articles,
        latest=latest[: settings.digest_latest_count],
        cloud=shared.clouds[language],
        view_url=urls.edition_url(segment_id, settings),
        archive_url=urls.newsletter_url(settings),
        topic_url=partial(urls.topic_url, settings=settings),
    )


def recent_articles(
    session: Session,
    language: str,
    tags: Sequence[str],
    settings: Settings,
    now: datetime,
    limit: int,
) -> list[DigestArticle]:
    """The newest mailable articles in ``language`` with any of ``tags`` (none: any), for
    a welcome email: what the reader would have got, had they subscribed a while ago."""
    query = (
        select(Article)
        .where(*_EMAILABLE, Article.language == language, Article.published_at <= now)
        .order_by(Article.published_at.desc(), Article.id.desc())
        .limit(limit)
    )
    if tags:
        tagged = (
            select(article_tags.c.article_id)
            .join(Tag, Tag.id == article_tags.c.tag_id)
            .where(article_tags.c.article_id == Article.id, Tag.slug.in_(list(tags)))
        )
        query = query.where(exists(tagged))
    return [digest_article(article, settings) for article in session.scalars(query)]


# Articles in a welcome email: enough to show what the choice brings, few enough to read.
WELCOME_ARTICLES = 5


def welcome_content(
    session: Session, subscriber: Subscriber, settings: Settings, now: datetime
) -> WelcomeContent:
    """What a newly confirmed reader chose, and the newest articles that match it."""
    labels = dict(
        session.execute(select(Tag.slug, Tag.label).where(Tag.slug.in_(subscriber.tags))).all()
    ) if subscriber.tags else {}  # fmt: skip
    return WelcomeContent(
        language=subscriber.language,
        brand=Brand.from_settings(settings),
        time_zone=subscriber.time_zone,
        topics=[labels.get(slug, slug) for slug in subscriber.tags],
        frequency=str(subscriber.frequency),
        news_languages=[subscriber.language],
        articles=recent_articles(
            session, subscriber.language, subscriber.tags, settings, now, WELCOME_ARTICLES
        ),
        topic_url=partial(urls.topic_url, settings=settings),
        archive_url=urls.newsletter_url(settings),
    )


def zone_of(key: str) -> str | None:
    """The time zone an edition's dates are shown in; None: the site's."""
    return editions.zone_of(key)


def emailable(session: Session, article_ids: Sequence[int]) -> Sequence[Article]:
    # A retraction after planning takes the article out of the rendering too, and so does
    # an editor keeping it out of email after planning.
    query = select(Article).where(Article.id.in_(list(article_ids)), *_EMAILABLE)
    return session.scalars(query).all()


def digest_article(article: Article, settings: Settings) -> DigestArticle:
    assert article.published_at is not None
    return DigestArticle(
        title=article.title,
        summary=article.summary,
        url=article.canonical_url or urls.article_url(article.slug, settings),
        image_url=article.image_url,
        image_alt=article.image_alt,
        image_caption=article.image_caption,
        published_at=article.published_at,
        tags=[(tag.slug, tag.label) for tag in article.tags],
        authors=list(article.authors),
        lead=article.lead,
    )


def _cloud(
    session: Session, language: str, settings: Settings, now: datetime
) -> list[tagcloud.CloudTag]:
    return tagcloud.tag_cloud(
        session, since=now - timedelta(days=settings.tag_cloud_days), until=now, language=language
    )


def _latest(
    session: Session, language: str, leave_out: Sequence[int], now: datetime, count: int
) -> Sequence[Article]:
    return session.scalars(
        select(Article)
        .where(*_EMAILABLE, Article.language == language)
        .where(Article.id.not_in(list(leave_out)))
        .where(Article.published_at <= now)
        .order_by(Article.published_at.desc(), Article.id.desc())
        .limit(count)
    ).all()


@dataclass(frozen=True)
class NextEdition:
    """What the next edition of (language, frequency) holds, before it is planned."""

    language: str
    frequency: Frequency
    subscribers: int  # active subscribers of (language, frequency)
    article_ids: tuple[int, ...]  # newest first; none: no email would go


def upcoming(
    session: Session,
    language: str,
    frequency: Frequency,
    settings: Settings,
    tags: Sequence[str] = (),
) -> NextEdition:
    """The articles the subscribers of ``frequency`` in ``language`` get next, as planning
    would choose them now: those new since the subscriber furthest behind (a topic filter,
    ``tags``, only narrows it), or with nobody subscribed, the newest, so an editor sees
    what a first edition would hold. Two indexed queries; stores nothing."""
    since, count = session.execute(
        select(func.min(Subscriber.digest_position), func.count())
        .where(Subscriber.status == SubscriberStatus.ACTIVE)
        .where(Subscriber.frequency == frequency, Subscriber.language == language)
    ).one()
    return _upcoming(session, language, frequency, since, int(count),
                     outbox.last_position(session), settings, tags)  # fmt: skip


def every_upcoming(
    session: Session, languages: Sequence[str], settings: Settings
) -> list[NextEdition]:
    """``upcoming`` for every language × frequency, the subscribers of all of them counted
    in one grouped query: the desk's overview of editions, at 100,000 subscribers."""
    audiences = {
        (language, Frequency(frequency)): (since, int(count))
        for language, frequency, since, count in session.execute(
            select(Subscriber.language, Subscriber.frequency,
                   func.min(Subscriber.digest_position), func.count())
            .where(Subscriber.status == SubscriberStatus.ACTIVE)
            .group_by(Subscriber.language, Subscriber.frequency)
        )
    }  # fmt: skip
    upto = outbox.last_position(session)
    found: list[NextEdition] = []
    for language in languages:
        for frequency in Frequency:
            since, count = audiences.get((language, frequency), (None, 0))
            found.append(_upcoming(session, language, frequency, since, count, upto, settings))
    return found


def _upcoming(
    session: Session,
    language: str,
    frequency: Frequency,
    since: int | None,
    count: int,
    upto: int,
    settings: Settings,
    tags: Sequence[str] = (),
) -> NextEdition:
    article_ids = editions.new_articles(
        session,
        language=language,
        tags=list(tags),
        after=since if since is not None else max(0, upto - settings.digest_max_articles),
        upto=upto,
        limit=settings.digest_max_articles,
    )
    return NextEdition(language, frequency, count, article_ids)


def next_edition(
    session: Session, language: str, frequency: Frequency, settings: Settings, now: datetime
) -> tuple[NextEdition, DigestContent]:
    """The next edition and what it shows, ready for render_digest."""
    edition = upcoming(session, language, frequency, settings)
    shown = digest_content(
        session, 0, language, edition.article_ids, settings, settings.time_zone, now
    )
    # No stored edition to "view in browser" yet: the link leads to the archive, where
    # the edition will be once it is sent, rather than to a page that is not there.
    return edition, replace(shown, view_url=urls.newsletter_url(settings))
