"""Planning digests: decide each due edition, render each segment once, queue the batches."""

from __future__ import annotations

import logging
import time
from datetime import datetime, timedelta
from typing import cast

from sqlalchemy import Table, bindparam, select, update
from sqlalchemy.orm import Session

from config import Settings
from email_templates import content
from email_templates.content import Shared
from email_templates.render import RenderedEmail, render_digest
from newsroom import editions
from newsroom.db import get_engine, read_scope, session_scope
from newsroom.editions import Segment, Slot
from newsroom.models import Edition, EditionSegment, utcnow

log = logging.getLogger(__name__)


Batch = tuple[int, int]  # (edition id, batch number)


def plan_due(settings: Settings, now: datetime) -> list[Batch]:
    """Plan every edition whose time has come, and finish any whose planning stopped
    midway; the batches to send."""
    lease = _plan_lease(settings)
    with session_scope() as session:
        slots = editions.due_slots(
            session,
            now,
            window=timedelta(seconds=settings.digest_window_seconds),
            hour=settings.digest_hour,
            weekday=settings.digest_weekday,
        )
        stalled = editions.stalled_plans(session, now, lease)
    batches: list[Batch] = []
    for edition_id in stalled:
        log.info("edition %s: planning resumed", edition_id, extra={"edition_id": edition_id})
        batches.extend(plan_rest(edition_id, settings, now))
    for slot in slots:
        batches.extend(plan_edition(slot, settings, now))
    return batches


def plan_edition(slot: Slot, settings: Settings, now: datetime) -> list[Batch]:
    """The edition of ``slot``, if nobody planned it yet: its row first, then its
    segments and deliveries in short transactions (see plan_rest)."""
    with session_scope() as session:
        edition_id = editions.open_edition(session, slot, now, _plan_lease(settings))
    if edition_id is None:
        return []  # planned already: by another worker, or by an earlier bell
    return plan_rest(edition_id, settings, now)


def plan_rest(edition_id: int, settings: Settings, now: datetime) -> list[Batch]:
    """Plan the edition's subscribers still behind it, in transactions short enough that
    publishes commit between them on SQLite (one write lock). A worker that dies midway
    leaves an edition part planned; the sweeper (plan_due) runs this again, and each
    subscriber recorded already is no longer behind, so nothing is recorded twice."""
    with read_scope() as session:
        edition = session.get(Edition, edition_id)
        assert edition is not None
        plan = editions.plan(session, edition, max_articles=settings.digest_max_articles)
        key, zone = edition.key, editions.slot_of(edition).time_zone or settings.time_zone
        stored = {
            (row.language, tuple(row.article_ids)): (row.id, bool(row.subject))
            for row in session.scalars(
                select(EditionSegment).where(EditionSegment.edition_id == edition_id)
            )
        }
    # A resumed plan reuses the segments the first run stored, and renders what it did not.
    new = [s for s in plan.segments if (s.language, s.article_ids) not in stored]
    for start in range(0, len(new), _SEGMENTS):
        added = _add_segments(edition_id, new[start : start + _SEGMENTS], now)
        stored.update(((s.language, s.article_ids), (i, False)) for s, i in added)
        _let_others_write()
    segment_ids = [stored[(s.language, s.article_ids)][0] for s in plan.segments]
    unrendered = [
        (segment_id, segment)
        for segment_id, segment in zip(segment_ids, plan.segments, strict=True)
        if not stored[(segment.language, segment.article_ids)][1]
    ]
    if unrendered:
        with read_scope() as session:
            segments = [segment for _, segment in unrendered]
            shared = content.read_shared(session, segments, settings, now)
        for start in range(0, len(unrendered), _SEGMENTS):
            _render_segments(edition_id, unrendered[start : start + _SEGMENTS], shared,
                             settings, zone, now)  # fmt: skip
            _let_others_write()
    rows: list[Row] = [
        (segment_id, recipient)
        for segment_id, segment in zip(segment_ids, plan.segments, strict=True)
        for recipient in segment.recipients
    ] + [(None, recipient) for recipient in plan.passed_over]
    # Whole send batches per transaction (at least one), so most batches come from one.
    size = max(1, _CHUNK // settings.digest_batch_size) * settings.digest_batch_size
    for start in range(0, len(rows), size):
        _record(edition_id, rows[start : start + size], settings)
        _let_others_write()
    with session_scope() as session:
        count = editions.finish_plan(session, edition_id, utcnow())
    log.info(
        "edition %s (%s) planned: %s segments, %s batches", edition_id, key, len(segment_ids),
        count, extra={"edition_id": edition_id},
    )  # fmt: skip
    return [(edition_id, batch) for batch in range(count)]


# Rows per planning transaction (rounded down to whole send batches): a few thousand
# rows commit in well under a second, so SQLite's one write lock is never held longer.
_CHUNK = 2000


Row = tuple[int | None, editions.Recipient]  # (segment id; None: nothing new for them)


def _record(edition_id: int, rows: list[Row], settings: Settings) -> None:
    with session_scope() as session:
        editions.record_deliveries(
            session, edition_id, rows, batch_size=settings.digest_batch_size, now=utcnow(),
            lease=_plan_lease(settings),
        )  # fmt: skip


# Between two of planning's transactions on SQLite: its busy handler polls, and a writer
# that let go of the one write lock and took it back at once would starve the publishes
# waiting for it (newsroom/retention.py pauses between its batches for the same reason).
_PAUSE_SECONDS = 0.02


def _let_others_write() -> None:
    if get_engine().dialect.name == "sqlite":
        time.sleep(_PAUSE_SECONDS)


def _plan_lease(settings: Settings) -> timedelta:
    return timedelta(seconds=settings.digest_lease_seconds)


# Segments stored, or rendered, per transaction.
_SEGMENTS = 100


def _add_segments(
    edition_id: int, segments: list[Segment], now: datetime
) -> list[tuple[Segment, int]]:
    """Their rows, not yet rendered: the id names a segment's "view in browser" page."""
    with session_scope() as session:
        rows = [
            EditionSegment(edition_id=edition_id, language=segment.language,
                           article_ids=list(segment.article_ids), subject="", html="",
                           text="", created_at=now)
            for segment in segments
        ]  # fmt: skip
        session.add_all(rows)
        session.flush()
        return [(segment, row.id) for segment, row in zip(segments, rows, strict=True)]


def _render_segments(
    edition_id: int,
    segments: list[tuple[int, Segment]],
    shared: Shared,
    settings: Settings,
    zone: str,
    now: datetime,
) -> None:
    """Rendered outside any write transaction (MJML takes milliseconds a segment), then
    stored in one short one."""
    with read_scope() as session:
        rendered = [
            (segment_id, render_segment(session, segment_id, segment, settings, zone, now,
                                        shared=shared))
            for segment_id, segment in segments
        ]  # fmt: skip
    with session_scope() as session:
        session.execute(
            update(_segments).where(_segments.c.id == bindparam("segment")),
            [{"segment": segment_id, "subject": email.subject, "html": email.html,
              "text": email.text} for segment_id, email in rendered],
        )  # fmt: skip
        editions.renew_plan_lease(session, edition_id, utcnow(), _plan_lease(settings))


_segments = cast(Table, EditionSegment.__table__)


def refresh_segment(session: Session, row: EditionSegment, settings: Settings) -> bool:
    """Render the segment again if some of its articles were retracted since; False when
    none is left (nothing to send)."""
    published = {article.id for article in content.emailable(session, row.article_ids)}
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
        content.zone_of(edition.key) or settings.time_zone,
        row.created_at,
    )
    row.subject, row.html, row.text = rendered.subject, rendered.html, rendered.text
    return True


def render_segment(
    session: Session,
    segment_id: int,
    segment: Segment,
    settings: Settings,
    zone: str,
    now: datetime,
    *,
    personal_links: bool = True,
    shared: Shared | None = None,
) -> RenderedEmail:
    return render_digest(
        content.digest_content(
            session, segment_id, segment.language, segment.article_ids, settings, zone, now,
            shared=shared,
        ),
        personal_links=personal_links,
    )  # fmt: skip
