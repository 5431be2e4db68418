"""The WebSub hub at work: verifying intents (§5.3) and distributing content (§7) over HTTP.

Each function reads its row in one short transaction, calls the subscriber with no
transaction open (SQLite's write lock must not wait on a slow callback), then records
the outcome in another. Each is safe to run twice: it acts only on a row still due.
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import logging
import secrets
from datetime import datetime, timedelta
from urllib.parse import urlencode, urlsplit, urlunsplit

import httpx
from sqlalchemy.orm import Session

from config import Settings
from feeds import store
from newsroom import websub, websubpush
from newsroom.db import session_scope
from newsroom.models import utcnow
from newsroom.netguard import UnsafeURL
from worker import bell, tallies
from worker.http import Pools, request

log = logging.getLogger(__name__)


class Verdict(enum.Enum):
    CONFIRMED = "confirmed"
    REFUSED = "refused"
    RETRY = "retry"


def plan_pushes(
    session: Session, changed: dict[str, str], now: datetime, settings: Settings
) -> list[int]:
    """In the transaction that stored new feed bytes (``changed``: path -> new ETag): the
    subscriptions that now owe a push."""
    return websubpush.plan(session, changed, now, _grace(settings))


def verify_intent(intent_id: int, settings: Settings, http: Pools) -> None:
    with session_scope() as session:
        intent = websub.pending_intent(session, intent_id)
    if intent is None:
        return  # verified, denied or superseded already
    challenge = secrets.token_urlsafe(32)
    requested_at = utcnow()
    try:
        response = request(http, "GET", verification_url(intent, challenge, settings.public_url))
        verdict, reason = judge(response, challenge)
    except (UnsafeURL, httpx.HTTPError) as exc:
        verdict, reason = Verdict.RETRY, f"{type(exc).__name__}: {exc}"
    with session_scope() as session:
        if verdict is Verdict.CONFIRMED:
            websub.apply_verified(session, intent_id, requested_at)
        elif verdict is Verdict.REFUSED:
            websub.deny(session, intent_id, reason)
        else:
            websub.retry_later(session, intent_id, reason, utcnow())
    if verdict is not Verdict.CONFIRMED:
        log.info(
            "websub intent %s not verified (%s): %s", intent_id, verdict.value, reason,
            extra={"intent_id": intent_id},
        )  # fmt: skip


def verification_url(intent: websub.Intent, challenge: str, public_url: str) -> str:
    """§5.3: the hub.* parameters appended to the callback's own query string."""
    params = {
        "hub.mode": str(intent.mode),
        "hub.topic": websub.topic_url(public_url, intent.topic),
        "hub.challenge": challenge,
    }
    if intent.mode is websub.Mode.SUBSCRIBE:
        params["hub.lease_seconds"] = str(intent.lease_seconds)
    parts = urlsplit(intent.callback)
    query = "&".join(part for part in (parts.query, urlencode(params)) if part)
    return urlunsplit(parts._replace(query=query))


def judge(response: httpx.Response, challenge: str) -> tuple[Verdict, str]:
    """§5.3: confirmed only by a 2xx whose body is exactly the challenge; a 404 means the
    subscriber does not want this. Answers that may change (5xx, 408, 429) are retried."""
    status = response.status_code
    if 200 <= status < 300:
        if response.content == challenge.encode():
            return Verdict.CONFIRMED, ""
        return Verdict.REFUSED, f"answered {status} without echoing hub.challenge"
    if status >= 500 or status in (408, 429):
        return Verdict.RETRY, f"answered {status}"
    return Verdict.REFUSED, f"answered {status}"


def push(subscription_id: int, settings: Settings, http: Pools) -> None:
    """§7: POST the topic's current full body to the callback, signed if it has a secret."""
    with session_scope() as session:
        lease = timedelta(seconds=3 * settings.push_timeout_seconds)
        job = websubpush.pending(session, subscription_id, utcnow(), lease)
        stored = store.get(session, job.topic) if job is not None else None
    if job is None or stored is None:
        return
    headers = distribution_headers(job, stored, settings.public_url)
    try:
        response = request(http, "POST", job.callback, content=stored.body, headers=headers)
    except Exception as exc:  # refused, network, or anything else: it ends on the row
        _record_failure(subscription_id, None, f"{type(exc).__name__}: {exc}")
        return
    status = response.status_code
    if 200 <= status < 300:
        with session_scope() as session:
            newer = websubpush.mark_delivered(session, subscription_id, stored.etag, status)
        tallies.add({"websub_pushes:delivered": 1})
        if newer:
            bell.ring_websub_pushes([subscription_id])
    elif status == 410:  # §7: "the subscription has been deleted"
        with session_scope() as session:
            websub.drop(session, subscription_id)
        tallies.add({"websub_pushes:gone": 1})
        log.info(
            "websub subscription %s answered 410 Gone: dropped", subscription_id,
            extra={"subscription_id": subscription_id},
        )  # fmt: skip
    else:  # §7: anything but 2xx is a failure, redirects included
        _record_failure(subscription_id, status, f"answered {status}")


def distribution_headers(
    job: websubpush.PushJob, stored: store.StoredFeed, public_url: str
) -> dict[str, str]:
    hub, topic = websub.hub_url(public_url), websub.topic_url(public_url, job.topic)
    headers = {
        "content-type": stored.content_type,  # §7: the Content-Type of the topic
        # §7: rel=hub and rel=self, combined into one Link header as the spec advises.
        "link": f'<{hub}>; rel="hub", <{topic}>; rel="self"',
    }
    if job.secret is not None:
        # §7.1: HMAC of the exact body, keyed with hub.secret; sha256 rather than sha1.
        digest = hmac.new(job.secret.encode(), stored.body, hashlib.sha256).hexdigest()
        headers["x-hub-signature"] = f"sha256={digest}"
    return headers


def sweep(now: datetime) -> tuple[list[int], list[int]]:
    """Expire leases; the intents and pushes whose bells should ring again."""
    with session_scope() as session:
        websub.expire(session, now)
        intents = websub.due_intents(session, now)
        pushes = websubpush.due(session, now)
    return intents, pushes


def _record_failure(subscription_id: int, status: int | None, error: str) -> None:
    with session_scope() as session:
        websubpush.mark_failed(session, subscription_id, status, error, utcnow())
    tallies.add({"websub_pushes:failed": 1})
    log.warning(
        "websub push to subscription %s failed: %s", subscription_id, error,
        extra={"subscription_id": subscription_id},
    )  # fmt: skip


def _grace(settings: Settings) -> timedelta:
    return timedelta(seconds=settings.outbox_grace_seconds)
