"""The tag cloud: how often each tag was used lately, as a few font-size steps.

Weights follow a log scale, as tag clouds commonly do: news tags have a long tail (one
tag on forty articles, most on one or two), and a linear scale would make every tag but
the biggest look the same.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from newsroom.models import Article, ArticleStatus, Tag, article_tags

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
    """The cloud of the articles published in [since, until), optionally in one language."""
    count = func.count(Article.id)
    query = (
        select(Tag.slug, Tag.label, count)
        .join(article_tags, article_tags.c.tag_id == Tag.id)
        .join(Article, Article.id == article_tags.c.article_id)
        .where(Article.status == ArticleStatus.PUBLISHED, Article.published_at >= since)
        .group_by(Tag.id, Tag.slug, Tag.label)
        # The database keeps only the top: the tail of a busy year can be thousands of tags.
        .order_by(count.desc(), Tag.slug)
        .limit(limit)
    )
    if until is not None:
        query = query.where(Article.published_at < until)
    if language is not None:
        query = query.where(Article.language == language)
    counts = {(slug, label): number for slug, label, number in session.execute(query)}
    return weigh(counts, limit)
