"""The digest and welcome emails in Debian's Chromium: axe-core (WCAG 2.2 AA) finds no
violation, nothing scrolls sideways on a phone, and screenshots at 1200 and 390 px are
kept in test-artifacts/ (not committed) for people to look at."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, sync_playwright

from email_templates import personal
from email_templates.render import RenderedEmail, render_digest, render_welcome
from tests.axe import assert_accessible
from tests.test_digest_email import CLOUD, LONG_SUMMARY, welcome
from tests.test_email_templates import BRAND, EDITION, content, digest_article
from tests.test_subscribe_browser import CHROMIUM, CHROMIUM_ARGS

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = Path(os.environ.get("BUDKAVLE_TEST_ARTIFACTS", ROOT / "test-artifacts"))

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium"),
]

# A press photo stand-in: the emails' images load from a loopback server, as from a CDN.
PHOTO = b"""<svg xmlns="http://www.w3.org/2000/svg" width="1200" height="675">
<rect width="1200" height="675" fill="#6b7f8e"/><circle cx="900" cy="180" r="90" fill="#e9e4d4"/>
<path d="M0 520 L300 360 L520 470 L800 300 L1200 500 L1200 675 L0 675Z" fill="#f4f1ea"/></svg>"""


class _Images(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "image/svg+xml")
        self.send_header("Content-Length", str(len(PHOTO)))
        self.end_headers()
        self.wfile.write(PHOTO)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def images() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Images)
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


def filled(email: RenderedEmail) -> str:
    return personal.fill(
        email.html, escape=True, email="asa.lindqvist@example.se",
        unsubscribe_url="https://nyheter.example/unsubscribe/abc",
        preferences_url="https://nyheter.example/preferences/abc",
    )  # fmt: skip


def check(browser: Browser, name: str, html: str, tmp_path: Path) -> None:
    """axe-core finds nothing, nothing is wider than a phone; screenshots kept."""
    source = tmp_path / f"{name}.html"
    source.write_text(html, encoding="utf-8")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    for width in (1200, 390):
        context = browser.new_context(viewport={"width": width, "height": 900})
        try:
            page = context.new_page()
            page.goto(source.as_uri(), wait_until="load")
            page.screenshot(path=str(ARTIFACTS / f"{name}-{width}.png"), full_page=True)
            scroll = page.evaluate("document.documentElement.scrollWidth")
            assert scroll <= width, f"{name} scrolls sideways at {width} px ({scroll})"
            assert_accessible(page)
        finally:
            context.close()


def pictured(images: str, count: int) -> list[Any]:
    titles = [
        "Borlänge får ny bro över Dalälven",
        "Tammerfors delar väglagsdata med Borlänge",
        "Mariehamn lär av Borlänge om trygghetsvandringar",
        "Umeå bygger cykelgarage",
        "Älvdalens skola får nytt kök",
        "Kiruna flyttar stadshuset ett kvarter till",
    ]
    return [
        digest_article(titles[n % len(titles)] + (f" ({n})" if n >= len(titles) else ""),
                       f"artikel-{n}", image_url=f"{images}/bilder/{n}.jpg",
                       published_at=EDITION - timedelta(minutes=17 * n),
                       summary=LONG_SUMMARY if n % 3 == 0 else "Kort ingress om nyheten.")
        for n in range(count)
    ]  # fmt: skip


@pytest.mark.parametrize("count", [5, 50])
def test_the_digest_passes_axe_and_fits_a_phone(
    browser: Browser, images: str, tmp_path: Path, count: int
) -> None:
    brand = replace(BRAND, site_name="Nordens Nyheter")
    email = render_digest(
        content("sv", brand=brand, articles=pictured(images, count), cloud=CLOUD,
                time_zone="Europe/Helsinki")
    )  # fmt: skip
    check(browser, f"digest-{count}", filled(email), tmp_path)


def test_the_digest_with_a_logo_passes_axe(browser: Browser, images: str, tmp_path: Path) -> None:
    brand = replace(BRAND, logo_url=f"{images}/logo.svg", accent_color="#1d4ed8")
    email = render_digest(content("fi", brand=brand, articles=pictured(images, 3)))
    check(browser, "digest-logo-fi", filled(email), tmp_path)


def test_the_welcome_email_passes_axe(browser: Browser, images: str, tmp_path: Path) -> None:
    email = render_welcome(welcome("sv", articles=pictured(images, 5)))
    check(browser, "welcome", filled(email), tmp_path)
