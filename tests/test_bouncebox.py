"""The bounce mailbox read over IMAP from a real Dovecot on loopback: each message applied
once, marked only after the commit, and a second sweep (or a crash before the mark)
changes nothing more."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from config import get_settings
from config.settings import SettingsError
from newsroom import verp
from newsroom.models import SubscriberStatus
from tests import imappeer, mailsamples
from tests.test_bounces import ASA, MATTI, add, delivered, state
from worker import bouncebox, tallies
from worker.app import create_app

SECRET = b"test-secret-key"
PIA = "pia.korhonen@oulu.example"


@pytest.fixture(scope="module")
def dovecot() -> Iterator[imappeer.Dovecot]:
    with imappeer.running() as server:
        yield server


@pytest.fixture
def mailbox(dovecot: imappeer.Dovecot, db: str) -> imappeer.Dovecot:
    dovecot.empty()
    return dovecot


def _fill(mailbox: imappeer.Dovecot) -> None:
    """What a morning brings: a bounce at Åsa's VERP address, Matti's complaint, Pia's
    out-of-office reply, and a forged bounce naming Pia."""
    asa, matti, pia = add(ASA), add(MATTI), add(PIA)
    delivery = int(delivered(asa).strip("<").partition(".")[0])
    address = verp.for_delivery(delivery, "bounces@nyheter.example", SECRET)
    delivered(pia)
    for raw in (
        mailsamples.user_unknown(ASA, None, delivered_to=address),
        mailsamples.complaint(MATTI, delivered(matti)),
        mailsamples.out_of_office(PIA),
        mailsamples.user_unknown(PIA, mailsamples.FORGED_ID),
    ):
        mailbox.append(raw)


def _states() -> list[tuple[str, int]]:
    return [state(ASA), state(MATTI), state(PIA)]


AFTER = [("bounced", 1), ("complained", 0), ("active", 0)]


@pytest.mark.parametrize(
    "tls", [pytest.param(True, id="imaps"), pytest.param(False, id="starttls")]
)
def test_the_mailbox_is_applied_once_and_marked(mailbox: imappeer.Dovecot, tls: bool) -> None:
    _fill(mailbox)
    box = bouncebox.mailbox_from_url(mailbox.url(tls=tls))
    swept = bouncebox.sweep(box, get_settings())
    assert (swept.applied, swept.unverified, swept.other, swept.duplicate) == (2, 1, 1, 0)
    assert _states() == AFTER
    assert tallies.totals() == {"emails_bounced": 1, "emails_complained": 1}  # for /metrics
    assert all("\\Seen" in flags for flags in mailbox.flags())
    again = bouncebox.sweep(box, get_settings())  # the next beat: nothing unseen
    assert again == bouncebox.Swept()
    assert _states() == AFTER


def test_a_crash_before_the_mark_reads_again_and_changes_nothing(
    mailbox: imappeer.Dovecot,
) -> None:
    _fill(mailbox)
    box = bouncebox.mailbox_from_url(mailbox.url())
    bouncebox.sweep(box, get_settings())
    # As if the worker died between the commit and the STORE: the messages are unseen.
    with mailbox.client() as imap:
        imap.select("INBOX")
        imap.store("1:*", "-FLAGS.SILENT", "(\\Seen)")
    swept = bouncebox.sweep(box, get_settings())
    assert (swept.applied, swept.duplicate) == (0, 2)
    assert _states() == AFTER


@pytest.mark.parametrize(
    ("options", "inbox", "moved"),
    [
        pytest.param({"processed": "delete"}, 0, 0, id="deleted"),
        pytest.param({"processed": "move", "move_to": "Behandlat"}, 0, 4, id="moved"),
    ],
)
def test_processed_messages_are_deleted_or_moved(
    mailbox: imappeer.Dovecot, options: dict[str, str], inbox: int, moved: int
) -> None:
    with mailbox.client() as imap:
        imap.create("Behandlat")
    _fill(mailbox)
    mailbox.append(mailsamples.GARBAGE)  # no mail at all: kept, seen, for an operator
    swept = bouncebox.sweep(bouncebox.mailbox_from_url(mailbox.url(**options)), get_settings())
    assert (swept.applied, swept.refused) == (2, 1)
    assert len(mailbox.flags()) == inbox + 1 and "\\Seen" in mailbox.flags()[0]
    assert len(mailbox.flags("Behandlat")) == moved
    assert _states() == AFTER


def test_a_wrong_password_is_an_error_and_changes_nothing(mailbox: imappeer.Dovecot) -> None:
    _fill(mailbox)
    url = mailbox.url().replace("%C3%A5@", "x@")
    with pytest.raises(bouncebox.MailboxError):
        bouncebox.sweep(bouncebox.mailbox_from_url(url), get_settings())
    assert _states() == [("active", 0)] * 3
    assert not any("\\Seen" in flags for flags in mailbox.flags())


def test_a_pending_subscriber_whose_confirm_email_bounced_is_suppressed(
    mailbox: imappeer.Dovecot,
) -> None:
    asa = add(ASA, SubscriberStatus.PENDING)
    address = verp.for_notice(asa, "bounces@nyheter.example", SECRET)
    mailbox.append(mailsamples.empty_bounce(address, message_id="<tom@mx.example>"))
    bouncebox.sweep(bouncebox.mailbox_from_url(mailbox.url()), get_settings())
    assert state(ASA) == ("pending", 1)  # one failure of unknown cause counts, no more


@pytest.mark.parametrize(
    ("url", "says"),
    [
        pytest.param("pop3://u:p@mail.example/INBOX", "imaps://", id="other-scheme"),
        pytest.param("imaps://mail.example/INBOX", "needs user", id="no-user"),
        pytest.param("imaps://u:p@mail.example:x/INBOX", "port", id="bad-port"),
        pytest.param("imaps://u:p@mail.example/?processed=burn", "seen, delete", id="processed"),
        pytest.param("imaps://u:p@mail.example/?processed=move", "move_to", id="move-no-folder"),
        pytest.param("imaps://u:p@mail.example/?starttls=required", "TLS already",
                     id="imaps-starttls"),
        pytest.param("imap://u:p@mail.example/?starttls=0", "always uses STARTTLS",
                     id="no-plain-text-passwords"),
        pytest.param("imaps://u:p@mail.example/?timeout=0", "more than 0", id="timeout"),
        pytest.param("imaps://u:p@mail.example/?flag=1", "unknown option 'flag'", id="unknown"),
    ],
)  # fmt: skip
def test_a_bad_url_is_refused_naming_the_setting(url: str, says: str) -> None:
    with pytest.raises(SettingsError) as refused:
        bouncebox.mailbox_from_url(url)
    assert "BUDKAVLE_BOUNCE_IMAP_URL" in str(refused.value) and says in str(refused.value)


def test_the_beat_reads_the_mailbox_only_when_one_is_set() -> None:
    settings = get_settings()
    assert "read-bounce-mailbox" not in create_app(settings).conf.beat_schedule
    configured = settings.model_copy(
        update={
            "bounce_imap_url": "imaps://u:p@mail.example/INBOX",
            "bounce_imap_interval_seconds": 30.0,
        }
    )
    entry = create_app(configured).conf.beat_schedule["read-bounce-mailbox"]
    assert entry == {"task": "budkavle.read_bounce_mailbox", "schedule": 30.0}
