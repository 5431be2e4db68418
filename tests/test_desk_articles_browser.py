"""Articles at the desk in Debian's Chromium with JavaScript off: an editor writes an article
with å ä ö, previews it, schedules it, finds it in the list and publishes it at once; axe
(JavaScript on) on the list, the editor and the retract page in Swedish and English.
Screenshots at 1200 and 390 px go to var/screenshots/ (not committed)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta

import pytest
from playwright.sync_api import Browser, Page, expect

from config import get_settings
from newsroom.db import session_scope
from newsroom.deskmodels import Role
from newsroom.models import Article, ArticleStatus
from tests.axe import assert_accessible
from tests.desksupport import PASSWORD, add_user
from tests.support import Server
from tests.test_desk_browser import browser, shoot
from tests.test_subscribe_browser import CHROMIUM

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not CHROMIUM.exists(), reason="needs Debian's chromium at /usr/bin/chromium"
    ),
]
__all__ = ["browser"]  # the module's Chromium, shared with the desk's other browser tests

TITLE = "Årets första snö över Åre och Ödeshög"
BODY = (
    "Snön kom under natten till lördagen.\n\n"
    "– Det är tidigt i år, säger meteorologen Märta Öhman.\n\n"
    "## Nya spår i fjällen\n\n"
    "Skidspåren i Åre *öppnar* redan på söndag."
)


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(java_script_enabled=False, locale="sv-SE")
    try:
        yield context.new_page()
    finally:
        context.close()


def status_of(title: str) -> ArticleStatus:
    with session_scope() as session:
        found = session.query(Article).filter(Article.title == title).one()
        return found.status


def sign_in(page: Page, server: Server, path: str) -> None:
    page.goto(f"{server.base_url}{path}")
    page.locator("input[name=login]").fill("redaktor@example.se")
    page.locator("input[type=password]").fill(PASSWORD)
    page.locator("form button[type=submit]").first.click()


def test_an_editor_writes_previews_schedules_and_publishes(
    db: str, server: Server, page: Page
) -> None:
    add_user("redaktor@example.se", Role.EDITOR, "Märta Öhman")
    sign_in(page, server, "/desk/articles/new")
    expect(page.get_by_role("heading", level=1)).to_have_text("Ny artikel")

    later = datetime.now(get_settings().zone) + timedelta(days=1)
    page.get_by_label("Rubrik", exact=True).fill(TITLE)
    page.get_by_label("Språk").select_option("sv")
    page.get_by_label("Ingress").fill("Vintern kom tidigt till fjällen.")
    page.get_by_label("Brödtext (Markdown)").fill(BODY)
    page.get_by_label("Taggar, åtskilda med kommatecken").fill("Väder, Jämtland")
    page.get_by_label("Skribenter, åtskilda med kommatecken").fill("Märta Öhman")
    page.get_by_label("Bildens adress (URL)").fill("https://bilder.nyheter.example/are.jpg")
    page.get_by_label("Alt-text (vad bilden visar)").fill("Snötäckta fjäll vid Åre")
    page.get_by_label("Bildtext", exact=True).fill("Åreskutan på lördagsmorgonen.")
    page.get_by_label("Huvudnyhet i nyhetsbreven").check()
    page.get_by_label("Publiceringstid").fill(later.strftime("%Y-%m-%dT%H:%M"))
    page.get_by_role("button", name="Förhandsgranska").click()

    preview = page.get_by_role("region", name="Förhandsvisning", exact=False)
    expect(preview.get_by_role("heading", name="Nya spår i fjällen")).to_be_visible()
    expect(preview).to_contain_text("– Det är tidigt i år, säger meteorologen Märta Öhman.")
    expect(page.get_by_label("Rubrik", exact=True)).to_have_value(TITLE)  # still typed
    expect(page.get_by_label("Huvudnyhet i nyhetsbreven")).to_be_checked()
    shoot(page, "article-preview", db)

    page.get_by_role("button", name="Schemalägg").click()
    expect(page.get_by_role("status")).to_contain_text("Schemalagd")
    assert status_of(TITLE) is ArticleStatus.SCHEDULED

    page.get_by_role("link", name="Artiklar", exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Artiklar")
    row = page.get_by_role("row").filter(has_text=TITLE)
    expect(row).to_contain_text("schemalagd")
    shoot(page, "articles", db)

    page.get_by_label("Rubrik eller slug").fill("ödeshög")
    page.get_by_role("button", name="Sök").click()
    page.get_by_role("link", name=TITLE).click()
    expect(page.get_by_label("Publiceringstid")).to_have_value(later.strftime("%Y-%m-%dT%H:%M"))
    page.get_by_role("button", name="Publicera nu").click()
    expect(page.get_by_role("status")).to_contain_text("Publicerad.")
    assert status_of(TITLE) is ArticleStatus.PUBLISHED
    shoot(page, "article-published", db)

    page.get_by_role("link", name="Dra in…").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Dra in: {TITLE}")
    shoot(page, "article-retract", db)
    page.get_by_role("button", name="Ja, dra in artikeln").click()
    expect(page.get_by_role("status")).to_contain_text("Indragen.")
    assert status_of(TITLE) is ArticleStatus.RETRACTED


def test_a_mistake_is_shown_beside_its_field(db: str, server: Server, page: Page) -> None:
    add_user("redaktor@example.se", Role.EDITOR, "Märta Öhman")
    sign_in(page, server, "/desk/articles/new")
    page.get_by_label("Rubrik", exact=True).fill(TITLE)
    page.get_by_label("Bildtext", exact=True).fill("En bildtext utan bild")
    page.get_by_role("button", name="Spara utkast").click()
    expect(page.get_by_role("alert")).to_contain_text("Inget sparades.")
    image = page.get_by_label("Bildens adress (URL)")
    expect(image).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#f-image_url-error")).to_contain_text("Bildens adress")
    expect(page.locator("#f-body-error")).to_contain_text("Brödtext: skriv något")
    expect(page.get_by_label("Rubrik", exact=True)).to_have_value(TITLE)
    shoot(page, "article-errors", db)


@pytest.mark.parametrize("locale", ["sv-SE", "en-GB"])
def test_article_pages_pass_axe(server: Server, browser: Browser, locale: str) -> None:
    add_user("redaktor@example.se", Role.EDITOR, "Märta Öhman")
    context = browser.new_context(locale=locale)  # JavaScript on: axe is a script
    try:
        page = context.new_page()
        sign_in(page, server, "/desk/articles/new")
        assert_accessible(page)
        page.locator("#f-title").fill(TITLE)
        page.locator("#f-body").fill(BODY)
        page.locator("#f-tags").fill("Väder")
        page.locator("button[value=preview]").click()
        assert_accessible(page)  # with the preview region
        page.locator("button[value=draft]").click()
        expect(page.get_by_role("status")).to_be_visible()
        article = page.url.split("/desk/articles/")[1].split("?")[0]
        assert_accessible(page)
        page.locator("#f-title").fill("")
        page.locator("#f-image_caption").fill("Bildtext utan bild")
        page.locator("button[value=draft]").click()
        expect(page.get_by_role("alert")).to_be_visible()
        assert_accessible(page)  # with errors beside their fields
        for path in ("/desk/articles", f"/desk/articles/{article}/retract",
                     "/desk/articles?q=finns+inte"):  # fmt: skip
            page.goto(server.base_url + path)
            assert page.locator("html").get_attribute("lang") == locale[:2], path
            assert_accessible(page)
    finally:
        context.close()
