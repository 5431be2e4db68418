"""Returned mail as receiving servers write it, made for these tests: Postfix bounces and
delay notices (RFC 3464), a policy rejection, an ARF complaint (RFC 5965), an
out-of-office reply, and an unsubscribe mail to the List-Unsubscribe mailto.

A report quotes the header of the mail it is about, with that mail's Message-ID: give one
we made (`digest_id`, `notice_id`) for a report that should act, anything else (or None:
no quoted original) for a forgery."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

from config import get_settings
from newsroom import messageids

DOMAIN = "nyheter.example"
NOTICE_REQUESTED = datetime(2026, 11, 26, 6, 59, 58, 412000, tzinfo=UTC)
FORGED_ID = "<41.abcdefghijklmnopqrstuvwx@nyheter.example>"  # our form, not our HMAC

ORIGINAL = """\
From: Budkavle <nyheter@nyheter.example>
To: {address}
Subject: =?utf-8?q?Senaste_nyheter_fr=C3=A5n_Borl=C3=A4nge?=
Message-ID: {original}
Date: Thu, 26 Nov 2026 07:00:00 +0100
"""


def digest_id(delivery_id: int) -> str:
    """The Message-ID of the digest email of one EmailDelivery row (worker/deliver.py)."""
    return messageids.for_delivery(delivery_id, DOMAIN, _secret())


def notice_id(subscriber_id: int) -> str:
    """The Message-ID of a confirm email sent to the subscriber (worker/notices.py)."""
    return messageids.for_notice(subscriber_id, NOTICE_REQUESTED, DOMAIN, _secret())


def _secret() -> bytes:
    return get_settings().resolved_secret_key().encode()


def _crlf(text: str) -> bytes:
    return text.replace("\r\n", "\n").replace("\n", "\r\n").encode("utf-8")


def dsn(
    address: str,
    original: str | None,
    *,
    action: str,
    status: str,
    diagnostic: str,
    message_id: str | None = "",
    in_reply_to: str | None = None,
    reporter: str = "mx1.kommun.example",
    delivered_to: str | None = None,
) -> bytes:
    """A Postfix-style non-delivery (or delay) report for one recipient about the mail
    `original` (its Message-ID; None: the report quotes no header); by default with a
    Message-ID of its own (None: without one)."""
    if message_id == "":
        tag = hashlib.sha256(f"{address} {status}".encode()).hexdigest()[:8].upper()
        message_id = f"<20261126070002.{tag}@{reporter}>"
    subject = "Delayed Mail (still being retried)" if action == "delayed" else (
        "Undelivered Mail Returned to Sender"
    )
    id_line = f"Message-ID: {message_id}\n" if message_id else ""
    envelope = _envelope(delivered_to)
    if in_reply_to:
        id_line += f"In-Reply-To: {in_reply_to}\nReferences: {in_reply_to}\n"
    quoted = "" if original is None else f"""\
--4F1A2C0.1795680002/{reporter}
Content-Description: Undelivered Message Headers
Content-Type: text/rfc822-headers

{ORIGINAL.format(address=address, original=original)}
"""
    return _crlf(f"""\
Return-Path: <>
{envelope}From: MAILER-DAEMON@{reporter} (Mail Delivery System)
Subject: {subject}
Date: Thu, 26 Nov 2026 07:00:02 +0100 (CET)
{id_line}Auto-Submitted: auto-replied
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status;
\tboundary="4F1A2C0.1795680002/{reporter}"

This is a MIME-encapsulated message.

--4F1A2C0.1795680002/{reporter}
Content-Description: Notification
Content-Type: text/plain; charset=utf-8
Content-Transfer-Encoding: 8bit

This is the mail system at host {reporter}.

I'm sorry to have to inform you that your message could not
be delivered to one or more recipients.

<{address}>: {diagnostic}

--4F1A2C0.1795680002/{reporter}
Content-Description: Delivery report
Content-Type: message/delivery-status

Reporting-MTA: dns; {reporter}
X-Postfix-Queue-ID: 4F1A2C0
X-Postfix-Sender: rfc822; bounces@nyheter.example
Arrival-Date: Thu, 26 Nov 2026 07:00:01 +0100 (CET)

Final-Recipient: rfc822; {address}
Original-Recipient: rfc822;{address}
Action: {action}
Status: {status}
Remote-MTA: dns; mx.{address.partition("@")[2]}
Diagnostic-Code: smtp; {diagnostic}

{quoted}--4F1A2C0.1795680002/{reporter}--
""")


def _envelope(delivered_to: str | None) -> str:
    """What the bounce mailbox's MTA adds (Postfix: Delivered-To, X-Original-To), and the
    report's own To: the envelope sender of the mail it answers (our VERP address)."""
    if delivered_to is None:
        return "To: nyheter@nyheter.example\n"
    return f"Delivered-To: {delivered_to}\nX-Original-To: {delivered_to}\nTo: {delivered_to}\n"


def empty_bounce(
    delivered_to: str, *, message_id: str, reporter: str = "mx.kommun.example"
) -> bytes:
    """A bounce with nothing to read: no RFC 3464 report, no quoted original, no body (old
    Exchange and qmail setups, or a filter that stripped it). Only its envelope tells."""
    return _crlf(f"""\
Return-Path: <>
{_envelope(delivered_to)}From: Mail Delivery Subsystem <MAILER-DAEMON@{reporter}>
Subject: Returned mail: see transcript for details
Date: Thu, 26 Nov 2026 07:00:09 +0100
Message-ID: {message_id}
Auto-Submitted: auto-replied
Content-Type: text/plain; charset=utf-8

""")


def user_unknown(address: str, original: str | None, **kwargs: str | None) -> bytes:
    return dsn(address, original, action="failed", status="5.1.1", diagnostic=(
        f"550 5.1.1 <{address}>: Recipient address rejected: User unknown in virtual mailbox "
        "table"), **kwargs)  # fmt: skip


def mailbox_full(address: str, original: str | None, **kwargs: str | None) -> bytes:
    return dsn(address, original, action="delayed", status="4.2.2", diagnostic=(
        f"452 4.2.2 <{address}>: Mailbox full; brevlådan är full"), **kwargs)  # fmt: skip


def policy(address: str, original: str | None, **kwargs: str | None) -> bytes:
    return dsn(address, original, action="failed", status="5.7.1", diagnostic=(
        "550 5.7.1 Message rejected under local policy (avvisat enligt lokal policy)"),
        **kwargs)  # fmt: skip


def complaint(address: str, original: str | None, *, rcpt_to: bool = False) -> bytes:
    """An ARF report (RFC 5965) from a mailbox provider's "this is spam" button. Most
    providers redact Original-Rcpt-To; the original To header then names the reader.
    None for `original`: the report leaves out the original message (it may, §2)."""
    rcpt = f"Original-Rcpt-To: {address}\n" if rcpt_to else ""
    quoted = "" if original is None else f"""\
--arf_boundary
Content-Type: message/rfc822
Content-Disposition: inline

{ORIGINAL.format(address=address, original=original)}MIME-Version: 1.0
Content-Type: text/plain; charset=utf-8
Content-Transfer-Encoding: 8bit

– Vi förstår varandra på ett annat sätt, säger Kristina Westerholm.

"""
    return _crlf(f"""\
From: <feedback@fbl.postleverantor.example>
To: <abuse@nyheter.example>
Subject: FW: Senaste nyheter från Borlänge
Date: Thu, 26 Nov 2026 09:12:40 +0100
Message-ID: <arf-77812@fbl.postleverantor.example>
MIME-Version: 1.0
Content-Type: multipart/report; report-type=feedback-report; boundary="arf_boundary"

--arf_boundary
Content-Type: text/plain; charset="utf-8"
Content-Transfer-Encoding: 8bit

This is an email abuse report for an email message received from IP 192.0.2.25 on
Thu, 26 Nov 2026 07:00:00 +0100.

--arf_boundary
Content-Type: message/feedback-report

Feedback-Type: abuse
User-Agent: PostleverantorFBL/1.0
Version: 1
Original-Mail-From: <bounces@nyheter.example>
{rcpt}Arrival-Date: Thu, 26 Nov 2026 07:00:00 +0100
Source-IP: 192.0.2.25
Reported-Domain: nyheter.example

{quoted}--arf_boundary--
""")


def out_of_office(address: str) -> bytes:
    return _crlf(f"""\
From: Åsa Lindqvist <{address}>
To: nyheter@nyheter.example
Subject: =?utf-8?q?Fr=C3=A5nvaro=3A_Senaste_nyheter?=
Date: Thu, 26 Nov 2026 07:00:05 +0100
Message-ID: <ooo-1@kommun.example>
Auto-Submitted: auto-replied
Content-Type: text/plain; charset=utf-8
Content-Transfer-Encoding: 8bit

Jag är på semester till och med måndag. – Åsa
""")


def unsubscribe_mail(address: str, token: str) -> bytes:
    """What a mail client sends for the mailto of List-Unsubscribe (RFC 8058 §3, RFC 6068)."""
    return _crlf(f"""\
From: {address}
To: unsubscribe@nyheter.example
Subject: unsubscribe {token}
Date: Thu, 26 Nov 2026 10:00:00 +0100
Message-ID: <unsub-{token[-12:]}@kommun.example>
Content-Type: text/plain; charset=utf-8

""")


GARBAGE = bytes(range(256)) * 4
NO_HEADERS = "Hej! Detta är inget mejl, bara text.\n".encode()
