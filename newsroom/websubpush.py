"""WebSub content distribution (§7) as rows: which subscription still has to get which body.

One ``WebSubPush`` row per subscription holds the ETag of the newest body it must receive
and the one it last received. A newer change replaces the ETag to send, so a subscriber
that was down gets the latest full content once, not every version it missed. A push is
due while the two differ; a 2xx records the ETag that went out.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from newsroom.models import WebSubPush, WebSubSubscription
from newsroom.outbox import backoff

# §7 "Hubs SHOULD retry notifications repeatedly until successful (up to some reasonable
# maximum...)": 10 s doubling to an hour, about half a day in all. A newer change of the
# topic starts the count again.
MAX_PUSH_ATTEMPTS = 15


@dataclass(frozen=True)
class PushJob:
    subscription_id: int
    topic: str
    callback: str
    secret: str | None


def plan(
    session: Session, etags: dict[str, str], now: datetime, grace: timedelta
) -> list[int]:
    """Mark every live subscription of a changed topic as owing the body with that ETag.

    ``etags`` maps each changed feed path to its new ETag; call this in the transaction
    that stored the new bytes, so a push is planned if and only if they commit. Returns
    the subscriptions to ring for.
    """
    if not etags:
        return []
    subscriptions = session.scalars(
        select(WebSubSubscription).where(
            WebSubSubscription.topic.in_(list(etags)), WebSubSubscription.expires_at > now
        )
    ).all()
    due = []
    for subscription in subscriptions:
        row = session.get(WebSubPush, subscription.id)
        if row is None:
            row = WebSubPush(subscription_id=subscription.id, delivered_etag=None)
            session.add(row)
        row.etag = etags[subscription.topic]
        row.attempts = 0
        row.next_attempt_at = now + grace  # the sweeper rings if the bell is lost
        row.last_error = None
        if row.delivered_etag != row.etag:
            due.append(subscription.id)
    return due


def pending(
    session: Session, subscription_id: int, now: datetime, lease: timedelta
) -> PushJob | None:
    """Claim the push to make for this subscription, or None if there is nothing to send.

    The claim is a lease on the row: a sweep while the push is in flight finds it not
    due, so the same body is not sent twice at once.
    """
    subscription = session.get(WebSubSubscription, subscription_id)
    row = session.get(WebSubPush, subscription_id, with_for_update=True)
    if subscription is None or row is None or row.delivered_etag == row.etag:
        return None
    if subscription.expires_at <= now:  # §5.3: an expired lease gets nothing
        return None
    if row.leased_until is not None and row.leased_until > now:
        return None  # in flight elsewhere
    row.leased_until = now + lease
    return PushJob(subscription.id, subscription.topic, subscription.callback,
                   subscription.secret)  # fmt: skip


def mark_delivered(session: Session, subscription_id: int, etag: str, status: int) -> bool:
    """The callback took the body with ``etag``. True if the topic changed meanwhile: the
    newer body is due at once (its own bell found this push in flight)."""
    row = session.get(WebSubPush, subscription_id)
    if row is None:
        return False
    row.delivered_etag = etag
    row.leased_until = None
    row.attempts = 0
    row.last_status = status
    row.last_error = None
    return row.etag != etag


def mark_failed(
    session: Session, subscription_id: int, status: int | None, error: str, now: datetime
) -> None:
    row = session.get(WebSubPush, subscription_id)
    if row is None:
        return
    row.leased_until = None
    row.attempts += 1
    row.last_status = status
    row.last_error = error[:4000]
    row.next_attempt_at = now + backoff(row.attempts)
    if row.attempts >= MAX_PUSH_ATTEMPTS:
        row.last_error = f"gave up after {row.attempts} attempts: {error}"[:4000]


def due(session: Session, now: datetime, limit: int = 500) -> list[int]:
    """Pushes whose bell should ring again, pushed back a step (as outbox.due)."""
    rows = session.scalars(
        select(WebSubPush)
        .join(WebSubSubscription, WebSubSubscription.id == WebSubPush.subscription_id)
        .where(
            or_(WebSubPush.delivered_etag.is_(None), WebSubPush.delivered_etag != WebSubPush.etag),
            WebSubPush.attempts < MAX_PUSH_ATTEMPTS,
            WebSubPush.next_attempt_at <= now,
            WebSubSubscription.expires_at > now,
        )
        .order_by(WebSubPush.next_attempt_at)
        .limit(limit)
    ).all()
    for row in rows:
        row.next_attempt_at = now + backoff(row.attempts)
    return [row.subscription_id for row in rows]
