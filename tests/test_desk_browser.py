"""The desk in Debian's Chromium with JavaScript off: an operator signs in, sees the failing
partner, sends a delivery again and reads it in the audit log. Screenshots of the overview
and the partners page at 1200 and 390 px go to var/screenshots/ (not committed)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from newsroom.deskmodels import Role
from newsroom.models import DeliveryStatus
from tests.axe import assert_accessible
from tests.deskdata import delivery_status, failing_partner
from tests.desksupport import PASSWORD, add_user
from tests.support import Server
from tests.test_subscribe_browser import CHROMIUM, CHROMIUM_ARGS

SHOTS = Path(__file__).resolve().parent.parent / "var" / "screenshots"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not CHROMIUM.exists(), reason="needs Debian's chromium at /usr/bin/chromium"
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
    context = browser.new_context(java_script_enabled=False, locale="sv-SE")
    try:
        yield context.new_page()
    finally:
        context.close()


def shoot(page: Page, name: str, database: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    for width in (1200, 390):
        page.set_viewport_size({"width": width, "height": 900})
        page.screenshot(path=str(SHOTS / f"desk-{name}-{width}-{database}.png"), full_page=True)
        # Nothing scrolls sideways on a phone: wide tables scroll inside their own region.
        assert page.evaluate("document.documentElement.scrollWidth") <= width, (name, width)
    page.set_viewport_size({"width": 1200, "height": 900})


def test_an_operator_replays_a_failing_partners_delivery_and_reads_the_audit_log(
    db: str, server: Server, page: Page
) -> None:
    partner, delivery = failing_partner()
    failing_partner(name="Falu kommun", disabled=True)
    add_user("asa.lindqvist@example.se", Role.OPERATOR)
    page.goto(f"{server.base_url}/desk/partners")
    expect(page.get_by_role("heading", level=1)).to_have_text("Logga in på redaktionen")
    page.get_by_label("E-post eller användarnamn").fill("asa.lindqvist@example.se")
    page.get_by_label("Lösenord").fill(PASSWORD)
    page.get_by_role("button", name="Logga in").click()

    expect(page.get_by_role("heading", level=1)).to_have_text("Partner")  # back where it asked
    row = page.get_by_role("row").filter(has_text="Borlänge kommun")
    expect(row).to_contain_text("felar")
    shoot(page, "partners", db)

    page.get_by_role("link", name="Översikt").click()
    expect(
        page.get_by_role("link", name="Borlänge kommun har misslyckats", exact=False)
    ).to_be_visible()
    expect(page.get_by_text("Falu kommun är avstängd: failing for three days")).to_be_visible()
    shoot(page, "home", db)

    page.get_by_role("link", name="Borlänge kommun har misslyckats", exact=False).click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Partner: Borlänge kommun")
    page.get_by_role("button", name=f"Skicka igen: leverans {delivery}").click()
    expect(page.get_by_role("status")).to_contain_text(f"Leverans {delivery} skickas igen")
    assert delivery_status(delivery) is DeliveryStatus.PENDING

    page.get_by_role("link", name="Händelselogg").click()
    newest = page.get_by_role("row").nth(1)
    expect(newest).to_contain_text("partner.replay")
    expect(newest).to_contain_text("Borlänge kommun")
    expect(newest).to_contain_text("asa.lindqvist@example.se")
    expect(newest).to_contain_text(f'"delivery": {delivery}')
    assert partner  # the partner the log names

    page.get_by_role("button", name="Logga ut").click()
    expect(page.get_by_role("status")).to_have_text("Du är utloggad.")


@pytest.mark.parametrize("locale", ["sv-SE", "en-GB"])
def test_every_desk_page_passes_axe(server: Server, browser: Browser, locale: str) -> None:
    # JavaScript on here: axe is a script. The pages themselves have none.
    partner, _ = failing_partner()
    failing_partner(name="Falu kommun", disabled=True)
    add_user("asa.lindqvist@example.se", Role.OPERATOR, "Åsa Lindqvist")
    context = browser.new_context(locale=locale)
    try:
        page = context.new_page()
        page.goto(f"{server.base_url}/desk/login")
        assert_accessible(page)
        page.locator("input[name=login]").fill("asa.lindqvist@example.se")
        page.locator("input[type=password]").fill(PASSWORD)
        page.locator("form button[type=submit]").first.click()
        expect(page.locator("h1")).not_to_have_text("Logga in på redaktionen")
        for path in ("/desk", "/desk/articles", "/desk/articles/new", "/desk/editions",
                     "/desk/dashboard", "/desk/partners", f"/desk/partners/{partner}",
                     "/desk/subscribers", "/desk/users", "/desk/audit",
                     "/desk/finns-inte"):  # fmt: skip
            page.goto(server.base_url + path)
            assert page.locator("html").get_attribute("lang") == locale[:2], path
            assert_accessible(page)
        # The new signing secret, shown once after a rotation.
        page.goto(f"{server.base_url}/desk/partners/{partner}")
        page.locator("input#confirm").check()
        page.locator(f"form[action='/desk/partners/{partner}/rotate-secret'] button").click()
        expect(page.locator("code.secret")).to_be_visible()
        assert_accessible(page)
        shoot(page, f"partner-secret-{locale[:2]}", "any")
    finally:
        context.close()
