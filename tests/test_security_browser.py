"""The security headers in a real browser: Debian's Chromium enforces each page's CSP and
reports what it refuses; /docs renders with the network cut off; /embed/subscribe shows
inside a page of another site only when the operator lists that site; and a partner's
plain form (the README's snippet) signs a reader up from another site.

"Another site" is a real HTTP server on 127.0.0.2, the app being on 127.0.0.1: a
different host, so a different origin and a different site (Fetch's same-site compares
hosts, not ports).
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Browser, ConsoleMessage, Page, Route, expect

from config import get_settings
from newsroom.models import SubscriberStatus
from newsroom.tokens import Purpose
from tests.mailsupport import parsed, plan, publish, send_all, subscribe
from tests.smtpsink import SmtpSink
from tests.support import Server
from tests.test_security_headers import edition_path
from tests.test_subscribe_browser import CHROMIUM, browser  # noqa: F401 (a fixture)
from tests.test_subscribe_pages import add, link, one, stored

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium"),
]

README = Path(__file__).parent.parent / "README.md"
# Registered before any page script runs; Playwright's scripts are not subject to the CSP.
WATCH_VIOLATIONS = """
window.__violations = [];
document.addEventListener("securitypolicyviolation", (event) => {
  window.__violations.push(event.violatedDirective + " " + event.blockedURI);
});
"""


class Watched:
    """A page whose CSP violations are collected, from the console and from the event."""

    def __init__(self, page: Page) -> None:
        self.page = page
        self.console: list[str] = []
        page.on("console", self._console)
        page.add_init_script(WATCH_VIOLATIONS)

    def _console(self, message: ConsoleMessage) -> None:
        if "Content Security Policy" in message.text or "Refused to" in message.text:
            self.console.append(message.text)

    def violations(self) -> list[str]:
        seen: list[str] = []
        for frame in self.page.frames:
            try:
                seen += frame.evaluate("window.__violations || []")
            except Exception:  # a frame the browser refused to show has no document of ours
                continue
        return seen + self.console


@pytest.fixture
def watched(browser: Browser) -> Iterator[Watched]:  # noqa: F811
    context = browser.new_context(locale="sv-SE")  # JavaScript on: the events are scripts
    try:
        yield Watched(context.new_page())
    finally:
        context.close()


@pytest.fixture
def newsroom(server: Server, mail: SmtpSink) -> Server:
    subscribe("lasare@example.se")
    publish()
    send_all(plan())
    add("vantar@example.se", SubscriberStatus.PENDING)
    return server


def fixed(path: str) -> Callable[[], str]:
    return lambda: path


def token(purpose: Purpose, email: str = "lasare@example.se") -> Callable[[], str]:
    return lambda: link(one(email), purpose)


# (path, a style of the body that the page's style sheet gives it: proof the CSS loaded)
SITE = ("backgroundColor", "rgb(255, 253, 249)")  # web/static/site.css: --paper
FORM = ("maxWidth", "576px")  # web/static/subscribe.css
DESK = ("margin", "0px")  # web/desk/static/desk.css
# fmt: off
PAGES = [
    pytest.param(fixed("/"), SITE, id="home"),
    pytest.param(fixed("/articles/personliga-moten-starker-det-nordiska-samarbetet"), SITE,
                 id="article"),
    pytest.param(fixed("/newsletter"), SITE, id="archive"),
    pytest.param(fixed("/lang/sv"), SITE, id="language"),
    pytest.param(edition_path, None, id="edition"),
    pytest.param(fixed("/subscribe?lang=sv"), FORM, id="subscribe"),
    pytest.param(token(Purpose.CONFIRM, "vantar@example.se"), FORM, id="confirm"),
    pytest.param(token(Purpose.PREFERENCES), FORM, id="preferences"),
    pytest.param(token(Purpose.UNSUBSCRIBE), FORM, id="unsubscribe"),
    pytest.param(fixed("/embed/subscribe?lang=fi"), ("maxWidth", "none"), id="embed"),
    pytest.param(fixed("/desk/login"), DESK, id="desk-login"),
]
# fmt: on


@pytest.mark.parametrize(("path", "style"), PAGES)
def test_pages_break_no_rule_of_their_policy(
    newsroom: Server, watched: Watched, path: Callable[[], str], style: tuple[str, str] | None
) -> None:
    response = watched.page.goto(newsroom.base_url + path())
    assert response is not None and response.ok
    assert "content-security-policy" in response.headers
    watched.page.wait_for_load_state("load")
    assert watched.violations() == []
    if style is not None:
        name, expected = style
        applied = watched.page.evaluate(f"getComputedStyle(document.body).{name}")
        assert applied == expected, "the page's style sheet was applied"


def test_the_watch_sees_a_violation_when_there_is_one(server: Server, watched: Watched) -> None:
    # The test above must be able to fail: an inline style block on a page is refused.
    watched.page.goto(f"{server.base_url}/subscribe?lang=sv")
    watched.page.evaluate(
        "document.head.appendChild(document.createElement('style')).textContent ="
        " 'body { color: red }'"
    )
    watched.page.wait_for_timeout(200)
    assert any(found.startswith("style-src") for found in watched.violations())


# --- /docs offline -----------------------------------------------------------------------


def test_docs_render_the_api_with_the_network_cut_off(server: Server, watched: Watched) -> None:
    blocked: list[str] = []

    def loopback_only(route: Route) -> None:
        if urlsplit(route.request.url).hostname == "127.0.0.1":
            route.continue_()
        else:
            blocked.append(route.request.url)
            route.abort("internetdisconnected")

    watched.page.context.route("**/*", loopback_only)
    watched.page.goto(f"{server.base_url}/docs")
    paths = watched.page.locator(".opblock-summary-path")
    expect(paths.first).to_be_visible(timeout=15_000)
    shown = set(paths.all_inner_texts())
    assert {"/api/articles", "/api/partners", "/api/subscribers"} <= {
        re.sub(r"\u200b", "", text) for text in shown
    }, shown
    assert blocked == [], "the docs asked for something from another host"
    assert watched.violations() == []


# --- another site ------------------------------------------------------------------------


@contextmanager
def partner_site(html: Callable[[], str]) -> Iterator[str]:
    """A municipality's web server on 127.0.0.2: one page, the HTML ``html()`` returns."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = html().encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_: object) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.2", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.2:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


@contextmanager
def embed_origins(monkeypatch: pytest.MonkeyPatch, origins: str) -> Iterator[None]:
    monkeypatch.setenv("BUDKAVLE_EMBED_ORIGINS", origins)
    get_settings.cache_clear()  # the route reads the setting per request
    try:
        yield
    finally:
        monkeypatch.delenv("BUDKAVLE_EMBED_ORIGINS")
        get_settings.cache_clear()


def framing_page(server: Server) -> str:
    return f"""<!doctype html><html lang="sv"><head><title>Borlänge kommun</title></head>
<body><h1>Borlänge kommun</h1>
<iframe src="{server.base_url}/embed/subscribe?lang=sv" title="Nyheter via e-post"
        width="600" height="700"></iframe></body></html>"""


def test_a_listed_site_frames_the_form_and_a_reader_signs_up_in_it(
    mail: SmtpSink,
    celery_worker: None,
    server: Server,
    watched: Watched,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with partner_site(lambda: framing_page(server)) as origin, embed_origins(monkeypatch, origin):
        watched.page.goto(origin)
        frame = watched.page.frame_locator("iframe")
        frame.get_by_label("E-postadress").fill("asa.oberg@example.se")
        frame.get_by_label("En gång i veckan").check()
        frame.get_by_role("button", name="Prenumerera").click()
        expect(frame.get_by_role("heading", level=1)).to_have_text("Titta i din inkorg")
        assert watched.page.url.startswith(origin), "the partner's page stays where it is"
        assert watched.violations() == []

    [received] = mail.wait_for(1, timeout=20)
    message = parsed(received.data)
    assert received.rcpt_tos == ("asa.oberg@example.se",)
    assert message["Subject"] == "Budkavle: bekräfta din prenumeration"
    [subscriber] = stored()
    assert subscriber.status is SubscriberStatus.PENDING, "only double opt-in started"
    assert str(subscriber.frequency) == "weekly"


@pytest.mark.parametrize(
    "listed",
    [
        pytest.param(lambda origin: "", id="nobody-listed"),
        pytest.param(lambda origin: "https://www.borlange.se", id="another-site-listed"),
        pytest.param(lambda origin: origin.replace("127.0.0.2", "127.0.0.3"), id="other-host"),
    ],
)
def test_an_unlisted_site_gets_no_form_in_its_frame(
    server: Server,
    watched: Watched,
    monkeypatch: pytest.MonkeyPatch,
    listed: Callable[[str], str],
) -> None:
    with (
        partner_site(lambda: framing_page(server)) as origin,
        embed_origins(monkeypatch, listed(origin)),
    ):
        watched.page.goto(origin)
        watched.page.wait_for_load_state("load")
        watched.page.wait_for_timeout(300)
        refused = watched.page.frame_locator("iframe").get_by_label("E-postadress")
        assert refused.count() == 0, "the form showed in a frame it may not be in"
        assert any("frame-ancestors" in text for text in watched.console), watched.console
    assert stored() == []


def readme_snippet() -> str:
    text = README.read_text(encoding="utf-8")
    found = re.search(r"<!-- partner-snippet[^>]*-->\s*```html\n(.*?)```", text, re.DOTALL)
    assert found is not None, "README's partner snippet"
    return "\n".join(line.removeprefix("  ") for line in found.group(1).splitlines())


def test_the_readmes_partner_snippet_signs_a_reader_up_from_another_site(
    mail: SmtpSink, celery_worker: None, server: Server, watched: Watched
) -> None:
    snippet = readme_snippet().replace("https://nyheter.example", server.base_url)
    page = f'<!doctype html><html lang="sv"><title>Borlänge kommun</title>{snippet}</html>'
    with partner_site(lambda: page) as origin:
        watched.page.goto(origin)
        watched.page.get_by_label("E-postadress").fill("asa.oberg@example.se")
        watched.page.get_by_role("button", name="Prenumerera på nyheterna").click()
        expect(watched.page.get_by_role("heading", level=1)).to_have_text("Titta i din inkorg")
        assert watched.page.url == f"{server.base_url}/subscribe?lang=sv"
    [received] = mail.wait_for(1, timeout=20)
    assert received.rcpt_tos == ("asa.oberg@example.se",)
    [subscriber] = stored()
    assert subscriber.status is SubscriberStatus.PENDING
