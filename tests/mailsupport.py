"""Helpers of the digest tests: articles published, subscribers added, editions sent."""

from __future__ import annotations

import email
import email.policy
from datetime import timedelta
from email.message import EmailMessage

from config import get_settings
from newsroom import articles, editions, outbox, subscribers
from newsroom.db import session_scope
from newsroom.models import Frequency, utcnow
from newsroom.schemas import ArticleIn
from newsroom.subscription import SubscriptionIn
from tests.support import article
from worker import deliver, digest

GRACE = timedelta(seconds=1)


def publish(**overrides: object) -> int:
    """An article published and placed in the outbox order, as the worker would."""
    with session_scope() as session:
        created, event = articles.create(
            session, ArticleIn.model_validate(article(**overrides)), utcnow(), GRACE
        )
        assert event is not None
        outbox.assign_position(session, event.id)
        return created.id


def subscribe(address: str, **overrides: object) -> int:
    data = {"email": address, "language": "sv", "frequency": "immediate", **overrides}
    with session_scope() as session:
        subscriber, created = subscribers.import_active(
            session, SubscriptionIn.model_validate(data), now=utcnow(), consent_form="test"
        )
        assert created
        return subscriber.id


def plan(frequency: Frequency = Frequency.IMMEDIATE) -> list[tuple[int, int]]:
    return digest.plan_edition(editions.manual_slot(frequency, utcnow()), get_settings(), utcnow())


def send_all(batches: list[tuple[int, int]]) -> None:
    for edition_id, batch in batches:
        deliver.send_batch(edition_id, batch, get_settings())


def parsed(raw: bytes) -> EmailMessage:
    message = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    return message


def parts(message: EmailMessage) -> tuple[str, str]:
    text = message.get_body(("plain",))
    html = message.get_body(("html",))
    assert text is not None and html is not None
    return str(text.get_content()), str(html.get_content())
