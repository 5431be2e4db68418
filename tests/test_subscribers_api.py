"""The subscribers admin API over real HTTP: import, list, look up, erase, returned mail."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import func, select

from newsroom import bounces, outbox
from newsroom.db import session_scope
from newsroom.models import OutboxEvent, Subscriber, SubscriberStatus, Tag
from tests import mailsamples
from tests.support import ADMIN, Server, article

LENA = "lena@bjärka-säby.se"
# How it is stored and mailed: the domain in ASCII (IDNA), as SMTP carries it.
LENA_STORED = "lena@xn--bjrka-sby-w2af.se"
KARI = "kari.nordmann@tromso.example"


@pytest.fixture
def tags(db: str) -> None:
    with session_scope() as session:
        session.add_all([Tag(slug="borlange", label="Borlänge"),
                         Tag(slug="nordiskt-samarbete", label="Nordiskt samarbete")])  # fmt: skip


def post(server: Server, **body: Any) -> Any:
    return server.client.post("/api/subscribers", json=body, headers=ADMIN)


def count() -> int:
    with session_scope() as session:
        return session.scalar(select(func.count()).select_from(Subscriber)) or 0


def test_import_update_look_up_and_erase(server: Server, tags: None) -> None:
    created = post(server, email=" Lena@Bjärka-Säby.se ", language="sv", frequency="weekly",
                   tags=["Borlange"], time_zone="Europe/Helsinki")  # fmt: skip
    assert created.status_code == 201, created.text
    body = created.json()
    assert body == {"id": body["id"], "email": LENA_STORED, "status": "active", "created": True}

    again = post(server, email=LENA, language="fi", tags=["nordiskt-samarbete"])
    assert again.status_code == 200 and again.json()["created"] is False

    shown = server.client.get(f"/api/subscribers/{body['id']}", headers=ADMIN).json()
    assert (shown["language"], shown["tags"], shown["consent_form"]) == (
        "fi", ["nordiskt-samarbete"], "api-import"
    )
    assert shown["status"] == "active" and shown["confirmed_at"]

    erased = server.client.delete(f"/api/subscribers/{body['id']}", headers=ADMIN)
    assert erased.status_code == 204
    gone = server.client.get(f"/api/subscribers/{body['id']}", headers=ADMIN)
    assert gone.status_code == 404 and gone.json()["detail"][0]["field"] == "subscriber_id"
    assert server.client.delete(f"/api/subscribers/{body['id']}", headers=ADMIN).status_code == 404


@pytest.mark.parametrize(
    "status", [SubscriberStatus.UNSUBSCRIBED, SubscriberStatus.BOUNCED,
               SubscriberStatus.COMPLAINED, SubscriberStatus.PENDING],
)  # fmt: skip
def test_an_address_that_left_is_not_reactivated(
    server: Server, tags: None, status: SubscriberStatus
) -> None:
    subscriber_id = post(server, email=LENA, language="sv").json()["id"]
    with session_scope() as session:
        row = session.get(Subscriber, subscriber_id)
        assert row is not None
        row.status = status
    refused = post(server, email=LENA, language="fi")
    assert refused.status_code == 409
    [detail] = refused.json()["detail"]
    assert detail["field"] == "email" and str(status) in detail["msg"]
    with session_scope() as session:
        row = session.get(Subscriber, subscriber_id)
        assert row is not None and (row.status, row.language) == (status, "sv")


@pytest.mark.parametrize(
    ("body", "field", "says"),
    [
        pytest.param({"email": "inte-en-adress"}, "email", "@", id="malformed-address"),
        pytest.param({"email": "åsa@example.se"}, "email", "Internationalized",
                     id="non-ascii-local-part"),
        pytest.param({"email": "asa@example.se\r\nBcc: alla@example.se"}, "email", "",
                     id="crlf-header-injection"),
        pytest.param({"email": "asa@example.se", "language": "de"}, "language", "sv",
                     id="unknown-language"),
        pytest.param({"email": "asa@example.se", "tags": ["finns-inte"]}, "tags",
                     "finns-inte", id="unknown-tag"),
        pytest.param({"email": "asa@example.se", "time_zone": "Europe/Ankeborg"}, "time_zone",
                     "Europe/Ankeborg", id="unknown-time-zone"),
        pytest.param({"email": "asa@example.se", "frequency": "hourly"}, "frequency", "daily",
                     id="unknown-frequency"),
        pytest.param({"email": ["asa@example.se"]}, "email", "string", id="email-not-a-string"),
        pytest.param({"email": "asa@example.se", "tags": 5}, "tags", "list",
                     id="tags-not-a-list"),
        pytest.param({"email": "asa@example.se", "name": "Åsa"}, "name", "not permitted",
                     id="unknown-field"),
        pytest.param({"language": "sv"}, "email", "required", id="email-missing"),
    ],
)  # fmt: skip
def test_bad_input_names_the_field_and_changes_nothing(
    server: Server, tags: None, body: dict[str, Any], field: str, says: str
) -> None:
    response = server.client.post("/api/subscribers", json=body, headers=ADMIN)
    assert response.status_code == 422, response.text
    [detail] = response.json()["detail"]
    assert detail["field"] == field and says in detail["msg"]
    assert "Bcc" not in response.text  # errors never echo an injection back
    assert count() == 0


@pytest.mark.parametrize(
    ("method", "path"),
    [("POST", "/api/subscribers"), ("GET", "/api/subscribers"), ("GET", "/api/subscribers/1"),
     ("DELETE", "/api/subscribers/1"), ("POST", "/api/subscribers/1/suppress"),
     ("POST", "/api/subscribers/1/unsuppress"), ("POST", "/api/bounces")],
)  # fmt: skip
def test_every_route_wants_the_admin_token(server: Server, method: str, path: str) -> None:
    for headers in ({}, {"Authorization": "Bearer fel-nyckel"}):
        response = server.client.request(method, path, headers=headers,
                                         content=mailsamples.user_unknown(
                                             LENA, mailsamples.FORGED_ID))  # fmt: skip
        assert response.status_code == 401, (method, path, headers)
        assert response.headers["www-authenticate"] == "Bearer"


def test_suppress_and_unsuppress_change_the_status_and_nothing_else(
    server: Server, tags: None
) -> None:
    lena = post(server, email=LENA, language="sv", tags=["borlange"]).json()["id"]

    def act(action: str, subscriber_id: int = lena) -> Any:
        return server.client.post(f"/api/subscribers/{subscriber_id}/{action}", headers=ADMIN)

    with session_scope() as session:
        row = session.get(Subscriber, lena)
        assert row is not None
        row.failures, row.digest_position = 2, 0
        before = {k: getattr(row, k) for k in ("email", "language", "tags", "consent_at")}
    suppressed = act("suppress")
    assert suppressed.status_code == 200 and suppressed.json()["status"] == "suppressed"
    # The public form does not reopen an address an operator suppressed.
    again = server.client.post("/subscribe?lang=sv", data={"email": LENA, "language": "sv",
                                                           "frequency": "daily"})  # fmt: skip
    assert again.status_code == 200
    refused = act("suppress")
    assert refused.status_code == 409 and "is suppressed" in refused.json()["detail"][0]["msg"]
    # Published while they were suppressed: not mailed to them in one go afterwards.
    published = server.client.post("/api/articles", json=article(), headers=ADMIN)
    assert published.status_code == 201, published.text
    with session_scope() as session:  # what the worker's dispatch does first
        event = session.scalars(select(OutboxEvent)).one()
        outbox.assign_position(session, event.id)
    lifted = act("unsuppress")
    assert lifted.status_code == 200, lifted.text
    assert (lifted.json()["status"], lifted.json()["failures"]) == ("active", 0)
    assert act("unsuppress").status_code == 409
    with session_scope() as session:
        row = session.get(Subscriber, lena)
        assert row is not None
        assert {k: getattr(row, k) for k in before} == before
        assert row.digest_position == outbox.last_position(session) > 0
    missing = act("suppress", 2**31 - 1)
    assert missing.status_code == 404 and missing.json()["detail"][0]["field"] == "subscriber_id"
    assert act("suppress", 2**31).status_code == 422


@pytest.mark.parametrize(
    ("status", "confirmed", "after"),
    [(SubscriberStatus.BOUNCED, True, "active"), (SubscriberStatus.COMPLAINED, True, "active"),
     (SubscriberStatus.BOUNCED, False, "pending")],
)  # fmt: skip
def test_unsuppress_needs_a_confirmation_to_be_active(
    server: Server, tags: None, status: SubscriberStatus, confirmed: bool, after: str
) -> None:
    lena = post(server, email=LENA).json()["id"]
    with session_scope() as session:
        row = session.get(Subscriber, lena)
        assert row is not None
        row.status, row.failures = status, 3
        if not confirmed:
            row.confirmed_at = None
    lifted = server.client.post(f"/api/subscribers/{lena}/unsuppress", headers=ADMIN)
    assert (lifted.json()["status"], lifted.json()["failures"]) == (after, 0)


def test_listing_pages_by_id_and_filters_by_status(server: Server, tags: None) -> None:
    ids = [post(server, email=f"lasare{n}@umea.example").json()["id"] for n in range(5)]
    with session_scope() as session:
        row = session.get(Subscriber, ids[1])
        assert row is not None
        row.status = SubscriberStatus.BOUNCED
    seen: list[int] = []
    after = 0
    while True:
        page = server.client.get(f"/api/subscribers?after={after}&limit=2", headers=ADMIN).json()
        seen += [item["id"] for item in page["items"]]
        if page["next"] is None:
            break
        after = page["next"]
    assert seen == ids
    bounced = server.client.get("/api/subscribers?status=bounced", headers=ADMIN).json()
    assert [item["id"] for item in bounced["items"]] == [ids[1]] and bounced["next"] is None
    wrong = server.client.get("/api/subscribers?status=sleeping", headers=ADMIN)
    assert wrong.status_code == 422 and wrong.json()["detail"][0]["field"] == "status"
    too_many = server.client.get("/api/subscribers?limit=100000", headers=ADMIN)
    assert too_many.status_code == 422 and too_many.json()["detail"][0]["field"] == "limit"


def test_returned_mail_is_applied_once(server: Server, tags: None) -> None:
    lena = post(server, email=LENA).json()["id"]
    raw = mailsamples.user_unknown(LENA, mailsamples.notice_id(lena))
    headers = {**ADMIN, "Content-Type": "message/rfc822"}
    first = server.client.post("/api/bounces", content=raw, headers=headers)
    assert first.status_code == 200, first.text
    assert first.json()["kind"] == "dsn" and first.json()["duplicate"] is False
    assert first.json()["unverified"] is False
    assert first.json()["changes"] == [{
        "address": LENA_STORED, "event": "failed 5.1.1", "before": "active", "after": "bounced",
        "failures": 1, "note": "suppressed: no such mailbox",
    }]  # fmt: skip
    second = server.client.post("/api/bounces", content=raw, headers=headers)
    assert second.json()["duplicate"] is True and second.json()["changes"] == []
    with session_scope() as session:
        row = session.scalars(select(Subscriber)).one()
        assert (row.status, row.failures) == (SubscriberStatus.BOUNCED, 1)


@pytest.mark.parametrize(
    ("forge", "note"),
    [
        pytest.param(lambda lena: mailsamples.user_unknown(LENA, mailsamples.FORGED_ID),
                     bounces.NOT_OURS, id="made-up-message-id"),
        pytest.param(lambda lena: mailsamples.user_unknown(KARI, mailsamples.notice_id(lena)),
                     bounces.OTHER_ADDRESS, id="lenas-message-id-naming-kari"),
        pytest.param(lambda lena: mailsamples.complaint(LENA, None), bounces.NOT_OURS,
                     id="arf-without-the-original"),
    ],
)  # fmt: skip
def test_forged_returned_mail_is_unverified_and_changes_nothing(
    server: Server, forge: Callable[[int], bytes], note: str
) -> None:
    lena = post(server, email=LENA).json()["id"]
    post(server, email=KARI)
    response = server.client.post("/api/bounces", content=forge(lena), headers=ADMIN)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["unverified"] is True and body["duplicate"] is False
    assert [(change["before"], change["after"], change["note"]) for change in body["changes"]] \
        == [(None, None, note)]
    with session_scope() as session:
        assert {(row.status, row.failures) for row in session.scalars(select(Subscriber))} == {
            (SubscriberStatus.ACTIVE, 0)
        }


@pytest.mark.parametrize(
    "raw", [pytest.param(mailsamples.GARBAGE, id="garbage"),
            pytest.param(mailsamples.NO_HEADERS, id="no-headers")],
)  # fmt: skip
def test_returned_mail_that_is_no_mail_is_refused(server: Server, raw: bytes) -> None:
    response = server.client.post("/api/bounces", content=raw, headers=ADMIN)
    assert response.status_code == 422
    assert response.json()["detail"][0]["field"] == "body"


def test_mail_that_is_no_report_is_ignored(server: Server) -> None:
    response = server.client.post(
        "/api/bounces", content=mailsamples.out_of_office(LENA), headers=ADMIN
    )
    assert response.status_code == 200
    assert response.json()["kind"] == "other" and response.json()["changes"] == []
