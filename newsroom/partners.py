"""Partner municipalities: registration, keys, filters, and one delivery row per event.

A partner gets a signing secret (Standard Webhooks, "whsec_" + base64) for its pushes
and a pull key for the pull API. Both are shown once; the pull key is kept only as a
hash, the secret in full because every push is signed with it. Rotating the secret
keeps the old one signing beside the new one for an overlap period (rotate_secret).
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field
from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from config import get_settings
from newsroom import audit, netguard, retention
from newsroom.errors import DomainError
from newsroom.models import (
    DeliveryAttempt,
    DeliveryStatus,
    OutboxEvent,
    Partner,
    PartnerDelivery,
    PartnerState,
)
from newsroom.schemas import Label, LanguageCode
from newsroom.text import line_count, make_slug, one_line

PULL_KEY_PREFIX = "bkp_"


class PartnerError(DomainError):
    pass


class PartnerNotFound(PartnerError):
    status = 404


class PartnerExists(PartnerError):
    status = 409


class UnsafeWebhook(PartnerError):
    status = 422


def _name(value: str) -> str:
    if line_count(value) > 1:
        raise ValueError("must be one line")
    value = one_line(value)
    if not 1 <= len(value) <= 200:
        raise ValueError("must be 1 to 200 characters")
    return value


def _webhook_url(value: str) -> str:
    # Only the form here: resolving the host is I/O, done by register() (off the event loop).
    value = value.strip()
    try:
        netguard.parse(value)
    except netguard.UnsafeURL as exc:
        raise ValueError(str(exc)) from None
    return value


class PartnerIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Annotated[str, AfterValidator(_name)]
    webhook_url: Annotated[str, AfterValidator(_webhook_url)] | None = None
    tags: Annotated[list[Label], Field(max_length=50)] = []
    languages: Annotated[list[LanguageCode], Field(max_length=20)] = []


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def register(session: Session, data: PartnerIn) -> tuple[Partner, str, str]:
    """The new partner, its signing secret and its pull key (shown this once)."""
    if session.scalar(select(Partner.id).where(Partner.name == data.name)) is not None:
        raise PartnerExists("name", f"a partner named {data.name!r} exists")
    if data.webhook_url is not None:
        try:
            netguard.check(data.webhook_url, get_settings().allowed_networks)
        except netguard.UnsafeURL as exc:
            raise UnsafeWebhook("webhook_url", str(exc)) from None
    secret = new_secret()
    pull_key = PULL_KEY_PREFIX + secrets.token_urlsafe(32)
    partner = Partner(
        name=data.name,
        webhook_url=data.webhook_url,
        secret=secret,
        pull_key_hash=hash_key(pull_key),
        tags=sorted({make_slug(label, max_length=80) for label in data.tags}),
        languages=sorted(set(data.languages)),
    )
    session.add(partner)
    session.flush()
    return partner, secret, pull_key


def new_secret() -> str:
    """A Standard Webhooks signing secret: "whsec_" and 32 random bytes in base64."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


@dataclass(frozen=True)
class Rotated:
    secret: str  # shown this once
    overlap_ends: datetime | None  # None: no overlap, the old secret stopped at once


def rotate_secret(
    session: Session, partner: Partner, now: datetime, actor: audit.Actor
) -> Rotated:
    """A new signing secret; the current one keeps signing beside it for the overlap
    (BUDKAVLE_PARTNER_SECRET_OVERLAP_HOURS), so a partner verifying with either accepts.

    Rotating again during an overlap: the current secret becomes the previous one, with
    a fresh overlap, and the one before it stops signing at once. Two signatures at most;
    a partner still on that oldest secret was told twice to switch.
    The pull key is a separate credential and stays as it is.
    """
    overlap = timedelta(hours=get_settings().partner_secret_overlap_hours)
    secret = new_secret()
    if partner.secret is not None and overlap > timedelta(0):
        partner.previous_secret = partner.secret
        partner.previous_secret_expires_at = now + overlap
    else:
        partner.previous_secret = None
        partner.previous_secret_expires_at = None
    partner.secret = secret
    ends = partner.previous_secret_expires_at
    # Audited in the rotation's own transaction, by whichever door it came through; the
    # details name the partner and the overlap, never a secret.
    details = {"partner": partner.id, "overlap_ends": ends.isoformat() if ends else None}
    audit.record(session, actor, "partner.rotate_secret", now, partner.name, details)
    session.flush()
    return Rotated(secret, ends)


def signing_secrets(
    current: str, previous: str | None, expires_at: datetime | None, now: datetime
) -> tuple[str, ...]:
    """The secrets a push is signed with now: the current one, and during an overlap the
    previous one after it (Standard Webhooks lets webhook-signature carry several)."""
    if previous is not None and expires_at is not None and now < expires_at:
        return (current, previous)
    return (current,)


def by_key(session: Session, key: str) -> Partner | None:
    """The partner whose pull key this is. A lookup by hash: nothing to time."""
    if not key.startswith(PULL_KEY_PREFIX):
        return None
    return session.scalar(select(Partner).where(Partner.pull_key_hash == hash_key(key)))


def find(session: Session, name_or_id: str | int) -> Partner:
    if isinstance(name_or_id, int) or str(name_or_id).isdigit():
        partner = session.get(Partner, int(name_or_id))
    else:
        partner = session.scalar(select(Partner).where(Partner.name == name_or_id))
    if partner is None:
        raise PartnerNotFound("partner", f"no partner {name_or_id!r}")
    return partner


def listing(session: Session, state: PartnerState | None = None) -> Sequence[Partner]:
    query = select(Partner).order_by(Partner.name)
    if state is not None:
        query = query.where(Partner.state == state)
    return session.scalars(query).all()


def matches(partner: Partner, payload: dict[str, Any]) -> bool:
    """Does an event concern this partner? Before or after the change: a partner that
    followed a tag the article just lost must hear about it too."""
    return _wants(partner.tags, partner.languages, payload)


def _wants(
    partner_tags: Sequence[str], partner_languages: Sequence[str], payload: dict[str, Any]
) -> bool:
    states = [payload.get("before", {}), payload.get("after", {})]
    languages = {state.get("language") for state in states} - {None}
    tags = {tag for state in states for tag in state.get("tags", [])}
    if partner_languages and not languages & set(partner_languages):
        return False
    return not partner_tags or bool(tags & set(partner_tags))


def plan_deliveries(session: Session, event: OutboxEvent, now: datetime) -> list[int]:
    """One delivery row per partner with a webhook that the event concerns; the ids to
    push now, in id order. Running it twice adds nothing: (event, partner) is unique.

    Set-based, whatever the number of partners: one read of the partners' filters, one
    multi-row INSERT that skips rows a concurrent run of the same event made first, and
    one read of what is pending.
    """
    wanted = [
        partner_id
        for partner_id, tags, languages in session.execute(
            select(Partner.id, Partner.tags, Partner.languages)
            .where(Partner.webhook_url.is_not(None))
            .order_by(Partner.id)
        )
        if _wants(tags, languages, event.payload)
    ]
    if not wanted:
        return []
    rows = [
        {
            "event_id": event.id,
            "partner_id": partner_id,
            "article_id": event.article_id,
            "webhook_id": f"msg_{uuid.uuid4().hex}",
            "status": DeliveryStatus.PENDING,
            "attempts": 0,
            "next_attempt_at": now,
            "created_at": now,
        }
        for partner_id in wanted
    ]
    insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    session.execute(
        insert(PartnerDelivery).on_conflict_do_nothing(
            index_elements=[PartnerDelivery.event_id, PartnerDelivery.partner_id]
        ),
        rows,
    )
    return list(
        session.scalars(
            select(PartnerDelivery.id)
            .join(Partner, Partner.id == PartnerDelivery.partner_id)
            .where(
                PartnerDelivery.event_id == event.id,
                PartnerDelivery.status == DeliveryStatus.PENDING,
                Partner.state == PartnerState.ACTIVE,
            )
            .order_by(PartnerDelivery.id)
        )
    )


def enable(session: Session, partner: Partner) -> list[int]:
    """Back in service; the pending deliveries to push (nothing was lost meanwhile)."""
    partner.state = PartnerState.ACTIVE
    partner.disabled_reason = None
    partner.disabled_at = None
    partner.failing_since = None
    return list(
        session.scalars(
            select(PartnerDelivery.id)
            .where(
                PartnerDelivery.partner_id == partner.id,
                PartnerDelivery.status == DeliveryStatus.PENDING,
            )
            .order_by(PartnerDelivery.event_id)
        )
    )


def disable(partner: Partner, reason: str, now: datetime) -> None:
    partner.state = PartnerState.DISABLED
    partner.disabled_reason = reason
    partner.disabled_at = now


def replay(session: Session, delivery_id: int, now: datetime) -> PartnerDelivery:
    """Send a delivery again (failed or not): same webhook-id, a fresh retry schedule."""
    delivery = session.get(PartnerDelivery, delivery_id)
    if delivery is None:
        raise PartnerNotFound("delivery", f"no delivery {delivery_id}")
    retention.check_replayable(session, delivery, get_settings())  # 410 once slimmed
    delivery.status = DeliveryStatus.PENDING
    delivery.attempts = 0
    delivery.next_attempt_at = now
    return delivery


def log(
    session: Session, partner: Partner, limit: int = 50
) -> list[tuple[PartnerDelivery, list[DeliveryAttempt]]]:
    """The newest deliveries of a partner, each with its attempts, newest first."""
    deliveries = session.scalars(
        select(PartnerDelivery)
        .where(PartnerDelivery.partner_id == partner.id)
        .order_by(PartnerDelivery.id.desc())
        .limit(limit)
    ).all()
    attempts: dict[int, list[DeliveryAttempt]] = {d.id: [] for d in deliveries}
    for attempt in session.scalars(
        select(DeliveryAttempt)
        .where(DeliveryAttempt.delivery_id.in_(attempts))
        .order_by(DeliveryAttempt.id.desc())
    ):
        attempts[attempt.delivery_id].append(attempt)
    return [(delivery, attempts[delivery.id]) for delivery in deliveries]


def changes(
    session: Session, partner: Partner, after: int, limit: int, scan: int = 1000
) -> tuple[list[OutboxEvent], int, bool]:
    """The partner's changes after position ``after``: (events, next cursor, more?).

    Filters are applied here, not in SQL (tags live in JSON); at most ``scan`` events
    are read per call, and the cursor moves past what was read, matching or not, so a
    client looping on it neither misses nor repeats anything.
    """
    rows = session.scalars(
        select(OutboxEvent)
        .where(OutboxEvent.position > after)
        .order_by(OutboxEvent.position)
        .limit(scan)
    ).all()
    found: list[OutboxEvent] = []
    cursor = after
    for event in rows:
        if len(found) == limit:
            return found, cursor, True
        assert event.position is not None
        cursor = event.position
        if matches(partner, event.payload):
            found.append(event)
    return found, cursor, len(rows) == scan


def due_deliveries(session: Session, now: datetime, limit: int = 500) -> list[int]:
    """Pending deliveries of active partners whose time has come (for the sweeper)."""
    return list(
        session.scalars(
            select(PartnerDelivery.id)
            .join(Partner, Partner.id == PartnerDelivery.partner_id)
            .where(
                PartnerDelivery.status == DeliveryStatus.PENDING,
                PartnerDelivery.next_attempt_at <= now,
                Partner.state == PartnerState.ACTIVE,
            )
            .order_by(PartnerDelivery.next_attempt_at)
            .limit(limit)
        )
    )
