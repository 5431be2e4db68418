"""Transports through real servers: aiosmtpd on loopback (plain, STARTTLS, TLS, AUTH) and
the outbox folder. Messages are real envelopes, read back with the standard library.
SMTP sessions run both ways where it matters: with PIPELINING (RFC 2920) and one command
at a time."""

from __future__ import annotations

import os
import smtplib
import socket
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime
from email.message import EmailMessage
from email.parser import BytesParser
from email.policy import default
from pathlib import Path
from urllib.parse import quote

import pytest

from config.settings import Settings, SettingsError
from email_templates import personal
from email_templates.render import RenderedEmail
from tests.smtpsink import SmtpSink, make_certificate, server_tls_context
from worker.envelope import MessageTemplate, message_id
from worker.mailer import (
    FolderTransport,
    SendError,
    SmtpTransport,
    transport_from_settings,
    transport_from_url,
)

SENDER = "nyheter@borlange.example"
SECRET = b"test"
TEMPLATE = MessageTemplate(
    RenderedEmail(
        subject="Nyheter från Borlänge – 3 nya artiklar",
        html=f"<p>Läs mer om Borlänge</p><p>Skickat till {personal.EMAIL}</p>"
        f'<a href="{personal.UNSUBSCRIBE_URL}">Avsluta</a>'
        f'<a href="{personal.PREFERENCES_URL}">Inställningar</a>',
        text=f"Läs mer om Borlänge\nSkickat till {personal.EMAIL}\n"
        f"{personal.UNSUBSCRIBE_URL}\n{personal.PREFERENCES_URL}\n",
    ),
    sender=f"Nyheter från Borlänge <{SENDER}>",
    list_id="Nyheter <sv.nyheter.borlange.example>",
    date=datetime(2026, 11, 26, 6, 0, tzinfo=UTC),
)


def letter(delivery_id: int) -> tuple[str, bytes]:
    to = f"lasare{delivery_id}@kommun.example"
    raw = TEMPLATE.personalize(
        to=to,
        message_id=message_id(delivery_id, "borlange.example", SECRET),
        unsubscribe_url=f"https://nyheter.example/unsubscribe/{delivery_id}",
        unsubscribe_mailto=f"mailto:unsubscribe@borlange.example?subject={delivery_id}",
        preferences_url=f"https://nyheter.example/preferences/{delivery_id}",
    )
    return to, raw


def parse(raw: bytes) -> EmailMessage:
    message = BytesParser(policy=default).parsebytes(raw)
    assert isinstance(message, EmailMessage)
    return message


def smtp(sink: SmtpSink, query: str = "") -> SmtpTransport:
    transport = transport_from_url(sink.url + query, data_dir=Path("unused"), timeout=5)
    assert isinstance(transport, SmtpTransport)
    return transport


@pytest.fixture(params=["pipelined", "one by one"])
def sink(smtp_sink: SmtpSink, request: pytest.FixtureRequest) -> SmtpSink:
    """The sink with PIPELINING announced, and without."""
    smtp_sink.pipelining = request.param == "pipelined"
    return smtp_sink


class SendCounter:
    """Counts smtplib's writes: one per round trip, as the client waits between them."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.writes = 0
        send = smtplib.SMTP.send

        def counting(smtp: smtplib.SMTP, data: bytes | str) -> None:
            self.writes += 1
            send(smtp, data)

        monkeypatch.setattr(smtplib.SMTP, "send", counting)


def test_a_batch_goes_over_one_connection(sink: SmtpSink, monkeypatch: pytest.MonkeyPatch) -> None:
    letters = [letter(n) for n in range(1, 21)]
    counter = SendCounter(monkeypatch)
    with smtp(sink).connect() as connection:
        for to, raw in letters:
            connection.send(SENDER, to, raw)

    # EHLO and QUIT, and per message MAIL+RCPT+DATA in one write, then the message: 2 round
    # trips instead of 4.
    assert counter.writes == 2 + 20 * (2 if sink.pipelining else 4)
    received = sink.wait_for(20)
    assert sink.connections == 1
    assert [(m.mail_from, m.rcpt_tos) for m in received] == [(SENDER, (to,)) for to, _ in letters]
    for (to, raw), got in zip(letters, received, strict=True):
        assert got.data == raw  # byte for byte: dot-stuffing undone, CRLF kept
        message = parse(got.data)
        assert message["To"] == to
        assert message["Subject"] == "Nyheter från Borlänge – 3 nya artiklar"
        html = message.get_body(("html",))
        assert html is not None and f"Skickat till {to}" in html.get_content()


REFUSALS = {
    "temporary (451)": ("451 4.3.0 försök senare", 451, False),
    "mailbox busy (450)": ("450 4.2.1 mailbox busy", 450, False),
    "no such user (550)": ("550 5.1.1 no such user", 550, True),
    "mailbox full, permanent (552)": ("552 5.2.2 mailbox full", 552, True),
}


@pytest.mark.parametrize("answer, code, permanent", REFUSALS.values(), ids=REFUSALS.keys())
def test_a_refused_recipient_fails_alone(
    sink: SmtpSink, answer: str, code: int, permanent: bool
) -> None:
    letters = [letter(n) for n in range(1, 6)]
    refused = letters[2][0]
    sink.reply(refused, answer)
    errors: dict[str, SendError] = {}
    with smtp(sink).connect() as connection:
        for to, raw in letters:
            try:
                connection.send(SENDER, to, raw)
            except SendError as error:
                errors[to] = error

    assert list(errors) == [refused]
    assert (errors[refused].code, errors[refused].permanent) == (code, permanent)
    assert answer.split(" ", 1)[1] in errors[refused].text
    received = sink.wait_for(4)
    assert [m.rcpt_tos[0] for m in received] == [to for to, _ in letters if to != refused]
    assert sink.connections == 1  # a refusal does not cost the connection


ENVELOPE_INJECTIONS = {
    "second RCPT in recipient": (SENDER, "a@kommun.example>\r\nRCPT TO:<b@x.example", True),
    "LF in recipient": (SENDER, "a@kommun.example\nDATA", True),
    "no @ in recipient": (SENDER, "kommun.example", True),
    "CRLF in sender": ("nyheter@borlange.example\r\nRSET", "a@kommun.example", False),
}


@pytest.mark.parametrize(
    "sender, recipient, permanent", ENVELOPE_INJECTIONS.values(), ids=ENVELOPE_INJECTIONS.keys()
)
def test_smtp_command_injection_is_refused(
    smtp_sink: SmtpSink, sender: str, recipient: str, permanent: bool
) -> None:
    with smtp(smtp_sink).connect() as connection:
        with pytest.raises(SendError) as failure:
            connection.send(sender, recipient, letter(1)[1])
        assert failure.value.permanent is permanent  # a bad sender is our own setting
        connection.send(SENDER, *letter(2))
    assert [m.rcpt_tos for m in smtp_sink.wait_for(1)] == [(letter(2)[0],)]


def test_a_server_that_is_down_is_a_temporary_failure_and_fails_fast(
    smtp_sink: SmtpSink,
) -> None:
    smtp_sink.stop()
    with smtp(smtp_sink).connect() as connection:
        for n in (1, 2, 3):
            with pytest.raises(SendError) as failure:
                connection.send(SENDER, *letter(n))
            assert failure.value.permanent is False
            assert failure.value.code is None
            assert "ConnectionRefusedError" in failure.value.text

    smtp_sink.start()  # back on the same port: a new batch gets through
    with smtp(smtp_sink).connect() as connection:
        connection.send(SENDER, *letter(4))
    assert [m.rcpt_tos for m in smtp_sink.wait_for(1)] == [(letter(4)[0],)]


def test_a_server_that_never_answers_times_out_temporarily() -> None:
    # The kernel completes the TCP handshake for a listening socket nobody accepts from:
    # a server that is up but silent, as when it is overloaded.
    with socket.create_server(("127.0.0.1", 0)) as silent:
        port = silent.getsockname()[1]
        url = f"smtp://127.0.0.1:{port}?timeout=0.2"
        transport = transport_from_url(url, data_dir=Path("unused"))
        with transport.connect() as connection, pytest.raises(SendError) as failure:
            connection.send(SENDER, *letter(1))
    assert failure.value.permanent is False
    assert "timed out" in failure.value.text


def test_a_server_restarted_mid_batch_costs_no_message(sink: SmtpSink) -> None:
    with smtp(sink).connect() as connection:
        connection.send(SENDER, *letter(1))
        sink.restart()  # the session we hold is gone; nothing was in flight
        connection.send(SENDER, *letter(2))
        connection.send(SENDER, *letter(3))

    assert [m.rcpt_tos[0] for m in sink.wait_for(3)] == [letter(n)[0] for n in (1, 2, 3)]
    assert sink.connections == 2


def test_a_server_gone_mid_batch_fails_the_rest_temporarily(sink: SmtpSink) -> None:
    outcomes: list[str] = []
    with smtp(sink).connect() as connection:
        for n in range(1, 5):
            if n == 3:
                sink.stop()
            try:
                connection.send(SENDER, *letter(n))
                outcomes.append("sent")
            except SendError as error:
                outcomes.append("permanent" if error.permanent else "temporary")

    assert outcomes == ["sent", "sent", "temporary", "temporary"]
    assert len(sink.messages) == 2


ODD_MESSAGES = {
    "a line that starts with a dot": b"Subject: prickar\r\n\r\n.\r\n..tva\r\n.tre\r\nslut\r\n",
    "a dot first of all, no CRLF at the end": b".X-Odd: 1\r\n\r\nkropp",
    "empty": b"",
}


@pytest.mark.parametrize("raw", ODD_MESSAGES.values(), ids=ODD_MESSAGES.keys())
def test_dots_at_the_start_of_a_line_arrive_intact(sink: SmtpSink, raw: bytes) -> None:
    with smtp(sink).connect() as connection:
        connection.send(SENDER, "a@kommun.example", raw)
        connection.send(SENDER, *letter(1))  # the session is still in step
    first, second = sink.wait_for(2)
    # aiosmtpd undoes the dot-stuffing; the client ends the last line with CRLF.
    assert first.data == (raw if raw.endswith(b"\r\n") else raw + b"\r\n")
    assert second.data == letter(1)[1]


def test_bare_line_ends_go_out_as_crlf(sink: SmtpSink) -> None:
    with smtp(sink).connect() as connection:
        connection.send(SENDER, "a@kommun.example", b"Subject: x\n\nett\rtva\r\n.tre\n")
    (got,) = sink.wait_for(1)
    assert got.data == b"Subject: x\r\n\r\nett\r\ntva\r\n.tre\r\n"


@pytest.mark.parametrize("answer, code", [("550 5.1.1 no such user", 550), ("451 4.3.0 sen", 451)])
def test_a_server_that_answers_data_after_a_refused_recipient_gets_a_lone_dot(
    smtp_sink: SmtpSink, answer: str, code: int
) -> None:
    # RFC 2920 3.1: a server may accept the pipelined DATA though no recipient was; the
    # client then sends "." alone, and the recipient's refusal is what counts.
    smtp_sink.recorder.data_without_recipients = True
    refused = letter(2)[0]
    smtp_sink.reply(refused, answer)
    with smtp(smtp_sink).connect() as connection:
        connection.send(SENDER, *letter(1))
        with pytest.raises(SendError) as failure:
            connection.send(SENDER, *letter(2))
        connection.send(SENDER, *letter(3))
    assert (failure.value.code, failure.value.permanent) == (code, code >= 500)
    assert smtp_sink.recorder.empty_data == [b""]  # "." and nothing before it
    assert [m.rcpt_tos[0] for m in smtp_sink.wait_for(2)] == [letter(n)[0] for n in (1, 3)]
    assert smtp_sink.connections == 1


def test_a_refused_sender_is_temporary_even_with_5xx(sink: SmtpSink) -> None:
    sink.recorder.reply_to_sender("550 5.7.1 sender not allowed")
    with smtp(sink).connect() as connection:
        with pytest.raises(SendError) as failure:
            connection.send(SENDER, *letter(1))
        assert (failure.value.code, failure.value.permanent) == (550, False)
        sink.recorder.reply_to_sender(None)
        connection.send(SENDER, *letter(2))  # RSET, then the next transaction
    assert [m.rcpt_tos[0] for m in sink.wait_for(1)] == [letter(2)[0]]
    assert sink.connections == 1


def test_421_to_a_recipient_closes_the_session(sink: SmtpSink) -> None:
    sink.reply(letter(2)[0], "421 4.3.2 going down")
    outcomes: list[object] = []
    with smtp(sink).connect() as connection:
        for n in (1, 2, 3):
            try:
                connection.send(SENDER, *letter(n))
                outcomes.append("sent")
            except SendError as error:
                outcomes.append((error.code, error.permanent))
    assert outcomes == ["sent", (421, False), "sent"]
    assert [m.rcpt_tos[0] for m in sink.wait_for(2)] == [letter(n)[0] for n in (1, 3)]
    assert sink.connections == 2  # a new session after the 421


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return make_certificate(tmp_path_factory.mktemp("tls"))


@pytest.fixture
def tls_sink(certificate: tuple[Path, Path], request: pytest.FixtureRequest) -> Iterator[SmtpSink]:
    options = dict(request.param)
    sink = SmtpSink(tls_context=server_tls_context(*certificate), **options).start()
    try:
        yield sink
    finally:
        sink.stop()


SECURE = {
    "STARTTLS required by both": ({"require_starttls": True}, "?starttls=required"),
    "opportunistic STARTTLS": ({"require_starttls": True}, "?starttls=1"),
    "implicit TLS (smtps)": ({"implicit_tls": True}, ""),
    "STARTTLS with AUTH": (
        {"require_starttls": True, "credentials": ("redaktion", "hemlig/lösen%")},
        "?starttls=required",
    ),
}


@pytest.mark.parametrize(
    "tls_sink, query", SECURE.values(), ids=SECURE.keys(), indirect=["tls_sink"]
)
def test_tls_and_auth(tls_sink: SmtpSink, certificate: tuple[Path, Path], query: str) -> None:
    url = tls_sink.url
    if tls_sink.credentials:
        user, password = tls_sink.credentials
        url = url.replace("://", f"://{quote(user)}:{quote(password, safe='')}@")
    separator = "&" if query else "?"
    url += f"{query}{separator}cafile={quote(str(certificate[0]))}"
    transport = transport_from_url(url, data_dir=Path("unused"), timeout=5)

    with transport.connect() as connection:
        connection.send(SENDER, *letter(1))
        connection.send(SENDER, *letter(2))
    assert len(tls_sink.wait_for(2)) == 2
    assert tls_sink.connections == 1


TLS_FAILURES = {
    "certificate not trusted": (
        {"require_starttls": True}, "?starttls=required", "SSLCertVerificationError"
    ),
    "wrong password": (
        {"require_starttls": True, "credentials": ("redaktion", "rätt")},
        "?starttls=required&verify=0",
        "535",
    ),
    "password over plain text": (
        {"credentials": ("redaktion", "rätt")}, "?verify=0", "unencrypted",
    ),
}  # fmt: skip


@pytest.mark.parametrize(
    "tls_sink, query, expected", TLS_FAILURES.values(), ids=TLS_FAILURES.keys(),
    indirect=["tls_sink"],
)  # fmt: skip
def test_tls_and_auth_failures_are_temporary(tls_sink: SmtpSink, query: str, expected: str) -> None:
    url = tls_sink.url.replace("://", "://redaktion:fel@") + query
    with transport_from_url(url, data_dir=Path("unused"), timeout=5).connect() as connection:
        for n in (1, 2):  # the second fails at once, with the same reason
            with pytest.raises(SendError) as failure:
                connection.send(SENDER, *letter(n))
            # A server we cannot log in to says nothing about the subscriber's address.
            assert failure.value.permanent is False
            assert expected in str(failure.value)
    assert tls_sink.messages == []


def test_the_folder_keeps_one_readable_file_per_message(tmp_path: Path) -> None:
    outbox = tmp_path / "outbox"
    transport = transport_from_url(f"file://{outbox}", data_dir=tmp_path)
    assert transport == FolderTransport(outbox)
    letters = [letter(n) for n in range(1, 4)]
    with transport.connect() as connection:
        for to, raw in letters:
            connection.send(SENDER, to, raw)
        connection.send(SENDER, *letters[0])  # sent again: the same file, not a second one

    files = sorted(outbox.iterdir())
    assert [path.suffix for path in files] == [".eml"] * 3
    by_recipient = {parse(path.read_bytes())["To"]: path for path in files}
    assert set(by_recipient) == {to for to, _ in letters}
    for to, raw in letters:
        content = by_recipient[to].read_bytes()
        assert content.endswith(raw)
        message = parse(content)
        assert message["Return-Path"] == f"<{SENDER}>"
        stem = message["Message-ID"].strip("<>").replace("@", "_at_")
        assert by_recipient[to].name.startswith(stem + "-")
        assert message["Subject"] == "Nyheter från Borlänge – 3 nya artiklar"
    assert not [name for name in os.listdir(outbox) if name.startswith(".")]  # no leftovers


def test_the_folder_reports_a_write_failure_as_temporary(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("en fil, ingen mapp")
    with FolderTransport(blocker).connect() as connection, pytest.raises(SendError) as failure:
        connection.send(SENDER, *letter(1))
    assert failure.value.permanent is False


@pytest.mark.skipif(os.geteuid() != 0, reason="mounting a small tmpfs needs root (CI is)")
def test_a_full_disk_is_temporary_and_leaves_no_half_written_file(tmp_path: Path) -> None:
    outbox = tmp_path / "utkorg"
    outbox.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16k", "tmpfs", str(outbox)], check=True)
    try:
        sender, recipient, message = SENDER, *letter(1)
        big = message + b"Nyheter fr\xc3\xa5n Borl\xc3\xa4nge. " * 2000  # ~70 KB: does not fit
        with FolderTransport(outbox).connect() as connection:
            with pytest.raises(SendError) as failure:
                connection.send(sender, recipient, big)
            assert failure.value.permanent is False
            assert "No space left" in str(failure.value)
            assert os.listdir(outbox) == [], "the half-written file was removed"
            # Space again (an operator cleaned up): the same message goes through.
            remount = ["mount", "-o", "remount,size=1m", str(outbox)]
            subprocess.run(remount, check=True)
            connection.send(sender, recipient, big)
        assert len(os.listdir(outbox)) == 1
    finally:
        subprocess.run(["umount", str(outbox)], check=True)


URLS = {
    "empty: the outbox in the data folder": ("", FolderTransport(Path("/data/outbox"))),
    "a path": ("/srv/utkorg", FolderTransport(Path("/srv/utkorg"))),
    "a file URL": ("file:///srv/ut%20korg", FolderTransport(Path("/srv/ut korg"))),
    "plain SMTP": ("smtp://mail.example.se", SmtpTransport("mail.example.se", 25, timeout=30)),
    "STARTTLS with a login": (
        "smtp://nyheter%40borlange.example:p%C3%A5%2Fss@mail.example.se:587?starttls=required",
        SmtpTransport(
            "mail.example.se", 587, "starttls-required", "nyheter@borlange.example", "på/ss",
            timeout=30,
        ),
    ),
    "implicit TLS, own timeout": (
        "smtps://mail.example.se?timeout=7.5",
        SmtpTransport("mail.example.se", 465, "tls", timeout=7.5),
    ),
}  # fmt: skip


@pytest.mark.parametrize("url, expected", URLS.values(), ids=URLS.keys())
def test_email_urls(url: str, expected: object) -> None:
    assert transport_from_url(url, data_dir=Path("/data"), timeout=30) == expected


BAD_URLS = {
    "unknown scheme": ("http://mail.example.se", "unsupported scheme 'http'"),
    "unknown option": ("smtp://mail.example.se?tls=1", "unknown option 'tls'"),
    "bad port": ("smtp://mail.example.se:smtp", "port"),
    "bad starttls": ("smtp://mail.example.se?starttls=maybe", "starttls"),
    "starttls on smtps": ("smtps://mail.example.se?starttls=1", "TLS already"),
    "bad timeout": ("smtp://mail.example.se?timeout=soon", "timeout"),
    "no host": ("smtp://:25", "no host"),
}


@pytest.mark.parametrize("url, message", BAD_URLS.values(), ids=BAD_URLS.keys())
def test_bad_email_urls_name_the_variable(url: str, message: str) -> None:
    with pytest.raises(SettingsError, match="BUDKAVLE_EMAIL_URL") as failure:
        transport_from_url(url, data_dir=Path("/data"))
    assert message in str(failure.value)


def test_the_password_stays_out_of_logs() -> None:
    transport = transport_from_url("smtp://u:hemligt@mail.example.se", data_dir=Path("/d"))
    assert "hemligt" not in repr(transport)


def test_transport_from_settings(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, email_url="smtp://mail.example.se:2525")
    assert transport_from_settings(settings) == SmtpTransport(
        "mail.example.se", 2525, timeout=settings.smtp_timeout_seconds
    )
    assert transport_from_settings(Settings(data_dir=tmp_path, email_url="")) == FolderTransport(
        Settings(data_dir=tmp_path).data_path / "outbox"
    )
