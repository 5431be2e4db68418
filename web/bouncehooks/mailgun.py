"""Mailgun webhooks (JSON): ``failed`` (severity permanent or temporary) and ``complained``.

Mailgun puts its signature in the body: ``signature.signature`` is the hex HMAC-SHA256
of ``timestamp + token`` under the webhook signing key. As Mailgun advises, a timestamp
far from now is refused (a captured request replayed later), and so is a token seen
before (kept in Redis for as long as its timestamp could pass). The event is keyed by
``event-data.id``, so a retry that Mailgun signs anew applies once.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Mapping
from typing import Any

from newsroom.reports import Kind, Recipient, Report, mail_address
from web.bouncehooks.common import Context, Reading, Refused, obj, off, payload, status_in, text

MAX_SKEW_SECONDS = 15 * 60
_TOKENS = "budkavle:mailgun-token:"


def read(body: bytes, headers: Mapping[str, str], context: Context) -> Reading:
    key = context.settings.mailgun_signing_key
    if not key:
        raise off("BUDKAVLE_MAILGUN_SIGNING_KEY")
    data = payload(body)
    signature = data.get("signature")
    if not isinstance(signature, dict) or not signature.get("signature"):
        raise Refused(401, "signature", "missing: Mailgun signs every webhook",
                      challenge="Mailgun")  # fmt: skip
    stamp, token = (
        text(signature, "timestamp", "signature."),
        text(signature, "token", "signature."),
    )
    expected = hmac.new(key.encode(), (stamp + token).encode(), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, str(signature["signature"])):
        raise Refused(403, "signature.signature", "does not match BUDKAVLE_MAILGUN_SIGNING_KEY")
    if not stamp.isdigit() or abs(time.time() - int(stamp)) > MAX_SKEW_SECONDS:
        raise Refused(403, "signature.timestamp", f"more than {MAX_SKEW_SECONDS} s from now")
    seen = _TOKENS + hashlib.sha256(token.encode()).hexdigest()
    if not context.redis().set(seen, "1", nx=True, ex=2 * MAX_SKEW_SECONDS):
        raise Refused(403, "signature.token", "seen before: a replayed request")
    return Reading(_reports(obj(data, "event-data")), undo=lambda: _forget(context, seen))


def _forget(context: Context, seen: str) -> None:
    context.redis().delete(seen)


def _reports(event: dict[str, Any]) -> list[Report]:
    kind = event.get("event")
    if kind not in ("failed", "complained"):
        return []
    key = "mailgun:" + text(event, "id", "event-data.")
    address = mail_address(text(event, "recipient", "event-data."))
    if kind == "complained":
        return [Report(Kind.COMPLAINT, key, (Recipient(address, "abuse", "", True),),
                       vouched_by="mailgun")]  # fmt: skip
    permanent = event.get("severity") == "permanent"
    status = event.get("delivery-status")
    found = ""
    if isinstance(status, dict):
        found = status_in(status.get("enhanced-code"), status.get("message"),
                          status.get("description"))  # fmt: skip
        code = status.get("code")
        if not found and isinstance(code, int) and 400 <= code < 600:
            found = f"{code // 100}.0.0"  # RFC 3463 X.0.0: other, undefined status
    action = "failed" if permanent else "delayed"
    recipient = Recipient(address, action, found, permanent)
    return [Report(Kind.DSN, key, (recipient,), vouched_by="mailgun")]
