"""Subscribers for operators: find, look at one, suppress, unsuppress, erase, export.

The actions call the same newsroom functions as the admin API (web/subscribers.py), so
they behave the same; the desk adds the audit entry to the transaction. The audit names
the subscriber by id only: an erased reader's address must not live on in the log.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response, StreamingResponse
from sqlalchemy.orm import Session

from config import get_settings
from newsroom import audit, subscribers
from newsroom.db import read_scope, session_scope
from newsroom.errors import DomainError
from newsroom.models import Frequency, Subscriber, SubscriberStatus, utcnow
from web.desk import session as desk
from web.desk.partners import refused, row_id
from web.desk.render import DeskProblem, page, see
from web.params import MAX_ROW_ID
from web.ratelimit import client_key

router = APIRouter(prefix="/desk", include_in_schema=False)
Operator = Annotated[desk.Viewer, Depends(desk.operator)]
OperatorPost = Annotated[desk.Posted, Depends(desk.posted_by_operator)]
PAGE = 50
EXPORT_PAGE = 500
EMAILS_SHOWN = 20
STATUSES = [status.value for status in SubscriberStatus]
FREQUENCIES = [frequency.value for frequency in Frequency]
LANGUAGE_CHARACTERS = frozenset("abcdefghijklmnopqrstuvwxyz-")
EXPORT_COLUMNS = (
    "id", "email", "status", "language", "frequency", "tags", "time_zone",
    "consent_at", "consent_ip", "consent_form", "confirmed_at", "failures",
)  # fmt: skip


@dataclass(frozen=True)
class Filter:
    """What the list shows: the query string, checked; a bad value is a 422 page."""

    search: str = ""
    status: SubscriberStatus | None = None
    language: str = ""
    frequency: Frequency | None = None

    @classmethod
    def of(cls, q: str, status: str, language: str, frequency: str) -> Filter:
        language = language.strip().lower()
        if len(q) > 254 or not q.isprintable():
            raise DeskProblem(422, "error.search")
        if status and status not in STATUSES:
            raise DeskProblem(422, "error.filter")
        if frequency and frequency not in FREQUENCIES:
            raise DeskProblem(422, "error.filter")
        # Any code a subscriber may have, also one no longer offered on the form.
        if len(language) > 8 or not all(c in LANGUAGE_CHARACTERS for c in language):
            raise DeskProblem(422, "error.filter")
        return cls(q.strip(), SubscriberStatus(status) if status else None, language,
                   Frequency(frequency) if frequency else None)  # fmt: skip

    def query(self, **more: object) -> str:
        """The filter as a query string, for the next page and the export link."""
        pairs = {"q": self.search, "status": self.status or "", "language": self.language,
                 "frequency": self.frequency or "", **more}  # fmt: skip
        return urlencode({key: value for key, value in pairs.items() if value})

    def page(self, after: int, limit: int) -> list[Subscriber]:
        with read_scope() as session:
            return list(subscribers.listing(
                session, status=self.status, language=self.language or None,
                frequency=self.frequency, search=self.search, after=after, limit=limit,
            ))  # fmt: skip


def readable(email: str) -> str:
    """An address as people write it: a domain stored in IDNA shown with its å ä ö."""
    local, at, domain = email.rpartition("@")
    try:
        return local + at + domain.encode("ascii").decode("idna")
    except UnicodeError:
        return email


def _after(value: str) -> int:
    if not value:
        return 0
    if not value.isascii() or not value.isdigit() or len(value) > 10 or int(value) > MAX_ROW_ID:
        raise DeskProblem(422, "error.filter")
    return int(value)


@router.get("/subscribers")
def subscribers_table(
    request: Request, viewer: Operator, q: str = "", status: str = "", language: str = "",
    frequency: str = "", after: str = "", erased: str = "",
) -> Response:  # fmt: skip
    chosen = Filter.of(q, status, language, frequency)
    # One more than a page tells whether there is a next page without counting: a count
    # of a substring search reads every row, and this page must stay quick at 100,000.
    rows = chosen.page(_after(after), PAGE + 1)
    more = len(rows) > PAGE
    rows = rows[:PAGE]
    next_query = chosen.query(after=rows[-1].id) if more else None
    notice = ("subscribers.erased", {"id": int(erased)}) if erased.isdigit() else None
    languages = get_settings().subscribe_language_codes
    return page(request, "subscribers.html", viewer, readable=readable, rows=rows, chosen=chosen,
                statuses=STATUSES, frequencies=FREQUENCIES, languages=languages,
                next_query=next_query, first_page=bool(after), notice=notice,
                export_query=chosen.query())  # fmt: skip


@router.get("/subscribers/export.csv")
def export_subscribers(
    request: Request, viewer: Operator, q: str = "", status: str = "", language: str = "",
    frequency: str = "",
) -> Response:  # fmt: skip
    chosen = Filter.of(q, status, language, frequency)
    with session_scope() as session:
        actor = audit.Actor(viewer.user_id, viewer.login, client_key(request))
        audit.record(session, actor, "subscriber.export", utcnow(), "subscribers",
                     {"filter": chosen.query() or "all"})  # fmt: skip
    stamp = utcnow().strftime("%Y%m%d-%H%M")
    return StreamingResponse(
        _csv_lines(chosen),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="subscribers-{stamp}.csv"',
                 "Cache-Control": "no-store"},
    )  # fmt: skip


def _csv_lines(chosen: Filter) -> Iterator[str]:
    # Page by id, one short read each: memory stays flat however many match, and no
    # transaction stays open while a slow client reads.
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(EXPORT_COLUMNS)
    after = 0
    while True:
        rows = chosen.page(after, EXPORT_PAGE)
        for row in rows:
            writer.writerow([
                row.id, row.email, row.status, row.language, row.frequency, " ".join(row.tags),
                row.time_zone, _iso(row.consent_at), row.consent_ip or "", row.consent_form,
                _iso(row.confirmed_at), row.failures,
            ])  # fmt: skip
        yield buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
        if len(rows) < EXPORT_PAGE:
            return
        after = rows[-1].id


def _iso(value: datetime | None) -> str:
    return value.isoformat().replace("+00:00", "Z") if value else ""


def _find(session: Session, subscriber_id: str) -> Subscriber:
    found = session.get(Subscriber, row_id(subscriber_id))
    if found is None:
        raise DeskProblem(404, "error.404")
    return found


@router.get("/subscribers/{subscriber_id}")
def subscriber_page(
    request: Request, viewer: Operator, subscriber_id: str, done: str = ""
) -> Response:
    with read_scope() as session:
        found = _find(session, subscriber_id)
        emails = subscribers.recent_emails(session, found, EMAILS_SHOWN)
        session.expunge_all()  # shown after the read: plain values, no lazy loads
    notice: tuple[str, dict[str, object]] | None
    notice = (f"subscriber.done_{done}", {}) if done in ("suppress", "unsuppress") else None
    return page(request, "subscriber.html", viewer, readable=readable, subscriber=found,
                emails=emails, notice=notice, can_suppress=found.status in subscribers.MAILABLE,
                can_unsuppress=found.status in subscribers.SUPPRESSED)  # fmt: skip


CHANGES: dict[str, subscribers.Change] = {
    "suppress": subscribers.suppress,
    "unsuppress": subscribers.unsuppress,
}


def _change(request: Request, posted: desk.Posted, subscriber_id: str, action: str) -> Response:
    viewer = posted.viewer
    change = CHANGES[action]
    try:
        with session_scope() as session:
            found = _find(session, subscriber_id)
            before = str(found.status)
            change(session, found, now=utcnow())
            actor = audit.Actor(viewer.user_id, viewer.login, client_key(request))
            audit.record(session, actor, f"subscriber.{action}", utcnow(), str(found.id),
                         {"subscriber": found.id, "was": before,
                          "now": str(found.status)})  # fmt: skip
            target = found.id
    except DomainError as exc:
        raise refused(exc) from None
    return see(f"/desk/subscribers/{target}?done={action}")


@router.post("/subscribers/{subscriber_id}/suppress")
def suppress_subscriber(request: Request, posted: OperatorPost, subscriber_id: str) -> Response:
    return _change(request, posted, subscriber_id, "suppress")


@router.post("/subscribers/{subscriber_id}/unsuppress")
def unsuppress_subscriber(request: Request, posted: OperatorPost, subscriber_id: str) -> Response:
    return _change(request, posted, subscriber_id, "unsuppress")


@router.get("/subscribers/{subscriber_id}/erase")
def erase_page(request: Request, viewer: Operator, subscriber_id: str) -> Response:
    with read_scope() as session:
        found = _find(session, subscriber_id)
        session.expunge_all()
    return page(
        request, "subscriber_erase.html", viewer, readable=readable, subscriber=found, wrong=False
    )


@router.post("/subscribers/{subscriber_id}/erase")
def erase_subscriber(request: Request, posted: OperatorPost, subscriber_id: str) -> Response:
    """GDPR art. 17: only once the operator has typed the address, as a second step, so a
    slip of the mouse on the subscriber's page erases nobody."""
    viewer = posted.viewer
    typed = posted.field("confirm", 300)
    with session_scope() as session:
        found = _find(session, subscriber_id)
        if subscribers.stored_form(typed) != found.email:
            session.expunge_all()
            return page(request, "subscriber_erase.html", viewer, 422, readable=readable,
                        subscriber=found, wrong=True)  # fmt: skip
        erased = found.id
        actor = audit.Actor(viewer.user_id, viewer.login, client_key(request))
        # The id and status only: the address is what the reader asked us to forget.
        audit.record(session, actor, "subscriber.erase", utcnow(), str(erased),
                     {"subscriber": erased, "was": str(found.status)})  # fmt: skip
        subscribers.erase(session, found)
    return see(f"/desk/subscribers?erased={erased}")
