"""Articles at the desk: an editor writes, previews, saves, publishes, schedules, updates
and retracts, and a real Celery worker carries each change into the feeds; bad input,
hostile text and forged forms change nothing."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote

import feedparser
import httpx
import pytest
from markupsafe import escape
from sqlalchemy import func, insert, select

from config import get_settings
from newsroom.db import session_scope
from newsroom.deskmodels import AuditEntry, Role
from newsroom.models import Article, ArticleStatus, OutboxEvent, utcnow
from newsroom.sanitize import markdown_to_html
from tests.desksupport import Desk, add_user
from tests.support import Server, wait_for

BODY = (
    "Älvdalens skola öppnar igen efter renoveringen.\n\n"
    "– Vi har väntat länge på det här, säger rektor Åsa Östlund.\n\n"
    "## Nya klassrum\n\n"
    "Eleverna får *ljusare* salar och en ny matsal.\n\n"
    "*Text: Örjan Källström / Budkavle*"
)


def form(**overrides: str) -> dict[str, str]:
    """The editor's form as a browser sends it."""
    fields = {
        "title": "Skolan i Älvdalen öppnar igen",
        "language": "sv",
        "summary": "Efter två års renovering är skolan klar.",
        "body": BODY,
        "tags": "Älvdalen, Skola",
        "authors": "Örjan Källström",
        "image_url": "https://bilder.nyheter.example/2026/alvdalen-skola.jpg",
        "image_alt": "Skolgården i Älvdalen i snö",
        "image_caption": "Skolan i Älvdalen, december 2026.",
        "canonical_url": "",
        "published_at": "",
        "action": "draft",
    }
    fields.update(overrides)
    return fields


@pytest.fixture
def editor(server: Server) -> Iterator[Desk]:
    add_user("redaktor@example.se", Role.EDITOR, "Örjan Källström")
    desk = Desk(server)
    assert desk.sign_in("redaktor@example.se").status_code == 303
    yield desk


def article_id(answer: httpx.Response) -> int:
    assert answer.status_code == 303, answer.text[:500]
    found = re.fullmatch(r"/desk/articles/(\d+)\?done=\w+", answer.headers["location"])
    assert found, answer.headers["location"]
    return int(found.group(1))


def stored(article: int) -> Article:
    with session_scope() as session:
        found = session.get(Article, article)
        assert found is not None
        session.expunge(found)
        return found


def audit_rows() -> list[tuple[str, str, Any]]:
    with session_scope() as session:
        entries = session.scalars(select(AuditEntry).order_by(AuditEntry.id))
        return [(e.action, e.target, e.details) for e in entries if e.action.startswith("art")]


def counts() -> tuple[int, int, int]:
    """(articles, outbox events, audit entries): what a refused form must leave alone."""
    with session_scope() as session:
        return (
            session.scalar(select(func.count(Article.id))) or 0,
            session.scalar(select(func.count(OutboxEvent.id))) or 0,
            session.scalar(select(func.count(AuditEntry.id))) or 0,
        )


def feed_titles(server: Server) -> list[str]:
    answer = server.client.get("/feeds/all.atom")
    if answer.status_code == 404:
        return []
    parsed = feedparser.parse(answer.content)
    assert not parsed.bozo, parsed.get("bozo_exception")
    return [entry.title for entry in parsed.entries]


@pytest.mark.usefixtures("celery_worker")
def test_a_draft_is_saved_published_into_the_feed_and_updated(server: Server, editor: Desk) -> None:
    answer = editor.post("/desk/articles", form(lead="on"))
    article = article_id(answer)
    assert answer.headers["location"].endswith("?done=created")
    draft = stored(article)
    assert (draft.status, draft.version, draft.lead) == (ArticleStatus.DRAFT, 1, True)
    assert draft.slug == "skolan-i-alvdalen-oppnar-igen"
    assert draft.body_html == markdown_to_html(BODY)
    assert draft.authors == ["Örjan Källström"] and draft.image_caption.startswith("Skolan")
    assert draft.tag_slugs == ["alvdalen", "skola"]
    assert feed_titles(server) == [], "a draft is in no feed"

    page = editor.get(answer.headers["location"])
    assert "The draft is saved." in page.text and 'name="version" value="1"' in page.text
    answer = editor.post(f"/desk/articles/{article}", form(action="publish", version="1"))
    assert answer.headers["location"] == f"/desk/articles/{article}?done=published"
    assert stored(article).status is ArticleStatus.PUBLISHED
    wait_for(lambda: feed_titles(server) == ["Skolan i Älvdalen öppnar igen"], what="the feed")

    published = editor.get(f"/desk/articles/{article}").text
    assert ">Update<" in published and ">Save draft<" not in published
    assert ">Publish now<" not in published and ">Schedule<" not in published
    first = stored(article)
    shown = re.search(r'name="published_at" type="datetime-local" value="([^"]+)"', published)
    assert shown is not None, "the form shows when it was published"
    changed = form(title="Skolan i Älvdalen öppnar – med ny matsal", action="update",
                   keep_out_of_email="on", version=str(first.version),
                   published_at=shown.group(1))  # fmt: skip
    answer = editor.post(f"/desk/articles/{article}", changed)
    assert answer.headers["location"].endswith("?done=updated")
    after = stored(article)
    assert after.version == first.version + 1 and after.keep_out_of_email
    # The time shown to the minute and sent back unchanged keeps its seconds.
    assert after.published_at == first.published_at
    wait_for(lambda: feed_titles(server) == [changed["title"]], what="the updated title")
    assert [(action, target) for action, target, _ in audit_rows()] == [
        ("article.create", "skolan-i-alvdalen-oppnar-igen"),
        ("article.publish", "skolan-i-alvdalen-oppnar-igen"),
        ("article.update", "skolan-i-alvdalen-oppnar-igen"),
    ]
    assert audit_rows()[-1][2]["article"] == article


@pytest.mark.usefixtures("celery_worker")
def test_a_scheduled_article_waits_for_its_time_then_reaches_the_feed(
    server: Server, editor: Desk
) -> None:
    from worker.tasks import publish_scheduled

    zone = get_settings().zone
    soon = (datetime.now(zone) + timedelta(seconds=3)).replace(tzinfo=None, microsecond=0)
    later = (datetime.now(zone) + timedelta(days=2)).strftime("%Y-%m-%dT%H:%M")
    # Scheduling needs a time to come; publishing now ignores one.
    for when in ("", "2020-01-01T10:00"):
        refused = editor.post("/desk/articles", form(action="schedule", published_at=when))
        assert refused.status_code == 422 and "to schedule, give a time in the future" in (
            refused.text
        )
    now = article_id(editor.post("/desk/articles", form(title="Genast", action="publish",
                                                        published_at=later)))  # fmt: skip
    assert stored(now).status is ArticleStatus.PUBLISHED
    assert stored(now).published_at is not None and stored(now).published_at <= utcnow()
    wait_for(lambda: feed_titles(server) == ["Genast"], what="the one published at once")
    answer = editor.post("/desk/articles", form(action="schedule",
                                                published_at=soon.isoformat()))  # fmt: skip
    article = article_id(answer)
    assert answer.headers["location"].endswith("?done=scheduled")
    assert stored(article).status is ArticleStatus.SCHEDULED
    assert feed_titles(server) == ["Genast"]
    assert [row[0] for row in audit_rows()] == ["article.publish", "article.schedule"]
    wait_for(lambda: publish_scheduled() == 1, timeout=10, interval=0.2, what="its time")
    wait_for(lambda: feed_titles(server)[0] == "Skolan i Älvdalen öppnar igen", what="the feed")
    assert stored(article).status is ArticleStatus.PUBLISHED


@pytest.mark.usefixtures("celery_worker")
def test_retracting_asks_first_then_takes_the_article_out_of_the_feed(
    server: Server, editor: Desk
) -> None:
    article = article_id(editor.post("/desk/articles", form(action="publish")))
    wait_for(lambda: feed_titles(server), what="the published article")
    confirm = editor.get(f"/desk/articles/{article}/retract")
    assert confirm.status_code == 200 and "Yes, retract the article" in confirm.text
    assert stored(article).status is ArticleStatus.PUBLISHED, "asking changes nothing"

    answer = editor.post(f"/desk/articles/{article}/retract")
    assert answer.headers["location"] == f"/desk/articles/{article}?done=retracted"
    assert stored(article).status is ArticleStatus.RETRACTED
    wait_for(lambda: feed_titles(server) == [], what="the feed without it")
    assert editor.post(f"/desk/articles/{article}/retract").status_code == 303  # twice: once
    assert [row[0] for row in audit_rows()] == ["article.publish", "article.retract"]
    page = editor.get(f"/desk/articles/{article}").text
    assert "can no longer be changed" in page and 'name="action"' not in page
    refused = editor.post(f"/desk/articles/{article}", form(action="update", version="2"))
    assert refused.status_code == 409 and "retracted and cannot be changed" in refused.text


def test_preview_shows_the_body_as_feeds_carry_it_and_saves_nothing(editor: Desk) -> None:
    body = BODY + "\n\n<script>alert('x')</script><p onclick=\"x()\">Klicka</p>"
    before = counts()
    answer = editor.post("/desk/articles", form(action="preview", body=body))
    assert answer.status_code == 200
    region = answer.text.split('<div class="rendered"', 1)[1].split("</section>", 1)[0]
    assert markdown_to_html(body) in region
    assert "<h2>Nya klassrum</h2>" in region and "<em>ljusare</em>" in region
    assert "<script>alert" not in answer.text and "onclick" not in region
    assert str(escape(body)) in answer.text, "the typed Markdown is still in the form"
    assert counts() == before


def test_a_hostile_title_is_shown_as_text(editor: Desk) -> None:
    hostile = '<script>alert(1)</script>"><img src=x onerror=alert(2)>'
    article = article_id(editor.post("/desk/articles", form(title=hostile, tags=hostile[:40])))
    for path in ("/desk/articles", f"/desk/articles/{article}",
                 f"/desk/articles/{article}/retract", "/desk/articles?q=%3Cscript"):  # fmt: skip
        text = editor.get(path).text
        assert "<script>alert(1)" not in text and "<img src=x" not in text, path
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text, path


@dataclass(frozen=True)
class Bad:
    name: str
    fields: dict[str, str]
    field: str  # the form field the message stands beside
    english: str


BAD = [
    Bad("empty title", {"title": "  "}, "title", "Title: one line, not empty"),
    Bad("two-line title", {"title": "Rad ett\nRad två"}, "title", "Title: one line"),
    Bad("long title", {"title": "Å" * 301}, "title", "at most 300 characters"),
    Bad("unknown language", {"language": "xx"}, "language", "Language: choose one"),
    Bad("empty body", {"body": "   "}, "body", "Text: write something"),
    Bad("only a script", {"body": "<script>alert(1)</script>"}, "body", "Text: write"),
    Bad("alt without image", {"image_url": ""}, "image_url", "needs one"),
    Bad("image not http", {"image_url": "javascript:alert(1)"}, "image_url", "Image URL"),
    Bad("canonical with space", {"canonical_url": "https://a.example/x y"},
        "canonical_url", "Canonical URL"),
    Bad("time in words", {"published_at": "i morgon bitti"}, "published_at",
        "Publication time"),
    Bad("year 2200", {"published_at": "2200-01-01T10:00"}, "published_at", "1970 and 2100"),
    Bad("21 tags", {"tags": ", ".join(f"Tagg {n}" for n in range(21))}, "tags", "Tags:"),
    Bad("a tag of dashes", {"tags": "Älvdalen, ---"}, "tags", "Tags:"),
    Bad("long author", {"authors": "Ö" * 121}, "authors", "Authors:"),
    Bad("huge summary", {"summary": "ord " * 600}, "summary", "Summary:"),
    Bad("body over 1 MiB", {"body": "Älv " * 300_000}, "body", "at most 1 MiB"),
]  # fmt: skip


@pytest.mark.parametrize("case", BAD, ids=lambda case: case.name)
def test_bad_input_is_named_beside_its_field_and_saves_nothing(editor: Desk, case: Bad) -> None:
    before = counts()
    for action in ("draft", "schedule"):  # (publish now ignores a time to come: see above)
        answer = editor.post("/desk/articles", form(action=action, **case.fields))
        assert answer.status_code == 422, answer.text[:300]
        error = re.search(rf'<p class="error" id="f-{case.field}-error">([^<]*)</p>', answer.text)
        assert error and case.english in error.group(1), (case.name, error)
        assert "Nothing was saved." in answer.text
        assert f'id="f-{case.field}"' in answer.text
        # What was typed is still there, so nothing has to be written again.
        assert "Älvdalens skola öppnar igen" in answer.text or case.field == "body"
    assert counts() == before


def test_errors_speak_swedish_to_a_swedish_editor(editor: Desk) -> None:
    editor.language = "sv"
    answer = editor.post("/desk/articles", form(title="", language="xx"))
    assert answer.status_code == 422 and '<html lang="sv">' in answer.text
    assert "Rubrik: en rad, inte tom" in answer.text and "Språk: välj ett av" in answer.text
    assert "Några fält är fel" in answer.text


def test_an_edit_over_someone_elses_save_is_stopped_with_the_text_kept(
    server: Server, editor: Desk
) -> None:
    article = article_id(editor.post("/desk/articles", form()))
    other = Desk(server)
    add_user("chef@example.se", Role.OPERATOR)
    other.sign_in("chef@example.se")
    theirs = other.post(f"/desk/articles/{article}", form(title="Chefens rubrik", version="1"))
    assert theirs.status_code == 303
    answer = editor.post(f"/desk/articles/{article}", form(title="Min rubrik", version="1"))
    assert answer.status_code == 409 and "Someone saved this article" in answer.text
    assert 'value="Min rubrik"' in answer.text and 'name="version" value="2"' in answer.text
    assert stored(article).title == "Chefens rubrik"
    again = editor.post(f"/desk/articles/{article}", form(title="Min rubrik", version="2"))
    assert again.status_code == 303 and stored(article).title == "Min rubrik"


def test_forged_or_broken_forms_are_refused_and_change_nothing(
    server: Server, editor: Desk
) -> None:
    article = article_id(editor.post("/desk/articles", form()))
    before = counts()
    for token in ("", "fel", editor.csrf + "x"):
        answer = editor.post("/desk/articles", {**form(), "csrf": token})
        assert answer.status_code == 403 and "not from this desk" in answer.text
        answer = editor.post(f"/desk/articles/{article}/retract", {"csrf": token})
        assert answer.status_code == 403
    assert editor.post("/desk/articles", form(), csrf=False).status_code == 403
    # An action the article's state does not offer, and rows that do not exist.
    assert editor.post(f"/desk/articles/{article}", form(action="update")).status_code == 400
    assert editor.post("/desk/articles", form(action="radera")).status_code == 400
    for path in (
        "/desk/articles/999999",
        "/desk/articles/abc",
        "/desk/articles/1e9",
        "/desk/articles/99999999999999999999999",
        "/desk/articles/999999/retract",
    ):
        assert editor.get(path).status_code == 404, path
        assert editor.post(path, form()).status_code == 404, path
    assert counts() == before and stored(article).status is ArticleStatus.DRAFT


def raw_post(server: Server, desk: Desk, path: str, body: bytes, kind: str) -> httpx.Response:
    cookie = "; ".join(f"{k}={v}" for k, v in desk.cookies.items())
    headers = {"cookie": cookie, "content-type": kind, "accept-language": "en"}
    return server.client.post(path, content=body, headers=headers)


def test_a_form_not_in_utf8_or_too_big_is_refused_cleanly(server: Server, editor: Desk) -> None:
    before = counts()
    csrf = f"csrf={editor.csrf}&action=draft&language=sv&body=Text".encode()
    urlencoded = "application/x-www-form-urlencoded"
    for title in (b"title=%C5sa%20%E4r%20h%E4r",  # Latin-1, %-escaped
                  "title=Åsa".encode("latin-1"),  # Latin-1, raw bytes
                  b"title=%ED%A0%80"):  # a UTF-8 encoded surrogate  # fmt: skip
        answer = raw_post(server, editor, "/desk/articles", csrf + b"&" + title, urlencoded)
        assert answer.status_code == 400, answer.text[:300]
        assert "not sent as UTF-8" in answer.text and "text/html" in answer.headers["content-type"]
    multipart = raw_post(server, editor, "/desk/articles", b"--x--\r\n",
                         "multipart/form-data; boundary=x")  # fmt: skip
    assert multipart.status_code == 415 and "plain web form" in multipart.text
    huge = csrf + b"&title=x&body=" + b"A" * (9 * 1024 * 1024)
    assert raw_post(server, editor, "/desk/articles", huge, urlencoded).status_code == 413
    assert counts() == before
    fine = csrf + b"&title=" + quote("Åsa är här").encode()
    assert raw_post(server, editor, "/desk/articles", fine, urlencoded).status_code == 303
    with session_scope() as session:
        assert session.scalars(select(Article.title)).one() == "Åsa är här"


# The list -------------------------------------------------------------------------------


def fill(count: int, **values: Any) -> None:
    """``count`` articles written straight into the table: the list's load, fast."""
    now = utcnow()
    rows = [
        {"uuid": str(uuid.uuid4()), "slug": f"{values.get('slug', 'notis')}-{n}",
         "version": 1, "status": values.get("status", ArticleStatus.PUBLISHED),
         "language": values.get("language", "sv"),
         "title": values.get("title", "Notis från Dalarna nummer {n}").format(n=n),
         "summary": "", "body_html": "<p>Text.</p>", "authors": [], "image_alt": "",
         "image_caption": "", "published_at": now, "created_at": now, "updated_at": now,
         "lead": False, "keep_out_of_email": False}
        for n in range(count)
    ]  # fmt: skip
    with session_scope() as session:
        session.execute(insert(Article), rows)


def listed(desk: Desk, query: str = "") -> list[str]:
    answer = desk.get(f"/desk/articles{query}")
    assert answer.status_code == 200
    return re.findall(r'<a href="/desk/articles/\d+">([^<]*)</a>', answer.text)


def test_the_list_finds_by_title_or_slug_and_filters_by_status_and_language(
    editor: Desk,
) -> None:
    article_id(editor.post("/desk/articles", form()))
    article_id(editor.post("/desk/articles", form(title="Helsingin kirjasto avataan",
                                                  language="fi", action="publish")))  # fmt: skip
    article_id(editor.post("/desk/articles", form(title="100% ränta_fritt i Borlänge")))
    assert listed(editor) == ["100% ränta_fritt i Borlänge", "Helsingin kirjasto avataan",
                              "Skolan i Älvdalen öppnar igen"]  # fmt: skip
    assert listed(editor, "?q=älvdalen") == ["Skolan i Älvdalen öppnar igen"]  # by slug
    assert listed(editor, "?q=ÄLVDALEN") == ["Skolan i Älvdalen öppnar igen"]
    assert listed(editor, "?q=oppnar-igen") == ["Skolan i Älvdalen öppnar igen"]
    assert listed(editor, "?q=100%25") == ["100% ränta_fritt i Borlänge"]  # % is a letter
    assert listed(editor, "?q=r_nta") == [], "_ is no wildcard"
    assert listed(editor, "?status=published") == ["Helsingin kirjasto avataan"]
    assert listed(editor, "?language=fi&status=draft") == []
    assert listed(editor, "?language=sv&status=draft&q=skolan") == ["Skolan i Älvdalen öppnar igen"]
    # Nonsense in the query is no error: it filters nothing it does not understand.
    assert len(listed(editor, "?status=kung&language=%00&before=zz")) == 3
    assert "No articles match." in editor.get("/desk/articles?q=finns+inte").text


def test_ten_thousand_articles_page_by_id(editor: Desk, db: str) -> None:
    fill(10_000)
    fill(30, slug="kladd", status=ArticleStatus.DRAFT, title="Utkast om Falun {n}")
    first = editor.get("/desk/articles").text
    assert len(re.findall(r'<a href="/desk/articles/\d+">', first)) == 50
    older = re.search(r'before=(\d+)" rel="next"', first)
    assert older is not None
    second = listed(editor, f"?before={older.group(1)}")
    assert len(second) == 50 and not set(second) & set(listed(editor))
    drafts = listed(editor, "?status=draft&q=falun")
    assert drafts == [f"Utkast om Falun {n}" for n in range(29, -1, -1)]
    assert listed(editor, "?q=nummer+9999") == ["Notis från Dalarna nummer 9999"]
    if db == "sqlite":
        assert_no_sort()


def assert_no_sort() -> None:
    """Each page walks an index back from its last id and stops: no sort of the archive."""
    from sqlalchemy.dialects import sqlite

    from newsroom import articlelist
    from newsroom.db import get_engine

    for filters in (articlelist.Filters(), articlelist.Filters(status=ArticleStatus.PUBLISHED),
                    articlelist.Filters(status=ArticleStatus.DRAFT, query="Falun"),
                    articlelist.Filters(language="fi")):  # fmt: skip
        statement = articlelist.query(filters, 5000, 51).compile(
            dialect=sqlite.dialect(), compile_kwargs={"literal_binds": True}
        )
        with get_engine().connect() as connection:
            plan = connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}").all()
        assert not any("TEMP B-TREE" in str(row) for row in plan), (filters, plan)
