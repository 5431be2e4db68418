"""The subscriber pages in a real browser: Debian's Chromium, driven by Playwright.

A reader subscribes in Swedish, gets the confirmation email from a real worker through a
real SMTP server, follows its link, confirms, changes their preferences and leaves with
one click. No JavaScript is needed on any page, and nothing scrolls sideways on a phone.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from newsroom.db import session_scope
from newsroom.models import Frequency, Subscriber, SubscriberStatus
from newsroom.subscribers import by_email
from tests.mailsupport import parsed, parts, publish
from tests.smtpsink import SmtpSink
from tests.support import Server, wait_for

CHROMIUM = Path("/usr/bin/chromium")
# Debian's build, never a downloaded one; flags that keep it from calling home in CI.
CHROMIUM_ARGS = [
    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not CHROMIUM.exists(),
        reason="needs Debian's chromium at /usr/bin/chromium (scripts/test-deps.sh installs it)",
    ),
]


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    # JavaScript off: every page must work as plain HTML forms.
    context = browser.new_context(java_script_enabled=False, locale="sv-SE")
    try:
        yield context.new_page()
    finally:
        context.close()


def subscriber(email: str) -> Subscriber:
    with session_scope() as session:
        found = by_email(session, email)
        assert found is not None
        return found


def test_a_reader_subscribes_confirms_changes_and_leaves_in_swedish(
    mail: SmtpSink, celery_worker: None, server: Server, page: Page
) -> None:
    publish()  # the tags "Borlänge" and "Nordiskt samarbete" are in the news
    page.goto(f"{server.base_url}/subscribe?lang=sv")
    assert page.locator("html").get_attribute("lang") == "sv"
    page.get_by_label("E-postadress").fill("asa.oberg@example.se")
    page.get_by_label("En gång om dagen").check()
    page.get_by_label("Borlänge").check()
    page.get_by_label("Tidszon").select_option("Europe/Helsinki")
    page.get_by_role("button", name="Prenumerera", exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Titta i din inkorg")
    expect(page.get_by_role("status")).to_contain_text("asa.oberg@example.se")

    [received] = mail.wait_for(1, timeout=20)
    assert received.rcpt_tos == ("asa.oberg@example.se",)
    message = parsed(received.data)
    assert message["Subject"] == "Budkavle: bekräfta din prenumeration"
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    text, _ = parts(message)
    found = re.search(r"https://nyheter\.example(/subscribe/confirm/[A-Za-z0-9._-]+)", text)
    assert found is not None, text
    assert subscriber("asa.oberg@example.se").status is SubscriberStatus.PENDING

    page.goto(server.base_url + found.group(1))
    assert subscriber("asa.oberg@example.se").status is SubscriberStatus.PENDING
    page.get_by_role("button", name="Bekräfta").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Du prenumererar nu")
    # Confirming brings the welcome email at once, with the newest news they chose.
    welcome = parsed(mail.wait_for(2, timeout=20)[1].data)
    assert welcome["Subject"] == "Välkommen till Budkavle"
    assert "Ämnen: Borlänge" in parts(welcome)[0]
    active = subscriber("asa.oberg@example.se")
    assert active.status is SubscriberStatus.ACTIVE
    assert (active.frequency, active.tags, active.time_zone) == (
        Frequency.DAILY,
        ["borlange"],
        "Europe/Helsinki",
    )

    page.get_by_role("link", name="Ändra dina inställningar").click()
    expect(page.get_by_label("En gång om dagen")).to_be_checked()
    page.get_by_label("En gång i veckan").check()
    page.get_by_label("Nordiskt samarbete").check()
    page.get_by_role("button", name="Spara").click()
    expect(page.get_by_role("status")).to_have_text("Sparat. Nästa mejl följer dina nya val.")
    changed = subscriber("asa.oberg@example.se")
    assert changed.frequency is Frequency.WEEKLY
    assert changed.tags == ["borlange", "nordiskt-samarbete"]

    page.get_by_role("link", name="Avsluta prenumerationen").click()
    assert subscriber("asa.oberg@example.se").status is SubscriberStatus.ACTIVE
    page.get_by_role("button", name="Avsluta prenumerationen").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Din prenumeration är avslutad")
    wait_for(
        lambda: subscriber("asa.oberg@example.se").status is SubscriberStatus.UNSUBSCRIBED,
        what="the subscriber to be unsubscribed",
    )
    assert len(mail.messages) == 2, "saving and leaving send no more email"


@pytest.mark.parametrize(
    ("lang", "heading", "email_label", "button"),
    [
        ("sv", "Prenumerera på nyheterna", "E-postadress", "Prenumerera"),
        ("fi", "Tilaa uutiset", "Sähköpostiosoite", "Tilaa"),
        ("en", "Subscribe to the news", "Email address", "Subscribe"),
    ],
)
def test_the_form_in_each_language_fits_a_phone(
    server: Server, browser: Browser, lang: str, heading: str, email_label: str, button: str
) -> None:
    publish()
    context = browser.new_context(
        viewport={"width": 375, "height": 667}, is_mobile=True, java_script_enabled=True
    )
    try:
        phone = context.new_page()
        phone.goto(f"{server.base_url}/subscribe?lang={lang}")
        assert phone.locator("html").get_attribute("lang") == lang
        expect(phone.get_by_role("heading", level=1)).to_have_text(heading)
        expect(phone.get_by_label(email_label)).to_be_visible()
        expect(phone.get_by_role("button", name=button, exact=True)).to_be_visible()
        # JavaScript is on here only to measure: nothing may be wider than the screen.
        scroll_width, inner_width = phone.evaluate(
            "[document.documentElement.scrollWidth, window.innerWidth]"
        )
        assert scroll_width <= inner_width, f"scrolls sideways: {scroll_width} > {inner_width}"
    finally:
        context.close()
