"""The desk's subscribers pages over real HTTP, on SQLite and PostgreSQL: search, filters
and paging; one subscriber's consent and returned mail; suppress, unsuppress and erase
change exactly what they should; the export; hostile data; ids that cannot be."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import func, select

from newsroom.db import session_scope
from newsroom.deskmodels import AuditEntry, Role
from newsroom.models import EmailDelivery, EmailStatus, Frequency, Subscriber, SubscriberStatus
from tests.deskdata import emails_to, subscriber
from tests.desksupport import Desk, add_user
from tests.support import Server

LENA = "lena@xn--bjrka-sby-w2af.se"  # lena@bjärka-säby.se as it is stored (IDNA)
_ROW = re.compile(r'<a href="/desk/subscribers/(\d+)">')
_NEXT = re.compile(r'<a href="/desk/subscribers\?([^"]+)" rel="next">')


@dataclass
class Staff:
    operator: Desk
    editor: Desk


@pytest.fixture
def staff(server: Server) -> Iterator[Staff]:
    add_user("chef@example.se", Role.OPERATOR, "Åsa Lindqvist")
    add_user("redaktor@example.se", Role.EDITOR, "Erik Redaktör")
    operator, editor = Desk(server, "sv"), Desk(server, "sv")
    assert operator.sign_in("chef@example.se").status_code == 303
    assert editor.sign_in("redaktor@example.se").status_code == 303
    yield Staff(operator, editor)


def row(subscriber_id: int) -> dict[str, Any] | None:
    with session_scope() as session:
        found = session.get(Subscriber, subscriber_id)
        if found is None:
            return None
        return {c.key: getattr(found, c.key) for c in Subscriber.__table__.columns}


def audit() -> list[AuditEntry]:
    with session_scope() as session:
        entries = list(session.scalars(select(AuditEntry).order_by(AuditEntry.id)))
        session.expunge_all()
        return entries


def listed(desk: Desk, query: str) -> list[int]:
    """Every id the list shows for a filter, following its next-page links."""
    seen: list[int] = []
    while True:
        answer = desk.get(f"/desk/subscribers?{query}")
        assert answer.status_code == 200, answer.text[:300]
        page = [int(found) for found in _ROW.findall(answer.text)]
        assert len(page) <= 50
        seen += page
        following = _NEXT.search(answer.text)
        if following is None:
            return seen
        query = following.group(1).replace("&amp;", "&")


def test_search_filters_and_pages_reach_everyone_once(staff: Staff) -> None:
    lena = subscriber(LENA, language="sv", frequency=Frequency.WEEKLY)
    with session_scope() as session:
        session.add_all(Subscriber(
            email=f"lasare{n:03d}@{'umea' if n % 2 else 'tromso'}.example",
            status=SubscriberStatus.BOUNCED if n % 10 == 0 else SubscriberStatus.ACTIVE,
            language="fi" if n % 3 == 0 else "sv", frequency=Frequency.DAILY,
            tags=[], time_zone="Europe/Stockholm", consent_form="api-import",
        ) for n in range(120))  # fmt: skip
    with session_scope() as session:
        everyone = list(session.scalars(select(Subscriber.id).order_by(Subscriber.id)))
        bounced_fi = list(session.scalars(
            select(Subscriber.id).where(Subscriber.status == SubscriberStatus.BOUNCED,
                                        Subscriber.language == "fi").order_by(Subscriber.id)
        ))  # fmt: skip
        umea = list(session.scalars(select(Subscriber.id).where(
            Subscriber.email.like("%umea%")).order_by(Subscriber.id)))  # fmt: skip
    assert listed(staff.operator, "") == everyone  # three pages, nobody twice
    assert listed(staff.operator, "status=bounced&language=fi") == bounced_fi
    assert listed(staff.operator, "q=UMEA.example") == umea
    # A domain typed with its å ä ö finds the address stored in IDNA, and shows it readably.
    for typed in ("bjärka-säby.se", "Lena@Bjärka-Säby.se"):
        assert listed(staff.operator, f"q={typed}") == [lena]
    found = staff.operator.get("/desk/subscribers?q=bj%C3%A4rka-s%C3%A4by.se").text
    assert "lena@bjärka-säby.se" in found
    assert listed(staff.operator, "frequency=weekly") == [lena]
    assert listed(staff.operator, "q=finns-inte") == []
    assert "Ingen prenumerant matchar." in staff.operator.get("/desk/subscribers?q=x_y%25").text


@pytest.mark.parametrize(
    "query",
    ["status=sovande", "frequency=hourly", "language=%3Cscript%3E", "after=-1",
     "after=99999999999", "q=" + "a" * 255, "q=rad%0Aett"],
)  # fmt: skip
def test_a_bad_filter_is_a_clear_page_in_the_readers_language(staff: Staff, query: str) -> None:
    answer = staff.operator.get(f"/desk/subscribers?{query}")
    assert answer.status_code == 422
    assert "Något gick fel" in answer.text and "<script>" not in answer.text


def test_the_page_shows_consent_deliveries_and_bounces(staff: Staff) -> None:
    lena = subscriber(LENA, SubscriberStatus.BOUNCED, failures=2, ip="203.0.113.45")
    emails_to(lena, (EmailStatus.SENT, None),
              (EmailStatus.FAILED, "550 5.1.1 <lena@xn--bjrka-sby-w2af.se>: no such user"))
    page = staff.operator.get(f"/desk/subscribers/{lena}").text
    for shown in ("lena@bjärka-säby.se", LENA, "203.0.113.45", "subscribe-form:v3",
                  "Bekräftade via e-post", "Bevis på samtycke", "studsad", "borlange",
                  "daily:Europe/Stockholm:2026-11-01", "daily:Europe/Stockholm:2026-11-02",
                  "550 5.1.1", "skickad", "misslyckad", "Häv spärren"):  # fmt: skip
        assert shown in page, shown
    assert "/suppress\"" not in page  # already suppressed: only lifting is offered
    # Newest delivery first.
    assert page.index("2026-11-02") < page.index("2026-11-01")


def test_suppress_then_unsuppress_change_exactly_the_status(staff: Staff) -> None:
    lena = subscriber(LENA, failures=1)
    other = subscriber("kari.nordmann@tromso.example")
    before, untouched = row(lena), row(other)
    assert before is not None
    answer = staff.operator.post(f"/desk/subscribers/{lena}/suppress")
    assert answer.status_code == 303
    assert answer.headers["location"] == f"/desk/subscribers/{lena}?done=suppress"
    after = row(lena)
    assert after is not None
    changed = {key for key in before if before[key] != after[key]}
    assert changed == {"status", "updated_at"} and after["status"] is SubscriberStatus.SUPPRESSED
    shown = staff.operator.get(answer.headers["location"]).text
    assert "Spärrad: ingen mer e-post går ut." in shown

    again = staff.operator.post(f"/desk/subscribers/{lena}/suppress")
    assert again.status_code == 409 and "Inget ändrades" in again.text
    assert row(lena) == after

    lifted = staff.operator.post(f"/desk/subscribers/{lena}/unsuppress")
    assert lifted.status_code == 303
    back = row(lena)
    assert back is not None
    assert (back["status"], back["failures"]) == (SubscriberStatus.ACTIVE, 0)
    assert {key for key in before if before[key] != back[key]} <= {
        "failures", "updated_at", "digest_position"
    }  # fmt: skip
    assert row(other) == untouched
    entries = [(e.action, e.target, e.details, e.actor) for e in audit()
               if e.action.startswith("subscriber.")]  # fmt: skip
    assert entries == [
        ("subscriber.suppress", str(lena),
         {"subscriber": lena, "was": "active", "now": "suppressed"}, "chef@example.se"),
        ("subscriber.unsuppress", str(lena),
         {"subscriber": lena, "was": "suppressed", "now": "active"}, "chef@example.se"),
    ]  # fmt: skip


def test_erase_needs_the_address_typed_and_leaves_no_address_in_the_log(staff: Staff) -> None:
    lena = subscriber(LENA)
    kari = subscriber("kari.nordmann@tromso.example")
    emails_to(lena, (EmailStatus.SENT, None))
    confirm = staff.operator.get(f"/desk/subscribers/{lena}/erase")
    assert confirm.status_code == 200 and "Skriv adressen som ska raderas" in confirm.text
    for typed in ("", "kari.nordmann@tromso.example", "lena@bjarka-saby.se"):
        wrong = staff.operator.post(f"/desk/subscribers/{lena}/erase", {"confirm": typed})
        assert wrong.status_code == 422 and "Inget raderades" in wrong.text
        assert row(lena) is not None
    erased = staff.operator.post(f"/desk/subscribers/{lena}/erase",
                                 {"confirm": " Lena@Bjärka-Säby.se "})  # fmt: skip
    assert erased.status_code == 303
    assert erased.headers["location"] == f"/desk/subscribers?erased={lena}"
    assert row(lena) is None and row(kari) is not None
    with session_scope() as session:
        left = session.scalar(select(func.count()).select_from(EmailDelivery)
                              .where(EmailDelivery.subscriber_id == lena))  # fmt: skip
    assert left == 0
    [entry] = [e for e in audit() if e.action == "subscriber.erase"]
    assert (entry.target, entry.details) == (str(lena), {"subscriber": lena, "was": "active"})
    logged = " ".join(f"{e.actor} {e.target} {e.details} {e.address}" for e in audit())
    assert "lena" not in logged.lower() and "bjrka" not in logged
    assert "lena" not in staff.operator.get("/desk/audit").text.lower()
    assert staff.operator.get(f"/desk/subscribers/{lena}").status_code == 404
    assert staff.operator.post(f"/desk/subscribers/{lena}/erase",
                               {"confirm": LENA}).status_code == 404  # fmt: skip


def test_hostile_values_are_shown_as_text(staff: Staff) -> None:
    hostile = subscriber('"<script>alert(1)</script>"@example.se')
    with session_scope() as session:
        found = session.get(Subscriber, hostile)
        assert found is not None
        found.consent_form = "<img src=x onerror=alert(2)>"
        found.tags = ["<b>fet</b>"]
    for path in (f"/desk/subscribers/{hostile}", f"/desk/subscribers/{hostile}/erase",
                 "/desk/subscribers?q=script"):  # fmt: skip
        page = staff.operator.get(path).text
        assert "<script>alert" not in page and "<img src=x" not in page and "<b>fet" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    detail = staff.operator.get(f"/desk/subscribers/{hostile}").text
    assert "&lt;img src=x onerror=alert(2)&gt;" in detail


@pytest.mark.parametrize(
    "bad_id", ["0", "2147483647", "2147483648", "99999999999999999999", "-1", "12abc", "%C3%A5"]
)
def test_an_id_that_is_no_subscriber_is_a_404_page_and_changes_nothing(
    staff: Staff, bad_id: str
) -> None:
    lena = subscriber(LENA)
    for path in (f"/desk/subscribers/{bad_id}", f"/desk/subscribers/{bad_id}/erase"):
        answer = staff.operator.get(path)
        assert answer.status_code == 404 and "Sidan eller raden finns inte." in answer.text
    for action in ("suppress", "unsuppress", "erase"):
        answer = staff.operator.post(f"/desk/subscribers/{bad_id}/{action}", {"confirm": LENA})
        assert answer.status_code == 404, answer.text[:300]
    assert row(lena) is not None and not [e for e in audit() if e.action.startswith("subscr")]


def test_a_forged_form_and_an_editor_change_nothing(staff: Staff) -> None:
    lena = subscriber(LENA)
    before = row(lena)
    for token in ("", "fel", staff.editor.csrf):
        for action in ("suppress", "erase"):
            answer = staff.operator.post(f"/desk/subscribers/{lena}/{action}",
                                         {"csrf": token, "confirm": LENA})  # fmt: skip
            assert answer.status_code == 403 and "Inget ändrades" in answer.text
    for action in ("suppress", "erase"):
        answer = staff.editor.post(f"/desk/subscribers/{lena}/{action}", {"confirm": LENA})
        assert answer.status_code == 403 and "Det får du inte göra med din roll." in answer.text
    for path in ("/desk/subscribers", f"/desk/subscribers/{lena}", "/desk/subscribers/export.csv"):
        assert staff.editor.get(path).status_code == 403
    assert row(lena) == before and not [e for e in audit() if e.action.startswith("subscr")]
    assert "/desk/subscribers" not in staff.editor.get("/desk").text  # no link to a 403
    assert 'href="/desk/subscribers"' in staff.operator.get("/desk").text


def test_the_export_streams_the_filter_and_is_audited(
    staff: Staff, monkeypatch: pytest.MonkeyPatch
) -> None:
    from web.desk import subscribers as page

    monkeypatch.setattr(page, "EXPORT_PAGE", 3)  # several pages, and one that is just full
    ids = [subscriber(f"lasare{n}@umea.example") for n in range(6)]
    subscriber(LENA, SubscriberStatus.BOUNCED)
    answer = staff.operator.get("/desk/subscribers/export.csv?q=umea&status=active")
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "text/csv; charset=utf-8"
    assert answer.headers["content-disposition"].startswith('attachment; filename="subscribers-')
    rows = list(csv.DictReader(io.StringIO(answer.text)))
    assert [int(r["id"]) for r in rows] == ids
    assert rows[0]["email"] == "lasare0@umea.example" and rows[0]["consent_ip"] == "198.51.100.7"
    assert rows[0]["tags"] == "borlange" and rows[0]["status"] == "active"
    [entry] = [e for e in audit() if e.action == "subscriber.export"]
    assert entry.details == {"filter": "q=umea&status=active"} and entry.actor == "chef@example.se"
    everyone = staff.operator.get("/desk/subscribers/export.csv").text
    assert len(everyone.strip().splitlines()) == 1 + 7
