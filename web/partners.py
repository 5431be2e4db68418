"""Partners: the admin API that registers and looks after them, and the pull API they call."""

from __future__ import annotations

import base64
import binascii
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request, Response, status
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBasic, HTTPBearer
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from config import get_settings
from feeds import query
from feeds.model import CONTENT_TYPES
from feeds.render import render
from newsroom import audit, outbox, partners, retention
from newsroom.db import session_scope
from newsroom.models import OutboxEvent, Partner, PartnerState, utcnow
from newsroom.partners import PartnerIn
from web import errors
from web.auth import require_admin
from web.params import MAX_ROW_ID, RowId
from web.ratelimit import client_key, limited
from worker.bell import ring_pushes

admin = APIRouter(
    prefix="/api/partners",
    tags=["partners"],
    dependencies=[Depends(require_admin)],
    responses=errors.documented(400, 401, 404, 409, 413, 422),
)
# The limit comes first, before the key is looked up: guessing keys costs the same budget.
pull = APIRouter(
    prefix="/api/partner",
    tags=["partner pull API"],
    dependencies=[Depends(limited("partner_pull"))],
    responses=errors.documented(400, 401, 404, 413, 422, 429),
)

CURSOR_PREFIX = "c1."


class PartnerOut(BaseModel):
    id: int
    name: str
    webhook_url: str | None
    tags: list[str]
    languages: list[str]
    state: PartnerState
    disabled_reason: str | None
    failing_since: datetime | None
    created_at: datetime


class PartnerCreated(PartnerOut):
    secret: str
    pull_key: str


class SecretRotated(BaseModel):
    id: int
    secret: str = Field(description="The new signing secret (`whsec_...`), shown this once.")
    previous_secret_valid_until: datetime | None = Field(
        description="Until then pushes carry two signatures, with the new secret and the "
        "previous one; null: the previous secret stopped signing at once (overlap 0)."
    )


class AttemptOut(BaseModel):
    attempted_at: datetime
    status_code: int | None
    error: str | None
    duration_ms: int


class DeliveryOut(BaseModel):
    id: int
    webhook_id: str
    event_id: int
    article_id: int
    status: str
    attempts: int
    next_attempt_at: datetime
    last_status: int | None
    last_error: str | None
    delivered_at: datetime | None
    log: list[AttemptOut]


def _out(partner: Partner) -> PartnerOut:
    return PartnerOut.model_validate(partner, from_attributes=True)


@admin.post("", status_code=status.HTTP_201_CREATED, response_model=PartnerCreated)
def add_partner(data: PartnerIn) -> PartnerCreated:
    """Register a partner; its signing secret and pull key are shown this once."""
    with session_scope() as session:
        partner, secret, pull_key = partners.register(session, data)
        fields = _out(partner).model_dump()
    return PartnerCreated(**fields, secret=secret, pull_key=pull_key)


@admin.get("", response_model=list[PartnerOut])
def list_partners() -> list[PartnerOut]:
    with session_scope() as session:
        return [_out(partner) for partner in partners.listing(session)]


@admin.get("/{partner_id}/deliveries", response_model=list[DeliveryOut])
def partner_log(
    partner_id: RowId, limit: Annotated[int, Query(ge=1, le=500)] = 50
) -> list[DeliveryOut]:
    """Each delivery with its attempts: status codes, errors, the next retry."""
    with session_scope() as session:
        partner = partners.find(session, partner_id)
        return [
            DeliveryOut.model_validate(
                {**_columns(delivery), "log": [_columns(attempt) for attempt in attempts]}
            )
            for delivery, attempts in partners.log(session, partner, limit)
        ]


@admin.post("/{partner_id}/enable", response_model=PartnerOut)
def enable_partner(partner_id: RowId) -> PartnerOut:
    """Back in service: every delivery that waited goes out, in order."""
    with session_scope() as session:
        partner = partners.find(session, partner_id)
        waiting = partners.enable(session, partner)
        out = _out(partner)
    ring_pushes(waiting)
    return out


@admin.post("/{partner_id}/rotate-secret", response_model=SecretRotated)
def rotate_partner_secret(
    request: Request,
    response: Response,
    partner_id: Annotated[int, Path(description="The partner's id.")],
) -> SecretRotated:
    """A new signing secret, shown this once. The previous one keeps signing beside it for
    BUDKAVLE_PARTNER_SECRET_OVERLAP_HOURS: every push in between carries both signatures in
    `webhook-signature` (`v1,<new> v1,<old>`, as Standard Webhooks allows), so the partner
    can switch at its own pace. Rotating again during an overlap drops the oldest secret
    at once. The pull key is not changed."""
    # An id no column can hold is a partner that does not exist: 404, as for any other
    # (PostgreSQL would refuse to even compare it with an INTEGER column).
    if not 1 <= partner_id <= MAX_ROW_ID:
        raise partners.PartnerNotFound("partner", f"no partner {partner_id}")
    actor = audit.Actor(None, audit.ADMIN_API, client_key(request))
    with session_scope() as session:
        partner = partners.find(session, partner_id)
        rotated = partners.rotate_secret(session, partner, utcnow(), actor)
        out = SecretRotated(id=partner.id, secret=rotated.secret,
                            previous_secret_valid_until=rotated.overlap_ends)  # fmt: skip
    response.headers["Cache-Control"] = "no-store"  # a secret: no cache keeps it
    return out


@admin.post(
    "/deliveries/{delivery_id}/replay",
    response_model=DeliveryOut,
    responses=errors.documented(410),
)
def replay_delivery(delivery_id: RowId) -> DeliveryOut:
    """Send a delivery again, with the same webhook-id. A delivery whose event is older
    than BUDKAVLE_OUTBOX_RETENTION_DAYS is 410 Gone: only its ids are kept."""
    with session_scope() as session:
        delivery = partners.replay(session, delivery_id, utcnow())
        out = DeliveryOut.model_validate({**_columns(delivery), "log": []})
    ring_pushes([delivery_id])
    return out


def _columns(row: object) -> dict[str, object]:
    table = getattr(row, "__table__")  # noqa: B009
    return {column.name: getattr(row, column.name) for column in table.columns}


# The pull API ---------------------------------------------------------------------------

_bearer = HTTPBearer(
    auto_error=False,
    scheme_name="PartnerKey",
    description="The partner's pull key (`pull_key`); or as the password of Basic auth",
)
_basic = HTTPBasic(auto_error=False)


def pulling_partner(
    request: Request,
    bearer: HTTPAuthorizationCredentials | None = Depends(_bearer),  # noqa: B008
) -> Partner:
    """The partner whose key this is: Bearer, or Basic with the key as the password (for
    feed readers). One answer for every failure, so a guess learns nothing."""
    key = bearer.credentials if bearer else _basic_password(request)
    with session_scope() as session:
        partner = partners.by_key(session, key) if key else None
        if partner is not None:
            session.expunge(partner)
            return partner
    raise HTTPException(
        status.HTTP_401_UNAUTHORIZED,
        "missing or invalid partner key",
        headers={"WWW-Authenticate": 'Bearer, Basic realm="budkavle partners"'},
    )


def _basic_password(request: Request) -> str:
    scheme, _, encoded = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "basic":
        return ""
    try:
        return base64.b64decode(encoded, validate=True).decode().partition(":")[2]
    except (binascii.Error, UnicodeDecodeError):
        return ""


class ChangeOut(BaseModel):
    id: str
    type: str
    position: int
    occurred_at: datetime
    article: dict[str, object]


class ChangesOut(BaseModel):
    items: list[ChangeOut]
    next: str
    has_more: bool


def encode_cursor(position: int) -> str:
    return CURSOR_PREFIX + base64.urlsafe_b64encode(str(position).encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> int:
    try:
        body = cursor.removeprefix(CURSOR_PREFIX)
        position = int(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)).decode())
    except (ValueError, binascii.Error, UnicodeDecodeError):
        position = -1
    if not cursor.startswith(CURSOR_PREFIX) or not 0 <= position <= MAX_ROW_ID:
        raise HTTPException(400, "since: not a cursor this API gave out; omit it to start over")
    return position


class CursorGone(BaseModel):
    """The cursor is from before the oldest change still kept: what to do instead."""

    detail: str = Field(description="What happened and what to do, in a sentence.")
    oldest: str = Field(description="The oldest cursor still served: pulling from it gives "
                        "every change still kept, but not those lost since your cursor.")
    latest: str = Field(description="The newest cursor: after re-syncing, pull from it.")
    retention_days: int = Field(description="Days of changes kept "
                                "(BUDKAVLE_OUTBOX_RETENTION_DAYS).")
    feed: str = Field(description="Your own feed, to re-sync the current articles from.")


_GONE = {
    "model": CursorGone,
    "description": "`since` is older than the changes kept (BUDKAVLE_OUTBOX_RETENTION_DAYS, "
    "30 by default): changes after it are gone. Note `latest`, re-sync the current "
    "articles from your feed or a full listing, then pull with `since=latest`.",
}


@pull.get("/articles", response_model=ChangesOut, responses={410: _GONE})
def partner_changes(
    partner: Annotated[Partner, Depends(pulling_partner)],
    since: Annotated[str | None, Query(max_length=100, description="`next` of a page")] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> ChangesOut | JSONResponse:
    """Every change matching the partner's filters, in order. Loop on `next`: nothing is
    missed and nothing comes twice. Retractions come as `article.retracted`. Without
    `since`, from the oldest change kept; a `since` older than that is 410 Gone."""
    after = decode_cursor(since) if since else None
    settings = get_settings()
    with session_scope() as session:
        served = _changes_served(session, partner, after, limit)
        if served is None:
            return _gone(session)
        events, cursor, more = served
        items = []
        for event in events:
            article = dict(event.payload["article"])
            article["url"] = query.article_url_for(
                article["canonical_url"], article["slug"], settings
            )
            assert event.position is not None
            items.append(ChangeOut(id=f"evt_{event.id}", type=str(event.kind),
                                   position=event.position, occurred_at=event.created_at,
                                   article=article))  # fmt: skip
    return ChangesOut(items=items, next=encode_cursor(cursor), has_more=more)


def _changes_served(
    session: Session, partner: Partner, after: int | None, limit: int
) -> tuple[list[OutboxEvent], int, bool] | None:
    """The page after ``after`` (None: from the oldest kept), or None if it is gone.

    The horizon is read after the events: the pruner moves it in the transaction that
    slims or deletes, so a page that lost an event to a prune always sees the horizon
    that says so (and one read before it might not, on PostgreSQL's READ COMMITTED).
    """
    for _ in range(3):
        start = retention.oldest_served(session) - 1 if after is None else after
        page = partners.changes(session, partner, start, limit)
        if start >= retention.oldest_served(session) - 1:
            return page
        if after is not None:
            return None
    return None  # the horizon moved under three reads in a row: say so rather than guess


def _gone(session: Session) -> JSONResponse:
    settings = get_settings()
    days = settings.outbox_retention_days
    oldest = encode_cursor(retention.oldest_served(session) - 1)
    latest = encode_cursor(outbox.last_position(session))
    feed = f"{settings.public_url}/api/partner/feed.json"
    body = CursorGone(
        detail=f"since: this cursor is older than the {days} days of changes kept, and "
        f"changes after it are gone. Note `latest`, re-sync the current articles from your "
        f"feed ({feed}) or a full listing, then pull with since=`latest`. Pulling from "
        "`oldest` gives every change still kept.",
        oldest=oldest,
        latest=latest,
        retention_days=days,
        feed=feed,
    )
    return JSONResponse(body.model_dump(), status_code=status.HTTP_410_GONE)


@pull.get("/feed.{fmt}")
def partner_feed(fmt: str, partner: Annotated[Partner, Depends(pulling_partner)]) -> Response:
    """The partner's own feed: the newest articles that match its filters."""
    if fmt not in CONTENT_TYPES:
        raise HTTPException(404, "no such feed format; use .atom, .rss or .json")
    settings = get_settings()
    with session_scope() as session:
        document = query.for_partner(session, partner.tags, partner.languages, settings)
        body = render(document, fmt)
    return Response(body, media_type=CONTENT_TYPES[fmt], headers={"cache-control": "private"})

