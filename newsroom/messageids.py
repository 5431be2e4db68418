"""The Message-IDs of the mail we send, and reading them back.

Each one carries an HMAC tag under the secret key, so it cannot be guessed, and a returned
mail that quotes one can be traced to the delivery (or notice) it answers without trusting
anything else the report says: anyone can send a report, only we can make these ids.

Two forms that can never be taken for each other:

- a digest delivery: ``<DELIVERY_ID.TAG@domain>`` (one ``EmailDelivery`` row);
- a notice (confirm, already subscribed): ``<notice.SUBSCRIBER_ID.STAMP.TAG@domain>``,
  where STAMP is the request's time in microseconds, so each request gets its own.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from datetime import datetime

_DELIVERY_PURPOSE = b"budkavle/message-id:"
_DOMAIN = re.compile(r"[A-Za-z0-9-]{1,63}(\.[A-Za-z0-9-]{1,63})*", re.ASCII)
_DELIVERY = re.compile(r"\s*<(\d{1,19})\.([a-z2-7]{24})@[^<>\s]+>\s*", re.ASCII)
_NOTICE = re.compile(r"\s*<notice\.(\d{1,19})\.(\d{1,20})\.([a-z2-7]{16})@[^<>\s]+>\s*", re.ASCII)


def for_delivery(delivery_id: int, domain: str, secret: bytes) -> str:
    """`<id.tag@domain>`: the same for every attempt of one delivery, so a receiver can
    tell a retry; the HMAC tag makes it unguessable, and lets a bounce be traced back to
    its delivery without trusting what the bounce says (see `delivery_of`)."""
    if delivery_id < 0:
        raise ValueError(f"delivery_id: must be >= 0, got {delivery_id}")
    _check_domain(domain)
    return f"<{delivery_id}.{_delivery_tag(delivery_id, secret)}@{domain}>"


def delivery_of(value: str, secret: bytes) -> int | None:
    """The delivery id in a Message-ID we made, or None when it is not one of ours."""
    match = _DELIVERY.fullmatch(value)
    if match is None:
        return None
    delivery_id = int(match.group(1))
    if not hmac.compare_digest(match.group(2), _delivery_tag(delivery_id, secret)):
        return None
    return delivery_id


def for_notice(subscriber_id: int, requested: datetime, domain: str, secret: bytes) -> str:
    """The same for every attempt at one notice, different for the next request. Never of
    the deliveries' form, so a bounce of a notice is never taken for one of a digest."""
    if subscriber_id < 0:
        raise ValueError(f"subscriber_id: must be >= 0, got {subscriber_id}")
    _check_domain(domain)
    stamp = int(requested.timestamp() * 1_000_000)
    return f"<notice.{subscriber_id}.{stamp}.{_notice_tag(subscriber_id, stamp, secret)}@{domain}>"


def subscriber_of_notice(value: str, secret: bytes) -> int | None:
    """The subscriber id in a notice Message-ID we made, or None when it is not one of ours."""
    match = _NOTICE.fullmatch(value)
    if match is None:
        return None
    subscriber_id, stamp = int(match.group(1)), int(match.group(2))
    if not hmac.compare_digest(match.group(3), _notice_tag(subscriber_id, stamp, secret)):
        return None
    return subscriber_id


def _delivery_tag(delivery_id: int, secret: bytes) -> str:
    mac = hmac.new(secret, _DELIVERY_PURPOSE + str(delivery_id).encode("ascii"), hashlib.sha256)
    return base64.b32encode(mac.digest()[:15]).decode("ascii").lower()


def _notice_tag(subscriber_id: int, stamp: int, secret: bytes) -> str:
    message = f"budkavle/notice:{subscriber_id}:{stamp}".encode("ascii")
    mac = hmac.new(secret, message, hashlib.sha256)
    return base64.b32encode(mac.digest()[:10]).decode("ascii").lower()


def _check_domain(domain: str) -> None:
    # The domain goes into a header as it is (see worker/envelope.py): no CR, LF or '>'.
    if not isinstance(domain, str) or _DOMAIN.fullmatch(domain) is None:
        raise ValueError(f"domain: not allowed in an email header: {domain!r}")
