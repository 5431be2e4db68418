"""Publishing over HTTP with a real Celery worker: immediate subscribers get one email per
burst, after the debounce window, never one per article."""

from __future__ import annotations

import email
import email.policy
import time

import pytest

from tests.mailsupport import subscribe
from tests.smtpsink import SmtpSink
from tests.support import ADMIN, Server, article, wait_for


@pytest.fixture
def window(mail: SmtpSink, monkeypatch: pytest.MonkeyPatch) -> float:
    from config import get_settings

    # Long enough for the burst's three events to finish their second step in it.
    monkeypatch.setenv("BUDKAVLE_DIGEST_WINDOW_SECONDS", "3")
    get_settings.cache_clear()
    return 3.0


def test_a_burst_of_publishing_gives_one_email(
    window: float,
    mail: SmtpSink,
    celery_worker: None,
    server: Server,
) -> None:
    subscribe("snabbt@example.se")
    titles = [
        "Borlänge öppnar värmestuga vid resecentrum",
        "Tammerfors och Borlänge byter erfarenheter om snöröjning",
        "Ny cykelbro över Dalälven invigd",
    ]
    started = time.monotonic()
    for title in titles:
        response = server.client.post("/api/articles", json=article(title=title), headers=ADMIN)
        assert response.status_code == 201, response.text

    [received] = mail.wait_for(1, timeout=20)
    assert time.monotonic() - started >= window, "the window was not waited for"
    message = email.message_from_bytes(received.data, policy=email.policy.default)
    assert message["Subject"] == f"{titles[-1]} – och 2 andra nyheter"
    text = message.get_body(("plain",))
    assert text is not None
    for title in titles:
        assert title in str(text.get_content())
    time.sleep(window + 1)  # later bells for the same burst find nothing new
    assert len(mail.messages) == 1

    server.client.post(
        "/api/articles", json=article(title="Sent i kväll: Dalabanan stängd"), headers=ADMIN
    ).raise_for_status()
    wait_for(lambda: len(mail.messages) == 2, timeout=20, what="the next burst's email")
