"""The admin API for subscribers (import, list, look up, suppress, erase) and for returned
mail."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response, status
from pydantic import BaseModel
from sqlalchemy import select
from starlette.concurrency import run_in_threadpool

from config import get_settings
from newsroom import bounces, subscribers
from newsroom.db import session_scope
from newsroom.errors import DomainError
from newsroom.models import Frequency, Subscriber, SubscriberStatus, utcnow
from newsroom.subscription import SubscriptionIn
from web import errors
from web.auth import require_admin
from web.errors import problem
from web.params import AfterId, RowId
from worker import tallies

admin = APIRouter(
    prefix="/api",
    tags=["subscribers"],
    dependencies=[Depends(require_admin)],
    responses=errors.documented(400, 401, 404, 409, 413, 422),
)

# What an import records as the consent form: the consent itself was given elsewhere.
API_IMPORT = "api-import"


class SubscriberOut(BaseModel):
    id: int
    email: str
    status: SubscriberStatus
    language: str
    frequency: Frequency
    tags: list[str]
    time_zone: str
    consent_at: datetime
    consent_form: str
    confirmed_at: datetime | None
    unsubscribed_at: datetime | None
    failures: int
    created_at: datetime


class Imported(BaseModel):
    id: int
    email: str
    status: SubscriberStatus
    created: bool


class Page(BaseModel):
    items: list[SubscriberOut]
    next: int | None    # pass as ?after= for the next page; null on the last page


class ChangeOut(BaseModel):
    address: str
    event: str
    before: str | None
    after: str | None
    failures: int | None
    note: str


class AppliedOut(BaseModel):
    kind: str
    key: str
    duplicate: bool
    # True: the report quotes no Message-ID of a mail we sent to the address it names (or
    # an unsubscribe mail has a forged token), so it changed nothing and was not recorded.
    unverified: bool
    changes: list[ChangeOut]


def _out(subscriber: Subscriber) -> SubscriberOut:
    return SubscriberOut.model_validate(subscriber, from_attributes=True)


@admin.post(
    "/subscribers",
    status_code=status.HTTP_201_CREATED,
    response_model=Imported,
    responses={200: {"model": Imported, "description": "An active address, updated"}},
)
def import_subscriber(data: SubscriptionIn, response: Response) -> Imported | Response:
    """Add a reader who already consented elsewhere, as active (no confirmation email).
    An address that left or was suppressed stays so: 409 names its status."""
    with session_scope() as session:
        try:
            subscriber, created = subscribers.import_active(
                session, data, now=utcnow(), consent_form=API_IMPORT
            )
        except DomainError as exc:  # an unknown tag: the body is wrong, not the request
            return problem(422, exc.field, exc.message)
        if subscriber.status is not SubscriberStatus.ACTIVE:
            return problem(409, "email", f"is {subscriber.status}: it is not re-activated by an "
                           "import; only the reader can subscribe again")  # fmt: skip
        imported = Imported(id=subscriber.id, email=subscriber.email,
                            status=subscriber.status, created=created)  # fmt: skip
    if not created:
        response.status_code = status.HTTP_200_OK
    return imported


@admin.get("/subscribers", response_model=Page)
def list_subscribers(
    after: AfterId = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    state: Annotated[SubscriberStatus | None, Query(alias="status")] = None,
) -> Page:
    # Paged by id, not by offset: a page costs the same deep into a large list, and rows
    # added or erased meanwhile neither repeat nor skip anyone.
    query = select(Subscriber).where(Subscriber.id > after).order_by(Subscriber.id).limit(limit)
    if state is not None:
        query = query.where(Subscriber.status == state)
    with session_scope() as session:
        items = [_out(subscriber) for subscriber in session.scalars(query)]
    return Page(items=items, next=items[-1].id if len(items) == limit else None)


@admin.get("/subscribers/{subscriber_id}", response_model=SubscriberOut)
def get_subscriber(subscriber_id: RowId) -> SubscriberOut | Response:
    with session_scope() as session:
        subscriber = session.get(Subscriber, subscriber_id)
        if subscriber is None:
            return _missing(subscriber_id)
        return _out(subscriber)


@admin.post("/subscribers/{subscriber_id}/suppress", response_model=SubscriberOut)
def suppress_subscriber(subscriber_id: RowId) -> SubscriberOut | Response:
    """Stop all mail to a pending or active subscriber; 409 for any other status."""
    return _change(subscriber_id, subscribers.suppress)


@admin.post("/subscribers/{subscriber_id}/unsuppress", response_model=SubscriberOut)
def unsuppress_subscriber(subscriber_id: RowId) -> SubscriberOut | Response:
    """Lift a suppression (bounced, complained, suppressed): active again if they had
    confirmed, else pending; 409 for any other status."""
    return _change(subscriber_id, subscribers.unsuppress)


def _change(subscriber_id: int, change: subscribers.Change) -> SubscriberOut | Response:
    with session_scope() as session:
        subscriber = session.get(Subscriber, subscriber_id)
        if subscriber is None:
            return _missing(subscriber_id)
        try:
            change(session, subscriber, now=utcnow())
        except DomainError as exc:
            return problem(exc.status, exc.field, exc.message)
        return _out(subscriber)


@admin.delete("/subscribers/{subscriber_id}", status_code=status.HTTP_204_NO_CONTENT)
def erase_subscriber(subscriber_id: RowId) -> Response:
    """Forget the subscriber and every delivery to them (GDPR art. 17)."""
    with session_scope() as session:
        subscriber = session.get(Subscriber, subscriber_id)
        if subscriber is None:
            return _missing(subscriber_id)
        subscribers.erase(session, subscriber)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@admin.post("/bounces", response_model=AppliedOut)
async def post_bounce(request: Request) -> AppliedOut:
    """A raw returned mail (the bytes, e.g. `Content-Type: message/rfc822`): a DSN bounce
    (RFC 3464), a complaint (RFC 5965) or an unsubscribe mail. Applied once per report,
    and only to the subscriber whose mail (by our Message-ID) it is about."""
    raw = await request.body()  # the body limit middleware has bounded it
    applied = await run_in_threadpool(_apply, raw)  # the database must not block the loop
    return AppliedOut(
        kind=str(applied.kind), key=applied.key, duplicate=applied.duplicate,
        unverified=applied.unverified,
        changes=[ChangeOut(**vars(change)) for change in applied.changes],
    )  # fmt: skip


def _apply(raw: bytes) -> bounces.Applied:
    with session_scope() as session:
        applied = bounces.apply_raw(session, raw, get_settings())
    tallies.count_report(applied)  # after the commit: counted once it is true
    return applied


def _missing(subscriber_id: int) -> Response:
    return problem(404, "subscriber_id", f"no subscriber has id {subscriber_id}")
