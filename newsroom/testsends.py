"""Test sends of the next edition: asked for at the desk, sent once by a worker.

The row is the truth: ``queued`` until a worker has handed the message to the SMTP server
(``sent``) or been refused (``failed``, with the server's answer). A worker claims the row
with a short lease before it sends, so a second bell while it sends finds nothing, and a
bell after it is done finds the row no longer queued. Nothing here touches a subscriber,
a delivery or a counter: a test is no edition.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from newsroom.deskmodels import TestSend, TestSendStatus
from newsroom.models import Frequency

# A test still queued after this long is not worth sending: the editor has moved on.
OWED_FOR = timedelta(hours=1)
SWEEP_LIMIT = 100


def request(
    session: Session, user_id: int | None, email: str, language: str, frequency: Frequency,
    now: datetime,
) -> TestSend:  # fmt: skip
    row = TestSend(
        key=secrets.token_hex(16),
        requested_by=user_id,
        email=email,
        language=language,
        frequency=frequency,
        status=TestSendStatus.QUEUED,
        subject="",
        requested_at=now,
    )
    session.add(row)
    session.flush()
    return row


@dataclass(frozen=True)
class Claimed:
    id: int
    key: str
    email: str
    language: str
    frequency: Frequency


def claim(session: Session, test_send_id: int, now: datetime, lease: timedelta) -> Claimed | None:
    """The row, leased to the caller until ``now + lease``; None if it is not queued, or
    another worker holds it."""
    taken = session.execute(
        update(TestSend)
        .where(TestSend.id == test_send_id, TestSend.status == TestSendStatus.QUEUED)
        .where(or_(TestSend.leased_until.is_(None), TestSend.leased_until < now))
        .values(leased_until=now + lease)
        .returning(TestSend.id, TestSend.key, TestSend.email, TestSend.language,
                   TestSend.frequency)
        .execution_options(synchronize_session=False)
    ).first()  # fmt: skip
    if taken is None:
        return None
    return Claimed(taken[0], taken[1], taken[2], taken[3], Frequency(taken[4]))


def finish(
    session: Session, test_send_id: int, now: datetime, *, subject: str = "",
    error: str | None = None,
) -> None:  # fmt: skip
    """Sent (no error) or failed for good (the reason, as the page shows it)."""
    session.execute(
        update(TestSend)
        .where(TestSend.id == test_send_id, TestSend.status == TestSendStatus.QUEUED)
        .values(
            status=TestSendStatus.FAILED if error else TestSendStatus.SENT,
            subject=subject[:400],
            error=error[:2000] if error else None,
            sent_at=None if error else now,
            leased_until=None,
        )
        .execution_options(synchronize_session=False)
    )


def due(session: Session, now: datetime, grace: timedelta) -> list[int]:
    """Queued tests whose bell was lost or whose worker died (its lease ran out)."""
    return list(
        session.scalars(
            select(TestSend.id)
            .where(TestSend.status == TestSendStatus.QUEUED)
            .where(TestSend.requested_at >= now - OWED_FOR)
            .where(TestSend.requested_at <= now - grace)  # the request's own bell first
            .where(or_(TestSend.leased_until.is_(None), TestSend.leased_until < now))
            .order_by(TestSend.requested_at)
            .limit(SWEEP_LIMIT)
        )
    )


def recent(session: Session, limit: int = 10) -> Sequence[TestSend]:
    """The newest test sends, for the editions page."""
    return session.scalars(select(TestSend).order_by(TestSend.id.desc()).limit(limit)).all()
