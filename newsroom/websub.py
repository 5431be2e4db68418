"""The WebSub hub's state: intents waiting for verification, and verified subscriptions.

W3C WebSub (2018) §5: a (un)subscribe request is only an intent until the subscriber
confirms it at its callback (§5.3); then it overrides the previous state of its
(topic, callback) pair, and a failed verification leaves that state unchanged (§5.1.1).
Topics are stored as feed paths ("all.atom"); the URL is built from the public URL.

Every function works inside the caller's transaction; the caller rings bells after it.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from newsroom import urls
from newsroom.db import lock
from newsroom.models import WebSubIntent, WebSubPush, WebSubSubscription
from newsroom.outbox import backoff  # one retry curve: 10 s, doubling, at most an hour

MIN_LEASE_SECONDS = 60
# Verification is retried only after failures that may pass (5xx, timeouts), a few times.
MAX_VERIFY_ATTEMPTS = 5
# Finished intents are kept this long, for an operator asking why a subscription is missing.
KEEP_INTENTS = timedelta(days=7)


class Mode(enum.StrEnum):
    SUBSCRIBE = "subscribe"
    UNSUBSCRIBE = "unsubscribe"


class IntentStatus(enum.StrEnum):
    PENDING = "pending"
    VERIFIED = "verified"
    DENIED = "denied"          # the subscriber refused, or verification kept failing
    SUPERSEDED = "superseded"  # a newer request for the same topic and callback came first


@dataclass(frozen=True)
class Intent:
    """What a verification needs of an intent, detached from the session."""

    id: int
    mode: Mode
    topic: str
    callback: str
    lease_seconds: int


def hub_url(public_url: str) -> str:
    return public_url + urls.HUB_PATH


def topic_url(public_url: str, topic: str) -> str:
    return f"{public_url}{urls.FEEDS_PATH}/{topic}"


def lease_for(requested: int | None, default: int, maximum: int) -> int:
    """§5.3: the hub decides the lease; the subscriber's wish is clamped to our bounds."""
    if requested is None:
        return min(default, maximum)
    return max(MIN_LEASE_SECONDS, min(requested, maximum))


def _pair_lock(session: Session, topic: str, callback: str) -> None:
    # Requests for one (topic, callback) pair are recorded and applied one at a time.
    lock(session, f"websub:{topic} {callback}")


def record_intent(
    session: Session,
    mode: Mode,
    topic: str,
    callback: str,
    secret: str | None,
    lease_seconds: int,
    now: datetime,
    grace: timedelta,
) -> int:
    """Add the intent; an older one still pending for the same pair will not be applied."""
    _pair_lock(session, topic, callback)
    session.execute(
        update(WebSubIntent)
        .where(
            WebSubIntent.topic == topic,
            WebSubIntent.callback == callback,
            WebSubIntent.status == IntentStatus.PENDING,
        )
        .values(status=IntentStatus.SUPERSEDED)
    )
    intent = WebSubIntent(
        mode=mode, topic=topic, callback=callback, secret=secret,
        lease_seconds=lease_seconds, requested_at=now, status=IntentStatus.PENDING,
        attempts=0, next_attempt_at=now + grace,  # the sweeper rings if the bell was lost
    )  # fmt: skip
    session.add(intent)
    session.flush()
    return intent.id


def pending_intent(session: Session, intent_id: int) -> Intent | None:
    intent = session.get(WebSubIntent, intent_id)
    if intent is None or intent.status != IntentStatus.PENDING:
        return None
    return Intent(intent.id, Mode(intent.mode), intent.topic, intent.callback,
                  intent.lease_seconds)  # fmt: skip


def apply_verified(session: Session, intent_id: int, requested_at: datetime) -> bool:
    """The subscriber confirmed: the intent becomes the pair's state. False if it was not
    pending any more (applied by a twin run, or superseded by a newer request).

    §5.3: the lease runs from the moment the verification request was made.
    """
    intent = session.get(WebSubIntent, intent_id)
    if intent is None:
        return False
    _pair_lock(session, intent.topic, intent.callback)
    claimed = session.execute(
        update(WebSubIntent)
        .where(WebSubIntent.id == intent_id, WebSubIntent.status == IntentStatus.PENDING)
        .values(status=IntentStatus.VERIFIED, last_error=None)
    )
    if claimed.rowcount != 1:  # type: ignore[attr-defined]
        return False
    subscription = session.scalar(
        select(WebSubSubscription).where(
            WebSubSubscription.topic == intent.topic,
            WebSubSubscription.callback == intent.callback,
        )
    )
    if intent.mode == Mode.UNSUBSCRIBE:
        if subscription is not None:
            _delete_subscriptions(session, [subscription.id])
        return True
    if subscription is None:
        subscription = WebSubSubscription(topic=intent.topic, callback=intent.callback)
        session.add(subscription)
    # §5.1.1: a re-subscription replaces secret and lease; pending pushes stay due.
    subscription.secret = intent.secret
    subscription.lease_seconds = intent.lease_seconds
    subscription.expires_at = requested_at + timedelta(seconds=intent.lease_seconds)
    subscription.verified_at = requested_at
    return True


def deny(session: Session, intent_id: int, reason: str) -> None:
    """The subscriber refused (404, wrong challenge): the pair's state stays as it was."""
    session.execute(
        update(WebSubIntent)
        .where(WebSubIntent.id == intent_id, WebSubIntent.status == IntentStatus.PENDING)
        .values(status=IntentStatus.DENIED, last_error=reason[:4000])
    )


def retry_later(session: Session, intent_id: int, error: str, now: datetime) -> None:
    """A failure that may pass; after MAX_VERIFY_ATTEMPTS the intent is denied."""
    intent = session.get(WebSubIntent, intent_id)
    if intent is None or intent.status != IntentStatus.PENDING:
        return
    intent.attempts += 1
    intent.last_error = error[:4000]
    intent.next_attempt_at = now + backoff(intent.attempts)
    if intent.attempts >= MAX_VERIFY_ATTEMPTS:
        intent.status = IntentStatus.DENIED
        intent.last_error = f"gave up after {intent.attempts} attempts: {error}"[:4000]


def due_intents(session: Session, now: datetime, limit: int = 500) -> list[int]:
    """Pending intents whose bell should ring again, pushed back a step (as outbox.due)."""
    intents = session.scalars(
        select(WebSubIntent)
        .where(WebSubIntent.status == IntentStatus.PENDING, WebSubIntent.next_attempt_at <= now)
        .order_by(WebSubIntent.id)
        .limit(limit)
    ).all()
    for intent in intents:
        intent.next_attempt_at = now + backoff(intent.attempts)
    return [intent.id for intent in intents]


def expire(session: Session, now: datetime) -> int:
    """Drop subscriptions whose lease ran out (§5.3), and old finished intents."""
    expired = list(
        session.scalars(
            select(WebSubSubscription.id).where(WebSubSubscription.expires_at <= now)
        )
    )
    _delete_subscriptions(session, expired)
    session.execute(
        delete(WebSubIntent).where(
            WebSubIntent.status != IntentStatus.PENDING,
            WebSubIntent.requested_at <= now - KEEP_INTENTS,
        )
    )
    return len(expired)


def drop(session: Session, subscription_id: int) -> None:
    """§7: the callback answered 410 Gone, so the subscription is deleted."""
    _delete_subscriptions(session, [subscription_id])


def _delete_subscriptions(session: Session, ids: list[int]) -> None:
    if not ids:
        return
    # The pushes first, explicitly: no reliance on the database's ON DELETE CASCADE.
    session.execute(delete(WebSubPush).where(WebSubPush.subscription_id.in_(ids)))
    session.execute(delete(WebSubSubscription).where(WebSubSubscription.id.in_(ids)))
