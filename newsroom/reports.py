"""What a mail that comes back says: a bounce, a spam complaint, or a request to leave.

Three shapes, all read with the standard library's email package:

- a delivery status notification (RFC 3464): ``multipart/report; report-type=delivery-status``
  whose ``message/delivery-status`` part has one block of fields per recipient;
- an abuse report (ARF, RFC 5965): ``multipart/report; report-type=feedback-report``;
- a reply to the ``mailto:`` of List-Unsubscribe, subject ``unsubscribe <token>`` (RFC 8058
  §3 keeps mailto as the fallback for mail clients without one-click).

Anything else is ``Kind.OTHER``: an out-of-office reply is no reason to change anyone.

A bounce that is no RFC 3464 report (old qmail and Exchange write prose) is a DSN naming
nobody when it comes from MAILER-DAEMON or postmaster (RFC 5321 §4.5.1): the VERP address
it was delivered to can still say whose mail it was.

Nothing here is trusted yet: anyone can send a report naming anyone. A report also gives
the Message-ID of the mail it is about (``originals``) and the addresses it was delivered
to (``addressed_to``); newsroom/bounces.py acts only when one of those is one we made
(newsroom/messageids.py, newsroom/verp.py).
"""

from __future__ import annotations

import enum
import hashlib
import re
from dataclasses import dataclass
from email import policy
from email.message import EmailMessage, Message
from email.parser import BytesParser

from newsroom.errors import DomainError
from newsroom.subscription import normalize_email

MAX_KEY = 200
# RFC 3463 §2: class.subject.detail; class 2 success, 4 persistent transient, 5 permanent.
_STATUS = re.compile(r"\b([245])\.(\d{1,3})\.(\d{1,3})\b")
_UNSUBSCRIBE = re.compile(r"\s*unsubscribe\s+(\S{1,200})\s*", re.IGNORECASE)
_MSG_ID = re.compile(r"<[^<>\s]{1,250}>")  # RFC 5322 §3.6.4 msg-id, loosely
MAX_ORIGINALS = 20  # a References field may be long; ours is among the last few
# Where the mailbox's MTA writes the envelope recipient: Postfix (Delivered-To,
# X-Original-To), Exim (Envelope-To), others (X-Envelope-To); a DSN's own To is the
# envelope sender it answers (RFC 3464 §2, our VERP address).
_DELIVERED_TO = ("delivered-to", "x-original-to", "envelope-to", "x-envelope-to", "to")
_DAEMON = re.compile(r"(?:^|[\s<\"])(?:mailer-daemon|postmaster)@", re.IGNORECASE)


class ReportError(DomainError):
    status = 422


class Kind(enum.StrEnum):
    DSN = "dsn"
    COMPLAINT = "complaint"
    UNSUBSCRIBE = "unsubscribe"
    OTHER = "other"


@dataclass(frozen=True)
class Recipient:
    address: str
    action: str            # RFC 3464 §2.3.3: failed, delayed, delivered, relayed, expanded
    status: str            # "5.1.1"; "" when the report gives none
    permanent: bool


@dataclass(frozen=True)
class Report:
    kind: Kind
    key: str               # what makes this report the same report when it comes again
    recipients: tuple[Recipient, ...] = ()
    token: str | None = None
    originals: tuple[str, ...] = ()  # Message-IDs the report says it is about, best first
    addressed_to: tuple[str, ...] = ()  # where it was delivered: VERP addresses
    # A provider that authenticated its webhook ("ses", "postmark", "mailgun") vouches for
    # the recipients: their addresses name our subscribers without a Message-ID of ours.
    vouched_by: str = ""


def read(raw: bytes) -> Report:
    """The report in a raw mail; ReportError if the bytes are not a mail at all."""
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        # Our own mail is UTF-8 and RFC 3464 fields are ASCII (UTF-8 per RFC 6533), so a
        # report that is not UTF-8 was garbled on the way or is not one.
        raise ReportError("body", f"must be a mail in UTF-8; byte {exc.start} is not") from None
    message = BytesParser(policy=policy.default).parsebytes(raw)
    if not message.keys():
        raise ReportError("body", "must be a raw mail (RFC 5322 header fields, then the body)")
    key = _key(message, raw)
    to = tuple(str(value) for name in _DELIVERED_TO for value in message.get_all(name, []))
    report_type = str(message.get_param("report-type", "", header="content-type")).lower()
    if message.get_content_type() == "multipart/report" and report_type == "delivery-status":
        return Report(Kind.DSN, key, _delivery_status(message), originals=_originals(message),
                      addressed_to=to)  # fmt: skip
    if message.get_content_type() == "multipart/report" and report_type == "feedback-report":
        return Report(Kind.COMPLAINT, key, _complaint(message), originals=_originals(message),
                      addressed_to=to)  # fmt: skip
    match = _UNSUBSCRIBE.fullmatch(str(message.get("subject", "")))
    if match:
        return Report(Kind.UNSUBSCRIBE, key, token=match.group(1))
    if _DAEMON.search(str(message.get("from", ""))):
        return Report(Kind.DSN, key, originals=_originals(message), addressed_to=to)
    return Report(Kind.OTHER, key)


def _key(message: EmailMessage, raw: bytes) -> str:
    message_id = str(message.get("message-id", "")).strip()
    if message_id and len(message_id) <= MAX_KEY:
        return message_id
    return "sha256:" + hashlib.sha256(raw).hexdigest()


def _delivery_status(message: EmailMessage) -> tuple[Recipient, ...]:
    found: list[Recipient] = []
    for part in message.walk():
        if part.get_content_type() != "message/delivery-status":
            continue
        blocks = part.get_payload()
        # The first block describes the message, the rest one recipient each (§2.1).
        for block in blocks[1:] if isinstance(blocks, list) else []:
            recipient = _recipient(block) if isinstance(block, Message) else None
            if recipient is not None:
                found.append(recipient)
    return tuple(found)


def _recipient(block: Message) -> Recipient | None:
    # Original-Recipient is the address as we gave it in RCPT TO (§2.3.1); the final one
    # may be where a forward led. Ours is what matches a subscriber.
    named = block.get("original-recipient") or block.get("final-recipient")
    if named is None:
        return None
    address = mail_address(str(named).partition(";")[2] or str(named))
    action = str(block.get("action", "")).strip().lower()
    match = _STATUS.search(str(block.get("status", "")))
    status = ".".join(match.groups()) if match else ""
    # §2.3.3: "failed" is the MTA giving up; only a 5.x.x status says it will never work.
    permanent = action == "failed" and status.startswith("5.")
    return Recipient(address, action, status, permanent)


def _originals(message: EmailMessage) -> tuple[str, ...]:
    """The Message-IDs of the mail a report is about, as the report quotes them."""
    # RFC 3464 §2 and RFC 5965 §2: the report's third part is the original message
    # (message/rfc822) or its header (text/rfc822-headers). ARF has no field of its own
    # for it (the IANA MARF registry has none; Original-Envelope-Id is the SMTP ENVID of
    # RFC 3461, which we do not set), so the quoted header is where it is.
    quoted: list[str] = []
    for part in message.iter_parts():
        if part.get_content_type() in ("message/rfc822", "text/rfc822-headers"):
            quoted += _MSG_ID.findall(_fields(part).get("message-id", ""))
    if not quoted:
        # Both parts are optional; some reporters answer the original instead
        # (RFC 5322 §3.6.4), in whose References the original is the last id.
        quoted = _MSG_ID.findall(str(message.get("in-reply-to", "")))
        quoted += reversed(_MSG_ID.findall(str(message.get("references", ""))))
    return tuple(dict.fromkeys(quoted))[:MAX_ORIGINALS]


def _complaint(message: EmailMessage) -> tuple[Recipient, ...]:
    feedback_type = ""
    address = ""
    for part in message.walk():
        kind = part.get_content_type()
        if kind == "message/feedback-report":
            fields = _fields(part)
            feedback_type = fields.get("feedback-type", "").strip().lower()
            # RFC 5965 §3.2: Original-Rcpt-To is optional; providers often leave it out.
            address = address or mail_address(fields.get("original-rcpt-to", ""))
        elif kind in ("message/rfc822", "text/rfc822-headers") and not address:
            address = mail_address(_fields(part).get("to", ""))
    # RFC 5965 §7.3: "abuse" is a spam complaint; "not-spam" and the rest are no reason.
    permanent = feedback_type in ("abuse", "fraud")
    # Without an address (providers may redact it, RFC 6590) the complaint still stands:
    # the original's Message-ID says whose mail it was.
    return (Recipient(address, feedback_type or "abuse", "", permanent),)


def _fields(part: Message) -> dict[str, str]:
    """The header fields of a report part, whichever way the parser held it."""
    payload = part.get_payload()
    if isinstance(payload, list):  # message/*: the parser made sub-messages
        merged: dict[str, str] = {}
        for inner in payload:
            if isinstance(inner, Message):
                merged.update({name.lower(): str(value) for name, value in inner.items()})
        return merged
    text = payload if isinstance(payload, str) else ""
    parsed = BytesParser(policy=policy.default).parsebytes(text.encode("utf-8", "replace"))
    return {name.lower(): str(value) for name, value in parsed.items()}


def mail_address(value: str) -> str:
    """The one spelling we store (subscribers.normalize_email), or a lower-cased best try."""
    value = value.strip().strip("<>").strip()
    if "<" in value:  # "Åsa <asa@example.se>"
        value = value.rpartition("<")[2].rstrip(">")
    try:
        return normalize_email(value)
    except ValueError:
        return value.lower()[:254]
