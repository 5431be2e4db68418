"""Signed links in emails: one purpose per salt, bound to one subscriber and one address.

A confirm link expires (double opt-in must be fresh); unsubscribe and preferences links
never do, because an old digest in someone's inbox must still let them leave (RFC 8058).
A token names the subscriber's id and a digest of the address, so it cannot be forged,
moved to another subscriber, or used again after the address was erased and re-added.
"""

from __future__ import annotations

import enum
import functools
import hashlib

from itsdangerous import BadSignature, SignatureExpired, URLSafeSerializer, URLSafeTimedSerializer

from newsroom.errors import DomainError


class Purpose(enum.StrEnum):
    CONFIRM = "confirm"
    UNSUBSCRIBE = "unsubscribe"
    PREFERENCES = "preferences"


class BadToken(DomainError):
    status = 404  # a link that is not ours looks like a page that does not exist


def address_digest(email: str) -> str:
    return hashlib.sha256(email.encode()).hexdigest()[:16]


def make(secret: str, purpose: Purpose, subscriber_id: int, email: str) -> str:
    return _serializer(secret, purpose).dumps([subscriber_id, address_digest(email)])


def read(
    secret: str, purpose: Purpose, token: str, *, max_age: int | None = None
) -> tuple[int, str]:
    """The (subscriber id, address digest) a token names; BadToken if it is not genuine."""
    if len(token) > 200:
        raise BadToken("token", "is not a link we sent")
    serializer = _serializer(secret, purpose)
    try:
        if isinstance(serializer, URLSafeTimedSerializer):
            payload = serializer.loads(token, max_age=max_age)
        else:
            payload = serializer.loads(token)
    except SignatureExpired:
        raise BadToken("token", "has expired; subscribe again for a new link") from None
    except BadSignature:
        raise BadToken("token", "is not a link we sent") from None
    match payload:
        case [int() as subscriber_id, str() as digest]:
            return subscriber_id, digest
    raise BadToken("token", "is not a link we sent")


@functools.lru_cache(maxsize=16)
def _serializer(secret: str, purpose: Purpose) -> URLSafeSerializer | URLSafeTimedSerializer:
    # Made once: a digest signs three links per recipient, and building a serializer
    # (its key derivation included) cost more than the signing itself.
    if purpose is Purpose.CONFIRM:
        return URLSafeTimedSerializer(secret, salt=salt(purpose))
    return URLSafeSerializer(secret, salt=salt(purpose))


def salt(purpose: Purpose) -> str:
    """One salt per purpose: a preferences link is no unsubscribe or confirm link."""
    return f"budkavle.subscriber.{purpose.value}"
