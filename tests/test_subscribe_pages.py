"""The subscriber pages over HTTP, on a real server: subscribe, confirm, preferences, export,
erase and the RFC 8058 one-click unsubscribe.

Refused input gets a page naming the field in the reader's language, and nothing is stored
and no bell rings. The answer to a subscribe request is the same page whether or not the
address is known. Links work only for their purpose and their subscriber, and die with them.
"""

from __future__ import annotations

import dataclasses
import json
import re
import time
from collections.abc import Iterator
from datetime import timedelta
from html.parser import HTMLParser
from typing import Any

import httpx
import pytest
import redis
from itsdangerous import TimestampSigner, URLSafeTimedSerializer
from sqlalchemy import func, select

from config import get_settings
from newsroom import links, subscribers, tokens
from newsroom.db import session_scope
from newsroom.models import (
    Edition,
    EditionSegment,
    EmailDelivery,
    EmailStatus,
    Frequency,
    Subscriber,
    SubscriberStatus,
    utcnow,
)
from newsroom.tokens import Purpose
from tests.mailsupport import publish
from tests.support import Server
from web.subscribeform import FORM_VERSION

MiB = 1024 * 1024
FORM = {"content-type": "application/x-www-form-urlencoded"}


@pytest.fixture
def tagged(server: Server) -> Server:
    """A server whose newsroom has used the tags "borlange" and "nordiskt-samarbete"."""
    publish()
    return server


def form(**overrides: Any) -> dict[str, Any]:
    data = {
        "email": "asa.oberg@example.se",
        "language": "sv",
        "frequency": "daily",
        "tags": ["borlange"],
        "time_zone": "Europe/Stockholm",
    }
    data.update(overrides)
    return data


def stored() -> list[Subscriber]:
    with session_scope() as session:
        return list(session.scalars(select(Subscriber).order_by(Subscriber.id)))


def one(email: str = "asa.oberg@example.se") -> Subscriber:
    with session_scope() as session:
        subscriber = subscribers.by_email(session, email)
        assert subscriber is not None, f"{email} not stored"
        return subscriber


def rung() -> list[tuple[str, list[int]]]:
    """The tasks waiting in the test Redis (no worker runs here): (task name, args)."""
    client = redis.Redis.from_url(get_settings().redis_client_url)
    found = []
    for raw in client.lrange("celery", 0, -1):
        message = json.loads(raw)
        found.append((message["headers"]["task"], json.loads(message["headers"]["argsrepr"])))
    return found


def link(subscriber: Subscriber, purpose: Purpose) -> str:
    """The path of a link from an email (the server under test is not at PUBLIC_URL)."""
    url = {
        Purpose.CONFIRM: links.confirm_url,
        Purpose.UNSUBSCRIBE: links.unsubscribe_url,
        Purpose.PREFERENCES: links.preferences_url,
    }[purpose](subscriber, get_settings())
    return url.removeprefix(get_settings().public_url)


def add(email: str, status: SubscriberStatus, **values: Any) -> Subscriber:
    with session_scope() as session:
        defaults = {
            "language": "sv", "frequency": Frequency.DAILY, "tags": [],
            "time_zone": "Europe/Stockholm", "consent_form": "test",
        }  # fmt: skip
        subscriber = Subscriber(email=email, status=status, **{**defaults, **values})
        session.add(subscriber)
        session.flush()
        return subscriber


class Labels(HTMLParser):
    """Every form control, and the ids that a <label for> names."""

    def __init__(self) -> None:
        super().__init__()
        self.controls: list[dict[str, str | None]] = []
        self.labelled: set[str] = set()
        self.html_lang: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "html":
            self.html_lang = values.get("lang")
        if tag == "label" and values.get("for"):
            self.labelled.add(str(values["for"]))
        if tag in ("input", "select", "textarea") and values.get("type") != "hidden":
            self.controls.append(values)


def parse(html: str) -> Labels:
    parser = Labels()
    parser.feed(html)
    return parser


def server_database(request: pytest.FixtureRequest) -> str:
    return str(request.getfixturevalue("database"))


# --- the form --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "accept", "lang", "heading"),
    [
        pytest.param("?lang=sv", None, "sv", "Prenumerera på nyheterna", id="sv-by-query"),
        pytest.param("?lang=fi", "sv", "fi", "Tilaa uutiset", id="fi-by-query-over-header"),
        pytest.param("?lang=en", None, "en", "Subscribe to the news", id="en-by-query"),
        pytest.param("?lang=is", None, "is", "Fáðu fréttirnar í áskrift", id="is-by-query"),
        pytest.param("", "fi-FI,fi;q=0.9,en;q=0.5", "fi", "Tilaa uutiset", id="fi-by-header"),
        pytest.param("", "de,da;q=0.8", "da", "Abonnér på nyhederne", id="da-second-choice"),
        pytest.param("", "nn", "nb", "Abonner på nyhetene", id="nynorsk-reads-bokmal"),
        pytest.param("?lang=xx", "de", "sv", "Prenumerera på nyheterna", id="default"),
    ],
)
def test_the_form_speaks_the_readers_language(
    tagged: Server, query: str, accept: str | None, lang: str, heading: str
) -> None:
    headers = {"accept-language": accept} if accept else {}
    response = tagged.client.get(f"/subscribe{query}", headers=headers)
    assert response.status_code == 200
    page = parse(response.text)
    assert page.html_lang == lang
    assert f"<h1>{heading}</h1>" in response.text
    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in response.text
    assert "<script" not in response.text
    names = {control["name"] for control in page.controls}
    assert names == {"email", "language", "frequency", "tags", "time_zone"}
    unlabelled = [c["id"] for c in page.controls if c.get("id") not in page.labelled]
    assert not unlabelled, f"inputs without a label: {unlabelled}"
    assert 'value="borlange"' in response.text and "Nordiskt samarbete" in response.text
    assert f'<option value="{lang}" lang="{lang}" selected>' in response.text


def test_time_zones_are_named_in_the_pages_language(server: Server) -> None:
    swedish = server.client.get("/subscribe?lang=sv").text
    finnish = server.client.get("/subscribe?lang=fi").text
    assert '<option value="Europe/Helsinki">Helsingfors</option>' in swedish
    assert '<option value="Europe/Copenhagen">Kööpenhamina</option>' in finnish
    assert '<option value="Europe/Stockholm" selected>' in swedish  # BUDKAVLE_TIME_ZONE


# --- refused input -------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Refused:
    id: str
    status: int
    says: str  # in Swedish: the page is ?lang=sv
    field: str | None = None  # the field the error stands next to
    data: dict[str, Any] | None = None
    content: bytes | None = None
    headers: dict[str, str] = dataclasses.field(default_factory=lambda: dict(FORM))


INVALID_EMAIL = "Ange en giltig e-postadress, till exempel namn@example.se."
# fmt: off
REFUSED = [
    Refused("no-at", 422, INVALID_EMAIL, "email", form(email="asa.oberg.example.se")),
    Refused("no-dot-in-domain", 422, INVALID_EMAIL, "email", form(email="asa@localhost")),
    Refused("two-ats", 422, INVALID_EMAIL, "email", form(email="asa@oberg@example.se")),
    Refused("bcc-injection", 422, INVALID_EMAIL, "email",
            form(email="x@y.se\r\nBcc: z@w.se")),
    Refused("lf-injection", 422, INVALID_EMAIL, "email", form(email="x@y.se\nBcc: z@w.se")),
    Refused("nul", 422, INVALID_EMAIL, "email", form(email="asa\x00@example.se")),
    Refused("display-name", 422, INVALID_EMAIL, "email",
            form(email="Åsa Öberg <asa.oberg@example.se>")),
    Refused("non-ascii-local-part", 422, INVALID_EMAIL, "email", form(email="åsa@example.se")),
    Refused("300-characters", 422, "En e-postadress har högst 254 tecken.", "email",
            form(email="a" * 288 + "@example.se")),
    Refused("empty", 422, "Ange din e-postadress.", "email", form(email="")),
    Refused("unknown-language", 422, "Välj ett språk i listan.", "language", form(language="de")),
    Refused("markup-language", 422, "Välj ett språk i listan.", "language",
            form(language="<script>alert(1)</script>")),
    Refused("unknown-frequency", 422, "Välj hur ofta du vill få nyheterna.", "frequency",
            form(frequency="hourly")),
    Refused("unknown-tag", 422, "Välj bara ämnen från listan.", "tags",
            form(tags=["borlange", "finns-inte"])),
    Refused("31-tags", 422, "Välj bara ämnen från listan.", "tags",
            form(tags=[f"tag-{n}" for n in range(31)])),
    Refused("unknown-time-zone", 422, "Välj en tidszon i listan.", "time_zone",
            form(time_zone="Mars/Olympus_Mons")),
    Refused("time-zone-injection", 422, "Välj en tidszon i listan.", "time_zone",
            form(time_zone="Europe/Stockholm\r\nX-Evil: 1")),
    Refused("latin-1-bytes", 400, "inte text i UTF-8",
            content=b"email=\xe5sa@example.se&language=sv"),
    Refused("latin-1-percent-encoded", 400, "inte text i UTF-8",
            content=b"email=%E5sa%40example.se&language=sv"),
    Refused("too-many-fields", 400, "för många fält",
            content="&".join(f"f{n}=1" for n in range(61)).encode()),
    Refused("over-the-forms-limit", 413, "mycket större",
            content=b"email=asa%40example.se&tags=" + b"a" * 20_000),
    Refused("json", 415, "inte som ett HTML-formulär",
            content=b'{"email": "asa.oberg@example.se"}',
            headers={"content-type": "application/json"}),
]
# fmt: on


@pytest.mark.parametrize("case", REFUSED, ids=[case.id for case in REFUSED])
def test_bad_input_is_refused_and_nothing_is_stored(tagged: Server, case: Refused) -> None:
    response = tagged.client.post(
        "/subscribe?lang=sv", data=case.data, content=case.content, headers=case.headers
    )
    assert response.status_code == case.status, response.text
    assert response.headers["content-type"].startswith("text/html")
    assert case.says in response.text
    assert parse(response.text).html_lang == "sv"
    if case.field is not None:
        error = re.search(rf'<p class="error" id="{case.field}-error">([^<]*)</p>', response.text)
        assert error is not None and error.group(1) == case.says
        assert f'aria-describedby="{case.field}-error"' in response.text
        assert "Kontrollera fälten som är markerade nedan." in response.text
        assert response.text.count('class="error"') == 1, "only the bad field is marked"
    assert "<script>alert" not in response.text, "input is escaped, not echoed as markup"
    assert stored() == []
    assert rung() == []


def test_a_refused_form_keeps_what_was_typed(tagged: Server) -> None:
    data = form(email="åsa@example.se", language="fi", frequency="weekly",
                tags=["nordiskt-samarbete"], time_zone="Europe/Mariehamn")  # fmt: skip
    response = tagged.client.post("/subscribe?lang=sv", data=data)
    assert response.status_code == 422
    page = response.text
    assert 'value="åsa@example.se"' in page
    assert '<option value="fi" lang="fi" selected>' in page
    assert 'value="weekly" checked' in page
    assert 'value="nordiskt-samarbete" checked' in page and 'value="borlange" checked' not in page
    assert '<option value="Europe/Mariehamn" selected>' in page
    # The form's language choice is the reader's: the page answers in it.
    assert 'lang="fi"' in page and "Anna kelvollinen sähköpostiosoite" in page


def test_a_body_over_the_servers_limit_gets_413(server: Server) -> None:
    # The BodyLimit middleware answers before the page reads anything (BUDKAVLE_MAX_REQUEST_BYTES).
    body = b"email=asa%40example.se&x=" + b"a" * (8 * MiB)
    response = server.client.post("/subscribe", content=body, headers=FORM)
    assert response.status_code == 413
    assert response.json()["detail"][0]["msg"] == f"request body over {8 * MiB} bytes"
    assert stored() == []


# --- the answer leaks nothing, and mails once per quiet period ------------------------------


@pytest.mark.parametrize(
    "status",
    [None, *SubscriberStatus],
    ids=["unknown", *(str(status) for status in SubscriberStatus)],
)
def test_the_answer_is_the_same_whether_or_not_the_address_is_known(
    tagged: Server, status: SubscriberStatus | None
) -> None:
    fresh = tagged.client.post("/subscribe?lang=sv", data=form(email="ny.lasare@example.se"))
    assert fresh.status_code == 200
    if status is not None:
        add("asa.oberg@example.se", status)
    response = tagged.client.post("/subscribe?lang=sv", data=form())
    assert response.status_code == 200
    assert response.text == fresh.text.replace("ny.lasare@example.se", "asa.oberg@example.se")
    assert "Titta i din inkorg" in response.text


def test_the_form_records_consent_and_rings_once_per_quiet_period(tagged: Server) -> None:
    for _ in range(3):
        response = tagged.client.post("/subscribe?lang=sv", data=form(email="Asa.Oberg@Example.SE"))
        assert response.status_code == 200
    [subscriber] = stored()
    assert subscriber.email == "asa.oberg@example.se"
    assert subscriber.status is SubscriberStatus.PENDING
    assert (subscriber.frequency, subscriber.tags) == (Frequency.DAILY, ["borlange"])
    assert subscriber.consent_form == FORM_VERSION
    assert subscriber.consent_ip == "127.0.0.1"
    assert subscriber.notice_requested_at is not None
    assert rung() == [("budkavle.send_notice", [subscriber.id])], "one email, not three"


def test_a_repeated_form_within_the_quiet_period_changes_nothing(tagged: Server) -> None:
    """Only a request that sends a confirmation may rewrite the row: a stranger repeating
    the form cannot change someone's preferences or their earlier proof of consent."""
    tagged.client.post("/subscribe?lang=sv", data=form()).raise_for_status()
    first = one()
    again = form(language="fi", frequency="weekly", tags=[], time_zone="Europe/Helsinki")
    tagged.client.post("/subscribe?lang=sv", data=again).raise_for_status()
    later = one()
    assert (later.language, later.frequency, later.tags, later.time_zone) == (
        "sv", Frequency.DAILY, ["borlange"], "Europe/Stockholm"
    )
    assert (later.consent_at, later.notice_requested_at) == (
        first.consent_at, first.notice_requested_at
    )


# --- confirm -------------------------------------------------------------------------------


def test_confirm_needs_the_button_not_just_the_link(tagged: Server) -> None:
    tagged.client.post("/subscribe?lang=sv", data=form()).raise_for_status()
    subscriber = one()
    path = link(subscriber, Purpose.CONFIRM)

    shown = tagged.client.get(path)  # what a mail scanner does
    assert shown.status_code == 200
    assert '<form method="post">' in shown.text and "Bekräfta" in shown.text
    assert shown.headers["cache-control"] == "no-store"
    assert shown.headers["referrer-policy"] == "no-referrer"
    assert one().status is SubscriberStatus.PENDING, "a GET confirms nothing"

    for _ in range(2):  # a double click: the same page, confirmed once
        confirmed = tagged.client.post(path)
        assert confirmed.status_code == 200
        assert "Du prenumererar nu" in confirmed.text
        preferences = link(subscriber, Purpose.PREFERENCES)
        assert f'href="{preferences}"' in confirmed.text
    active = one()
    assert active.status is SubscriberStatus.ACTIVE
    assert active.confirmed_at is not None


class OldSigner(TimestampSigner):
    def get_timestamp(self) -> int:
        return int(time.time()) - 4 * 24 * 3600  # older than BUDKAVLE_CONFIRM_MAX_AGE_SECONDS


def expired_confirm_token(subscriber: Subscriber) -> str:
    serializer = URLSafeTimedSerializer(
        get_settings().resolved_secret_key(),
        salt=tokens.salt(Purpose.CONFIRM),
        signer=OldSigner,
    )
    return serializer.dumps([subscriber.id, tokens.address_digest(subscriber.email)])


def foreign_token(subscriber: Subscriber, purpose: Purpose) -> str:
    return tokens.make("another-sites-secret", purpose, subscriber.id, subscriber.email)


DEAD = [
    ("confirm", "forged", 404, lambda s: "/subscribe/confirm/eyJhIjoxfQ.forged"),
    ("confirm", "other-secret", 404,
     lambda s: "/subscribe/confirm/" + foreign_token(s, Purpose.CONFIRM)),
    ("confirm", "unsubscribe-token", 404,
     lambda s: "/subscribe/confirm/" + link(s, Purpose.UNSUBSCRIBE).rsplit("/", 1)[1]),
    ("confirm", "expired", 410, lambda s: "/subscribe/confirm/" + expired_confirm_token(s)),
    ("confirm", "too-long", 404, lambda s: "/subscribe/confirm/" + "a" * 300),
    ("unsubscribe", "confirm-token", 404,
     lambda s: "/unsubscribe/" + link(s, Purpose.CONFIRM).rsplit("/", 1)[1]),
    ("preferences", "unsubscribe-token", 404,
     lambda s: "/preferences/" + link(s, Purpose.UNSUBSCRIBE).rsplit("/", 1)[1]),
    ("preferences", "other-secret", 404,
     lambda s: "/preferences/" + foreign_token(s, Purpose.PREFERENCES)),
]  # fmt: skip


@pytest.mark.parametrize(
    ("page", "case", "status", "make"), DEAD, ids=[f"{page}-{case}" for page, case, _, _ in DEAD]
)
@pytest.mark.parametrize("method", ["GET", "POST"])
def test_a_link_that_is_not_ours_changes_nothing(
    server: Server, page: str, case: str, status: int, make: Any, method: str
) -> None:
    subscriber = add("asa.oberg@example.se", SubscriberStatus.PENDING)
    response = server.client.request(method, make(subscriber), data={"confirm": "yes"})
    assert response.status_code == status
    assert "Länken fungerar inte" in response.text
    assert 'href="/subscribe?lang=sv"' in response.text, "says what to do: subscribe again"
    assert response.headers["cache-control"] == "no-store"
    assert one().status is SubscriberStatus.PENDING
    assert one().tags == []


def test_a_confirm_link_of_an_ended_subscription_is_gone(server: Server) -> None:
    subscriber = add("asa.oberg@example.se", SubscriberStatus.UNSUBSCRIBED)
    response = server.client.post(link(subscriber, Purpose.CONFIRM))
    assert response.status_code == 410
    assert "Prenumerera igen" in response.text
    assert one().status is SubscriberStatus.UNSUBSCRIBED


# --- unsubscribe (RFC 8058) ------------------------------------------------------------------


ONE_CLICK = [
    pytest.param(b"List-Unsubscribe=One-Click", FORM, id="urlencoded"),
    pytest.param(
        b'--b\r\nContent-Disposition: form-data; name="List-Unsubscribe"\r\n\r\n'
        b"One-Click\r\n--b--\r\n",
        {"content-type": "multipart/form-data; boundary=b"},
        id="multipart",
    ),
    pytest.param(b"", {}, id="the-pages-own-button"),
]


@pytest.mark.parametrize(("body", "headers"), ONE_CLICK)
def test_one_click_unsubscribe_works_without_cookies_and_twice(
    server: Server, body: bytes, headers: dict[str, str]
) -> None:
    subscriber = add("asa.oberg@example.se", SubscriberStatus.ACTIVE)
    path = link(subscriber, Purpose.UNSUBSCRIBE)

    shown = server.client.get(path)  # RFC 8058 3.2: a GET shows a page, and that is all
    assert shown.status_code == 200 and '<form method="post">' in shown.text
    assert one().status is SubscriberStatus.ACTIVE

    # What a mail client sends: no cookies, no token but the URL's (RFC 8058 3.1).
    with httpx.Client(base_url=server.base_url, timeout=10) as client:
        first = client.post(path, content=body, headers=headers)
        assert first.status_code == 200, first.text
        assert "Din prenumeration är avslutad" in first.text
        left = one()
        assert left.status is SubscriberStatus.UNSUBSCRIBED
        again = client.post(path, content=body, headers=headers)
        assert again.status_code == 200
    assert one().unsubscribed_at == left.unsubscribed_at, "idempotent"
    assert one().status is SubscriberStatus.UNSUBSCRIBED


# --- preferences, export, erase ---------------------------------------------------------------


def test_preferences_are_shown_and_saved(tagged: Server) -> None:
    # Two bounces on record: a reader who saves their preferences shows that mail arrives.
    subscriber = add("matti.virtanen@example.fi", SubscriberStatus.ACTIVE, language="fi",
                     failures=2)  # fmt: skip
    path = link(subscriber, Purpose.PREFERENCES)
    page = tagged.client.get(path)
    assert page.status_code == 200
    assert parse(page.text).html_lang == "fi" and "Asetuksesi" in page.text
    assert 'value="daily" checked' in page.text

    saved = tagged.client.post(path, data={
        "language": "sv", "frequency": "weekly", "tags": ["borlange", "nordiskt-samarbete"],
        "time_zone": "Europe/Helsinki", "email": "someone.else@example.se",
    })  # fmt: skip
    assert saved.status_code == 200
    assert "Sparat." in saved.text, "the page follows the newly chosen language"
    changed = one("matti.virtanen@example.fi")
    assert (changed.language, changed.frequency, changed.time_zone) == (
        "sv",
        Frequency.WEEKLY,
        "Europe/Helsinki",
    )
    assert changed.tags == ["borlange", "nordiskt-samarbete"]
    assert changed.failures == 0
    assert one("matti.virtanen@example.fi").email == "matti.virtanen@example.fi"


@pytest.mark.parametrize(
    ("field", "value"),
    [("tags", ["finns-inte"]), ("time_zone", "Europe/Atlantis"), ("frequency", "hourly")],
)
def test_bad_preferences_change_nothing(tagged: Server, field: str, value: Any) -> None:
    subscriber = add("matti.virtanen@example.fi", SubscriberStatus.ACTIVE, language="fi")
    path = link(subscriber, Purpose.PREFERENCES)
    data = {"language": "sv", "frequency": "weekly", "tags": ["borlange"],
            "time_zone": "Europe/Helsinki", field: value}  # fmt: skip
    response = tagged.client.post(path, data=data)
    assert response.status_code == 422
    assert f'id="{field}-error"' in response.text
    after = one("matti.virtanen@example.fi")
    assert (after.language, after.frequency, after.tags, after.time_zone) == (
        "fi",
        Frequency.DAILY,
        [],
        "Europe/Stockholm",
    )


@pytest.fixture
def with_a_delivery() -> Iterator[Subscriber]:
    subscriber = add(
        "asa.oberg@example.se", SubscriberStatus.ACTIVE, consent_ip="192.0.2.7",
        consent_form=FORM_VERSION,
    )  # fmt: skip
    with session_scope() as session:
        edition = Edition(key="daily:Europe/Stockholm:2026-11-26", frequency=Frequency.DAILY,
                          to_position=1)  # fmt: skip
        session.add(edition)
        session.flush()
        segment = EditionSegment(edition_id=edition.id, language="sv", subject="Budkavle: 1 ny",
                                 html="<p>Hej</p>", text="Hej")  # fmt: skip
        session.add(segment)
        session.flush()
        session.add(EmailDelivery(
            edition_id=edition.id, segment_id=segment.id, subscriber_id=subscriber.id, batch=0,
            status=EmailStatus.SENT, sent_at=utcnow(),
        ))  # fmt: skip
    yield subscriber


def test_export_gives_everything_kept_as_json(server: Server, with_a_delivery: Subscriber) -> None:
    path = link(with_a_delivery, Purpose.PREFERENCES) + "/export"
    response = server.client.get(path)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.headers["content-disposition"].startswith("attachment;")
    assert response.headers["cache-control"] == "no-store"
    data = response.json()
    assert data["email"] == "asa.oberg@example.se"
    assert data["consent"]["ip"] == "192.0.2.7" and data["consent"]["form"] == FORM_VERSION
    assert [mail["edition"] for mail in data["emails"]] == ["daily:Europe/Stockholm:2026-11-26"]
    assert data["emails"][0]["status"] == "sent"


def test_erase_needs_the_box_and_then_forgets_everything(
    server: Server, with_a_delivery: Subscriber
) -> None:
    subscriber = with_a_delivery
    paths = [link(subscriber, purpose) for purpose in Purpose]
    erase = link(subscriber, Purpose.PREFERENCES) + "/erase"

    unticked = server.client.post(erase, data={})
    assert unticked.status_code == 422
    assert "Kryssa i rutan" in unticked.text
    assert len(stored()) == 1

    erased = server.client.post(erase, data={"confirm": "yes"})
    assert erased.status_code == 200 and "Dina uppgifter är raderade" in erased.text
    assert stored() == []
    with session_scope() as session:
        assert session.scalar(select(func.count()).select_from(EmailDelivery)) == 0
    for path in paths:  # every old link is dead now, and says so
        assert server.client.get(path).status_code == 404
    assert server.client.post(erase, data={"confirm": "yes"}).status_code == 404


def test_a_subscriber_who_comes_back_gets_a_fresh_link(server: Server) -> None:
    """Erased and subscribed again, the address gets a new row (SQLite too: its ids are
    AUTOINCREMENT, never reused), so the old links stay dead."""
    old = add("asa.oberg@example.se", SubscriberStatus.ACTIVE)
    old_path = link(old, Purpose.UNSUBSCRIBE)
    with session_scope() as session:
        row = session.get(Subscriber, old.id)
        assert row is not None
        subscribers.erase(session, row)
    server.client.post("/subscribe?lang=sv", data=form(tags=[])).raise_for_status()
    assert server.client.post(old_path).status_code == 404
    assert one().status is SubscriberStatus.PENDING
    assert one().notice_requested_at is not None
    assert utcnow() - one().consent_at < timedelta(minutes=1)


# --- the "pages" catalog ------------------------------------------------------------------------


def page_messages() -> set[str | tuple[str, ...]]:
    """Every msgid the subscriber pages use, extracted as a translator's tool would."""
    from pathlib import Path

    from babel.messages.extract import extract_from_file

    web = Path(__file__).parent.parent / "web"
    prefixes = ("subscribe_", "confirm_", "unsubscribe_", "preferences_", "embed_")
    found: set[str | tuple[str, ...]] = set()
    options = {"extensions": "jinja2.ext.i18n", "trimmed": "true"}
    for template in sorted((web / "templates").glob("*.html")):
        if template.name.startswith(prefixes):
            for _, message, _, _ in extract_from_file(
                "jinja2.ext:babel_extract", str(template), options=options
            ):
                found.add(message)
    for module in ("subscribe.py", "subscribeform.py", "subscribepage.py", "preferences.py"):
        for _, message, _, _ in extract_from_file("python", str(web / module)):
            found.add(message)
    return found


@pytest.mark.parametrize("language", ["sv", "fi", "en", "nb", "da", "is"])
def test_every_page_string_is_translated(language: str) -> None:
    from pathlib import Path

    from babel.messages.pofile import read_po

    path = Path(__file__).parent.parent / "email_templates/locale" / language / "LC_MESSAGES"
    with (path / "pages.po").open("rb") as source:
        catalog = read_po(source, locale=language)
    translated = {
        message.id: message.string for message in catalog if message.id and message.string
    }
    wanted = page_messages()
    assert len(wanted) > 50
    missing = [message for message in wanted if message not in translated]
    assert not missing, f"untranslated in {language}/pages.po: {missing}"
    unused = [message for message in translated if message not in wanted]
    assert not unused, f"no longer used, remove from {language}/pages.po: {unused}"
