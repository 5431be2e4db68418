"""The readers' site in a real browser: Debian's Chromium, driven by Playwright.

A Swedish reader lands on the home page, opens a topic from a tag, and follows it by
email to the subscribe form with the topic ticked, with JavaScript on and off. Every page
passes axe-core's WCAG 2.2 AA rules, nothing scrolls sideways at 390 px, and screenshots
at 1200 and 390 px are left in var/screenshots/ (not committed) for people to look at.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from config import get_settings
from newsroom.models import utcnow
from tests.axe import AXE_JS, MISSING, assert_accessible, violations
from tests.mailsupport import plan, publish, subscribe
from tests.support import Server
from tests.test_subscribe_browser import CHROMIUM, CHROMIUM_ARGS

SCREENSHOTS = Path(__file__).parent.parent / "var" / "screenshots"
WIDTHS = {"desktop": 1200, "phone": 390}

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not CHROMIUM.exists(), reason="needs Debian's chromium at /usr/bin/chromium"
    ),
]

# Pictures for the articles, served on loopback like a newsroom's image server: a real
# page has images, and the layout must be judged with them.
_COLOURS = ["#2f5d62", "#8a4f7d", "#c06014", "#3d5a80", "#6b705c", "#9b1c1c", "#264653"]


def _picture(number: int) -> bytes:
    colour = _COLOURS[number % len(_COLOURS)]
    return (
        '<svg xmlns="http://www.w3.org/2000/svg" width="1200" height="800" viewBox="0 0 1200 800">'
        f'<rect width="1200" height="800" fill="{colour}"/>'
        '<circle cx="930" cy="220" r="120" fill="#f4d58d"/>'
        '<path d="M0 640 L300 380 L520 560 L760 300 L1200 680 L1200 800 L0 800 Z" fill="#1b1b1b" '
        'opacity=".55"/></svg>'
    ).encode()


_LOGO = (
    b'<svg xmlns="http://www.w3.org/2000/svg" width="96" height="96" viewBox="0 0 96 96">'
    b'<circle cx="48" cy="48" r="46" fill="#9b1c1c"/>'
    b'<path d="M20 70 L76 26" stroke="#fff" stroke-width="10" stroke-linecap="round"/></svg>'
)


class _Pictures(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        number = int("".join(ch for ch in self.path if ch.isdigit()) or 0)
        body = _LOGO if "logo" in self.path else _picture(number)
        self.send_response(200)
        self.send_header("Content-Type", "image/svg+xml")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def pictures() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Pictures)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def site(server: Server, pictures: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Server]:
    """The server, its public URL its own address (pages link by absolute URLs), with a
    logo and the publisher's address in the settings."""
    monkeypatch.setenv("BUDKAVLE_PUBLIC_URL", server.base_url)
    monkeypatch.setenv("BUDKAVLE_LOGO_URL", f"{pictures}/logo-5.svg")
    monkeypatch.setenv("BUDKAVLE_PUBLISHER_NAME", "Budkavle Media AB")
    monkeypatch.setenv("BUDKAVLE_PUBLISHER_ADDRESS", "Stationsgatan 12\n784 33 Borlänge\nSverige")
    get_settings.cache_clear()
    yield server
    monkeypatch.undo()
    get_settings.cache_clear()


def new_page(browser: Browser, *, javascript: bool = True, width: int = 1200) -> Page:
    context = browser.new_context(
        java_script_enabled=javascript,
        locale="sv-SE",
        viewport={"width": width, "height": 900},
        bypass_csp=False,
    )
    return context.new_page()


NEWS = [
    ("Personliga möten stärker det nordiska samarbetet", "sv", ["Borlänge", "Nordiskt samarbete"]),
    ("Helsingfors satsar på förebyggande arbete i skolorna", "sv", ["Helsingfors", "Skola"]),
    ("Umeå och Tammerfors delar erfarenheter av vinterväghållning", "sv", ["Umeå", "Trafik"]),
    ("Tampere avaa kirjaston e-kokoelman kaikille", "fi", ["Tampere", "Kirjastot"]),
    ("Bergen kommune vil ha flere sykkelveier langs sjøen", "nb", ["Bergen", "Trafik"]),
    ("Aarhus åbner nyt bibliotek ved havnen i foråret", "da", ["Aarhus", "Kirjastot"]),
    ("Reykjavíkurborg kynnir nýja áætlun um almenningssamgöngur", "is", ["Reykjavík", "Trafik"]),
    (
        "Örebro län får ny regional kollektivtrafikplan för länets kommuner",
        "sv",
        ["Örebro", "Trafik"],
    ),
    ("Åbo Akademi öppnar ett centrum för nordisk forskning", "sv", ["Åbo", "Nordiskt samarbete"]),
]


def newsroom(pictures: str) -> None:
    first = utcnow() - timedelta(hours=len(NEWS) + 2)
    for number, (title, language, tags) in enumerate(NEWS):
        publish(
            title=title, language=language, tags=tags,
            published_at=(first + timedelta(hours=number)).isoformat(),
            image={"url": f"{pictures}/bild-{number}.svg", "alt": f"Bild till artikel: {title}",
                   "caption": "Foto: Budkavle"},
        )  # fmt: skip


@pytest.mark.parametrize("javascript", [True, False], ids=["js-on", "js-off"])
def test_a_swedish_reader_follows_a_topic_by_email(
    site: Server, browser: Browser, pictures: str, javascript: bool
) -> None:
    newsroom(pictures)
    page = new_page(browser, javascript=javascript)
    page.goto(site.base_url + "/")
    assert page.locator("html").get_attribute("lang") == "sv"
    expect(page.get_by_role("heading", level=1)).to_have_text("Senaste nytt")
    # The tag on the lead story, as a reader would click it.
    lead = page.locator("article.lead")
    lead.get_by_role("link", name="Nordiskt samarbete").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Nordiskt samarbete")
    assert page.url.endswith("/tags/nordiskt-samarbete")
    expect(page.get_by_text("2 artiklar")).to_be_visible()
    page.get_by_role("link", name="Följ via e-post").first.click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Prenumerera på nyheterna")
    expect(page.get_by_label("Nordiskt samarbete")).to_be_checked()
    expect(page.get_by_label("Borlänge")).not_to_be_checked()
    page.context.close()


def test_every_page_passes_axe_and_fits_a_phone(
    site: Server, browser: Browser, pictures: str
) -> None:
    assert AXE_JS.exists(), MISSING
    newsroom(pictures)
    subscribe("asa.oberg@example.se", language="sv")
    publish(
        title="Gävle bygger om resecentrum", tags=["Gävle", "Trafik"],
        image={"url": f"{pictures}/bild-6.svg", "alt": "Resecentrum i Gävle en vintermorgon"},
    )  # fmt: skip
    assert plan()
    pages = {
        "home": "/",
        "topic": "/tags/trafik",
        "language": "/lang/sv",
        "article": "/articles/personliga-moten-starker-det-nordiska-samarbetet",
        "archive": "/newsletter",
        "not-found": "/tags/finns-inte",
    }
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    for device, width in WIDTHS.items():
        page = new_page(browser, width=width)
        for name, path in pages.items():
            page.goto(site.base_url + path)
            page.wait_for_load_state("load")
            sideways = page.evaluate(
                "() => document.documentElement.scrollWidth - document.documentElement.clientWidth"
            )
            assert sideways <= 0, f"{name} scrolls {sideways}px sideways at {width}px"
            if device == "desktop" or name != "not-found":
                assert_accessible(page)
            page.screenshot(path=str(SCREENSHOTS / f"site-{name}-{width}.png"), full_page=True)
            page.screenshot(path=str(SCREENSHOTS / f"site-{name}-{width}-top.png"))
        page.context.close()


def test_axe_finds_what_it_is_there_to_find(browser: Browser) -> None:
    assert AXE_JS.exists(), MISSING
    page = new_page(browser)
    page.set_content('<html><body><img src="x.png"><p><a href="/"></a></p></body></html>')
    found = {violation["id"] for violation in violations(page)}
    assert {"html-has-lang", "image-alt", "link-name"} <= found
    page.context.close()
