"""Sending an editor's test of the next edition: the edition as subscribers would get it
now, marked as a test, to one address that need not be a subscriber's.

Marked three ways: "[Test]" before the subject, an ``X-Budkavle-Test: 1`` header, and
links signed for no subscriber (newsroom.links.inert_links), so its unsubscribe link
unsubscribes nobody, even when the address is a subscriber's. It is no delivery: no
subscriber's position moves, no delivery row is written, no counter of /metrics grows,
and its envelope sender carries no VERP token, so a bounce of it counts against nobody.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from config import Settings
from email_templates import content
from email_templates.render import RenderedEmail, render_digest
from newsroom import links, testsends
from newsroom.db import read_scope, session_scope
from newsroom.models import utcnow
from worker.dkimsign import signer_from_settings
from worker.envelope import MessageTemplate
from worker.mailer import SendError, transport_from_settings, writes_files

log = logging.getLogger(__name__)

SUBJECT_PREFIX = "[Test] "  # the same in Swedish and English
HEADER = "X-Budkavle-Test"
NOTHING_NEW = "nothing new for this edition: no email would go"


def send(test_send_id: int, settings: Settings) -> None:
    now = utcnow()
    # Longer than a slow SMTP conversation: a second bell meanwhile finds the row taken.
    lease = timedelta(seconds=2 * settings.smtp_timeout_seconds + 30)
    with session_scope() as session:
        claimed = testsends.claim(session, test_send_id, now, lease)
    if claimed is None:
        return  # sent, failed, or being sent: a second bell
    with read_scope() as session:
        edition, shown = content.next_edition(
            session, claimed.language, claimed.frequency, settings, now
        )
    if not edition.article_ids:
        _finish(test_send_id, error=NOTHING_NEW)
        return
    rendered = render_digest(shown)
    marked = RenderedEmail(SUBJECT_PREFIX + rendered.subject, rendered.html, rendered.text)
    try:
        message = message_for(marked, claimed.email, claimed.key, claimed.language, settings)
        # Sent outside any transaction: SQLite's one write lock must not wait on SMTP.
        with transport_from_settings(settings).connect() as connection:
            connection.send(settings.bounce_mailbox, claimed.email, message)
    except (SendError, ValueError) as error:
        log.warning("test send %s: %s", test_send_id, error, extra={"test_send_id": test_send_id})
        _finish(test_send_id, error=str(error))
        return
    _finish(test_send_id, subject=marked.subject)


def message_for(
    rendered: RenderedEmail, address: str, key: str, language: str, settings: Settings
) -> bytes:
    template = MessageTemplate(
        rendered,
        sender=settings.sender,
        list_id=links.list_id(language, settings),
        date=utcnow(),
        extra_headers={HEADER: "1"},
        signer=signer_from_settings(settings, settings.mail_domain),
        eight_bit=writes_files(settings),
    )
    inert = links.inert_links(address, settings)
    return template.personalize(
        to=address,
        # From the row's key: a message that went again after a crash keeps its Message-ID.
        message_id=f"<test.{key}@{settings.mail_domain}>",
        unsubscribe_url=inert.unsubscribe_url,
        unsubscribe_mailto=inert.unsubscribe_mailto,
        preferences_url=inert.preferences_url,
    )


def _finish(test_send_id: int, *, subject: str = "", error: str | None = None) -> None:
    with session_scope() as session:
        testsends.finish(session, test_send_id, utcnow(), subject=subject, error=error)
