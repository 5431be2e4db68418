"""What emails show, read from the database: the latest news, the editor's lead and
keep-out flags (over the API too), and the welcome email after confirming."""

from __future__ import annotations

import time

import pytest

from config import get_settings
from newsroom import articles, subscribers
from newsroom.db import session_scope
from newsroom.models import Frequency, Subscriber, utcnow
from newsroom.schemas import ArticleIn
from newsroom.subscription import SubscriptionIn
from newsroom.tokens import Purpose
from tests.mailsupport import GRACE, parsed, parts, plan, publish, send_all, subscribe
from tests.smtpsink import SmtpSink
from tests.support import ADMIN, Server, article
from worker import notices


def test_a_first_edition_shows_the_latest_news_too(mail: SmtpSink) -> None:
    for n in range(3):
        publish(title=f"Äldre nyhet nummer {n} från Borlänge")
    subscribe("forsta.gangen@example.se")
    publish(title="Ny bro över Dalälven i Borlänge")

    send_all(plan())

    [received] = mail.wait_for(1)
    text, html = parts(parsed(received.data))
    assert "Ny bro över Dalälven i Borlänge" in text
    for part in (text, html):
        latest = part.split("Senaste nyheter", 1)[1]
        for n in range(3):
            assert f"Äldre nyhet nummer {n} från Borlänge" in latest


def test_an_article_kept_out_of_email_is_never_sent_or_counted(mail: SmtpSink) -> None:
    subscribe("utan.pressmeddelanden@example.se")
    publish(title="Pressmeddelande: kommunen byter telefonväxel", keep_out_of_email=True)
    assert plan() == [], "only kept-out news: no email"

    publish(title="Borlänge öppnar värmestuga vid resecentrum")
    send_all(plan())

    [received] = mail.wait_for(1)
    message = parsed(received.data)
    text, html = parts(message)
    assert message["Subject"] == "Borlänge öppnar värmestuga vid resecentrum"
    assert "1 ny artikel" in text
    assert "telefonväxel" not in text + html, "not in the articles, nor in the latest news"


def test_an_article_kept_out_after_planning_leaves_the_email(mail: SmtpSink) -> None:
    subscribe("sent.besked@example.se")
    publish(title="Trygghetsvandring i Mariehamn")
    publish(title="Felpublicerad notis om snöröjning")
    batches = plan()
    data = article(title="Felpublicerad notis om snöröjning", keep_out_of_email=True)
    with session_scope() as session:
        _, event = articles.update(
            session, "felpublicerad-notis-om-snorojning", ArticleIn.model_validate(data),
            utcnow(), GRACE,
        )  # fmt: skip
        assert event is None, "a flag alone changes no feed: no new version, no event"
    send_all(batches)
    [received] = mail.wait_for(1)
    text, html = parts(parsed(received.data))
    assert "Trygghetsvandring i Mariehamn" in text
    assert "Felpublicerad" not in text + html


def test_an_article_marked_lead_leads_even_without_an_image(mail: SmtpSink) -> None:
    subscribe("ledare@example.se")
    publish(title="Kommunfullmäktige beslutar om ny skola", image=None, lead=True)
    publish(title="Borlänge får ny bro – med bild")
    send_all(plan())
    [received] = mail.wait_for(1)
    message = parsed(received.data)
    assert message["Subject"] == "Kommunfullmäktige beslutar om ny skola – och 1 annan nyhet"
    _, html = parts(message)
    assert html.index("Kommunfullmäktige beslutar") < html.index("Borlänge får ny bro")


def test_the_api_takes_and_shows_the_flags(server: Server) -> None:
    body = article(title="Valvaka i Borlänge", lead=True, keep_out_of_email=True)
    created = server.client.post("/api/articles", json=body, headers=ADMIN)
    assert created.status_code == 201, created.text
    assert (created.json()["lead"], created.json()["keep_out_of_email"]) == (True, True)
    [listed] = server.client.get("/api/articles", headers=ADMIN).json()
    assert (listed["lead"], listed["keep_out_of_email"]) == (True, True)

    body.update(lead=False, keep_out_of_email=False)
    updated = server.client.put(f"/api/articles/{listed['slug']}", json=body, headers=ADMIN)
    assert updated.status_code == 200, updated.text
    assert (updated.json()["lead"], updated.json()["keep_out_of_email"]) == (False, False)
    assert updated.json()["version"] == 1, "a flag is no new version of the article"


@pytest.mark.parametrize(
    ("field", "value"),
    [("lead", "true"), ("lead", 1), ("keep_out_of_email", "no"), ("keep_out_of_email", None),
     ("lead", [True])],
)  # fmt: skip
def test_a_flag_that_is_not_a_json_boolean_is_refused(
    server: Server, field: str, value: object
) -> None:
    response = server.client.post(
        "/api/articles", json=article(title="Fel typ", **{field: value}), headers=ADMIN
    )
    assert response.status_code == 422
    assert [problem["field"] for problem in response.json()["detail"]] == [field]
    assert server.client.get("/api/articles", headers=ADMIN).json() == [], "nothing stored"


def pending(address: str, **choices: object) -> tuple[int, str]:
    data = {"email": address, "language": "sv", "frequency": "daily", **choices}
    settings = get_settings()
    with session_scope() as session:
        outcome = subscribers.subscribe(
            session, SubscriptionIn.model_validate(data), ip="127.0.0.1", form_version="test",
            now=utcnow(), settings=settings,
        )  # fmt: skip
        subscriber = session.get(Subscriber, outcome.subscriber_id)
        assert subscriber is not None
        subscriber.notice_sent_at = subscriber.notice_requested_at  # the confirm email went
        return outcome.subscriber_id, subscribers.token_for(subscriber, Purpose.CONFIRM, settings)


def test_confirming_sends_one_welcome_with_the_matching_news(
    mail: SmtpSink, celery_worker: None, server: Server
) -> None:
    publish(title="Borlänge lär av Tammerfors", tags=["Borlänge"])
    publish(title="Umeå bygger cykelgarage", tags=["Umeå"])
    publish(title="Kept out: Borlänge byter växel", tags=["Borlänge"], keep_out_of_email=True)
    publish(title="Tampere avaa kirjaston", language="fi", tags=["Borlänge"])
    subscriber_id, token = pending("valkommen@example.se", tags=["borlange"])

    for _ in range(2):  # confirming twice: one welcome
        response = server.client.post(f"/subscribe/confirm/{token}")
        assert response.status_code == 200, response.text
    [received] = mail.wait_for(1, timeout=20)
    time.sleep(1)
    assert len(mail.messages) == 1
    message = parsed(received.data)
    assert message["Subject"] == "Välkommen till Budkavle"
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    text, html = parts(message)
    assert "Borlänge lär av Tammerfors" in text and "Borlänge lär av Tammerfors" in html
    for absent in ("Umeå bygger", "Kept out", "Tampere avaa"):
        assert absent not in text + html, absent
    assert "Ämnen: Borlänge" in text and "Hur ofta: en gång om dagen" in text
    assert "Nyheter på: svenska" in text
    assert "/unsubscribe/" in text and "/preferences/" in text

    notices.send(subscriber_id, get_settings())  # a late bell: nothing more is owed
    assert len(mail.messages) == 1
    with session_scope() as session:
        row = session.get(Subscriber, subscriber_id)
        assert row is not None and row.frequency is Frequency.DAILY
        assert row.notice_sent_at == row.notice_requested_at == row.confirmed_at
