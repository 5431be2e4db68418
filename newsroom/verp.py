"""VERP: the envelope sender of every email names the mail it belongs to.

Each email goes out with the SMTP envelope sender (MAIL FROM, which the receiving side
keeps as Return-Path, RFC 5321 §4.4) ``bounces+TOKEN@domain``. Bounces go to that
address (RFC 5321 §4.5.5, RFC 3464 §2), so the address a bounce was delivered to names
the recipient even when the bounce itself names nobody, quotes nothing, or names an
address a forward led to. The mailbox takes every ``bounces+...`` address when its
server splits on ``+`` (Postfix ``recipient_delimiter = +``, on by default in Dovecot's
and most hosted setups).

TOKEN is ``d<delivery id>-<tag>`` for a digest and ``n<subscriber id>-<tag>`` for a
notice, the tag an HMAC under the secret key as in newsroom/messageids.py, so only we
can make one. It is lower-case base32 and digits: some MTAs lower-case a local part
(RFC 5321 §2.4 lets the receiving host treat it as it likes), and the token still reads.
"""

from __future__ import annotations

import base64
import enum
import hashlib
import hmac
import re
from collections.abc import Iterable
from dataclasses import dataclass

_PURPOSE = b"budkavle/verp:"
_FOUND = re.compile(r"\+([dn])(\d{1,19})-([a-z2-7]{16})@", re.ASCII)


class Of(enum.StrEnum):
    DELIVERY = "d"  # one EmailDelivery row: a digest to one subscriber
    NOTICE = "n"  # a confirm or "already subscribed" email to one subscriber


@dataclass(frozen=True)
class Origin:
    of: Of
    id: int


def for_delivery(delivery_id: int, bounce_address: str, secret: bytes) -> str:
    return _address(Of.DELIVERY, delivery_id, bounce_address, secret)


def for_notice(subscriber_id: int, bounce_address: str, secret: bytes) -> str:
    return _address(Of.NOTICE, subscriber_id, bounce_address, secret)


def find(values: Iterable[str], secret: bytes) -> Origin | None:
    """The first token of ours in `values` (header fields, addresses); None if none is."""
    for value in values:
        for match in _FOUND.finditer(value.lower()):
            of, number, tag = Of(match.group(1)), int(match.group(2)), match.group(3)
            if hmac.compare_digest(tag, _tag(of, number, secret)):
                return Origin(of, number)
    return None


def _address(of: Of, number: int, bounce_address: str, secret: bytes) -> str:
    if number < 0:
        raise ValueError(f"id: must be >= 0, got {number}")
    local, _, domain = bounce_address.rpartition("@")
    return f"{local}+{of}{number}-{_tag(of, number, secret)}@{domain}"


def _tag(of: Of, number: int, secret: bytes) -> str:
    mac = hmac.new(secret, _PURPOSE + f"{of}{number}".encode("ascii"), hashlib.sha256)
    # 80 bits: a forger must guess it online, one bounce per try.
    return base64.b32encode(mac.digest()[:10]).decode("ascii").lower()
