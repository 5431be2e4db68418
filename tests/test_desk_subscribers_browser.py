"""The desk's subscribers pages in Debian's Chromium: with JavaScript off an operator finds
a reader by their domain with å ä ö and suppresses them; axe (a script, so JavaScript on)
on the list, one subscriber and the erase page in Swedish and English. Screenshots at 1200
and 390 px go to var/screenshots/."""

from __future__ import annotations

import pytest
from playwright.sync_api import Browser, Page, expect

from newsroom.db import session_scope
from newsroom.deskmodels import Role
from newsroom.models import EmailStatus, Subscriber, SubscriberStatus
from tests.axe import assert_accessible
from tests.deskdata import emails_to, subscriber
from tests.desksupport import PASSWORD, add_user
from tests.support import Server
from tests.test_desk_browser import browser, page, shoot  # noqa: F401 (fixtures)
from tests.test_subscribe_browser import CHROMIUM

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not CHROMIUM.exists(), reason="needs Debian's chromium at /usr/bin/chromium"
    ),
]

LENA = "lena.aberg@xn--bjrka-sby-w2af.se"  # lena.aberg@bjärka-säby.se, stored in IDNA


def readers() -> int:
    for n in range(8):
        subscriber(f"lasare{n}@umea.example", language="fi" if n % 2 else "sv")
    lena = subscriber(LENA, failures=1, ip="203.0.113.45")
    emails_to(lena, (EmailStatus.SENT, None),
              (EmailStatus.FAILED, "452 4.2.2 mailbox full; gave up after 5 attempts"))
    subscriber("studs@example.se", SubscriberStatus.BOUNCED, failures=3)
    return lena


def status_of(subscriber_id: int) -> SubscriberStatus:
    with session_scope() as session:
        found = session.get(Subscriber, subscriber_id)
        assert found is not None
        return found.status


def test_an_operator_finds_a_reader_by_their_domain_and_suppresses_them(
    db: str,
    server: Server,
    page: Page,  # noqa: F811
) -> None:
    lena = readers()
    add_user("asa.lindqvist@example.se", Role.OPERATOR)
    page.goto(f"{server.base_url}/desk")
    page.get_by_label("E-post eller användarnamn").fill("asa.lindqvist@example.se")
    page.get_by_label("Lösenord").fill(PASSWORD)
    page.get_by_role("button", name="Logga in").click()

    page.get_by_role("link", name="Prenumeranter").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Prenumeranter")
    shoot(page, "subscribers", db)
    page.get_by_label("Adressen innehåller").fill("Bjärka-Säby.se")
    page.get_by_label("Status").select_option("active")
    page.get_by_role("button", name="Sök prenumeranter").click()
    rows = page.get_by_role("row")
    expect(rows).to_have_count(2)  # the head and Lena
    page.get_by_role("link", name="lena.aberg@bjärka-säby.se").click()

    expect(page.get_by_role("heading", level=1)).to_have_text("lena.aberg@bjärka-säby.se")
    expect(page.get_by_text("203.0.113.45")).to_be_visible()
    expect(page.get_by_text("452 4.2.2 mailbox full", exact=False)).to_be_visible()
    shoot(page, "subscriber", db)
    page.get_by_role("button", name="Spärra").click()
    expect(page.get_by_role("status")).to_have_text("Spärrad: ingen mer e-post går ut.")
    expect(page.get_by_role("button", name="Häv spärren")).to_be_visible()
    assert status_of(lena) is SubscriberStatus.SUPPRESSED

    page.get_by_role("link", name="Radera prenumeranten…").click()
    shoot(page, "subscriber-erase", db)
    page.get_by_label("Skriv adressen som ska raderas", exact=False).fill("fel@example.se")
    page.get_by_role("button", name="Radera för gott").click()
    expect(page.get_by_text("Det är inte prenumerantens adress. Inget raderades.")).to_be_visible()
    page.get_by_role("link", name="Behåll prenumeranten").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("lena.aberg@bjärka-säby.se")

    page.get_by_role("link", name="Händelselogg").click()
    newest = page.get_by_role("row").nth(1)
    expect(newest).to_contain_text("subscriber.suppress")
    expect(newest).not_to_contain_text("lena")


@pytest.mark.parametrize("locale", ["sv-SE", "en-GB"])
def test_the_subscribers_pages_pass_axe(
    server: Server,
    browser: Browser,  # noqa: F811
    locale: str,
) -> None:
    lena = readers()
    add_user("asa.lindqvist@example.se", Role.OPERATOR, "Åsa Lindqvist")
    context = browser.new_context(locale=locale)
    try:
        page = context.new_page()
        page.goto(f"{server.base_url}/desk/login")
        page.locator("input[name=login]").fill("asa.lindqvist@example.se")
        page.locator("input[type=password]").fill(PASSWORD)
        page.locator("form button[type=submit]").first.click()
        expect(page.locator("h1")).not_to_have_text("Logga in på redaktionen")
        for path in ("/desk/subscribers", "/desk/subscribers?status=bounced",
                     "/desk/subscribers?q=finns-inte", f"/desk/subscribers/{lena}",
                     f"/desk/subscribers/{lena}/erase"):  # fmt: skip
            page.goto(server.base_url + path)
            assert page.locator("html").get_attribute("lang") == locale[:2], path
            assert_accessible(page)
    finally:
        context.close()
