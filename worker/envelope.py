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
from collections.abc import Iterator, Mapping
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
SOFT_BREAK = b"=" + CRLF
MAX_URL = 900  # RFC 5322 2.1.1: a line is at most 998 characters; a URL gets its own line

_ADDRESS = re.compile(r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]{1,64}@[A-Za-z0-9.-]{1,253}", re.ASCII)
_MESSAGE_ID = re.compile(r"<[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]{1,200}@[A-Za-z0-9.-]{1,253}>", re.ASCII)
# Printable ASCII without space, '"', '<' and '>': what may stand inside <...> (RFC 2369).
_URL = re.compile(rf"https?://[!#-;=?-~]{{1,{MAX_URL}}}", re.ASCII)
_MAILTO = re.compile(rf"mailto:[!#-;=?-~]{{1,{MAX_URL}}}", re.ASCII)
_HEADER_NAME = re.compile(r"[!-9;-~]{1,76}", re.ASCII)  # RFC 5322 2.2: ftext

# Tokens are ASCII, so they are found in the UTF-8 bytes directly.
_TOKENS = re.compile(b"|".join(re.escape(t.encode("ascii")) for t in personal.TOKENS))
_TOKEN_SPLIT = re.compile(b"(" + _TOKENS.pattern + b")")
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
        cut = _cut(line, LINE_CHARS - 1)  # and the "=" of a soft line break
        pieces.append(line[:cut] + b"=")
        line = line[cut:]
    pieces.append(line)
    return pieces


def _piece(data: bytes) -> bytes:
    """Quoted-printable of a piece of text that a soft line break ("=" CRLF) may follow:
    its last line is kept to 75 characters, so the "=" fits in 76."""
    encoded = _quoted_printable(data)
    end = encoded.rfind(CRLF)
    start = 0 if end < 0 else end + 2
    if len(encoded) - start < LINE_CHARS:
        return encoded
    last = encoded[start:]
    cut = _cut(last, LINE_CHARS - 1)
    rest = last[cut:]  # a few characters; a "." first would need dot-stuffing (see _fit)
    rest = b"=2E" + rest[1:] if rest.startswith(b".") else rest
    return encoded[:start] + last[:cut] + SOFT_BREAK + rest


def _cut(line: bytes, cut: int) -> int:
    """Where to break ``line`` at or before ``cut`` without splitting an "=XX"."""
    if line[cut - 1 : cut] == b"=":
        return cut - 1
    if line[cut - 2 : cut - 1] == b"=":
        return cut - 2
    return cut


class _Part:
    """One text/* part, encoded once around its personal tokens.

    Quoted-printable: each fixed piece between tokens is encoded once, on its own, and
    each recipient's values are encoded apart; they are joined with soft line breaks
    ("=" CRLF, RFC 2045 6.7 (5)), which a reader removes, so the pieces decode to the
    text with the values in it. A rendered digest's HTML is one long line of 65 KB with
    the tokens inside it: only the values, a few hundred bytes, are encoded per
    recipient. 8bit: the pieces and values are joined as they are.
    """

    def __init__(self, content_type: str, text: str, boundary: bytes, eight_bit: bool) -> None:
        canonical = text.replace("\r\n", "\n").replace("\r", "\n")
        data = canonical.encode("utf-8")
        # 8bit only where every line fits RFC 5322 2.1.1's 998, with a personal value of up
        # to MAX_URL for each token: a rendered HTML line can be longer.
        self.eight_bit = eight_bit and all(
            len(line) + MAX_URL * len(_TOKENS.findall(line)) <= 998
            for line in data.split(b"\n")
        )
        encoding = "8bit" if self.eight_bit else "quoted-printable"
        self.head = b"".join(
            (
                b"--" + boundary + CRLF,
                f'Content-Type: {content_type}; charset="utf-8"'.encode("ascii") + CRLF,
                f"Content-Transfer-Encoding: {encoding}".encode("ascii") + CRLF,
                CRLF,
            )
        )
        pieces = _TOKEN_SPLIT.split(data)
        encode = _eight_bit if self.eight_bit else _piece
        self.fixed = tuple(encode(piece) for piece in pieces[0::2])
        self.tokens = tuple(pieces[1::2])
        # RFC 2046 5.1.1: the line end before the next boundary belongs to the boundary, so
        # one is added after the text's own last line end (if it has one), which stays.
        self.tail = CRLF

    def render(self, values: Mapping[bytes, bytes]) -> bytes:
        if self.eight_bit:
            joined = [self.head, self.fixed[0]]
            for token, fixed in zip(self.tokens, self.fixed[1:], strict=True):
                joined += (values[token], fixed)
            joined.append(self.tail)
            return b"".join(joined)
        out = [self.head]
        previous = b""
        for piece in _interleave(self.fixed, (_piece(values[t]) for t in self.tokens)):
            if not piece:
                continue
            if previous and not previous.endswith(CRLF):
                out.append(SOFT_BREAK)
            out.append(piece)
            previous = piece
        out.append(self.tail)
        return b"".join(out)


def _interleave(fixed: tuple[bytes, ...], values: Iterator[bytes]) -> Iterator[bytes]:
    yield fixed[0]
    for value, after in zip(values, fixed[1:], strict=True):
        yield value
        yield after


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
