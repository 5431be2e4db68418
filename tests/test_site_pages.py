"""The readers' site over HTTP on a real server: home, topic, language and article pages
and the newsletter archive, in the reader's language, with their feeds, cached like the
feeds, and a page in the reader's language for every address that names nothing."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path

import feedparser
import pytest
from babel.messages.extract import extract_from_file
from babel.messages.pofile import read_po
from sqlalchemy import func, select

from newsroom import articles
from newsroom.db import session_scope
from newsroom.models import Subscriber, Tag, utcnow
from tests.mailsupport import GRACE, plan, publish, subscribe
from tests.support import Server

SV = {"accept-language": "sv-SE,sv;q=0.9,en;q=0.5"}
ROOT = Path(__file__).parent.parent


class Links(HTMLParser):
    """The <link>, <a>, <meta> and JSON-LD of a page."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.links: list[dict[str, str]] = []
        self.anchors: list[dict[str, str]] = []
        self.meta: dict[str, str] = {}
        self.json_ld: list[str] = []
        self._in_ld = False
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {name: value or "" for name, value in attrs}
        if tag == "link":
            self.links.append(values)
        elif tag == "a":
            self.anchors.append(values)
        elif tag == "meta":
            self.meta[values.get("property") or values.get("name", "")] = values.get("content", "")
        elif tag == "script" and values.get("type") == "application/ld+json":
            self._in_ld = True

    def handle_endtag(self, tag: str) -> None:
        self._in_ld = False

    def handle_data(self, data: str) -> None:
        if self._in_ld:
            self.json_ld.append(data)

    def alternates(self) -> set[tuple[str, str]]:
        return {
            (link["type"], link["href"]) for link in self.links if link.get("rel") == "alternate"
        }

    def hrefs(self) -> list[str]:
        return [anchor.get("href", "") for anchor in self.anchors]


def published(count: int, tags: list[str], language: str = "sv", start: int = 0) -> list[str]:
    """``count`` articles, an hour apart (the last one newest); their slugs."""
    first = utcnow() - timedelta(days=2)
    slugs = []
    for n in range(start, start + count):
        when = (first + timedelta(hours=n)).isoformat()
        publish(title=f"Nyhet nummer {n} från Borlänge", tags=tags, language=language,
                published_at=when, slug=f"nyhet-{language}-{n}")  # fmt: skip
        slugs.append(f"nyhet-{language}-{n}")
    return slugs


def test_home_is_in_the_readers_language_with_feeds_topics_and_subscribe(server: Server) -> None:
    published(3, ["Borlänge", "Nordiskt samarbete"])
    response = server.client.get("/", headers=SV)
    assert response.status_code == 200
    assert response.headers["content-language"] == "sv"
    html = response.text
    assert '<html lang="sv">' in html
    assert "Senaste nytt" in html and "Ämnen" in html and "Prenumerera" in html
    page = Links(html)
    base = "https://nyheter.example"
    assert {
        ("application/rss+xml", f"{base}/feeds/all.rss"),
        ("application/atom+xml", f"{base}/feeds/all.atom"),
        ("application/feed+json", f"{base}/feeds/all.json"),
    } <= page.alternates()
    hrefs = page.hrefs()
    assert f"{base}/tags/borlange" in hrefs and f"{base}/tags/nordiskt-samarbete" in hrefs
    assert f"{base}/subscribe" in hrefs and f"{base}/newsletter" in hrefs
    assert f"{base}/lang/fi" in hrefs and f"{base}/articles/nyhet-sv-2" in hrefs
    # The newest is the lead story, before the others.
    assert (
        html.index("Nyhet nummer 2") < html.index("Nyhet nummer 1") < html.index("Nyhet nummer 0")
    )
    stylesheet = next(link["href"] for link in page.links if link.get("rel") == "stylesheet")
    css = server.client.get(stylesheet.removeprefix(base))
    assert css.status_code == 200 and "--accent: #9b1c1c;" in css.text
    assert "<style" not in html and "<script>" not in html and " style=" not in html


@pytest.mark.parametrize(
    ("asked", "cookie", "accept", "expected"),
    [
        pytest.param("fi", None, "sv", "fi", id="query-first"),
        pytest.param(None, "nb", "sv", "nb", id="cookie-before-accept"),
        pytest.param(None, None, "da-DK,da;q=0.9", "da", id="accept-language"),
        pytest.param(None, None, "", "sv", id="site-default"),
        pytest.param("xx", None, "is", "is", id="unknown-query-falls-through"),
    ],
)
def test_the_page_language_comes_from_query_cookie_accept_then_default(
    server: Server, asked: str | None, cookie: str | None, accept: str, expected: str
) -> None:
    params = {"lang": asked} if asked else {}
    headers = {"accept-language": accept}
    if cookie:
        headers["cookie"] = f"lang={cookie}"
    server.client.cookies.clear()
    response = server.client.get("/", params=params, headers=headers)
    assert response.status_code == 200
    assert f'<html lang="{expected}">' in response.text
    set_cookie = response.headers.get("set-cookie", "")
    assert (f"lang={asked}" in set_cookie) == (asked == expected)


def test_the_switch_sets_a_cookie_that_later_pages_follow(server: Server) -> None:
    published(1, ["Borlänge"])
    server.client.cookies.clear()
    first = server.client.get("/tags/borlange", params={"lang": "fi"}, headers=SV)
    assert "Aihe" in first.text and first.headers["cache-control"].startswith("private")
    later = server.client.get("/", headers=SV)
    assert '<html lang="fi">' in later.text and "Tuoreimmat uutiset" in later.text
    assert server.client.get("/subscribe", headers=SV).text.count('<html lang="fi">') == 1
    server.client.cookies.clear()


def test_a_topic_pages_its_articles_newest_first_with_its_feeds(server: Server) -> None:
    slugs = published(23, ["Borlänge"])
    first = server.client.get("/tags/borlange", headers=SV)
    assert first.status_code == 200
    page = Links(first.text)
    base = "https://nyheter.example"
    for fmt, kind in (("rss", "rss+xml"), ("atom", "atom+xml"), ("json", "feed+json")):
        assert (f"application/{kind}", f"{base}/feeds/tags/borlange.{fmt}") in page.alternates()
        assert f"{base}/feeds/tags/borlange.{fmt}" in page.hrefs()
    assert f"{base}/subscribe?tags=borlange" in page.hrefs()
    shown = [h.rsplit("/", 1)[1] for h in page.hrefs() if h.startswith(f"{base}/articles/")]
    assert shown == list(reversed(slugs))[:20]
    assert "23 artiklar" in first.text and "Sida 1 av 2" in first.text
    second = server.client.get("/tags/borlange", params={"page": "2"}, headers=SV)
    shown = [h.rsplit("/", 1)[1] for h in Links(second.text).hrefs() if "/articles/" in h]
    assert shown == list(reversed(slugs))[20:]
    assert f'<link rel="canonical" href="{base}/tags/borlange?page=2">' in second.text


def test_follow_by_email_ticks_the_topic_on_the_form(server: Server) -> None:
    published(1, ["Borlänge"])
    with session_scope() as session:  # a topic no recent article has: not among the top tags
        session.add(Tag(slug="gammal-fraga", label="Gammal fråga"))
    form = server.client.get("/subscribe", params={"tags": ["gammal-fraga", "borlange"]})
    assert re.search(r'id="tag-gammal-fraga" name="tags" value="gammal-fraga" checked', form.text)
    assert re.search(r'id="tag-borlange" name="tags" value="borlange" checked', form.text)
    hostile = server.client.get("/subscribe", params={"tags": "<script>x</script>"})
    assert hostile.status_code == 200 and "<script>x" not in hostile.text


def test_a_label_with_markup_is_text_everywhere(server: Server) -> None:
    publish(tags=["<script>alert(1)</script> Kärnkraft"], slug="markup")
    with session_scope() as session:
        slug = session.scalars(select(Tag.slug)).one()
    for path in ("/", f"/tags/{slug}", "/articles/markup"):
        html = server.client.get(path, headers=SV).text
        assert "<script>alert" not in html, path
        assert "&lt;script&gt;alert(1)&lt;/script&gt; Kärnkraft" in html, path


@pytest.mark.parametrize(
    ("path", "status", "heading"),
    [
        pytest.param("/tags/finns-inte", 404, "Ämnet finns inte", id="unknown-tag"),
        pytest.param("/tags/%3Cscript%3E", 404, "Ämnet finns inte", id="hostile-slug"),
        pytest.param("/tags/" + "a" * 5000, 404, "Ämnet finns inte", id="huge-slug"),
        pytest.param("/tags/borlange?page=0", 400, "Adressen gick inte att läsa", id="page-0"),
        pytest.param("/tags/borlange?page=abc", 400, "Adressen gick inte att läsa", id="not-num"),
        pytest.param("/tags/borlange?page=-1", 400, "Adressen gick inte att läsa", id="negative"),
        pytest.param("/tags/borlange?page=9" * 3, 400, "Adressen gick inte att läsa", id="twice"),
        pytest.param(
            "/tags/borlange?page=99999999999999999999",
            400,
            "Adressen gick inte att läsa",
            id="huge-number",
        ),
        pytest.param("/tags/borlange?page=3", 404, "Sidan finns inte", id="past-the-end"),
        pytest.param("/lang/xx", 404, "Språket finns inte", id="unknown-language"),
        pytest.param("/lang/sv?page=50", 404, "Sidan finns inte", id="language-past-end"),
        pytest.param("/articles/finns-inte", 404, "Artikeln finns inte", id="unknown-article"),
        pytest.param("/articles/%00%ff", 404, "Artikeln finns inte", id="hostile-article"),
        pytest.param("/newsletter?page=x", 400, "Adressen gick inte att läsa", id="archive-page"),
        pytest.param("/newsletter?language=zz", 400, "Adressen gick inte att läsa", id="filter"),
        pytest.param("/newsletter?page=2", 404, "Sidan finns inte", id="archive-past-end"),
        pytest.param("/newsletter/999", 404, "Numret finns inte", id="unknown-edition"),
        pytest.param("/tags/borlange?x=" + "å" * 4000, 200, "Borlänge", id="huge-query"),
    ],
)
def test_bad_addresses_get_a_page_in_the_readers_language(
    server: Server, path: str, status: int, heading: str
) -> None:
    published(1, ["Borlänge"])
    before = _counts()
    response = server.client.get(path, headers=SV)
    assert response.status_code == status
    assert response.headers["content-type"].startswith("text/html")
    assert f"<h1>{heading}</h1>" in response.text or f">{heading}</h1>" in response.text
    assert '<html lang="sv">' in response.text
    assert _counts() == before


def _counts() -> tuple[int, int]:
    with session_scope() as session:
        return (
            session.scalar(select(func.count()).select_from(Tag)) or 0,
            session.scalar(select(func.count()).select_from(Subscriber)) or 0,
        )


def test_a_language_page_lists_that_language_and_links_its_feeds(server: Server) -> None:
    published(2, ["Helsingfors"], language="fi")
    published(1, ["Borlänge"], language="sv")
    response = server.client.get("/lang/fi", headers=SV)
    assert response.status_code == 200
    page = Links(response.text)
    assert (
        "application/atom+xml",
        "https://nyheter.example/feeds/lang/fi.atom",
    ) in page.alternates()
    shown = [h.rsplit("/", 1)[1] for h in page.hrefs() if "/articles/" in h]
    assert shown == ["nyhet-fi-1", "nyhet-fi-0"]
    assert '<h1 lang="fi">suomi</h1>' in response.text


def test_an_article_is_ready_to_share(server: Server) -> None:
    publish(slug="moten", published_at="2026-11-26T08:30:00+00:00")
    response = server.client.get("/articles/moten", headers={"accept-language": "fi"})
    assert response.status_code == 200
    page = Links(response.text)
    canonical = "https://nyheter.example/articles/moten"
    assert {"rel": "canonical", "href": canonical} in page.links
    assert page.meta["og:type"] == "article" and page.meta["og:url"] == canonical
    assert page.meta["og:title"] == "Personliga möten stärker det nordiska samarbetet"
    assert page.meta["og:image"] == "https://bilder.nyheter.example/2026/borlange-hjelm.jpg"
    assert page.meta["twitter:card"] == "summary_large_image"
    assert page.meta["og:locale"] == "sv_SE"
    [ld] = [json.loads(block) for block in page.json_ld]
    assert ld["@type"] == "NewsArticle" and ld["headline"].startswith("Personliga möten")
    assert ld["datePublished"] == "2026-11-26T08:30:00+00:00"
    assert ld["author"] == [{"@type": "Person", "name": "Åsa Lindqvist"}]
    assert ld["publisher"]["name"] == "Budkavle"
    assert ld["image"] == ["https://bilder.nyheter.example/2026/borlange-hjelm.jpg"]
    # Byline and date in the page's language, in the site's zone, the zone named.
    assert "Kirjoittanut Åsa Lindqvist" in response.text
    assert "26.11. 9.30 (Tukholma)" in response.text
    assert "https://nyheter.example/tags/borlange" in page.hrefs()


def test_a_headline_cannot_break_out_of_the_json_ld(server: Server) -> None:
    publish(slug="bryt", title="Rubrik </script><script>alert(1)</script> & mer")
    response = server.client.get("/articles/bryt")
    [ld] = [json.loads(block) for block in Links(response.text).json_ld]
    assert ld["headline"] == "Rubrik </script><script>alert(1)</script> & mer"
    assert "<script>alert" not in response.text


def test_a_retracted_article_is_gone(server: Server) -> None:
    publish(slug="tillbaka")
    with session_scope() as session:
        articles.retract(session, "tillbaka", utcnow(), GRACE)
    response = server.client.get("/articles/tillbaka", headers=SV)
    assert response.status_code == 410
    assert "Artikeln har dragits tillbaka" in response.text


def test_a_publish_changes_the_topic_pages_etag_and_a_repeat_gets_304(server: Server) -> None:
    published(2, ["Borlänge"])
    first = server.client.get("/tags/borlange", headers=SV)
    etag = first.headers["etag"]
    assert first.headers["vary"] == "Accept-Language, Cookie"
    again = server.client.get("/tags/borlange", headers={**SV, "if-none-match": etag})
    assert again.status_code == 304 and again.headers["etag"] == etag
    weak = server.client.get("/tags/borlange", headers={**SV, "if-none-match": f"W/{etag}"})
    assert weak.status_code == 304
    finnish = server.client.get(
        "/tags/borlange", headers={"accept-language": "fi", "if-none-match": etag}
    )
    assert finnish.status_code == 200, "another language is another page"
    published(1, ["Borlänge"], start=2)
    changed = server.client.get("/tags/borlange", headers={**SV, "if-none-match": etag})
    assert changed.status_code == 200 and changed.headers["etag"] != etag
    assert "nyhet-sv-2" in changed.text
    for path in ("/", "/lang/sv", "/articles/nyhet-sv-2", "/newsletter"):
        tag = server.client.get(path, headers=SV).headers["etag"]
        assert server.client.get(path, headers={**SV, "if-none-match": tag}).status_code == 304


def test_head_answers_as_get_without_a_body(server: Server) -> None:
    published(1, ["Borlänge"])
    for path in ("/", "/tags/borlange", "/lang/sv", "/articles/nyhet-sv-0", "/newsletter"):
        get = server.client.get(path, headers=SV)
        head = server.client.head(path, headers=SV)
        assert head.status_code == 200 and head.content == b"", path
        assert head.headers["etag"] == get.headers["etag"], path


def test_an_update_changes_the_article_pages_etag(server: Server) -> None:
    publish(slug="andras")
    etag = server.client.get("/articles/andras").headers["etag"]
    with session_scope() as session:
        from newsroom.schemas import ArticleIn
        from tests.support import article

        articles.update(
            session, "andras", ArticleIn.model_validate(article(title="Ny rubrik")), utcnow(), GRACE
        )
    changed = server.client.get("/articles/andras", headers={"if-none-match": etag})
    assert changed.status_code == 200 and "Ny rubrik" in changed.text


def test_the_newsletter_archive_is_localised_filtered_and_has_an_atom_feed(server: Server) -> None:
    subscribe("asa.oberg@example.se", language="sv")
    subscribe("aino.virtanen@example.fi", language="fi")
    publish()
    publish(title="Tampere avaa kirjaston e-kokoelman", language="fi", tags=["Tampere"])
    assert plan()
    response = server.client.get("/newsletter", headers=SV)
    assert response.status_code == 200
    assert "Nyhetsbrevsarkiv" in response.text
    page = Links(response.text)
    feed_url = "https://nyheter.example/newsletter.atom"
    assert ("application/atom+xml", feed_url) in page.alternates()
    editions = [
        h for h in page.hrefs() if re.fullmatch(r"https://nyheter\.example/newsletter/\d+", h)
    ]
    assert len(editions) == 2
    assert "(Stockholm)" in response.text
    only_fi = Links(server.client.get("/newsletter", params={"language": "fi"}, headers=SV).text)
    fi_editions = [h for h in only_fi.hrefs() if re.fullmatch(r".*/newsletter/\d+", h)]
    assert len(fi_editions) == 1
    assert (
        server.client.get(fi_editions[0].removeprefix("https://nyheter.example")).status_code == 200
    )
    atom = server.client.get("/newsletter.atom")
    assert atom.headers["content-type"].startswith("application/atom+xml")
    parsed = feedparser.parse(atom.content)
    assert not parsed.bozo
    assert sorted(entry.link for entry in parsed.entries) == sorted(editions)
    assert (
        server.client.get(
            "/newsletter.atom", headers={"if-none-match": atom.headers["etag"]}
        ).status_code
        == 304
    )


def site_messages() -> set[str | tuple[str, ...]]:
    """Every msgid the site's pages use, extracted as a translator's tool would."""
    web = ROOT / "web"
    templates = (
        "base",
        "site_parts",
        "home",
        "listing",
        "article",
        "site_error",
        "newsletter_archive",
    )
    found: set[str | tuple[str, ...]] = set()
    options = {"extensions": "jinja2.ext.i18n", "trimmed": "true"}
    for name in templates:
        path = web / "templates" / f"{name}.html"
        for _, message, _, _ in extract_from_file(
            "jinja2.ext:babel_extract", str(path), options=options
        ):
            found.add(message)
    for module in ("sitepage.py", "pages.py", "topics.py", "newsletter.py"):
        for _, message, _, _ in extract_from_file("python", str(web / module)):
            found.add(message)
    return found


@pytest.mark.parametrize("language", ["sv", "fi", "en", "nb", "da", "is"])
def test_every_site_string_is_translated(language: str) -> None:
    path = ROOT / "email_templates/locale" / language / "LC_MESSAGES" / "site.po"
    with path.open("rb") as source:
        catalog = read_po(source, locale=language)
    translated = {m.id: m.string for m in catalog if m.id and m.string and all(m.string)}
    wanted = site_messages()
    assert len(wanted) > 40
    missing = [message for message in wanted if message not in translated]
    assert not missing, f"untranslated in {language}/site.po: {missing}"
    unused = [message for message in translated if message not in wanted]
    assert not unused, f"no longer used, remove from {language}/site.po: {unused}"


def test_dates_are_in_the_sites_zone() -> None:
    from config import get_settings
    from web.sitepage import when

    moment = datetime(2026, 6, 1, 21, 45, tzinfo=UTC)
    assert when(moment, "sv", get_settings()) == "1 juni 23:45 (Stockholm)"
