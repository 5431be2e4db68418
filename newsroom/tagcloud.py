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

from newsroom.models import Article, ArticleStatus, Tag, TagDay, article_tags

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

    Whole days of the window are summed from the day counts (models.TagDay); only the
    hours before the first whole day and after the last one are counted from the
    articles. So a cloud costs the days and tags of its window, not its articles.
    """
    first = _day_after(since)
    last = until.astimezone(UTC).date() if until is not None else None
    parts: list[Select[int, int]] = []
    if last is None or first < last:
        days = select(TagDay.tag_id, TagDay.articles.label("n"))
        days = days.where(TagDay.day >= first)
        if last is not None:
            days = days.where(TagDay.day < last)
        if language is not None:
            days = days.where(TagDay.language == language)
        parts.append(days)
        if since < _midnight(first):
            parts.append(_counted(since, _midnight(first), language))
        if last is not None and until is not None and _midnight(last) < until:
            parts.append(_counted(_midnight(last), until, language))
    else:  # within a day, or across one midnight: no whole day
        parts.append(_counted(since, until, language))
    counts = union_all(*parts).subquery() if len(parts) > 1 else parts[0].subquery()
    # Summed per tag id first, then joined to the tags: the window's rows are many (a
    # long tail of tags, each day and language), the tags that remain one each.
    summed = func.sum(counts.c.n)
    totals = (
        select(counts.c.tag_id, summed.label("total"))
        .group_by(counts.c.tag_id)
        .having(summed > 0)
        .subquery()
    )
    query = (
        select(Tag.slug, Tag.label, totals.c.total)
        .join(totals, totals.c.tag_id == Tag.id)
        # The database keeps only the top: the tail of a busy year can be thousands of tags.
        .order_by(totals.c.total.desc(), Tag.slug)
        .limit(limit)
    )
    found = {(slug, label): int(number) for slug, label, number in session.execute(query)}
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
