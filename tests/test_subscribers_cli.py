"""`budkavle subscribers import/export/list` and `budkavle bounces`: CSV round trips with
å ä ö and a BOM, line errors with line numbers, returned mail from files and stdin."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
from click.testing import Result
from sqlalchemy import select
from typer.testing import CliRunner

from budkavle.cli import app
from newsroom.db import session_scope
from newsroom.models import Subscriber, SubscriberStatus, Tag
from tests import mailsamples

runner = CliRunner()

HEADER = "email,language,frequency,tags,time_zone\n"
# The CSV says "bjärka-säby.se"; it is stored and mailed with the domain in ASCII (IDNA).
LENA = "lena@xn--bjrka-sby-w2af.se"
GOOD = (
    "Lena@Bjärka-Säby.se,sv,weekly,borlange;nordiskt-samarbete,Europe/Stockholm\n"
    "matti@tampere.example,fi,immediate,,Europe/Helsinki\n"
    "kari@tromso.example,nb,daily,nordiskt-samarbete borlange,Europe/Oslo\n"
)


def run(*args: str, stdin: bytes | None = None) -> Result:
    return runner.invoke(app, list(args), input=stdin)


@pytest.fixture
def tags(db: str) -> None:
    with session_scope() as session:
        session.add_all([Tag(slug="borlange", label="Borlänge"),
                         Tag(slug="nordiskt-samarbete", label="Nordiskt samarbete")])  # fmt: skip


def rows() -> dict[str, tuple[str, str, str, list[str], str]]:
    with session_scope() as session:
        return {
            s.email: (str(s.status), s.language, str(s.frequency), s.tags, s.time_zone)
            for s in session.scalars(select(Subscriber))
        }


def write(tmp_path: Path, text: str, name: str = "lasare.csv", bom: bool = False) -> Path:
    path = tmp_path / name
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + text.encode("utf-8"))
    return path


def test_csv_round_trip_with_bom_and_nordic_letters(tags: None, tmp_path: Path) -> None:
    source = write(tmp_path, HEADER + GOOD, bom=True)
    dry = run("subscribers", "import", str(source), "--dry-run")
    assert dry.exit_code == 0, dry.output
    assert "3 would be created" in dry.output and rows() == {}

    done = run("subscribers", "import", str(source))
    assert done.exit_code == 0, done.output
    assert "3 were created, 0 were updated" in done.output
    assert rows()[LENA] == (
        "active", "sv", "weekly", ["borlange", "nordiskt-samarbete"], "Europe/Stockholm"
    )

    exported = tmp_path / "export.csv"
    assert run("subscribers", "export", str(exported)).exit_code == 0
    table = list(csv.DictReader(io.StringIO(exported.read_text(encoding="utf-8"))))
    assert [line["email"] for line in table] == [
        LENA, "matti@tampere.example", "kari@tromso.example"
    ]
    assert table[2]["tags"] == "borlange nordiskt-samarbete"
    assert {line["status"] for line in table} == {"active"}
    assert {line["consent_form"] for line in table} == {"csv-import"}

    before = rows()
    again = run("subscribers", "import", str(exported))  # an export imports as it is
    assert again.exit_code == 0 and "0 were created, 3 were updated" in again.output
    assert rows() == before

    streamed = run("subscribers", "export", "-")
    assert streamed.stdout == exported.read_text(encoding="utf-8").replace("\r\n", "\n")


def test_bad_lines_are_reported_by_number_and_the_rest_imported(
    tags: None, tmp_path: Path
) -> None:
    assert run("subscribers", "import", str(write(tmp_path, HEADER + GOOD))).exit_code == 0
    text = (
        HEADER
        + "åsa@borlange.example,sv,daily,,Europe/Stockholm\n"          # line 2
        + "ny@umea.example,sv,daily,,Europe/Stockholm\n"                 # line 3
        + "kari@tromso.example,is,weekly,finns-inte,Atlantic/Reykjavik\n"  # line 4
        + "eva@umea.example,de,daily,,Europe/Stockholm\n"                # line 5
        + "olle@umea.example,sv,hourly,,Europe/Stockholm\n"              # line 6
        + "per@umea.example,sv,daily,,Europe/Ankeborg\n"                 # line 7
        + "lisa@umea.example,sv,daily,,Europe/Stockholm,extra\n"         # line 8
    )
    result = run("subscribers", "import", str(write(tmp_path, text, "fel.csv")))
    assert result.exit_code == 1
    errors = [line for line in result.stderr.splitlines() if line.startswith("✗")]
    assert [line.split(":")[0] for line in errors] == [
        "✗ line 2", "✗ line 4", "✗ line 5", "✗ line 6", "✗ line 7", "✗ line 8"
    ]
    assert "line 4: tags: unknown tag 'finns-inte'" in result.stderr
    assert "1 were created, 0 were updated, 0 were skipped, 6 were refused" in result.stdout
    # Line 4 failed on its tag after its language was set: nothing of it is left.
    assert rows()["kari@tromso.example"] == (
        "active", "nb", "daily", ["borlange", "nordiskt-samarbete"], "Europe/Oslo"
    )
    assert set(rows()) == {LENA, "matti@tampere.example",
                           "kari@tromso.example", "ny@umea.example"}  # fmt: skip


def test_addresses_that_left_stay_as_they_are(tags: None, tmp_path: Path) -> None:
    assert run("subscribers", "import", str(write(tmp_path, HEADER + GOOD))).exit_code == 0
    with session_scope() as session:
        lena = session.scalars(select(Subscriber).where(Subscriber.email.startswith("lena"))).one()
        lena.status = SubscriberStatus.UNSUBSCRIBED
    # An export from elsewhere, where this reader had left: never imported as active.
    exported = "email,status\nborta@umea.example,unsubscribed\n"
    result = run("subscribers", "import", str(write(tmp_path, HEADER + GOOD, "igen.csv")))
    elsewhere = run("subscribers", "import", str(write(tmp_path, exported, "annan.csv")))
    assert result.exit_code == 0 and "1 were skipped" in result.stdout
    assert f"{LENA} is unsubscribed: left as it is" in result.stdout
    assert elsewhere.exit_code == 0 and "1 were skipped" in elsewhere.stdout
    assert rows()[LENA][0] == "unsubscribed"
    assert "borta@umea.example" not in rows()


@pytest.mark.parametrize(
    ("content", "says"),
    [
        pytest.param(b"e-post,spr\xc3\xa5k\nasa@example.se,sv\n", "unknown column 'e-post'",
                     id="unknown-column"),
        pytest.param(b"language\nsv\n", "no 'email' column", id="no-email-column"),
        pytest.param(b"asa@example.se,sv\n", "unknown column 'asa@example.se'",
                     id="no-header"),
        pytest.param("email\nåsa@gävle.example\n".encode("latin-1"), "not UTF-8",
                     id="latin-1"),
    ],
)  # fmt: skip
def test_a_file_it_cannot_read_changes_nothing(
    db: str, tmp_path: Path, content: bytes, says: str
) -> None:
    path = tmp_path / "lasare.csv"
    path.write_bytes(content)
    result = run("subscribers", "import", str(path))
    assert result.exit_code == 2 and says in result.stderr
    assert rows() == {}


def test_a_missing_file_says_what_to_give(db: str, tmp_path: Path) -> None:
    result = run("subscribers", "import", str(tmp_path / "saknas.csv"))
    assert result.exit_code == 2 and "no such file; give the path of a CSV" in result.stderr


def test_list_shows_a_table_filtered_by_status(tags: None, tmp_path: Path) -> None:
    run("subscribers", "import", str(write(tmp_path, HEADER + GOOD)))
    listed = run("subscribers", "list")
    assert listed.exit_code == 0 and LENA in listed.stdout
    assert "matti@tampere.example" in listed.stdout
    only = run("subscribers", "list", "--status", "bounced")
    assert only.exit_code == 0 and "matti" not in only.stdout
    paged = run("subscribers", "list", "--limit", "2")
    assert "budkavle subscribers list --after 2" in paged.stdout


def sent_to(email: str) -> str:
    """The Message-ID of a notice sent to an imported subscriber."""
    with session_scope() as session:
        subscriber = session.scalars(select(Subscriber).where(Subscriber.email == email)).one()
        return mailsamples.notice_id(subscriber.id)


def test_bounces_from_files_and_stdin(tags: None, tmp_path: Path) -> None:
    run("subscribers", "import", str(write(tmp_path, HEADER + GOOD)))
    matti, kari = sent_to("matti@tampere.example"), sent_to("kari@tromso.example")
    unknown = tmp_path / "okand.eml"
    unknown.write_bytes(mailsamples.user_unknown("matti@tampere.example", matti))
    full = tmp_path / "full.eml"
    full.write_bytes(mailsamples.mailbox_full("kari@tromso.example", kari))
    garbage = tmp_path / "skrap.eml"
    garbage.write_bytes(mailsamples.GARBAGE)
    forged = tmp_path / "forfalskad.eml"
    forged.write_bytes(mailsamples.complaint("kari@tromso.example", mailsamples.FORGED_ID))
    no_original = tmp_path / "utan-original.eml"
    no_original.write_bytes(mailsamples.complaint("", None))

    result = run("bounces", str(unknown), str(full), str(garbage), str(tmp_path / "saknas.eml"))
    assert result.exit_code == 1
    assert "skrap.eml: must be a mail in UTF-8" in result.stderr
    assert "saknas.eml: No such file or directory; give the path" in result.stderr
    assert "active → bounced" in result.stdout and "delayed 4.2.2" in result.stdout
    assert rows()["matti@tampere.example"][0] == "bounced"
    assert rows()["kari@tromso.example"][0] == "active"
    forgeries = run("bounces", str(forged), str(no_original))
    assert forgeries.exit_code == 0 and forgeries.stdout.count("unverified:") == 2, forgeries.stdout
    assert rows()["kari@tromso.example"][0] == "active"

    again = run("bounces", "-", stdin=mailsamples.user_unknown("matti@tampere.example", matti))
    assert again.exit_code == 0 and "applied before: nothing changed" in again.stdout
    complaint = run("bounces", "-", stdin=mailsamples.complaint("kari@tromso.example", kari))
    assert complaint.exit_code == 0 and "active → complained" in complaint.stdout
    with session_scope() as session:
        matti = session.scalars(select(Subscriber).where(Subscriber.email.startswith("matti")))
        assert matti.one().failures == 1
