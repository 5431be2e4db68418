"""`budkavle digest preview | send | status`: what an operator types, and what they see."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from budkavle.cli import app
from tests.mailsupport import publish, subscribe
from tests.smtpsink import SmtpSink

runner = CliRunner()


def test_preview_shows_the_next_edition_and_sends_nothing(mail: SmtpSink, tmp_path: Path) -> None:
    subscribe("forhands@example.se", frequency="daily")
    publish(title="Mariehamn lär av Borlänge om trygghetsvandringar")
    page = tmp_path / "preview.html"

    result = runner.invoke(app, ["digest", "preview", "--language", "sv", "--html", str(page)])

    assert result.exit_code == 0, result.output
    assert "Subject: Mariehamn lär av Borlänge om trygghetsvandringar\n" in result.output
    assert "1 ny artikel" in result.output
    assert "Mariehamn lär av Borlänge om trygghetsvandringar" in result.output
    assert "Mariehamn lär av Borlänge" in page.read_text(encoding="utf-8")
    assert "__BK_" not in page.read_text(encoding="utf-8")
    assert mail.messages == []
    empty = runner.invoke(app, ["digest", "preview", "--language", "fi"])
    assert "Nothing new" in empty.output


def test_send_here_delivers_and_status_reports_it(mail: SmtpSink) -> None:
    for number in range(3):
        subscribe(f"dagligen{number}@example.se", frequency="daily")
    publish()

    sent = runner.invoke(app, ["digest", "send", "--frequency", "daily", "--here"])
    assert sent.exit_code == 0, sent.output
    assert len(mail.wait_for(3)) == 3

    status = runner.invoke(app, ["digest", "status"])
    assert status.exit_code == 0, status.output
    assert "daily:manual:" in status.output
    again = runner.invoke(app, ["digest", "send", "--frequency", "daily", "--here"])
    assert "Nothing new" in again.output
    assert len(mail.messages) == 3


def test_bad_options_say_what_to_type(mail: SmtpSink) -> None:
    result = runner.invoke(app, ["digest", "preview", "--language", "xx"])
    assert result.exit_code == 2
    assert "--language" in result.output
    result = runner.invoke(app, ["digest", "send", "--frequency", "hourly"])
    assert result.exit_code == 2
