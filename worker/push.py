"""Pushing one event to one partner, signed per the Standard Webhooks spec.

Three short steps, no transaction held over the network: claim the row (a lease, so a
sweeper does not send it again while it is in flight), POST, record the answer. A worker
killed between claim and record leaves the lease to run out and the same delivery goes
again, with the same webhook-id, so the partner can tell.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import random
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email.utils import parsedate_to_datetime

import httpx
from sqlalchemy import select
from sqlalchemy.orm import Session

from config import get_settings
from feeds.query import article_url_for
from newsroom import netguard, partners
from newsroom.db import session_scope
from newsroom.models import (
    DeliveryAttempt,
    DeliveryStatus,
    OutboxEvent,
    Partner,
    PartnerDelivery,
    PartnerState,
    utcnow,
)
from worker import http, tallies

log = logging.getLogger(__name__)

# Standard Webhooks' retry schedule: the wait after the n-th failed attempt; about three
# days in all. After the last, the delivery is failed and the operator may replay it.
SCHEDULE = (
    timedelta(seconds=5), timedelta(minutes=5), timedelta(minutes=30), timedelta(hours=2),
    timedelta(hours=5), timedelta(hours=10), timedelta(hours=10), timedelta(hours=10),
    timedelta(hours=10),
)  # fmt: skip
JITTER = 0.1
MAX_RETRY_AFTER = timedelta(hours=24)
DISABLE_AFTER = timedelta(days=3)
PAYLOAD_VERSION = "2026-11-01"


@dataclass(frozen=True)
class Outgoing:
    delivery_id: int
    url: str
    webhook_id: str
    secret: str
    body: bytes
    lease_until: datetime


def payload(event: OutboxEvent) -> bytes:
    """The versioned JSON a partner receives: written out field by field, never a model dump.

    Deterministic for an event (no send time inside), so every retry sends the same bytes.
    """
    article = dict(event.payload["article"])
    article["url"] = article_url_for(article["canonical_url"], article["slug"], get_settings())
    document = {
        "type": str(event.kind),
        "version": PAYLOAD_VERSION,
        "timestamp": event.created_at.isoformat().replace("+00:00", "Z"),
        "data": {"event_id": f"evt_{event.id}", "article": article},
    }
    return json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode()


def sign(secret: str, webhook_id: str, timestamp: int, body: bytes) -> str:
    """``v1,<base64 HMAC-SHA256>`` over ``id.timestamp.body`` with the base64-decoded key."""
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signed = f"{webhook_id}.{timestamp}.".encode() + body
    return "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()


def push(delivery_id: int) -> list[int]:
    """Attempt one delivery if it is due; the ids of deliveries to ring next."""
    outgoing = _claim(delivery_id, utcnow())
    if outgoing is None:
        return []
    timestamp = int(time.time())
    headers = {
        "content-type": "application/json",
        "webhook-id": outgoing.webhook_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": sign(outgoing.secret, outgoing.webhook_id, timestamp, outgoing.body),
    }
    started = time.monotonic()
    response: httpx.Response | None = None
    error = None
    try:
        response = http.request(
            http.client(), "POST", outgoing.url, content=outgoing.body, headers=headers
        )
    except netguard.UnsafeURL as exc:
        error = f"refused: {exc}"
    except httpx.HTTPError as exc:
        error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    except Exception as exc:  # anything else still ends on the row, never in a loop
        error = f"{type(exc).__name__}: {exc}"
    elapsed_ms = int((time.monotonic() - started) * 1000)
    return _record(outgoing, response, error, elapsed_ms, utcnow())


def _claim(delivery_id: int, now: datetime) -> Outgoing | None:
    with session_scope() as session:
        delivery = session.get(PartnerDelivery, delivery_id, with_for_update=True)
        if delivery is None or delivery.status is not DeliveryStatus.PENDING:
            return None
        if delivery.next_attempt_at > now:
            return None  # not due, or in flight elsewhere (leased)
        partner = session.get(Partner, delivery.partner_id)
        if partner is None or partner.state is not PartnerState.ACTIVE:
            return None
        if not partner.webhook_url or not partner.secret:
            return None
        blocker = _earlier_pending(session, delivery)
        if blocker is not None:
            # Version n goes before n+1: the earlier one rings us when it is done. Until
            # then we are not due, so the sweeper does not ring us in a loop.
            delivery.next_attempt_at = max(blocker.next_attempt_at, now) + timedelta(seconds=1)
            return None
        event = session.get(OutboxEvent, delivery.event_id)
        assert event is not None
        # The lease: longer than one attempt can take, so a sweep does not double-send.
        delivery.next_attempt_at = now + timedelta(seconds=3 * get_settings().push_timeout_seconds)
        return Outgoing(delivery.id, partner.webhook_url, delivery.webhook_id, partner.secret,
                        payload(event), delivery.next_attempt_at)  # fmt: skip


def _earlier_pending(session: Session, delivery: PartnerDelivery) -> PartnerDelivery | None:
    return session.scalar(
        select(PartnerDelivery)
        .where(
            PartnerDelivery.partner_id == delivery.partner_id,
            PartnerDelivery.article_id == delivery.article_id,
            PartnerDelivery.event_id < delivery.event_id,
            PartnerDelivery.status == DeliveryStatus.PENDING,
        )
        .order_by(PartnerDelivery.event_id.desc())
        .limit(1)
    )


@dataclass
class _Note:
    """What an attempt came to, counted and logged once its row is committed."""

    outcome: str = ""  # delivered | retry | failed | gone; "": another attempt decides
    ids: dict[str, int] = field(default_factory=dict)
    error: str | None = None
    disabled: str | None = None


def _record(
    outgoing: Outgoing,
    response: httpx.Response | None,
    error: str | None,
    elapsed_ms: int,
    now: datetime,
) -> list[int]:
    note = _Note()
    following = _settle(outgoing, response, error, elapsed_ms, now, note)
    if note.outcome:
        tallies.add({f"partner_pushes:{note.outcome}": 1})
        if note.disabled:
            tallies.add({"partners_disabled": 1})
        level = logging.INFO if note.outcome == "delivered" else logging.WARNING
        log.log(level, "push %s of event %s to partner %s: %s%s", outgoing.delivery_id,
                note.ids["event_id"], note.ids["partner_id"], note.outcome,
                f" ({note.error})" if note.error else "", extra=note.ids)  # fmt: skip
        if note.disabled:
            log.warning("partner %s disabled: %s", note.ids["partner_id"], note.disabled,
                        extra=note.ids)  # fmt: skip
    return following


def _settle(
    outgoing: Outgoing,
    response: httpx.Response | None,
    error: str | None,
    elapsed_ms: int,
    now: datetime,
    note: _Note,
) -> list[int]:
    status = response.status_code if response is not None else None
    with session_scope() as session:
        delivery = session.get(PartnerDelivery, outgoing.delivery_id, with_for_update=True)
        assert delivery is not None
        partner = session.get(Partner, delivery.partner_id)
        assert partner is not None
        note.ids = {
            "delivery_id": delivery.id, "event_id": delivery.event_id,
            "partner_id": delivery.partner_id, "article_id": delivery.article_id,
        }  # fmt: skip
        if status is not None and not 200 <= status < 300 and error is None:
            error = f"HTTP {status}"
            if 300 <= status < 400:
                error += " (a redirect counts as a failure: it is not followed)"
        session.add(
            DeliveryAttempt(delivery_id=delivery.id, attempted_at=now, status_code=status,
                            error=error, duration_ms=elapsed_ms)
        )  # fmt: skip
        if delivery.status is not DeliveryStatus.PENDING or (
            delivery.next_attempt_at != outgoing.lease_until
        ):
            return []  # our lease ran out and another attempt took over: it decides
        delivery.attempts += 1
        delivery.last_status = status
        delivery.last_error = note.error = error
        if status is not None and 200 <= status < 300:
            note.outcome = "delivered"
            delivery.status = DeliveryStatus.DELIVERED
            delivery.delivered_at = now
            partner.failing_since = None
            return _next_in_chain(session, delivery, now)
        if status == 410:  # Gone: the partner has closed this endpoint
            note.outcome, note.disabled = "gone", "the endpoint answered 410 Gone"
            partners.disable(partner, note.disabled, now)
            delivery.next_attempt_at = now
            return []
        partner.failing_since = partner.failing_since or now
        if now - partner.failing_since > DISABLE_AFTER and partner.state is PartnerState.ACTIVE:
            since = f"{partner.failing_since:%Y-%m-%d %H:%M} UTC"
            note.disabled = f"every push has failed since {since}"
            partners.disable(partner, note.disabled, now)
        if delivery.attempts > len(SCHEDULE):
            note.outcome = "failed"
            delivery.status = DeliveryStatus.FAILED
            return _next_in_chain(session, delivery, now)
        note.outcome = "retry"
        delivery.next_attempt_at = now + _wait(delivery.attempts, response, now)
        return []


def _wait(attempts: int, response: httpx.Response | None, now: datetime) -> timedelta:
    wait = SCHEDULE[attempts - 1] * random.uniform(1 - JITTER, 1 + JITTER)  # noqa: S311
    if response is not None and response.status_code in (429, 503):
        asked = _retry_after(response.headers.get("retry-after", ""), now)
        if asked is not None:
            wait = max(wait, min(asked, MAX_RETRY_AFTER))
    return wait


def _retry_after(value: str, now: datetime) -> timedelta | None:
    """RFC 9110 §10.2.3: delay-seconds or an HTTP date."""
    value = value.strip()
    if value.isdigit():
        return timedelta(seconds=int(value))
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(when - now, timedelta(0)) if when.tzinfo else None


def _next_in_chain(session: Session, delivery: PartnerDelivery, now: datetime) -> list[int]:
    """The partner's next pending delivery of the same article, held back for order.

    Locked: a claim of it that saw this one still pending may be about to commit a time
    after this one's lease; reading its time before that commit, this would leave it
    there, and the delivery would wait for the sweeper.
    """
    following = session.scalar(
        select(PartnerDelivery)
        .where(
            PartnerDelivery.partner_id == delivery.partner_id,
            PartnerDelivery.article_id == delivery.article_id,
            PartnerDelivery.event_id > delivery.event_id,
            PartnerDelivery.status == DeliveryStatus.PENDING,
        )
        .order_by(PartnerDelivery.event_id)
        .limit(1)
        .with_for_update()
    )
    if following is None:
        return []
    following.next_attempt_at = min(following.next_attempt_at, now)
    return [following.id]
