"""Partners: the admin API that registers and looks after them, and the pull API they call."""

from __future__ import annotations

import base64
import binascii
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBasic, HTTPBearer
from pydantic import BaseModel

from config import get_settings
from feeds import query
from feeds.model import CONTENT_TYPES
from feeds.render import render
from newsroom import partners
from newsroom.db import session_scope
from newsroom.models import Partner, PartnerState, utcnow
from newsroom.partners import PartnerIn
from web import errors
from web.auth import require_admin
from web.params import MAX_ROW_ID, RowId
from web.ratelimit import limited
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


@admin.post("/deliveries/{delivery_id}/replay", response_model=DeliveryOut)
def replay_delivery(delivery_id: RowId) -> DeliveryOut:
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


@pull.get("/articles", response_model=ChangesOut)
def partner_changes(
    partner: Annotated[Partner, Depends(pulling_partner)],
    since: Annotated[str | None, Query(max_length=100, description="`next` of a page")] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> ChangesOut:
    """Every change matching the partner's filters, in order. Loop on `next`: nothing is
    missed and nothing comes twice. Retractions come as `article.retracted`."""
    after = decode_cursor(since) if since else 0
    settings = get_settings()
    with session_scope() as session:
        events, cursor, more = partners.changes(session, partner, after, limit)
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

