"""Email bytes built once per (edition, language, segment), personalised per recipient.

Building an EmailMessage and serialising it costs milliseconds; a digest to 100,000
subscribers cannot pay that per recipient. So the header block, the MIME boundary and the
base64 of everything before the first personal token are made once, and `personalize`
only joins bytes, substitutes the tokens of `email_templates.personal` and base64-encodes
the rest of each part: tens of microseconds.

Per-recipient values go into headers without the email package, so they are checked here
instead: printable ASCII, no CR, LF or NUL, no angle brackets. Header injection through an
address, a Message-ID or a URL is impossible, not merely unlikely.
"""

from __future__ import annotations

import binascii
import hashlib
import html
import re
import struct
from collections.abc import Mapping
from datetime import UTC, datetime
from email.headerregistry import AddressHeader
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime
from functools import lru_cache

from email_templates import personal
from email_templates.render import RenderedEmail
from newsroom import messageids
from worker.dkimsign import DkimSigner

CRLF = b"\r\n"
# RFC 2045 6.8: base64 lines of at most 76 characters, i.e. 57 bytes of input each.
LINE_BYTES = 57
LINE_CHARS = 76
MAX_URL = 900  # RFC 5322 2.1.1: a line is at most 998 characters; a URL gets its own line

_ADDRESS = re.compile(r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]{1,64}@[A-Za-z0-9.-]{1,253}", re.ASCII)
_MESSAGE_ID = re.compile(r"<[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]{1,200}@[A-Za-z0-9.-]{1,253}>", re.ASCII)
# Printable ASCII without space, '"', '<' and '>': what may stand inside <...> (RFC 2369).
_URL = re.compile(rf"https?://[!#-;=?-~]{{1,{MAX_URL}}}", re.ASCII)
_MAILTO = re.compile(rf"mailto:[!#-;=?-~]{{1,{MAX_URL}}}", re.ASCII)
_HEADER_NAME = re.compile(r"[!-9;-~]{1,76}", re.ASCII)  # RFC 5322 2.2: ftext

# Tokens are ASCII, so they are found in the UTF-8 bytes directly.
_TOKENS = re.compile(b"(" + b"|".join(re.escape(t.encode("ascii")) for t in personal.TOKENS) + b")")
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


@lru_cache(maxsize=512)
def _lines(count: int) -> struct.Struct:
    # One C call cuts base64 text into `count` lines of 76; a Python loop over the slices
    # would cost as much as the encoding itself.
    return struct.Struct(f"{LINE_CHARS}s" * count)


def _base64_lines(data: bytes) -> bytes:
    """RFC 2045 base64 of `data` in CRLF-terminated lines of 76 characters."""
    if not data:
        return b""
    encoded = binascii.b2a_base64(data, newline=False)
    full = len(encoded) // LINE_CHARS
    lines = list(_lines(full).unpack_from(encoded)) if full else []
    if len(encoded) > full * LINE_CHARS:
        lines.append(encoded[full * LINE_CHARS :])
    lines.append(b"")
    return CRLF.join(lines)


class _Part:
    """One text/* part: base64 of its unchanging head, the rest as segments around tokens."""

    def __init__(self, content_type: str, text: str, boundary: bytes) -> None:
        # RFC 2045 6.8: text is brought to canonical CRLF line ends before base64.
        canonical = text.replace("\r\n", "\n").replace("\r", "\n").replace("\n", "\r\n")
        data = canonical.encode("utf-8")
        first = _TOKENS.search(data)
        start = len(data) if first is None else first.start()
        cut = start - start % LINE_BYTES  # whole base64 lines before the first token
        self.head = b"".join(
            (
                b"--" + boundary + CRLF,
                f'Content-Type: {content_type}; charset="utf-8"'.encode("ascii") + CRLF,
                b"Content-Transfer-Encoding: base64" + CRLF,
                CRLF,
                _base64_lines(data[:cut]),
            )
        )
        pieces = _TOKENS.split(data[cut:])
        self.segments = tuple(pieces[0::2])
        self.tokens = tuple(token.decode("ascii") for token in pieces[1::2])

    def render(self, values: Mapping[str, bytes]) -> bytes:
        if not self.tokens:
            return self.head + _base64_lines(self.segments[0])
        joined = [self.segments[0]]
        for token, segment in zip(self.tokens, self.segments[1:], strict=True):
            joined.append(values[token])
            joined.append(segment)
        return self.head + _base64_lines(b"".join(joined))


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
    ) -> None:
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
        # cannot occur in base64, whose alphabet has no '_' and '=' only as final padding.
        digest = hashlib.sha256(f"{rendered.html}\0{rendered.text}".encode()).hexdigest()
        boundary = f"=_budkavle_{digest[:24]}"
        fixed["MIME-Version"] = "1.0"
        fixed["Content-Type"] = f'multipart/alternative; boundary="{boundary}"'
        rest = _fold(fixed) + CRLF  # the empty line that ends the header block

        self._from_line = from_line
        self._rest = rest
        raw_boundary = boundary.encode("ascii")
        # RFC 2046 5.1.4: the richest part last; text/plain first for old readers.
        self._text = _Part("text/plain", rendered.text, raw_boundary)
        self._html = _Part("text/html", rendered.html, raw_boundary)
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
            personal.UNSUBSCRIBE_URL: raw_unsubscribe,
            personal.PREFERENCES_URL: raw_preferences,
            personal.EMAIL: raw_to,
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
