"""Security headers on a real server: every HTML page's CSP, frame, referrer, nosniff and
HSTS; the static files the policy lets pages load; /docs from the app's own files; and the
subscriber's forms, which another site's page may not post (only signing up, which
starts double opt-in).

The same pages in Chromium, with the CSP enforced, are in tests/test_security_browser.py.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Iterator

import pytest
from sqlalchemy import select

from config import get_settings
from feeds.refresh import all_keys, refresh
from newsroom.db import session_scope
from newsroom.models import EditionSegment, Frequency, SubscriberStatus
from newsroom.tokens import Purpose
from tests.mailsupport import plan, publish, send_all, subscribe
from tests.smtpsink import SmtpSink
from tests.support import ADMIN, Server
from tests.test_subscribe_pages import REFUSED, Refused, add, form, link, one, rung, stored
from web.security import PAGE_POLICY, render

FORM = {"content-type": "application/x-www-form-urlencoded"}
PAGE = render(PAGE_POLICY, "https://nyheter.example")
HSTS = "max-age=31536000"


@pytest.fixture
def newsroom(server: Server, mail: SmtpSink) -> Server:
    """A server with an article, a sent edition, and subscribers in every state."""
    subscribe("lasare@example.se")
    publish()
    send_all(plan())
    add("vantar@example.se", SubscriberStatus.PENDING)
    return server


def token_path(purpose: Purpose, email: str = "lasare@example.se") -> Callable[[], str]:
    return lambda: link(one(email), purpose)


def edition_path() -> str:
    with session_scope() as session:
        return f"/newsletter/{session.scalars(select(EditionSegment.id)).first()}"


@dataclasses.dataclass(frozen=True)
class Page:
    path: Callable[[], str]
    status: int = 200
    policy: str | None = PAGE  # None: the route's own, checked in its own test
    referrer: str = "strict-origin-when-cross-origin"
    method: str = "GET"


def fixed(path: str) -> Callable[[], str]:
    return lambda: path


TOKEN = "no-referrer"
# fmt: off
PAGES = [
    pytest.param(Page(fixed("/")), id="home"),
    pytest.param(Page(fixed("/articles/personliga-moten-starker-det-nordiska-samarbetet")),
                 id="article"),
    pytest.param(Page(fixed("/subscribe?lang=fi")), id="subscribe"),
    pytest.param(Page(fixed("/subscribe?lang=sv"), 422, method="POST"), id="subscribe-refused"),
    pytest.param(Page(fixed("/newsletter")), id="archive"),
    pytest.param(Page(edition_path, policy=None), id="edition"),
    pytest.param(Page(token_path(Purpose.CONFIRM, "vantar@example.se"), referrer=TOKEN),
                 id="confirm"),
    pytest.param(Page(fixed("/subscribe/confirm/forged"), 404, referrer=TOKEN),
                 id="confirm-dead-link"),
    pytest.param(Page(token_path(Purpose.PREFERENCES), referrer=TOKEN), id="preferences"),
    pytest.param(Page(token_path(Purpose.UNSUBSCRIBE), referrer=TOKEN), id="unsubscribe"),
    pytest.param(Page(fixed("/embed/subscribe?lang=sv")), id="embed-listing-no-origin"),
    pytest.param(Page(fixed("/docs"), policy=None), id="docs"),
]
# fmt: on


@pytest.mark.parametrize("page", PAGES)
def test_every_html_page_carries_the_headers(newsroom: Server, page: Page) -> None:
    if page.method == "POST":  # an empty form: the page again, its fields marked
        response = newsroom.client.post(page.path(), content=b"", headers=FORM)
    else:
        response = newsroom.client.get(page.path())
    assert response.status_code == page.status, response.text
    assert response.headers["content-type"].startswith("text/html")
    headers = response.headers
    policy = headers["content-security-policy"]
    if page.policy is not None:
        assert policy == page.policy
    assert "'unsafe-inline'" not in _directive(policy, "script-src")
    assert _directive(policy, "frame-ancestors") == "'none'"
    assert headers["x-frame-options"] == "DENY"
    assert headers["referrer-policy"] == page.referrer
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["strict-transport-security"] == HSTS
    assert "<style" not in response.text or page.policy is None, "inline CSS is refused"


def test_the_page_policy_names_each_directive_once() -> None:
    directives = [part.split()[0] for part in PAGE.split("; ")]
    assert len(directives) == len(set(directives))
    assert PAGE.startswith("default-src 'none'; script-src 'self' https://nyheter.example;")
    assert "'unsafe" not in PAGE


def test_an_edition_allows_its_own_style_blocks_and_no_script(newsroom: Server) -> None:
    response = newsroom.client.get(edition_path())
    policy = response.headers["content-security-policy"]
    blocks = re.findall(r"<style[^>]*>", response.text)
    assert blocks, "the digest's HTML has style blocks"
    assert _directive(policy, "style-src-elem").count("'sha256-") >= 1
    assert _directive(policy, "style-src-attr") == "'unsafe-inline'"
    assert _directive(policy, "script-src") == _directive(policy, "default-src") == "'none'"


def test_json_carries_nosniff_and_hsts_but_no_page_policy(newsroom: Server) -> None:
    for path, headers in [("/api/articles", ADMIN), ("/healthz", {}), ("/openapi.json", {})]:
        response = newsroom.client.get(path, headers=headers)
        assert response.status_code == 200, path
        assert response.headers["x-content-type-options"] == "nosniff", path
        assert response.headers["strict-transport-security"] == HSTS, path
        assert "content-security-policy" not in response.headers, path
        assert "x-frame-options" not in response.headers, path


def test_a_feed_says_nosniff_on_a_200_and_nothing_more_on_a_304(newsroom: Server) -> None:
    # A reader's conditional poll is the most frequent answer: it stays as short as it was.
    missing = newsroom.client.get("/feeds/all.atom")  # not built yet: no worker here
    assert (missing.status_code, missing.headers["x-content-type-options"]) == (404, "nosniff")
    with session_scope() as session:
        keys = all_keys(session)
    for key in keys:
        with session_scope() as session:
            refresh(session, key, get_settings())
    for attempt in ("miss", "hit"):
        full = newsroom.client.get("/feeds/all.atom")
        assert full.status_code == 200, attempt
        assert full.headers["x-content-type-options"] == "nosniff", attempt
        again = newsroom.client.get(
            "/feeds/all.atom", headers={"if-none-match": full.headers["etag"]}
        )
        assert again.status_code == 304, attempt
        for field in ("x-content-type-options", "strict-transport-security",
                      "content-security-policy"):  # fmt: skip
            assert field not in full.headers or field == "x-content-type-options", attempt
            assert field not in again.headers, attempt


def test_no_hsts_when_the_public_url_is_plain_http(
    db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from web.app import create_app

    monkeypatch.setenv("BUDKAVLE_PUBLIC_URL", "http://127.0.0.1:8000")
    get_settings.cache_clear()
    try:
        with Server.running(create_app()) as server:
            response = server.client.get("/subscribe")
            assert "strict-transport-security" not in response.headers
            assert response.headers["x-frame-options"] == "DENY"
            assert "'self' http://127.0.0.1:8000;" in response.headers["content-security-policy"]
    finally:
        monkeypatch.undo()
        get_settings.cache_clear()


# --- static files ------------------------------------------------------------------------


def test_the_pages_style_sheet_is_a_static_file_cached_for_a_year(server: Server) -> None:
    page = server.client.get("/subscribe?lang=sv").text
    found = re.search(r'<link rel="stylesheet" href="(/static/subscribe\.css\?v=[0-9a-f]{16})">',
                      page)  # fmt: skip
    assert found is not None, page
    response = server.client.get(found.group(1))
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/css; charset=utf-8"
    assert response.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert ".summary" in response.text and "[aria-invalid=true]" in response.text
    stale = server.client.get("/static/subscribe.css?v=0000000000000000")
    assert stale.headers["cache-control"] == "public, max-age=300"


@pytest.mark.parametrize(
    "path",
    ["/static/nope.css", "/static/../security.py", "/static/%2e%2e/security.py",
     "/static/docs/../../subscribe.py", "/static/", "/static/docs/"],
)  # fmt: skip
def test_only_listed_static_files_are_served(server: Server, path: str) -> None:
    assert server.client.get(path).status_code == 404


def test_docs_are_served_from_the_app_with_a_hashed_init_script(server: Server) -> None:
    response = server.client.get("/docs")
    assert response.status_code == 200
    html = response.text
    assert not re.search(r"(src|href)=\"(https?:)?//", html), "nothing from another host"
    assert "cdn" not in html.lower()
    policy = response.headers["content-security-policy"]
    script_src = _directive(policy, "script-src")
    assert re.fullmatch(r"'self' https://nyheter\.example 'sha256-[A-Za-z0-9+/]+=*'", script_src)
    assert "'unsafe-inline'" not in policy
    for asset in re.findall(r'(?:src|href)="(/static/docs/[^"]+)"', html):
        fetched = server.client.get(asset)
        assert fetched.status_code == 200, asset
        assert fetched.headers["cache-control"].endswith("immutable")
    assert len(re.findall(r'(?:src|href)="/static/docs/', html)) == 3  # js, css, icon
    assert server.client.get("/openapi.json").status_code == 200
    moved = server.client.get("/redoc", follow_redirects=False)
    assert (moved.status_code, moved.headers["location"]) == (308, "/docs")


# --- the embeddable form -----------------------------------------------------------------


@pytest.fixture
def embed_origins(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("BUDKAVLE_EMBED_ORIGINS", "https://www.borlange.se, https://www.hel.fi:8443")
    get_settings.cache_clear()
    yield
    monkeypatch.undo()
    get_settings.cache_clear()


def test_the_embed_page_may_be_framed_by_the_listed_origins_only(
    server: Server, embed_origins: None
) -> None:
    response = server.client.get("/embed/subscribe", headers={"accept-language": "fi"})
    assert response.status_code == 200
    policy = response.headers["content-security-policy"]
    assert (
        _directive(policy, "frame-ancestors") == "https://www.borlange.se https://www.hel.fi:8443"
    )
    assert "x-frame-options" not in response.headers
    assert policy.replace(_directive(policy, "frame-ancestors"), "'none'") == PAGE
    assert response.headers["content-language"] == "fi"
    assert '<html lang="fi">' in response.text and 'class="embed"' in response.text
    assert 'action="/embed/subscribe?lang=fi"' in response.text
    # Only the embed page: everything else stays unframable.
    other = server.client.get("/subscribe")
    assert _directive(other.headers["content-security-policy"], "frame-ancestors") == "'none'"


def test_signing_up_in_the_embed_starts_double_opt_in_only(
    server: Server, embed_origins: None
) -> None:
    data = {"email": "asa.oberg@example.se", "language": "sv", "frequency": "weekly"}
    response = server.client.post("/embed/subscribe?lang=sv", data=data)
    assert response.status_code == 200, response.text
    assert "Titta i din inkorg" in response.text and 'class="embed"' in response.text
    assert 'href="/embed/subscribe?lang=sv"' in response.text, "stays inside the frame"
    assert "https://www.borlange.se" in response.headers["content-security-policy"]
    [subscriber] = stored()
    assert (subscriber.status, subscriber.frequency) == (SubscriberStatus.PENDING, Frequency.WEEKLY)
    assert rung() == [("budkavle.send_notice", [subscriber.id])], "one confirmation email"


EMBED_REFUSED = list(REFUSED)


@pytest.mark.parametrize("case", EMBED_REFUSED, ids=[case.id for case in EMBED_REFUSED])
def test_bad_input_in_the_embed_is_refused_in_the_readers_language(
    server: Server, embed_origins: None, case: Refused
) -> None:
    publish()
    response = server.client.post(
        "/embed/subscribe?lang=sv", data=case.data, content=case.content, headers=case.headers
    )
    assert response.status_code == case.status, response.text
    assert response.headers["content-type"].startswith("text/html")
    assert response.headers["content-language"] == "sv"
    assert case.says in response.text
    assert 'class="embed"' in response.text, "the answer fits the frame"
    assert "https://www.borlange.se" in response.headers["content-security-policy"]
    assert "<script>alert" not in response.text
    assert stored() == []
    assert rung() == []


# --- forms another site's page may not send -----------------------------------------------

CROSS_SITE = [
    pytest.param({"sec-fetch-site": "cross-site"}, id="fetch-metadata-cross-site"),
    pytest.param({"sec-fetch-site": "same-site"}, id="fetch-metadata-same-site"),
    pytest.param({"origin": "https://angripare.example"}, id="origin-elsewhere"),
    pytest.param({"origin": "null"}, id="origin-null"),
]


@dataclasses.dataclass(frozen=True)
class Act:
    purpose: Purpose
    suffix: str
    data: dict[str, str]
    email: str
    unchanged: Callable[[], bool]


def _pending() -> bool:
    return one("vantar@example.se").status is SubscriberStatus.PENDING


def _active() -> bool:
    found = one("lasare@example.se")
    return found.status is SubscriberStatus.ACTIVE and found.frequency is Frequency.IMMEDIATE


# fmt: off
ACTS = [
    pytest.param(Act(Purpose.CONFIRM, "", {}, "vantar@example.se", _pending), id="confirm"),
    pytest.param(Act(Purpose.PREFERENCES, "", form(email="x", frequency="weekly", tags=[]),
                     "lasare@example.se", _active), id="preferences"),
    pytest.param(Act(Purpose.PREFERENCES, "/erase", {"confirm": "yes"}, "lasare@example.se",
                     _active), id="erase"),
    pytest.param(Act(Purpose.UNSUBSCRIBE, "", {"List-Unsubscribe": "One-Click"},
                     "lasare@example.se", _active), id="unsubscribe"),
]
# fmt: on


@pytest.mark.parametrize("sent_from", CROSS_SITE)
@pytest.mark.parametrize("act", ACTS)
def test_another_sites_page_cannot_act_on_a_subscription(
    newsroom: Server, act: Act, sent_from: dict[str, str]
) -> None:
    path = link(one(act.email), act.purpose) + act.suffix
    headers = {**FORM, "accept-language": "sv", **sent_from}
    response = newsroom.client.post(path, data=act.data, headers=headers)
    assert response.status_code == 403, response.text
    assert "Formuläret fungerar bara på sin egen sida" in response.text
    assert response.headers["referrer-policy"] == "no-referrer"
    assert response.headers["cache-control"] == "no-store"
    assert act.unchanged()


@pytest.mark.parametrize(
    "sent_from",
    [
        pytest.param({"sec-fetch-site": "same-origin"}, id="same-origin"),
        pytest.param({"sec-fetch-site": "none"}, id="typed-by-the-reader"),
        pytest.param({"origin": "https://nyheter.example"}, id="origin-is-the-public-url"),
        pytest.param({}, id="no-browser-rfc-8058"),
    ],
)
def test_the_subscriber_and_their_mail_provider_still_act(
    newsroom: Server, sent_from: dict[str, str]
) -> None:
    path = link(one("lasare@example.se"), Purpose.UNSUBSCRIBE)
    response = newsroom.client.post(path, content=b"List-Unsubscribe=One-Click",
                                    headers={**FORM, **sent_from})  # fmt: skip
    assert response.status_code == 200, response.text
    assert one("lasare@example.se").status is SubscriberStatus.UNSUBSCRIBED


def test_the_pages_own_origin_may_confirm(newsroom: Server) -> None:
    path = link(one("vantar@example.se"), Purpose.CONFIRM)
    response = newsroom.client.post(path, headers={"origin": newsroom.base_url})
    assert response.status_code == 200, response.text
    assert one("vantar@example.se").status is SubscriberStatus.ACTIVE


@pytest.mark.parametrize("sent_from", CROSS_SITE)
def test_another_site_may_start_double_opt_in_and_nothing_more(
    server: Server, sent_from: dict[str, str]
) -> None:
    # The partner snippet (README): a plain form on a municipality's site posts here.
    data = {"email": "asa.oberg@example.se", "language": "sv"}
    response = server.client.post("/subscribe?lang=sv", data=data, headers=sent_from)
    assert response.status_code == 200, response.text
    assert "Titta i din inkorg" in response.text
    [subscriber] = stored()
    assert subscriber.status is SubscriberStatus.PENDING
    assert "set-cookie" not in response.headers, "no session: nothing to ride on"
    # The same answer for an address already subscribed: nothing is revealed, nothing changes.
    again = server.client.post("/subscribe?lang=sv", data=data, headers=sent_from)
    assert again.text.replace("\n", "") == response.text.replace("\n", "")
    assert one("asa.oberg@example.se").status is SubscriberStatus.PENDING


def _directive(policy: str, name: str) -> str:
    for part in policy.split("; "):
        directive, _, sources = part.partition(" ")
        if directive == name:
            return sources
    raise AssertionError(f"no {name} in {policy!r}")


def test_the_embed_and_the_subscribe_page_spend_one_rate_limit(
    db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from web.app import create_app

    monkeypatch.setenv("BUDKAVLE_SUBSCRIBE_RATE_PER_MINUTE", "6")
    monkeypatch.setenv("BUDKAVLE_SUBSCRIBE_BURST", "3")
    get_settings.cache_clear()
    data = {"email": "asa.oberg@example.se", "language": "sv"}
    try:
        with Server.running(create_app()) as server:
            for path in ("/subscribe", "/embed/subscribe", "/subscribe"):
                assert server.client.post(path, data=data).status_code == 200, path
            refused = server.client.post("/embed/subscribe?lang=fi", data=data)
    finally:
        monkeypatch.undo()
        get_settings.cache_clear()
    assert refused.status_code == 429
    assert 1 <= int(refused.headers["retry-after"]) <= 10
    assert "Liian monta lomaketta kerralla" in refused.text and 'class="embed"' in refused.text
    assert _directive(refused.headers["content-security-policy"], "frame-ancestors") == "'none'"
