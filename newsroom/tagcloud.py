"""The tag cloud: how often each tag was used lately, as a few font-size steps.

Weights follow a log scale, as tag clouds commonly do: news tags have a long tail (one
tag on forty articles, most on one or two), and a linear scale would make every tag but
the biggest look the same.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import Select, func, select, union_all
from sqlalchemy.orm import Session

from newsroom import daysums
from newsroom.models import Article, ArticleStatus, Tag, TagDay, article_tags, utcnow

STEPS = 5
MIDDLE_STEP = (STEPS + 1) // 2


@dataclass(frozen=True)
class CloudTag:
    slug: str
    label: str
    count: int
    step: int  # 1 (smallest) .. STEPS (largest)


def weigh(counts: Mapping[tuple[str, str], int], limit: int = 30) -> list[CloudTag]:
    """The ``limit`` most used tags of ``{(slug, label): count}``, stepped and sorted by slug.

    Ties at the cut are broken by slug, so the same counts give the same cloud.
    """
    used = [(slug, label, count) for (slug, label), count in counts.items() if count > 0]
    top = sorted(used, key=lambda item: (-item[2], item[0], item[1]))[: max(limit, 0)]
    if not top:
        return []
    low = math.log(min(count for _, _, count in top))
    high = math.log(max(count for _, _, count in top))
    cloud = [
        CloudTag(slug, label, count, _step(math.log(count), low, high))
        for slug, label, count in top
    ]
    return sorted(cloud, key=lambda tag: (tag.slug, tag.label))


def _step(value: float, low: float, high: float) -> int:
    if high == low:  # one tag, or all used equally: none stands out, all sit in the middle
        return MIDDLE_STEP
    return 1 + round((STEPS - 1) * (value - low) / (high - low))


def tag_cloud(
    session: Session,
    *,
    since: datetime,
    until: datetime | None = None,
    language: str | None = None,
    limit: int = 30,
) -> list[CloudTag]:
    """The cloud of the articles published in [since, until), optionally in one language.

    Whole days of the window are summed from the day counts (models.TagDay), and the
    sums of those that are settled are kept in memory (newsroom.daysums); only yesterday,
    today and the hours before the first whole day and after the last one are counted
    on each call. So a cloud costs its window's tags and its last days, not its articles.
    """
    first = _day_after(since)
    last = until.astimezone(UTC).date() if until is not None else None
    if last is not None and first >= last:  # within a day, or across one midnight: no whole day
        live = _live_counts(session, [_counted(since, until, language)])
        return _top(session, _EMPTY, live, limit) or []
    end = max(first, daysums.settled_before(utcnow()))
    if last is not None:
        end = min(end, last)
    days = select(TagDay.tag_id, TagDay.articles.label("n")).where(TagDay.day >= end)
    if last is not None:
        days = days.where(TagDay.day < last)
    if language is not None:
        days = days.where(TagDay.language == language)
    parts: list[Select[int, int]] = [days]
    if since < _midnight(first):
        parts.append(_counted(since, _midnight(first), language))
    if last is not None and until is not None and _midnight(last) < until:
        parts.append(_counted(_midnight(last), until, language))
    live = _live_counts(session, parts)
    cloud = _top(session, daysums.settled(session, language, first, end), live, limit)
    if cloud is None:  # a tag the kept sums count was deleted: sum its days again
        daysums.forget()
        cloud = _top(session, daysums.settled(session, language, first, end), live, limit)
    assert cloud is not None  # just summed: every tag in the sums exists
    return cloud


_EMPTY = daysums.Sums({}, [], {})


def _live_counts(session: Session, parts: list[Select[int, int]]) -> dict[int, int]:
    counts = union_all(*parts).subquery() if len(parts) > 1 else parts[0].subquery()
    query = select(counts.c.tag_id, func.sum(counts.c.n)).group_by(counts.c.tag_id)
    return {tag_id: int(n) for tag_id, n in session.execute(query)}


def _top(
    session: Session, settled: daysums.Sums, live: Mapping[int, int], limit: int
) -> list[CloudTag] | None:
    """The cloud of the settled sums plus the live counts; None when a tag of the
    settled sums no longer exists (or its id is another tag's now)."""
    if limit <= 0:
        return []
    totals = {tag_id: settled.counts.get(tag_id, 0) + n for tag_id, n in live.items()}
    # A tag without live counts keeps its settled rank: only the first ``limit`` of
    # those (and any tied with the last) can make the top.
    untouched: list[tuple[int, int]] = []
    for tag_id, count in settled.ranked:
        if len(untouched) >= limit and count < untouched[-1][1]:
            break
        if tag_id not in live:
            untouched.append((tag_id, count))
    candidates = sorted([*totals.items(), *untouched], key=lambda item: -item[1])
    candidates = [(tag_id, count) for tag_id, count in candidates if count > 0]
    if len(candidates) > limit:  # ties at the cut are broken by slug: keep them all
        cut = candidates[limit - 1][1]
        candidates = [(tag_id, count) for tag_id, count in candidates if count >= cut]
    tags = {
        row.id: row
        for row in session.execute(
            select(Tag.id, Tag.slug, Tag.label).where(Tag.id.in_([c[0] for c in candidates]))
        )
    }
    found = {}
    for tag_id, count in candidates:
        row = tags.get(tag_id)
        if tag_id in settled.counts and (row is None or row.slug != settled.slugs[tag_id]):
            return None
        if row is not None:
            found[(row.slug, row.label)] = count
    return weigh(found, limit)


def _counted(start: datetime, end: datetime | None, language: str | None) -> Select[int, int]:
    """Per tag, the published articles of [start, end), counted one by one: at most a
    day's worth at each end of a window (the articles' status/published_at index)."""
    count = func.count(Article.id)
    query = (
        select(article_tags.c.tag_id, count.label("n"))
        .join(Article, Article.id == article_tags.c.article_id)
        .where(Article.status == ArticleStatus.PUBLISHED, Article.published_at >= start)
        .group_by(article_tags.c.tag_id)
    )
    if end is not None:
        query = query.where(Article.published_at < end)
    if language is not None:
        query = query.where(Article.language == language)
    return query


def _day_after(moment: datetime) -> date:
    """The first whole (UTC) day from ``moment`` on."""
    moment = moment.astimezone(UTC)
    day = moment.date()
    return day if moment == _midnight(day) else day + timedelta(days=1)


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time(), tzinfo=UTC)
