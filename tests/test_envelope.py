"""The digest envelope: bytes built once, personalised per recipient, read back by the
standard library's parser, and DKIM signatures verified by dkimpy."""

from __future__ import annotations

import base64
import re
import subprocess
from datetime import UTC, datetime
from email.message import EmailMessage
from email.parser import BytesParser
from email.policy import default
from typing import Any

import dkim
import pytest

from email_templates import personal
from email_templates.render import RenderedEmail
from newsroom import messageids
from worker.dkimsign import DkimSigner
from worker.envelope import MessageTemplate, delivery_of, message_id
from worker.mailer import _data_payload

SUBJECT = "Nyheter från Borlänge – 3 nya artiklar"
SENDER = "Nyheter från Borlänge <nyheter@borlange.example>"
SECRET = b"hemlig nyckel"
ARTICLE = (
    "<h2>Personliga möten stärker det nordiska samarbetet</h2>\n"
    "<p>– Vi förstår varandra på ett annat sätt, säger Kristina Westerholm.</p>\n"
    '<img src="https://bilder.nyheter.example/borlange.jpg" alt="Marcus Hjelm i Borlänge">\n'
    "<p><i>Marcus Hjelm framför stadshuset i Borlänge.</i> Text: Åsa Lindqvist</p>\n"
)
HTML = (
    "<!doctype html><html lang=sv><body>\n"
    + ARTICLE * 90  # about 30 KB, like a real digest
    + f'<p><a href="{personal.PREFERENCES_URL}">Inställningar</a> · '
    f'<a href="{personal.UNSUBSCRIBE_URL}">Avsluta prenumerationen</a></p>\n'
    f"<p>Skickat till {personal.EMAIL}</p></body></html>\n"
)
TEXT = (
    "Senaste nyheter\n\nPersonliga möten stärker det nordiska samarbetet\n"
    "– Vi förstår varandra på ett annat sätt, säger Kristina Westerholm.\n\n"
    f"Inställningar: {personal.PREFERENCES_URL}\n"
    f"Avsluta prenumerationen: {personal.UNSUBSCRIBE_URL}\n"
    f"Skickat till {personal.EMAIL}\n"
)
RECIPIENT = {
    "to": "asa.lindqvist@kommun.example",
    "message_id": message_id(7, "borlange.example", SECRET),
    "unsubscribe_url": "https://nyheter.example/unsubscribe/eyJzIjo3fQ.abc?lang=sv&x=1",
    "unsubscribe_mailto": "mailto:unsubscribe@borlange.example?subject=eyJzIjo3fQ.abc",
    "preferences_url": "https://nyheter.example/preferences/eyJzIjo3fQ.def",
}


def template(**overrides: Any) -> MessageTemplate:
    rendered = overrides.pop("rendered", RenderedEmail(subject=SUBJECT, html=HTML, text=TEXT))
    arguments: dict[str, Any] = {
        "sender": SENDER,
        "list_id": "Nyheter från Borlänge <sv.nyheter.borlange.example>",
        "date": datetime(2026, 11, 26, 6, 0, tzinfo=UTC),
    }
    arguments.update(overrides)
    return MessageTemplate(rendered, **arguments)


def parse(raw: bytes) -> EmailMessage:
    message = BytesParser(policy=default).parsebytes(raw)
    assert isinstance(message, EmailMessage)
    return message


def parts(message: EmailMessage, encoding: str = "quoted-printable") -> dict[str, str]:
    found = {}
    for part in message.iter_parts():
        assert isinstance(part, EmailMessage)
        assert part["Content-Transfer-Encoding"] == encoding
        assert part.get_content_charset() == "utf-8"
        found[part.get_content_type()] = part.get_content().replace("\r\n", "\n")
    return found


def test_the_message_reads_back_with_every_header() -> None:
    raw = template().personalize(**RECIPIENT)
    message = parse(raw)

    assert message.defects == []
    assert message["Subject"] == SUBJECT
    assert message["From"].addresses[0].display_name == "Nyheter från Borlänge"
    assert message["From"].addresses[0].addr_spec == "nyheter@borlange.example"
    assert message["To"] == RECIPIENT["to"]
    assert message["Date"].datetime == datetime(2026, 11, 26, 6, 0, tzinfo=UTC)
    assert message["Message-ID"] == RECIPIENT["message_id"]
    assert message["MIME-Version"] == "1.0"
    assert message["List-Id"] == "Nyheter från Borlänge <sv.nyheter.borlange.example>"
    assert message["Precedence"] == "bulk"
    # RFC 8058 3.1 and 3.2: the https URI for the one-click POST, and the mailto.
    unsubscribe = re.sub(r"\s+", " ", str(message["List-Unsubscribe"]))
    assert unsubscribe == f"<{RECIPIENT['unsubscribe_url']}>, <{RECIPIENT['unsubscribe_mailto']}>"
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert message.get_content_type() == "multipart/alternative"
    assert list(parts(message)) == ["text/plain", "text/html"]  # RFC 2046 5.1.4: best last


def test_the_subscribers_own_values_are_in_both_parts_and_no_token_is_left() -> None:
    found = parts(parse(template().personalize(**RECIPIENT)))
    text, html = found["text/plain"], found["text/html"]

    assert text == TEXT.replace(personal.PREFERENCES_URL, RECIPIENT["preferences_url"]).replace(
        personal.UNSUBSCRIBE_URL, RECIPIENT["unsubscribe_url"]
    ).replace(personal.EMAIL, RECIPIENT["to"])
    assert "Personliga möten stärker" in html and "Åsa Lindqvist" in html
    # In HTML the & of a query string is escaped; a browser reads the same URL back.
    assert f'href="{RECIPIENT["unsubscribe_url"].replace("&", "&amp;")}"' in html
    assert f'href="{RECIPIENT["preferences_url"]}"' in html
    assert f"Skickat till {RECIPIENT['to']}" in html
    for token in personal.TOKENS:
        assert token not in text and token not in html


def test_an_address_with_html_characters_is_escaped_in_html_only() -> None:
    to = "o'brien&co@kommun.example"
    found = parts(parse(template().personalize(**{**RECIPIENT, "to": to})))
    assert f"Skickat till {to}" in found["text/plain"]
    assert "Skickat till o&#x27;brien&amp;co@kommun.example" in found["text/html"]


@pytest.mark.parametrize("offset", range(0, 64, 7))
def test_personal_values_at_any_offset_keep_utf8_intact(offset: int) -> None:
    # The lines without a token are encoded once, those with one per recipient; "å" is two
    # bytes, and soft line breaks fall at every offset. The text must not care.
    head = "å" * offset + "ö" * (offset % 3)
    rendered = RenderedEmail(subject=SUBJECT, html=head + HTML, text=head + TEXT)
    found = parts(parse(template(rendered=rendered).personalize(**RECIPIENT)))
    assert found["text/plain"].startswith(head + "Senaste nyheter")
    assert found["text/html"].startswith(head + "<!doctype html>")
    assert RECIPIENT["unsubscribe_url"] in found["text/plain"]


@pytest.mark.parametrize(
    "text",
    [
        pytest.param(TEXT, id="digest"),
        # Dots and white space where binascii's lines end: "." first on a line would need
        # SMTP's dot-stuffing; white space at a line end is encoded, past 76 characters.
        pytest.param(("Borlänge. Falun. " * 40 + "\n") * 3 + TEXT, id="dots"),
        pytest.param(("x" * 74 + " \n" + "y" * 75 + "\t\n") * 3 + TEXT, id="space-at-ends"),
    ],
)
def test_the_bytes_are_clean_smtp_text(text: str) -> None:
    raw = template(rendered=RenderedEmail(SUBJECT, HTML, text)).personalize(**RECIPIENT)
    assert raw.isascii()
    assert b"\n" not in raw.replace(b"\r\n", b"")  # CRLF only (RFC 5322 2.1)
    body = raw.split(b"\r\n\r\n", 1)[1]
    for line in body.split(b"\r\n"):
        assert len(line) <= 76, line  # RFC 2045 6.7 (5)
        assert not line.startswith(b"."), line
        assert not line.endswith((b" ", b"\t")), line  # RFC 2045 6.7 (3)
    # So it goes over SMTP as it is, without dot-stuffing (worker/mailer.py).
    assert _data_payload(raw) == raw + b".\r\n"
    assert parts(parse(raw))["text/plain"].startswith(text.split("__BK")[0])


def test_a_text_part_reads_as_text_in_a_file() -> None:
    # An outbox folder: 8bit, the link whole on its line and å ä ö as they are. An HTML
    # line too long for 8bit (RFC 5322 2.1.1: 998) keeps that part quoted-printable.
    html = HTML.replace("<body>", "<body>" + "<p>Älvdalen</p>" * 80)
    rendered = RenderedEmail(subject=SUBJECT, html=html, text=TEXT)
    raw = template(rendered=rendered, eight_bit=True).personalize(**RECIPIENT)
    assert f"Avsluta prenumerationen: {RECIPIENT['unsubscribe_url']}\r\n".encode() in raw
    assert "Personliga möten stärker".encode() in raw
    text, html_part = parse(raw).iter_parts()
    assert isinstance(text, EmailMessage) and isinstance(html_part, EmailMessage)
    assert text["Content-Transfer-Encoding"] == "8bit"
    assert html_part["Content-Transfer-Encoding"] == "quoted-printable"
    plain = text.get_content().replace("\r\n", "\n")
    assert plain == TEXT.replace(personal.PREFERENCES_URL, RECIPIENT["preferences_url"]).replace(
        personal.UNSUBSCRIBE_URL, RECIPIENT["unsubscribe_url"]
    ).replace(personal.EMAIL, RECIPIENT["to"])
    assert "Skickat till asa.lindqvist@kommun.example" in html_part.get_content()


def test_the_same_delivery_gives_the_same_bytes() -> None:
    assert template().personalize(**RECIPIENT) == template().personalize(**RECIPIENT)
    other = {**RECIPIENT, "to": "bo@kommun.example"}
    assert template().personalize(**RECIPIENT) != template().personalize(**other)


INJECTIONS = {
    "CRLF in to": {"to": "asa@kommun.example\r\nBcc: alla@example.se"},
    "LF in to": {"to": "asa@kommun.example\nBcc: alla@example.se"},
    "NUL in to": {"to": "asa@kommun.example\0"},
    "display name in to": {"to": "Åsa <asa@kommun.example>"},
    "non-ASCII to": {"to": "åsa@kommun.example"},
    "no @ in to": {"to": "asa.kommun.example"},
    "CRLF in message id": {"message_id": "<1.a@b.example>\r\nBcc: alla@example.se"},
    "message id without brackets": {"message_id": "1.a@b.example"},
    "CRLF in unsubscribe url": {"unsubscribe_url": "https://n.example/u\r\nBcc: x@y.se"},
    "> in unsubscribe url": {"unsubscribe_url": "https://n.example/u>, <https://evil.example"},
    "space in preferences url": {"preferences_url": "https://n.example/p x"},
    "javascript url": {"preferences_url": "javascript:alert(1)"},
    "mailto that is https": {"unsubscribe_mailto": "https://n.example/u"},
    "CR in mailto": {"unsubscribe_mailto": "mailto:u@b.example\rBcc: x@y.se"},
    "huge url": {"unsubscribe_url": "https://n.example/" + "a" * 2000},
}


@pytest.mark.parametrize("change", INJECTIONS.values(), ids=INJECTIONS.keys())
def test_header_injection_is_refused(change: dict[str, str]) -> None:
    field = next(iter(change))
    with pytest.raises(ValueError, match=f"^{field}:"):
        template().personalize(**{**RECIPIENT, **change})


BAD_TEMPLATES = {
    "CRLF in subject": {"rendered": RenderedEmail(SUBJECT + "\r\nBcc: x@y.se", HTML, TEXT)},
    "two senders": {"sender": "a@b.example, c@d.example"},
    "extra header replacing From": {"extra_headers": {"From": "evil@example.se"}},
    "extra header with a colon": {"extra_headers": {"X-A: b": "c"}},
    "CRLF in extra header": {"extra_headers": {"X-Budkavle-Edition": "1\r\nBcc: x@y.se"}},
}


@pytest.mark.parametrize("change", BAD_TEMPLATES.values(), ids=BAD_TEMPLATES.keys())
def test_a_template_with_unsafe_headers_is_refused(change: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        template(**change)


def test_extra_headers_are_kept() -> None:
    raw = template(extra_headers={"X-Budkavle-Edition": "42"}).personalize(**RECIPIENT)
    assert parse(raw)["X-Budkavle-Edition"] == "42"


def test_message_id_is_stable_unguessable_and_traceable() -> None:
    first = message_id(12345, "borlange.example", SECRET)
    assert first == message_id(12345, "borlange.example", SECRET)  # a retry keeps it
    assert re.fullmatch(r"<12345\.[a-z2-7]{24}@borlange\.example>", first)
    assert first != message_id(12346, "borlange.example", SECRET)
    assert first != message_id(12345, "borlange.example", b"another key")
    assert delivery_of(first, SECRET) == 12345
    forged = first.replace("<12345.", "<12346.")
    assert delivery_of(forged, SECRET) is None  # a bounce cannot name someone else's mail
    assert delivery_of(first, b"another key") is None
    assert delivery_of("<CAF=abc@mail.gmail.com>", SECRET) is None
    with pytest.raises(ValueError, match=r"^domain:"):
        message_id(1, "borlange.example>\r\nBcc: x@y.se", SECRET)


def test_notice_message_id_is_stable_unguessable_and_traceable() -> None:
    requested = datetime(2026, 11, 26, 6, 59, 58, 412000, tzinfo=UTC)
    first = messageids.for_notice(8, requested, "borlange.example", SECRET)
    assert first == messageids.for_notice(8, requested, "borlange.example", SECRET)
    assert re.fullmatch(r"<notice\.8\.1795676398412000\.[a-z2-7]{16}@borlange\.example>", first)
    later = messageids.for_notice(8, requested.replace(second=59), "borlange.example", SECRET)
    assert later != first and messageids.subscriber_of_notice(later, SECRET) == 8
    assert messageids.subscriber_of_notice(first, SECRET) == 8
    assert messageids.subscriber_of_notice(first.replace(".8.", ".9."), SECRET) is None
    assert messageids.subscriber_of_notice(first, b"another key") is None
    # The two forms are never taken for each other, so a notice's bounce is no digest's.
    assert delivery_of(first, SECRET) is None
    assert messageids.subscriber_of_notice(message_id(8, "borlange.example", SECRET),
                                           SECRET) is None  # fmt: skip
    with pytest.raises(ValueError, match=r"^domain:"):
        messageids.for_notice(1, requested, "borlange.example>\r\nBcc: x@y.se", SECRET)


# DKIM -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def dkim_key(tmp_path_factory: pytest.TempPathFactory) -> tuple[bytes, bytes]:
    """(private key PEM, DNS TXT record) from Debian's openssl; the venv has no cryptography."""
    folder = tmp_path_factory.mktemp("dkim")
    key = folder / "dkim.pem"
    subprocess.run(["openssl", "genrsa", "-out", str(key), "2048"], check=True, capture_output=True)
    public = subprocess.run(
        ["openssl", "rsa", "-in", str(key), "-pubout", "-outform", "DER"],
        check=True,
        capture_output=True,
    ).stdout
    return key.read_bytes(), b"v=DKIM1; k=rsa; p=" + base64.b64encode(public)


def signed(dkim_key: tuple[bytes, bytes]) -> bytes:
    signer = DkimSigner(dkim_key[0], selector="budkavle", domain="borlange.example")
    return template(signer=signer).personalize(**RECIPIENT)


def dns(dkim_key: tuple[bytes, bytes]) -> Any:
    def lookup(name: bytes, timeout: int = 5) -> bytes | None:
        return dkim_key[1] if name == b"budkavle._domainkey.borlange.example." else None

    return lookup


def test_dkim_signature_verifies_and_covers_the_unsubscribe_headers(
    dkim_key: tuple[bytes, bytes],
) -> None:
    raw = signed(dkim_key)
    assert raw.startswith(b"DKIM-Signature: ")
    assert dkim.verify(raw, dnsfunc=dns(dkim_key))
    signature = str(parse(raw)["DKIM-Signature"])
    covered = re.search(r"h=([^;]+)", signature)
    assert covered is not None
    names = {name.strip() for name in covered.group(1).replace("\r\n", "").split(":")}
    assert {"from", "to", "subject", "date", "message-id", "list-unsubscribe"} <= names
    assert "list-unsubscribe-post" in names
    assert parts(parse(raw))["text/plain"].startswith("Senaste nyheter")


TAMPERING = {
    "list-unsubscribe pointed elsewhere": (
        b"https://nyheter.example/unsubscribe/",
        b"https://evil.example/unsubscribe//",
    ),
    "second list-unsubscribe added": (
        b"List-Unsubscribe-Post:",
        b"List-Unsubscribe: <https://evil.example/u>\r\nList-Unsubscribe-Post:",
    ),
    "recipient changed": (b"To: asa.lindqvist@", b"To: bo.lindqvist@"),
    "body changed": (
        b"Content-Transfer-Encoding: quoted-printable\r\n\r\nS",
        b"Content-Transfer-Encoding: quoted-printable\r\n\r\nT",
    ),
}


@pytest.mark.parametrize("change", TAMPERING.values(), ids=TAMPERING.keys())
def test_a_tampered_message_fails_dkim(
    dkim_key: tuple[bytes, bytes], change: tuple[bytes, bytes]
) -> None:
    raw = signed(dkim_key)
    assert change[0] in raw
    tampered = raw.replace(change[0], change[1], 1)
    assert not dkim.verify(tampered, dnsfunc=dns(dkim_key))


def test_a_key_that_is_no_key_is_refused_at_once() -> None:
    with pytest.raises(ValueError, match="RSA private key"):
        DkimSigner(b"-----BEGIN PRIVATE KEY-----\nbm9wZQ==\n-----END PRIVATE KEY-----\n",
                   selector="budkavle", domain="borlange.example")  # fmt: skip
