"""Postmark bounce and spam-complaint webhooks.

Postmark signs nothing; it authenticates a webhook with the HTTP Basic credentials the
operator writes into the webhook's URL (https://user:password@host/api/bounces/postmark),
which must equal BUDKAVLE_POSTMARK_WEBHOOK_AUTH (compared in constant time). A bounce
record is keyed by Postmark's bounce ID, so a webhook retried applies once.
"""

from __future__ import annotations

import base64
import binascii
import hmac
from collections.abc import Mapping
from typing import Any

from newsroom.reports import Kind, Recipient, Report, mail_address
from web.bouncehooks.common import Context, Reading, Refused, off, payload, status_in, text

_CHALLENGE = 'Basic realm="postmark"'
# Postmark's bounce Type -> (action, RFC 3463 status when Details give none, permanent).
# HardBounce: "unknown user, mailbox not found"; BadEmailAddress: an address that cannot
# be. Blocked is the receiving ISP refusing our mail (content, reputation): not the
# reader's address, so it counts nothing, like the transient kinds.
_TYPES = {
    "HardBounce": ("failed", "5.1.1", True),
    "BadEmailAddress": ("failed", "5.1.3", True),
    "SoftBounce": ("delayed", "4.0.0", False),
    "Transient": ("delayed", "4.0.0", False),
    "DnsError": ("delayed", "4.4.3", False),
    "Blocked": ("delayed", "4.7.1", False),
    "SpamNotification": ("delayed", "4.7.1", False),
}


def read(body: bytes, headers: Mapping[str, str], context: Context) -> Reading:
    expected = context.settings.postmark_webhook_auth
    if not expected:
        raise off("BUDKAVLE_POSTMARK_WEBHOOK_AUTH")
    _authenticate(headers.get("authorization", ""), expected)
    record = payload(body)
    kind = record.get("RecordType")
    if kind == "SpamComplaint":
        address = mail_address(text(record, "Email"))
        report = Report(Kind.COMPLAINT, _key(record), (Recipient(address, "abuse", "", True),),
                        vouched_by="postmark")  # fmt: skip
        return Reading([report])
    if kind != "Bounce" or record.get("Type") not in _TYPES:
        return Reading([], note=f"nothing to do for {kind} {record.get('Type', '')}".strip())
    action, status, permanent = _TYPES[str(record["Type"])]
    status = status_in(record.get("Details")) or status  # the receiver's own words first
    recipient = Recipient(mail_address(text(record, "Email")), action, status, permanent)
    return Reading([Report(Kind.DSN, _key(record), (recipient,), vouched_by="postmark")])


def _authenticate(header: str, expected: str) -> None:
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic" or not encoded:
        raise Refused(401, "Authorization", "missing: Basic credentials of the webhook URL",
                      challenge=_CHALLENGE)  # fmt: skip
    try:
        given = base64.b64decode(encoded.strip(), validate=True)
    except binascii.Error:
        given = b""
    # compare_digest: the time taken does not tell how much of a guess was right.
    if not hmac.compare_digest(given, expected.encode("utf-8")):
        raise Refused(401, "Authorization", "wrong credentials (BUDKAVLE_POSTMARK_WEBHOOK_AUTH)",
                      challenge=_CHALLENGE)  # fmt: skip


def _key(record: dict[str, Any]) -> str:
    return "postmark:" + text(record, "ID")
