"""Pushing events to partners, signed per the Standard Webhooks spec, a batch at a time.

Three short steps, no transaction held over the network: claim the batch's rows in one
statement (a lease, so a sweeper does not send them again while they are in flight), POST
each over pooled connections, record the answers a few per transaction as they come. A
worker killed between claim and record leaves the leases to run out and those deliveries
go again, with the same webhook-ids, so the partner can tell.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import random
import threading
import time
from collections import Counter, deque
from collections.abc import Sequence
from concurrent import futures
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email.utils import parsedate_to_datetime
from functools import lru_cache
from typing import Protocol

import httpx
from sqlalchemy import insert, select, update
from sqlalchemy.exc import DBAPIError
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
from worker import bell, http, tallies

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
# Deliveries per push task, and the threads per process that send them. The threads wait
# on the network; the CPU they use is what bounds a process, hence few of them.
SENDERS = 16
PER_PARTNER = 2
# How long a push task waits for its batch's answers before it goes on (the rest are
# recorded as they come): a healthy partner answers well within it.
PATIENCE = 1.0


@dataclass(frozen=True)
class Outgoing:
    delivery_id: int
    partner_id: int
    url: str
    webhook_id: str
    # The current secret, then during a rotation's overlap the previous one: each signs.
    secrets: tuple[str, ...]
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


def signatures(secrets: Sequence[str], webhook_id: str, timestamp: int, body: bytes) -> str:
    """The webhook-signature header: one signature per secret, space-separated. Standard
    Webhooks has receivers accept a message if any one of them verifies, which is what
    lets a secret rotate without a gap."""
    return " ".join(sign(secret, webhook_id, timestamp, body) for secret in secrets)


def push(delivery_id: int) -> list[int]:
    """Attempt one delivery if it is due; the ids of deliveries to ring next."""
    return push_batch([delivery_id])


def push_batch(delivery_ids: Sequence[int], patience: float | None = None) -> list[int]:
    """Attempt each due delivery of a batch; the ids of deliveries to ring next.

    The batch is claimed in one transaction, sent side by side by the process's senders
    over pooled connections, and recorded as the answers come, several per transaction.
    After ``patience`` seconds (None: no limit) the caller goes on and what is still in
    flight is recorded, and its next deliveries rung, as each answer comes: a hanging
    partner holds neither a task nor the others' records.
    """
    claimed = _claim_batch(delivery_ids, utcnow())
    following: list[int] = []
    waiting = {_dispatch(outgoing) for outgoing in claimed}
    deadline = None if patience is None else time.monotonic() + patience
    while waiting:
        left = None if deadline is None else max(0.0, deadline - time.monotonic())
        done, waiting = futures.wait(waiting, timeout=left, return_when=futures.FIRST_COMPLETED)
        if done:
            following += _record_batch([future.result() for future in done])
        elif waiting:
            for future in waiting:
                future.add_done_callback(_record_later)
            break
    return following


def _record_later(future: futures.Future[_Sent]) -> None:
    try:
        bell.ring_pushes(_record_batch([future.result()]))
    except Exception:  # its lease runs out, and the sweeper rings it again
        log.exception("could not record a push; it goes again when its lease runs out")


@dataclass(frozen=True)
class _Sent:
    outgoing: Outgoing
    response: httpx.Response | None
    error: str | None
    elapsed_ms: int
    sent: bool = True  # False: its lease was too short to send it any more; given back


def _send(outgoing: Outgoing) -> _Sent:
    timeout = get_settings().push_timeout_seconds
    if utcnow() + timedelta(seconds=timeout) >= outgoing.lease_until:
        # It waited for a sender this long: an attempt now could outlast the lease and
        # meet a second one. Handed back to be rung again instead.
        return _Sent(outgoing, None, None, 0, sent=False)
    started = time.monotonic()
    response: httpx.Response | None = None
    error = None
    try:
        timestamp = int(time.time())
        signature = signatures(outgoing.secrets, outgoing.webhook_id, timestamp, outgoing.body)
        headers = {
            "content-type": "application/json",
            "webhook-id": outgoing.webhook_id,
            "webhook-timestamp": str(timestamp),
            "webhook-signature": signature,
        }
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
    return _Sent(outgoing, response, error, elapsed_ms)


_starting = threading.Lock()


def _senders() -> futures.ThreadPoolExecutor:
    """The process's sender threads, shared by every batch it runs."""
    with _starting:
        return _make_senders()


@lru_cache(maxsize=1)
def _make_senders() -> futures.ThreadPoolExecutor:
    return futures.ThreadPoolExecutor(SENDERS, thread_name_prefix="push")


# Lanes: at most PER_PARTNER pushes in flight to one partner from a process; the rest of
# that partner's wait their turn without holding a sender. A partner that hangs thus ties
# up PER_PARTNER senders, however fast events come, and never the others' pushes.
_lanes = threading.Lock()
_in_flight: Counter[int] = Counter()
_queued: dict[int, deque[tuple[Outgoing, futures.Future[_Sent]]]] = {}


def _dispatch(outgoing: Outgoing) -> futures.Future[_Sent]:
    future: futures.Future[_Sent] = futures.Future()
    partner_id = outgoing.partner_id
    with _lanes:
        start = _in_flight[partner_id] < PER_PARTNER
        if start:
            _in_flight[partner_id] += 1
        else:
            _queued.setdefault(partner_id, deque()).append((outgoing, future))
    if start:
        _senders().submit(_run, outgoing, future)
    return future


def _run(outgoing: Outgoing, future: futures.Future[_Sent]) -> None:
    try:
        future.set_result(_send(outgoing))
    except BaseException as exc:
        future.set_exception(exc)
    finally:
        partner_id = outgoing.partner_id
        following = None
        with _lanes:
            queue = _queued.get(partner_id)
            if queue:
                following = queue.popleft()  # the lane's slot passes on to it
                if not queue:
                    del _queued[partner_id]
            else:
                _in_flight[partner_id] -= 1
                if not _in_flight[partner_id]:
                    del _in_flight[partner_id]
        if following is not None:
            _senders().submit(_run, *following)


def _claim(delivery_id: int, now: datetime) -> Outgoing | None:
    claimed = _claim_batch([delivery_id], now)
    return claimed[0] if claimed else None


def _claim_batch(delivery_ids: Sequence[int], now: datetime) -> list[Outgoing]:
    """Lease every due delivery of the batch whose partner can take it, in one transaction.

    The lease is the row's next attempt time, set later than one attempt can take, so a
    sweep does not send it again while it is in flight. A delivery with an earlier one of
    the same article still pending for that partner waits: version n goes before n+1, and
    the earlier one rings it when it is done (_next_in_chain).
    """
    if not delivery_ids:
        return []
    lease_until = now + timedelta(seconds=3 * get_settings().push_timeout_seconds)
    with session_scope() as session:
        # Each statement picks rows by primary key only: a planner with stale statistics
        # (a table that just grew) has no join to get wrong.
        rows = session.execute(
            select(
                PartnerDelivery.id,
                PartnerDelivery.event_id,
                PartnerDelivery.partner_id,
                PartnerDelivery.article_id,
                PartnerDelivery.webhook_id,
                PartnerDelivery.status,
                PartnerDelivery.next_attempt_at,
            )
            .where(PartnerDelivery.id.in_(sorted(set(delivery_ids))))
            .order_by(PartnerDelivery.id)
            .with_for_update()
        ).all()
        rows = [row for row in rows if row.status is DeliveryStatus.PENDING]
        rows = [row for row in rows if row.next_attempt_at <= now]  # else leased, or not due
        # The secrets are read at each claim, not kept from the delivery's first attempt:
        # a retry or replay after a rotation is signed with the secrets valid now.
        endpoints: dict[int, tuple[str, tuple[str, ...]]] = {}
        for partner in session.execute(
            select(Partner.id, Partner.webhook_url, Partner.secret, Partner.state,
                   Partner.previous_secret, Partner.previous_secret_expires_at)
            .where(Partner.id.in_({row.partner_id for row in rows}))
        ):  # fmt: skip
            if partner.state is PartnerState.ACTIVE and partner.webhook_url and partner.secret:
                endpoints[partner.id] = (partner.webhook_url, partners.signing_secrets(
                    partner.secret, partner.previous_secret,
                    partner.previous_secret_expires_at, now))  # fmt: skip
        claimed = [row for row in rows if row.partner_id in endpoints]
        if not claimed:
            return []
        blocked = _blocked(session, claimed)
        for delivery_id in sorted(blocked):
            delivery = session.get(PartnerDelivery, delivery_id)
            assert delivery is not None
            blocker = _earlier_pending(session, delivery)
            # Until then, not due: the sweeper does not ring it in a loop. (None: it was
            # settled a moment ago, and its settling rang this one.)
            if blocker is not None:
                delivery.next_attempt_at = max(blocker.next_attempt_at, now) + timedelta(seconds=1)
        claimed = [row for row in claimed if row.id not in blocked]
        if not claimed:
            return []
        session.execute(
            update(PartnerDelivery)
            .where(PartnerDelivery.id.in_([row.id for row in claimed]))
            .values(next_attempt_at=lease_until)
            .execution_options(synchronize_session=False)
        )
        events = session.scalars(
            select(OutboxEvent).where(OutboxEvent.id.in_({row.event_id for row in claimed}))
        )
        bodies = {event.id: payload(event) for event in events}
    outgoing = []
    for row in sorted(claimed):
        url, secrets = endpoints[row.partner_id]
        body = bodies[row.event_id]
        outgoing.append(
            Outgoing(row.id, row.partner_id, url, row.webhook_id, secrets, body, lease_until)
        )
    return outgoing


class _Row(Protocol):
    id: int
    event_id: int
    partner_id: int
    article_id: int


def _blocked(session: Session, rows: Sequence[_Row]) -> set[int]:
    """The rows with an earlier delivery of the same article still pending for their
    partner (version n goes before n+1), in one statement."""
    pending = session.execute(
        select(PartnerDelivery.partner_id, PartnerDelivery.article_id, PartnerDelivery.event_id)
        .where(
            PartnerDelivery.partner_id.in_({row.partner_id for row in rows}),
            PartnerDelivery.article_id.in_({row.article_id for row in rows}),
            PartnerDelivery.event_id < max(row.event_id for row in rows),
            PartnerDelivery.status == DeliveryStatus.PENDING,
        )
    ).all()
    first: dict[tuple[int, int], int] = {}
    for partner_id, article_id, event_id in pending:
        key = (partner_id, article_id)
        first[key] = min(first.get(key, event_id), event_id)
    return {
        row.id
        for row in rows
        if first.get((row.partner_id, row.article_id), row.event_id) < row.event_id
    }


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


def _record_batch(results: list[_Sent], now: datetime | None = None) -> list[int]:
    """Record the answers in one transaction; if that fails (a deadlock, say), each on its
    own, so one bad row does not leave the others to be sent again."""
    now = now or utcnow()
    try:
        notes, following = _settle_batch(results, now)
    except DBAPIError:
        if len(results) == 1:
            raise
        log.warning("recording %s pushes together failed; one by one", len(results),
                    exc_info=True)  # fmt: skip
        notes, following = [], []
        for result in results:
            more_notes, more = _settle_batch([result], now)
            notes += more_notes
            following += more
    counts: Counter[str] = Counter()
    for outgoing, note in notes:
        if not note.outcome:
            continue
        counts[f"partner_pushes:{note.outcome}"] += 1
        counts["partners_disabled"] += bool(note.disabled)
        level = logging.INFO if note.outcome == "delivered" else logging.WARNING
        log.log(level, "push %s of event %s to partner %s: %s%s", outgoing.delivery_id,
                note.ids["event_id"], note.ids["partner_id"], note.outcome,
                f" ({note.error})" if note.error else "", extra=note.ids)  # fmt: skip
        if note.disabled:
            log.warning("partner %s disabled: %s", note.ids["partner_id"], note.disabled,
                        extra=note.ids)  # fmt: skip
    tallies.add(counts)
    return following


def _settle_batch(
    results: list[_Sent], now: datetime
) -> tuple[list[tuple[Outgoing, _Note]], list[int]]:
    """Record a group of answers in one transaction: the attempts in one INSERT, the
    deliveries that went through in one UPDATE per status code, the rest row by row."""
    notes: list[tuple[Outgoing, _Note]] = []
    following: list[int] = []
    through = [result for result in results if _went_through(result)]
    others = sorted(
        (result for result in results if not _went_through(result)),
        key=lambda result: result.outgoing.delivery_id,
    )
    with session_scope() as session:
        attempts = [_attempt(result, now) for result in results if result.sent]
        if attempts:
            session.execute(insert(DeliveryAttempt), attempts)
        finished: list[_Row] = []
        by_outgoing = {result.outgoing.delivery_id: result.outgoing for result in through}
        for (code, lease_until), group in _grouped(through).items():
            # Only rows still ours: pending, and leased by this very claim.
            finished += session.execute(
                update(PartnerDelivery)
                .where(
                    PartnerDelivery.id.in_(group),
                    PartnerDelivery.status == DeliveryStatus.PENDING,
                    PartnerDelivery.next_attempt_at == lease_until,
                )
                .values(
                    status=DeliveryStatus.DELIVERED,
                    attempts=PartnerDelivery.attempts + 1,
                    last_status=code,
                    last_error=None,
                    delivered_at=now,
                )
                .returning(
                    PartnerDelivery.id,
                    PartnerDelivery.event_id,
                    PartnerDelivery.partner_id,
                    PartnerDelivery.article_id,
                )
                .execution_options(synchronize_session=False)
            ).all()
        if finished:
            session.execute(
                update(Partner)
                .where(
                    Partner.id.in_({row.partner_id for row in finished}),
                    Partner.failing_since.is_not(None),
                )
                .values(failing_since=None)
                .execution_options(synchronize_session=False)
            )
            following += _next_in_chain(session, finished, now)
        for row in finished:
            note = _Note(outcome="delivered", ids=_ids(row))
            notes.append((by_outgoing[row.id], note))
        if others:
            rows = session.scalars(
                select(PartnerDelivery)
                .where(PartnerDelivery.id.in_([r.outgoing.delivery_id for r in others]))
                .order_by(PartnerDelivery.id)
                .with_for_update()
            ).all()
            deliveries = {delivery.id: delivery for delivery in rows}
            partners_by_id = {
                partner.id: partner
                for partner in session.scalars(
                    select(Partner)
                    .where(Partner.id.in_({delivery.partner_id for delivery in rows}))
                    .order_by(Partner.id)
                )
            }
            for result in others:
                delivery = deliveries[result.outgoing.delivery_id]
                note = _Note()
                following += _settle(
                    session, delivery, partners_by_id[delivery.partner_id], result, now, note
                )
                notes.append((result.outgoing, note))
    return notes, following


def _went_through(result: _Sent) -> bool:
    return result.sent and result.response is not None and result.response.is_success


def _grouped(results: list[_Sent]) -> dict[tuple[int, datetime], list[int]]:
    groups: dict[tuple[int, datetime], list[int]] = {}
    for result in results:
        assert result.response is not None
        key = (result.response.status_code, result.outgoing.lease_until)
        groups.setdefault(key, []).append(result.outgoing.delivery_id)
    return groups


def _attempt(result: _Sent, now: datetime) -> dict[str, object]:
    status = result.response.status_code if result.response is not None else None
    return {
        "delivery_id": result.outgoing.delivery_id,
        "attempted_at": now,
        "status_code": status,
        "error": _error(status, result.error),
        "duration_ms": result.elapsed_ms,
    }


def _error(status: int | None, error: str | None) -> str | None:
    if status is not None and not 200 <= status < 300 and error is None:
        error = f"HTTP {status}"
        if 300 <= status < 400:
            error += " (a redirect counts as a failure: it is not followed)"
    return error


def _ids(row: _Row) -> dict[str, int]:
    return {
        "delivery_id": row.id, "event_id": row.event_id,
        "partner_id": row.partner_id, "article_id": row.article_id,
    }  # fmt: skip


def _settle(
    session: Session,
    delivery: PartnerDelivery,
    partner: Partner,
    result: _Sent,
    now: datetime,
    note: _Note,
) -> list[int]:
    outgoing, response, error = result.outgoing, result.response, result.error
    ours = delivery.status is DeliveryStatus.PENDING and (
        delivery.next_attempt_at == outgoing.lease_until
    )
    if not result.sent:
        if ours:  # given back unsent: due again now
            delivery.next_attempt_at = now
            return [delivery.id]
        return []
    status = response.status_code if response is not None else None
    note.ids = _ids(delivery)
    error = _error(status, error)  # its attempt is logged by _settle_batch
    if not ours:
        return []  # our lease ran out and another attempt took over: it decides
    delivery.attempts += 1
    delivery.last_status = status
    delivery.last_error = note.error = error
    if status is not None and 200 <= status < 300:
        note.outcome = "delivered"
        delivery.status = DeliveryStatus.DELIVERED
        delivery.delivered_at = now
        partner.failing_since = None
        return _next_in_chain(session, [delivery], now)
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
        return _next_in_chain(session, [delivery], now)
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


def _next_in_chain(session: Session, done: Sequence[_Row], now: datetime) -> list[int]:
    """For each finished delivery, its partner's next pending delivery of the same
    article, held back for order: due now. One statement when there is none.

    Locked: a claim of it that saw the finished one still pending may be about to commit
    a time after that one's lease; reading its time before that commit, this would leave
    it there, and the delivery would wait for the sweeper.
    """
    if not done:
        return []
    pending = session.execute(
        select(
            PartnerDelivery.id,
            PartnerDelivery.partner_id,
            PartnerDelivery.article_id,
            PartnerDelivery.event_id,
        )
        .where(
            PartnerDelivery.partner_id.in_({row.partner_id for row in done}),
            PartnerDelivery.article_id.in_({row.article_id for row in done}),
            PartnerDelivery.event_id > min(row.event_id for row in done),
            PartnerDelivery.status == DeliveryStatus.PENDING,
        )
        .order_by(PartnerDelivery.event_id)
        .with_for_update()
    ).all()
    following = []
    for row in done:
        later = [
            found.id
            for found in pending
            if (found.partner_id, found.article_id) == (row.partner_id, row.article_id)
            and found.event_id > row.event_id
        ]
        if later:
            following.append(later[0])
    if following:
        session.execute(
            update(PartnerDelivery)
            .where(PartnerDelivery.id.in_(following), PartnerDelivery.next_attempt_at > now)
            .values(next_attempt_at=now)
            .execution_options(synchronize_session="fetch")
        )
    return following
