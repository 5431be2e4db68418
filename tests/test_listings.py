"""`budkavle articles`, `digest status`, `partners list`, `subscribers list`: readable at 80
and at 120 columns with Nordic text, and `--json` for scripts."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from rich.cells import cell_len
from sqlalchemy import update

from config import get_settings
from newsroom import partners
from newsroom.db import session_scope
from newsroom.models import Partner, Subscriber, utcnow
from newsroom.partners import PartnerIn
from tests.mailsupport import plan, publish, send_all, subscribe
from tests.smtpsink import SmtpSink
from tests.terminal import lines_of, run_at, shown_whole

TITLES = {
    "sv": "Borlänge och Umeå delar erfarenheter av trygghetsvandringar i vinter",
    "fi": "Tampereen ja Uumajan kirjastot avaavat e-kokoelmansa",
    "is": "Ungir listamenn frá Reykjavík og Tromsø skiptast á vinnustofum",
}
BORLANGE = "Borlänge kommun – samhällsbyggnad"
ARTICLE_FIELDS = {
    "id",
    "slug",
    "title",
    "status",
    "version",
    "language",
    "tags",
    "authors",
    "published_at",
    "updated_at",
}
EDITION_FIELDS = {
    "id",
    "key",
    "planned_at",
    "recipients",
    "sent",
    "queued",
    "failed",
    "finished_at",
}
PARTNER_FIELDS = {
    "id",
    "name",
    "state",
    "disabled_reason",
    "disabled_at",
    "failing_since",
    "tags",
    "languages",
    "webhook_url",
    "pull",
    "created_at",
}
SUBSCRIBER_FIELDS = {"id", "email", "status", "language", "frequency", "tags", "time_zone",
                     "consent_at", "consent_form", "confirmed_at", "unsubscribed_at",
                     "failures", "created_at"}  # fmt: skip


def check(output: str, width: int, headers: list[str], values: list[str]) -> list[str]:
    """Every header and value whole, no line wider than the terminal; the lines."""
    lines = lines_of(output, width)
    assert len({cell_len(line) for line in lines}) == 1, f"not aligned:\n{output}"
    for text in [*headers, *values]:
        assert shown_whole(lines, text), f"{text!r} not whole at {width}:\n{output}"
    return lines


def records(output: str) -> list[dict[str, object]]:
    parsed = json.loads(output)  # the whole of standard output: nothing else is there
    assert isinstance(parsed, list) and all(isinstance(item, dict) for item in parsed)
    return parsed


def is_utc(value: object) -> bool:
    return (
        isinstance(value, str)
        and value.endswith("Z")
        and (datetime.fromisoformat(value).utcoffset() == timedelta(0))
    )


@pytest.fixture
def newsroom(db: str) -> dict[str, str]:
    """Three articles in three languages; their slugs by language."""
    slugs = {}
    for language, title in TITLES.items():
        publish(title=title, language=language, tags=["Borlänge", "Nordiskt samarbete"])
    listed = records(run_at(80, "articles", "--json").stdout)
    slugs = {str(item["language"]): str(item["slug"]) for item in listed}
    return slugs


@pytest.mark.parametrize(
    ("width", "headers"),
    [
        pytest.param(80, ["slug", "status", "title"], id="80"),
        pytest.param(120, ["slug", "status", "lang", "published", "title"], id="120"),
    ],
)
def test_articles_at_80_and_120_columns(
    newsroom: dict[str, str], width: int, headers: list[str]
) -> None:
    result = run_at(width, "articles")
    assert result.exit_code == 0, result.output
    check(result.stdout, width, headers, [*newsroom.values(), *TITLES.values(), "published"])


def test_articles_json(newsroom: dict[str, str]) -> None:
    result = run_at(80, "articles", "--json", "--limit", "2")
    assert result.exit_code == 0, result.output
    listed = records(result.stdout)
    assert len(listed) == 2
    newest = listed[0]
    assert set(newest) == ARTICLE_FIELDS
    assert newest["title"] == TITLES["is"] and newest["slug"] == newsroom["is"]
    assert newest["status"] == "published" and newest["version"] == 1
    assert newest["tags"] == ["borlange", "nordiskt-samarbete"]
    assert newest["authors"] == ["Åsa Lindqvist"]
    assert is_utc(newest["published_at"]) and is_utc(newest["updated_at"])
    drafts = run_at(80, "articles", "--json", "--status", "draft")
    assert records(drafts.stdout) == []


def test_a_slug_too_long_for_the_terminal_folds_whole(db: str) -> None:
    title = "Översvämningar i Umeå och Borlänge: så förbereder sig kommunerna " * 2
    publish(title=title.strip()[:200], slug="o" * 60 + "-" + "ä" * 5 + "-" + "u" * 50)
    slug = records(run_at(80, "articles", "--json").stdout)[0]["slug"]
    assert isinstance(slug, str) and len(slug) > 100
    result = run_at(80, "articles")
    lines = check(result.stdout, 80, ["status"], ["published"])
    assert shown_whole(lines, slug)


@pytest.fixture
def registered(db: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Three partners: one pushing (on loopback, allow-listed), one pulling, one disabled."""
    monkeypatch.setenv("BUDKAVLE_WEBHOOK_ALLOW_NETWORKS", "127.0.0.0/8")
    get_settings.cache_clear()
    now = utcnow()
    with session_scope() as session:
        for name, webhook, tags, languages in [
            (BORLANGE, "http://127.0.0.1:9/budkavle/borlange", ["Borlänge"], ["sv"]),
            ("Tampereen kaupunki", None, [], ["fi"]),
            ("Tromsø kommune", "http://127.0.0.1:9/tromso", ["Nordiskt samarbete"], []),
        ]:
            data = PartnerIn(name=name, webhook_url=webhook, tags=tags, languages=languages)
            partners.register(session, data)
        tromso = partners.find(session, "Tromsø kommune")
        tromso.failing_since = now - timedelta(days=3)
        partners.disable(tromso, "410 Gone: the endpoint is retired", now)
    yield
    monkeypatch.undo()
    get_settings.cache_clear()


RETIRED = "disabled: 410 Gone: the endpoint is retired"


@pytest.mark.parametrize(
    ("width", "headers", "state"),
    [
        # Narrow: since when a partner fails goes into its state.
        pytest.param(80, ["id", "name", "state", "lang / tags"], RETIRED + "; failing since",
                     id="80"),
        pytest.param(120, ["id", "name", "state", "failing since", "lang / tags"], RETIRED,
                     id="120"),
        pytest.param(160, ["id", "name", "state", "failing since", "tags", "languages",
                           "webhook"], RETIRED, id="160"),
    ],
)  # fmt: skip
def test_partners_list_at_80_and_120_columns(
    registered: None, width: int, headers: list[str], state: str
) -> None:
    result = run_at(width, "partners", "list")
    assert result.exit_code == 0, result.output
    tromso = records(run_at(80, "partners", "list", "--json").stdout)[2]
    failing = datetime.fromisoformat(str(tromso["failing_since"]))
    if "failing since" in state:
        state += f" {failing:%Y-%m-%d %H:%M}"
    values = [BORLANGE, "Tampereen kaupunki", "Tromsø kommune", "active", state]
    lines = check(result.stdout, width, headers, values)
    if width >= 120:
        assert shown_whole(lines, f"{failing:%Y-%m-%d %H:%M}")
    if width >= 160:
        assert shown_whole(lines, "http://127.0.0.1:9/budkavle/borlange")


def test_partners_list_json_names_no_secret(registered: None) -> None:
    result = run_at(80, "partners", "list", "--json")
    assert result.exit_code == 0, result.output
    by_name = {item["name"]: item for item in records(result.stdout)}
    assert list(by_name) == [BORLANGE, "Tampereen kaupunki", "Tromsø kommune"]
    borlange, tampere, tromso = by_name.values()
    assert set(borlange) == PARTNER_FIELDS
    assert (borlange["tags"], borlange["languages"]) == (["borlange"], ["sv"])
    assert borlange["webhook_url"] == "http://127.0.0.1:9/budkavle/borlange"
    assert tampere["webhook_url"] is None and tampere["pull"] is True
    assert tromso["state"] == "disabled" and is_utc(tromso["failing_since"])
    assert is_utc(tromso["disabled_at"]) and is_utc(borlange["created_at"])
    assert borlange["failing_since"] is None
    assert "whsec_" not in result.stdout and "bkp_" not in result.stdout
    with session_scope() as session:
        assert all(p.secret not in result.stdout for p in session.query(Partner) if p.secret)
    only = records(run_at(80, "partners", "list", "--json", "--state", "disabled").stdout)
    assert [item["name"] for item in only] == ["Tromsø kommune"]


READERS = (
    "email,language,frequency,tags,time_zone\n"
    "Lena@Bjärka-Säby.se,sv,weekly,borlange nordiskt-samarbete,Europe/Stockholm\n"
    "matti.virtanen@tampere.example,fi,immediate,,Europe/Helsinki\n"
    "kari.nordmann@tromso.example,nb,daily,nordiskt-samarbete,Europe/Oslo\n"
    "gudrun@reykjavik.example,is,daily,,Atlantic/Reykjavik\n"
)
LENA = "lena@xn--bjrka-sby-w2af.se"


@pytest.fixture
def readers(db: str, tmp_path: Path) -> None:
    publish(tags=["Borlänge", "Nordiskt samarbete"])  # the tags the readers follow
    source = tmp_path / "lasare.csv"
    source.write_text(READERS, encoding="utf-8")
    imported = run_at(80, "subscribers", "import", str(source))
    assert imported.exit_code == 0, imported.output
    with session_scope() as session:  # two permanent failures: shown beside the status
        session.execute(update(Subscriber).where(Subscriber.id == 3).values(failures=2))


@pytest.mark.parametrize(
    ("width", "headers"),
    [
        pytest.param(80, ["id", "email", "status", "gets"], id="80"),
        pytest.param(
            120,
            ["id", "email", "status", "lang", "frequency", "tags", "time zone", "failures"],
            id="120",
        ),
    ],
)
def test_subscribers_list_at_80_and_120_columns(
    readers: None, width: int, headers: list[str]
) -> None:
    result = run_at(width, "subscribers", "list")
    assert result.exit_code == 0, result.output
    values = [
        LENA,
        "matti.virtanen@tampere.example",
        "kari.nordmann@tromso.example",
        "gudrun@reykjavik.example",
        "active",
    ]
    lines = check(result.stdout, width, headers, values)
    kari = next(line for line in lines if "kari.nordmann" in line)
    if width >= 120:
        assert shown_whole(lines, "Atlantic/Reykjavik") and shown_whole(lines, "borlange,")
        assert re.search(r"\s2$", kari.rstrip())  # the failures column, last
    else:
        assert "active (2 failed)" in kari


@pytest.mark.parametrize(
    ("options", "emails"),
    [
        pytest.param(["--language", "FI"], ["matti.virtanen@tampere.example"], id="language"),
        pytest.param(
            ["--frequency", "daily"],
            ["kari.nordmann@tromso.example", "gudrun@reykjavik.example"],
            id="frequency",
        ),
        pytest.param(["--search", "Bjärka-Säby.se"], [LENA], id="idna-domain"),
        pytest.param(["--search", "LENA@BJÄRKA-SÄBY.SE"], [LENA], id="whole-address"),
        pytest.param(["--search", "tromso"], ["kari.nordmann@tromso.example"], id="part"),
        pytest.param(["--search", "%"], [], id="like-wildcard-is-a-character"),
        pytest.param(["--status", "unsubscribed"], [], id="status"),
        pytest.param(
            ["--after", "2"],
            ["kari.nordmann@tromso.example", "gudrun@reykjavik.example"],
            id="after",
        ),
    ],
)
def test_subscribers_list_json_filters(
    readers: None, options: list[str], emails: list[str]
) -> None:
    result = run_at(80, "subscribers", "list", "--json", *options)
    assert result.exit_code == 0, result.output
    assert [item["email"] for item in records(result.stdout)] == emails


def test_subscribers_list_json_fields_and_paging(readers: None) -> None:
    result = run_at(80, "subscribers", "list", "--json", "--limit", "1", "--frequency", "weekly")
    assert result.exit_code == 0, result.output
    (lena,) = records(result.stdout)
    assert set(lena) == SUBSCRIBER_FIELDS
    assert (lena["email"], lena["status"], lena["frequency"]) == (LENA, "active", "weekly")
    assert lena["tags"] == ["borlange", "nordiskt-samarbete"]
    assert is_utc(lena["consent_at"]) and lena["unsubscribed_at"] is None
    # The next page's command goes to stderr, where it cannot spoil the JSON.
    assert "budkavle subscribers list --after 1 --frequency weekly --limit 1" in result.stderr


@pytest.mark.parametrize("width", [80, 120])
def test_digest_status_at_80_and_120_columns(mail: SmtpSink, width: int) -> None:
    for name in ("asa", "bjorn", "solve"):
        subscribe(f"{name}@bjärka-säby.se")
    publish(title=TITLES["sv"])
    send_all(plan())
    result = run_at(width, "digest", "status")
    assert result.exit_code == 0, result.output
    headers = ["id", "edition", "recipients", "sent", "queued", "failed"]
    if width >= 120:
        headers += ["planned", "finished"]
    lines = check(result.stdout, width, headers, [_edition_key()])
    # recipients, sent, queued, failed
    assert any(re.search(r"\s3\s+3\s+0\s+0(\s|$)", line) for line in lines), result.stdout


def _edition_key() -> str:
    item = records(run_at(80, "digest", "status", "--json").stdout)[0]
    return str(item["key"])


def test_digest_status_json(mail: SmtpSink) -> None:
    subscribe("asa@example.se")
    subscribe("bjorn@example.se")
    publish(title=TITLES["sv"])
    send_all(plan())
    result = run_at(80, "digest", "status", "--json")
    assert result.exit_code == 0, result.output
    (edition,) = records(result.stdout)
    assert set(edition) == EDITION_FIELDS
    assert (edition["recipients"], edition["sent"], edition["queued"], edition["failed"]) == (
        2,
        2,
        0,
        0,
    )
    assert str(edition["key"]).startswith("immediate:manual:")
    assert is_utc(edition["planned_at"])


@pytest.mark.parametrize(
    ("args", "message"),
    [
        pytest.param(
            ["digest", "status", "--json", "--follow"],
            "leave it out with --json",
            id="follow-and-json",
        ),
        pytest.param(["articles", "--json", "--limit", "0"], "--limit", id="limit"),
        pytest.param(["partners", "list", "--json", "--state", "kaputt"], "--state", id="state"),
        pytest.param(
            ["subscribers", "list", "--json", "--frequency", "hourly"],
            "--frequency",
            id="frequency",
        ),
    ],
)
def test_errors_go_to_stderr_with_an_exit_code(db: str, args: list[str], message: str) -> None:
    result = run_at(80, *args)
    assert result.exit_code == 2
    assert result.stdout == ""
    assert message in result.stderr


@pytest.mark.parametrize(
    ("command", "fields"),
    [
        pytest.param("articles --json", ARTICLE_FIELDS, id="articles"),
        pytest.param("digest status --json", EDITION_FIELDS, id="digest-status"),
        pytest.param("partners list --json", PARTNER_FIELDS, id="partners"),
        pytest.param("subscribers list --json", SUBSCRIBER_FIELDS, id="subscribers"),
    ],
)
def test_the_readme_documents_each_json_field(command: str, fields: set[str]) -> None:
    readme = (Path(__file__).parent.parent / "README.md").read_text(encoding="utf-8")
    row = next(line for line in readme.splitlines() if line.startswith(f"| `{command}` |"))
    assert set(re.findall(r"`(\w+)`", row)) == fields
