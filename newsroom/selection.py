"""Which new articles each audience of an edition gets, found in one pass per language.

An audience is every subscriber with the same language and tags; its members differ only
in ``since``, the outbox position after which articles are new to them. An article is new
at its ``first_position`` (the first time it was published), so "new since P" is a range
of that index, and what a member gets is the newest ``limit`` articles of its audience
published after its own ``since``: a prefix of what the audience gets from its oldest
member's ``since``. So the work is per (language, tags), never per join time.

Per language, the articles of the range are read newest first, a page at a time, and
handed to every audience still open (not full, and not past its oldest ``since``). What
rare tags still lack after a few pages is asked for once, by tag, over the rest of the
range: a reader of a rare tag must not make the pass walk the whole archive.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field

from sqlalchemy import Integer, exists, false, select, type_coerce
from sqlalchemy.orm import Session

from newsroom.models import Article, ArticleStatus, Tag, article_tags

# Never None in these queries: each asks for a range of it.
_first = type_coerce(Article.first_position, Integer)

# What an email may carry: published, and not kept out of email by an editor. An article
# kept out is never counted or chosen, so an edition of only such articles sends nothing.
_EMAILABLE = (Article.status == ArticleStatus.PUBLISHED, Article.keep_out_of_email == false())

# Articles per page of the newest-first pass, and pages before rare tags are asked by tag.
_PAGE = 1000
_PAGES_BEFORE_BY_TAG = 3


@dataclass
class Audience:
    language: str
    tags: tuple[str, ...]  # slugs; () = every tag
    since: int  # the oldest member's position
    chosen: list[tuple[int, int]] = field(default_factory=list)  # (position, article id)

    def wants(self, position: int) -> bool:
        return position > self.since

    def articles_since(self, since: int) -> tuple[int, ...]:
        """What a member whose own position is ``since`` gets, newest first."""
        return tuple(article_id for position, article_id in self.chosen if position > since)


def new_articles(
    session: Session,
    *,
    language: str,
    tags: Sequence[str],
    after: int,
    upto: int,
    limit: int,
) -> tuple[int, ...]:
    """Ids of published articles first published in (after, upto], newest first."""
    query = (
        select(Article.id)
        .where(_first > after, _first <= upto)
        .where(*_EMAILABLE, Article.language == language)
        .order_by(_first.desc())
        .limit(limit)
    )
    if tags:
        tagged = (
            select(article_tags.c.article_id)
            .join(Tag, Tag.id == article_tags.c.tag_id)
            .where(article_tags.c.article_id == Article.id, Tag.slug.in_(list(tags)))
        )
        query = query.where(exists(tagged))
    return tuple(session.scalars(query))


def choose(session: Session, audiences: Sequence[Audience], *, upto: int, limit: int) -> None:
    """Fill each audience's ``chosen``: its newest ``limit`` articles in (since, upto]."""
    by_language: dict[str, list[Audience]] = defaultdict(list)
    for audience in audiences:
        by_language[audience.language].append(audience)
    for language, group in sorted(by_language.items()):
        _choose_language(session, language, group, upto=upto, limit=limit)


def _choose_language(
    session: Session, language: str, audiences: list[Audience], *, upto: int, limit: int
) -> None:
    open_ = [audience for audience in audiences if audience.since < upto]
    below = upto + 1  # the pass has seen every article in [below, upto]
    pages = 0
    while open_ and pages < _PAGES_BEFORE_BY_TAG:
        lowest = min(audience.since for audience in open_)
        page = _page(session, language, lowest, below)
        if not page:
            return
        everyone = [audience for audience in open_ if not audience.tags]
        by_tag: dict[str, list[Audience]] = defaultdict(list)
        for audience in open_:
            for tag in audience.tags:
                by_tag[tag].append(audience)
        for position, article_id, tags in page:
            _offer(position, article_id, tags, everyone, by_tag, limit)
        if len(page) < _PAGE:
            return  # the range is read to its end
        below = page[-1][0]
        pages += 1
        open_ = [a for a in open_ if len(a.chosen) < limit and a.since < below]
    if open_:
        _choose_by_tag(session, language, open_, below, limit)


def _offer(
    position: int,
    article_id: int,
    tags: set[str],
    everyone: list[Audience],
    by_tag: dict[str, list[Audience]],
    limit: int,
) -> None:
    offered: set[int] = set()
    candidates = list(everyone)
    for tag in tags:
        candidates.extend(by_tag.get(tag, ()))
    for audience in candidates:
        if id(audience) in offered:  # two of its tags on one article: once
            continue
        offered.add(id(audience))
        if len(audience.chosen) < limit and audience.wants(position):
            audience.chosen.append((position, article_id))


def _page(
    session: Session, language: str, after: int, below: int
) -> list[tuple[int, int, set[str]]]:
    """The next ``_PAGE`` published articles newest first in (after, below), with their
    tags: an index range of first_position, one statement for the articles and one for
    their tags."""
    rows = session.execute(
        select(_first, Article.id)
        .where(_first > after, _first < below)
        .where(*_EMAILABLE, Article.language == language)
        .order_by(_first.desc())
        .limit(_PAGE)
    ).all()
    tags: dict[int, set[str]] = defaultdict(set)
    if rows:
        for article_id, slug in session.execute(
            select(article_tags.c.article_id, Tag.slug)
            .join(Tag, Tag.id == article_tags.c.tag_id)
            .where(article_tags.c.article_id.in_([row[1] for row in rows]))
        ):
            tags[article_id].add(slug)
    return [(position, article_id, tags[article_id]) for position, article_id in rows]


def _choose_by_tag(
    session: Session, language: str, audiences: list[Audience], below: int, limit: int
) -> None:
    """The audiences of rare tags: their tags' articles in (since, below).

    An audience still open after the first pages matched fewer than ``limit`` of a few
    thousand recent articles, so its tags are rare: their articles are found from the
    tags (ix_article_tags_tag), not by walking the range, which may be the archive.
    """
    wanted = sorted({tag for audience in audiences if audience.tags for tag in audience.tags})
    lowest = min(audience.since for audience in audiences)
    by_tag: dict[str, list[tuple[int, int]]] = defaultdict(list)
    tagged: dict[int, list[str]] = defaultdict(list)
    if wanted:
        for article_id, slug in session.execute(
            select(article_tags.c.article_id, Tag.slug)
            .join(Tag, Tag.id == article_tags.c.tag_id)
            .where(Tag.slug.in_(wanted))
        ):
            tagged[article_id].append(slug)
    ids = sorted(tagged)
    for start in range(0, len(ids), _PAGE):
        # By id alone, so each is a primary-key lookup; the rest is checked here.
        for article_id, position, status, article_language in session.execute(
            select(Article.id, Article.first_position, Article.status, Article.language)
            .where(Article.id.in_(ids[start : start + _PAGE]), Article.keep_out_of_email == false())
        ):
            if (
                position is not None
                and lowest < position < below
                and status is ArticleStatus.PUBLISHED
                and article_language == language
            ):
                for slug in tagged[article_id]:
                    by_tag[slug].append((position, article_id))
    for audience in audiences:
        if not audience.tags:  # after a few full pages only a tagged audience can be open
            audience.chosen.extend(
                (position, article_id)
                for position, article_id in _rest(session, language, audience, below, limit)
            )
            continue
        found = {item for tag in audience.tags for item in by_tag.get(tag, ())}
        newest = sorted((item for item in found if audience.wants(item[0])), reverse=True)
        audience.chosen.extend(newest[: limit - len(audience.chosen)])


def _rest(
    session: Session, language: str, audience: Audience, below: int, limit: int
) -> list[tuple[int, int]]:
    rows = session.execute(
        select(_first, Article.id)
        .where(_first > audience.since, _first < below)
        .where(*_EMAILABLE, Article.language == language)
        .order_by(_first.desc())
        .limit(limit - len(audience.chosen))
    ).all()
    return [(position, article_id) for position, article_id in rows]
