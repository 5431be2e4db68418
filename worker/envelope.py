"""Email bytes built once per (edition, language, segment), personalised per recipient.

Building an EmailMessage and serialising it costs milliseconds; a digest to 100,000
subscribers cannot pay that per recipient. So the header block, the MIME boundary and the
quoted-printable of every line without a personal token are made once, and `personalize`
only joins bytes, substitutes the tokens of `email_templates.personal` and encodes the
few lines that held them: tens of microseconds. Quoted-printable rather than base64, so
the text and links read as they are in a `.eml` file opened in an editor.

Per-recipient values go into headers without the email package, so they are checked here
instead: printable ASCII, no CR, LF or NUL, no angle brackets. Header injection through an
address, a Message-ID or a URL is impossible, not merely unlikely.
"""

from __future__ import annotations

import binascii
import hashlib
import html
import re
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from email.headerregistry import AddressHeader
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime

from email_templates import personal
from email_templates.render import RenderedEmail
from newsroom import messageids
from worker.dkimsign import DkimSigner

CRLF = b"\r\n"
LINE_CHARS = 76  # RFC 2045 6.7 (5): encoded lines of at most 76 characters
MAX_URL = 900  # RFC 5322 2.1.1: a line is at most 998 characters; a URL gets its own line

_ADDRESS = re.compile(r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]{1,64}@[A-Za-z0-9.-]{1,253}", re.ASCII)
_MESSAGE_ID = re.compile(r"<[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]{1,200}@[A-Za-z0-9.-]{1,253}>", re.ASCII)
# Printable ASCII without space, '"', '<' and '>': what may stand inside <...> (RFC 2369).
_URL = re.compile(rf"https?://[!#-;=?-~]{{1,{MAX_URL}}}", re.ASCII)
_MAILTO = re.compile(rf"mailto:[!#-;=?-~]{{1,{MAX_URL}}}", re.ASCII)
_HEADER_NAME = re.compile(r"[!-9;-~]{1,76}", re.ASCII)  # RFC 5322 2.2: ftext

# Tokens are ASCII, so they are found in the UTF-8 bytes directly.
_TOKENS = re.compile(b"|".join(re.escape(t.encode("ascii")) for t in personal.TOKENS))
_UNSUBSCRIBE = personal.UNSUBSCRIBE_URL.encode("ascii")
_PREFERENCES = personal.PREFERENCES_URL.encode("ascii")
_EMAIL = personal.EMAIL.encode("ascii")
# Header fields the template writes itself; extra headers may not replace them.
_OWN_HEADERS = frozenset(
    name.lower()
    for name in (
        "From", "To", "Subject", "Date", "Message-ID", "List-Id", "List-Unsubscribe",
        "List-Unsubscribe-Post", "Precedence", "MIME-Version", "Content-Type",
        "Content-Transfer-Encoding", "DKIM-Signature",
    )
)  # fmt: skip


def _check(field: str, value: str, pattern: re.Pattern[str]) -> bytes:
    if not isinstance(value, str) or pattern.fullmatch(value) is None:
        raise ValueError(f"{field}: not allowed in an email header: {value!r}")
    return value.encode("ascii")


def _eight_bit(data: bytes) -> bytes:
    """8bit (RFC 2045 2.8): the UTF-8 text as it is, with CRLF line ends."""
    return data.replace(b"\n", CRLF)


def _quoted_printable(data: bytes) -> bytes:
    """RFC 2045 6.7 quoted-printable of LF-ended UTF-8 text, in CRLF lines of at most 76
    characters: ASCII stays readable, so a person who opens the .eml finds the links.

    binascii's encoder (C) is told the text is LF-ended and its line ends made CRLF after:
    given CRLF, it would end its soft line breaks with a bare LF in text that has no line
    end at all. Its rare faults are mended line by line (see _fit).
    """
    encoded = binascii.b2a_qp(data, quotetabs=False, istext=True)
    if (  # each a search in C: the mending below is in Python, and rarely needed
        encoded.startswith(b".")
        or encoded.find(b"\n.") != -1
        or encoded.find(b"=20\n") != -1
        or encoded.find(b"=09\n") != -1
        or encoded.endswith((b"=20", b"=09"))
    ):
        encoded = b"\n".join(piece for line in encoded.split(b"\n") for piece in _fit(line))
    return encoded.replace(b"\n", CRLF)


def _fit(line: bytes) -> list[bytes]:
    """One encoded line as lines of at most 76 characters, none starting with ".".

    binascii makes a line of 77 or 78 when it encodes white space at the end of a line
    (=20, =09) that was already full, and only then (CPython 3.11). And a line that starts
    with "." would need SMTP's dot-stuffing (RFC 5321 4.5.2); soft line breaks put one first
    in most digests, so it becomes "=2E" and the message goes out as it is
    (worker/mailer.py).
    """
    pieces = []
    while True:
        if line.startswith(b"."):
            line = b"=2E" + line[1:]
        if len(line) <= LINE_CHARS:
            break
        cut = LINE_CHARS - 1  # and the "=" of a soft line break
        if line[cut - 1 : cut] == b"=":
            cut -= 1  # not inside an "=XX"
        elif line[cut - 2 : cut - 1] == b"=":
            cut -= 2
        pieces.append(line[:cut] + b"=")
        line = line[cut:]
    pieces.append(line)
    return pieces


class _Part:
    """One text/* part: the quoted-printable of its lines without a token made once, the
    lines with one kept to encode per recipient.

    Quoted-printable encodes each line on its own (its soft breaks and trailing white
    space never reach past the line end), so runs of whole lines encode apart and join
    into the encoding of the whole. A digest's tokens sit on a few lines of its footer:
    per recipient only those are encoded, a few hundred bytes.
    """

    def __init__(self, content_type: str, text: str, boundary: bytes, eight_bit: bool) -> None:
        canonical = text.replace("\r\n", "\n").replace("\r", "\n")
        lines = canonical.encode("utf-8").splitlines(keepends=True)
        # 8bit only where every line fits RFC 5322 2.1.1's 998, with a personal value of up
        # to MAX_URL for each token: a rendered HTML line can be longer.
        self.encode: Callable[[bytes], bytes] = _quoted_printable
        encoding = "quoted-printable"
        if eight_bit and all(
            len(line) + MAX_URL * len(_TOKENS.findall(line)) <= 998 for line in lines
        ):
            encoding, self.encode = "8bit", _eight_bit
        self.head = b"".join(
            (
                b"--" + boundary + CRLF,
                f'Content-Type: {content_type}; charset="utf-8"'.encode("ascii") + CRLF,
                f"Content-Transfer-Encoding: {encoding}".encode("ascii") + CRLF,
                CRLF,
            )
        )
        # Alternating: encoded bytes (even places), then the raw lines with tokens.
        chunks: list[bytes] = []
        fixed: list[bytes] = []
        personal_lines: list[bytes] = []
        for line in lines:
            if _TOKENS.search(line) is None:
                if personal_lines:
                    chunks.append(b"".join(personal_lines))
                    personal_lines = []
                fixed.append(line)
            else:
                if not personal_lines:
                    chunks.append(self.encode(b"".join(fixed)))
                    fixed = []
                personal_lines.append(line)
        if personal_lines:
            chunks.append(b"".join(personal_lines))
        else:
            chunks.append(self.encode(b"".join(fixed)))
        self.chunks = tuple(chunks)
        # RFC 2046 5.1.1: the line end before the next boundary belongs to the boundary, so
        # one is added after the text's own last line end (if it has one), which stays.
        self.tail = CRLF

    def render(self, values: Mapping[bytes, bytes]) -> bytes:
        joined = [self.head]
        for place, chunk in enumerate(self.chunks):
            if place % 2 == 0:
                joined.append(chunk)
            else:
                filled = _TOKENS.sub(lambda found: values[found.group(0)], chunk)
                joined.append(self.encode(filled))
        joined.append(self.tail)
        return b"".join(joined)


class MessageTemplate:
    """One rendered email, ready to become bytes for any recipient."""

    def __init__(
        self,
        rendered: RenderedEmail,
        *,
        sender: str,
        list_id: str,
        date: datetime | None = None,
        extra_headers: Mapping[str, str] | None = None,
        signer: DkimSigner | None = None,
        eight_bit: bool = False,
    ) -> None:
        """``eight_bit``: text as it is (8bit) where lines allow, for files a person opens
        in an editor; never over SMTP, where quoted-printable keeps DKIM signatures whole
        through relays without 8BITMIME (RFC 6376 5.3)."""
        self.signer = signer
        fixed = EmailMessage(policy=SMTP)  # once per template: RFC 2047 words and folding
        fixed["From"] = sender
        from_header = fixed["From"]
        assert isinstance(from_header, AddressHeader)
        if len(from_header.addresses) != 1 or not from_header.addresses[0].domain:
            raise ValueError(f"sender: must be one address, e.g. Nyheter <a@b.se>: {sender!r}")
        self.sender_address = from_header.addresses[0].addr_spec
        self.domain = from_header.addresses[0].domain
        _check("sender", self.sender_address, _ADDRESS)
        from_line = _fold(fixed)
        del fixed["From"]

        fixed["Subject"] = rendered.subject  # the policy refuses CR and LF (injection)
        fixed["Date"] = format_datetime(date or datetime.now(UTC))
        fixed["List-Id"] = list_id  # RFC 2919, e.g. "Nyheter <sv.nyheter.example>"
        for name, value in (extra_headers or {}).items():
            if _HEADER_NAME.fullmatch(name) is None or name.lower() in _OWN_HEADERS:
                raise ValueError(f"extra_headers: {name!r} cannot be set here")
            fixed[name] = value
        # Precedence: bulk (RFC 3834 2, 3.1.8): vacation responders stay quiet. Not
        # Auto-Submitted: a digest is mail the reader asked for, not a machine's reply.
        fixed["Precedence"] = "bulk"
        # The boundary is fixed by the content (the same edition gives the same bytes) and
        # cannot occur in quoted-printable, where "=" is followed by two hex digits or a
        # line end, never "_" (RFC 2045 6.7).
        digest = hashlib.sha256(f"{rendered.html}\0{rendered.text}".encode()).hexdigest()
        boundary = f"=_budkavle_{digest[:24]}"
        fixed["MIME-Version"] = "1.0"
        fixed["Content-Type"] = f'multipart/alternative; boundary="{boundary}"'
        rest = _fold(fixed) + CRLF  # the empty line that ends the header block

        self._from_line = from_line
        self._rest = rest
        raw_boundary = boundary.encode("ascii")
        # RFC 2046 5.1.4: the richest part last; text/plain first for old readers.
        self._text = _Part("text/plain", rendered.text, raw_boundary, eight_bit)
        self._html = _Part("text/html", rendered.html, raw_boundary, eight_bit)
        self._close = b"--" + raw_boundary + b"--" + CRLF

    def personalize(
        self,
        *,
        to: str,
        message_id: str,
        unsubscribe_url: str,
        unsubscribe_mailto: str,
        preferences_url: str,
    ) -> bytes:
        """The whole message for one recipient (RFC 5322, CRLF), DKIM-signed if configured."""
        raw_to = _check("to", to, _ADDRESS)
        raw_id = _check("message_id", message_id, _MESSAGE_ID)
        raw_unsubscribe = _check("unsubscribe_url", unsubscribe_url, _URL)
        raw_mailto = _check("unsubscribe_mailto", unsubscribe_mailto, _MAILTO)
        raw_preferences = _check("preferences_url", preferences_url, _URL)
        plain = {
            _UNSUBSCRIBE: raw_unsubscribe,
            _PREFERENCES: raw_preferences,
            _EMAIL: raw_to,
        }
        # In HTML an address like o'brien&co@x.se must be escaped, in href values too.
        escaped = {token: html.escape(value.decode("ascii")).encode("ascii")
                   for token, value in plain.items()}  # fmt: skip
        message = b"".join(
            (
                self._from_line,
                b"To: " + raw_to + CRLF,
                b"Message-ID: " + raw_id + CRLF,
                # RFC 8058 3.1: the https URI for one-click, and a mailto for clients
                # without it; RFC 2369: each in angle brackets, folded between them.
                b"List-Unsubscribe: <" + raw_unsubscribe + b">," + CRLF,
                b" <" + raw_mailto + b">" + CRLF,
                b"List-Unsubscribe-Post: List-Unsubscribe=One-Click" + CRLF,
                self._rest,
                self._text.render(plain),
                self._html.render(escaped),
                self._close,
            )
        )
        return message if self.signer is None else self.signer.sign(message)


def _fold(message: EmailMessage) -> bytes:
    """The header fields of `message` as folded, CRLF-terminated lines."""
    return b"".join(SMTP.fold_binary(name, value) for name, value in message.items())


# Made in the domain layer, so newsroom/bounces.py can read them back; kept under their
# old names here for the senders (worker/deliver.py) and the benchmarks.
message_id = messageids.for_delivery
delivery_of = messageids.delivery_of
