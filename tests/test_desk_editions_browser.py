"""The editions page in Debian's Chromium: an editor, JavaScript off, previews the next
edition and sends a test of it to the SMTP sink; axe (JavaScript on) in Swedish and
English. Screenshots at 1200 and 390 px go to var/screenshots/ (not committed)."""

from __future__ import annotations

import pytest
from playwright.sync_api import Browser, Page, expect

from newsroom.deskmodels import Role
from tests.axe import assert_accessible
from tests.desksupport import PASSWORD, add_user
from tests.mailsupport import parsed, publish, subscribe
from tests.smtpsink import SmtpSink
from tests.support import Server
from tests.test_desk_browser import CHROMIUM, shoot
from tests.test_desk_browser import browser as browser
from tests.test_desk_browser import page as page

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not CHROMIUM.exists(), reason="needs Debian's chromium at /usr/bin/chromium"
    ),
]

TITLES = (
    "Borlänge bygger ny bro över Dalälven",
    "Tammerfors delar med sig av snöröjningen",
    "Trygghetsvandringar lockar fler när Mariehamn lär av Borlänge",
)


def newsroom() -> None:
    add_user("erik.redaktor@example.se", Role.EDITOR, "Erik Redaktör")
    subscribe("anna.berg@example.se", frequency="daily")
    subscribe("lars@example.se", frequency="weekly")
    for title in TITLES:
        publish(title=title)


def test_an_editor_previews_the_next_edition_and_sends_a_test(
    db: str, mail: SmtpSink, celery_worker: None, server: Server, page: Page
) -> None:
    newsroom()
    page.goto(f"{server.base_url}/desk/login")
    page.get_by_label("E-post eller användarnamn").fill("erik.redaktor@example.se")
    page.get_by_label("Lösenord").fill(PASSWORD)
    page.get_by_role("button", name="Logga in").click()
    page.get_by_role("link", name="Utskick").click()

    expect(page.get_by_role("heading", level=1)).to_have_text("Utskick")
    expect(page.locator("h2#next")).to_have_text(
        "Nästa utskick: svenska, dagligen"
    )
    expect(page.get_by_text(f"{TITLES[2]} – och 2 andra nyheter")).to_be_visible()
    frame = page.frame_locator("iframe.edition")
    expect(frame.get_by_role("heading", name=TITLES[0])).to_be_visible()
    expect(frame.get_by_role("link", name="Visa i webbläsaren")).to_have_attribute(
        "href", "https://nyheter.example/newsletter"
    )
    expect(page.locator("pre.edition-text")).to_contain_text(TITLES[1])
    shoot(page, "editions", db)

    page.get_by_label("E-postadress").fill("granskare@redaktionen")  # the browser lets it by
    page.get_by_role("button", name="Skicka test").click()
    expect(page.get_by_text("E-postadress: skriv en adress")).to_be_visible()
    page.get_by_label("E-postadress").fill("granskare@example.org")
    page.get_by_role("button", name="Skicka test").click()
    expect(page.get_by_role("status")).to_contain_text("Testet är på väg")

    [received] = mail.wait_for(1, timeout=20)
    assert received.rcpt_tos == ("granskare@example.org",)
    assert parsed(received.data)["X-Budkavle-Test"] == "1"
    page.get_by_role("link", name="Uppdatera status").click()
    row = page.get_by_role("row").filter(has_text="granskare@example.org")
    expect(row).to_contain_text("skickat")
    expect(row).to_contain_text("[Test]")
    shoot(page, "editions-tested", db)


@pytest.mark.parametrize("locale", ["sv-SE", "en-GB"])
def test_the_editions_page_passes_axe(
    db: str, server: Server, browser: Browser, locale: str
) -> None:
    newsroom()
    context = browser.new_context(locale=locale)
    try:
        page = context.new_page()
        page.goto(f"{server.base_url}/desk/login")
        page.locator("input[name=login]").fill("erik.redaktor@example.se")
        page.locator("input[type=password]").fill(PASSWORD)
        page.locator("form button[type=submit]").first.click()
        expect(page.locator("h1")).to_have_text("Översikt" if locale == "sv-SE" else "Overview")
        for path in ("/desk/editions", "/desk/editions?language=en&frequency=weekly"):
            page.goto(server.base_url + path)
            assert page.locator("html").get_attribute("lang") == locale[:2]
            assert_accessible(page)
    finally:
        context.close()
