"""Per-tag sums of a window's settled days, kept in memory under the day counts' version.

The tag cloud of a 90-day window sums some hundred thousand day counts (models.TagDay)
at 500k articles. Most of them are of days that are over: those change only when an
older article is updated, retagged or retracted, or a backdated one published, and each
such change replaces the token of models.TagDaysVersion in its own transaction
(``note_change``). So the sums of a range of settled days are computed once per process
and token, and a cloud adds only the days that are still moving.

Settled, for a reader, means before yesterday (UTC, by its clock); a writer replaces the
token for any day before today (by its). A writer's change goes unnoticed only if its
clock, or its still-open transaction, is two days behind the reader's.
"""

from __future__ import annotations

import threading
import uuid
from collections import OrderedDict
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import cast

from sqlalchemy import Table, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from newsroom.models import Tag, TagDay, TagDaysVersion

# Sums kept per process: a site asks for a few windows a day (each newsletter language's,
# the subscribe page's), each of at most a few thousand tags.
KEPT = 32

_VERSION = cast(Table, TagDaysVersion.__table__)


@dataclass(frozen=True)
class Sums:
    """The settled days' count of each tag, and its slug then (to notice a tag deleted
    and its id given again, which SQLite can do)."""

    counts: dict[int, int]
    ranked: list[tuple[int, int]]  # (tag_id, count), most used first
    slugs: dict[int, str]


_Key = tuple[str, str | None, date, date]  # token, language, first day, end day
_kept: OrderedDict[_Key, Sums] = OrderedDict()
_guard = threading.Lock()


def settled_before(now: datetime) -> date:
    """The first day that is not settled yet, for a reader whose clock says ``now``."""
    return now.date() - timedelta(days=1)


def changes_settled(days: list[date], now: datetime) -> bool:
    """Whether a writer whose clock says ``now`` must replace the token for ``days``."""
    return any(day < now.date() for day in days)


def note_change(session: Session) -> None:
    """Replace the token: the counts of a day that readers may hold sums of changed."""
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    token = uuid.uuid4().hex
    upsert = dialect.insert(_VERSION).values(id=1, token=token)
    session.execute(upsert.on_conflict_do_update(index_elements=["id"], set_={"token": token}))


def settled(session: Session, language: str | None, first: date, end: date) -> Sums:
    """The sums of the days [first, end), from memory when the token is the one they
    were summed under. The token is read before the counts: sums that are newer than
    their token are only thrown away sooner."""
    token = session.scalar(select(_VERSION.c.token).where(_VERSION.c.id == 1))
    key = (token or "", language, first, end)
    if token is not None:
        with _guard:
            if (found := _kept.get(key)) is not None:
                _kept.move_to_end(key)
                return found
    sums = _sum(session, language, first, end)
    if token is not None:
        with _guard:
            _kept[key] = sums
            while len(_kept) > KEPT:
                _kept.popitem(last=False)
    return sums


def forget() -> None:
    """Drop every kept sum (a tag they count is gone)."""
    with _guard:
        _kept.clear()


def _sum(session: Session, language: str | None, first: date, end: date) -> Sums:
    days = select(TagDay.tag_id, func.sum(TagDay.articles).label("n"))
    days = days.where(TagDay.day >= first, TagDay.day < end)
    if language is not None:
        days = days.where(TagDay.language == language)
    # Summed per tag id first, then joined to the tags: a tag's rows are many (each day
    # and language), the tag one.
    summed = days.group_by(TagDay.tag_id).subquery()
    rows = session.execute(
        select(Tag.id, Tag.slug, summed.c.n).join(summed, summed.c.tag_id == Tag.id)
    ).all()
    counts = {tag_id: int(n) for tag_id, _, n in rows if n > 0}
    ranked = sorted(counts.items(), key=lambda item: -item[1])
    return Sums(counts, ranked, {tag_id: slug for tag_id, slug, _ in rows})
