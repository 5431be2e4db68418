"""VERP: each email's envelope sender names its delivery, so a bounce delivered there is
applied to that recipient even when it says nothing itself; a forged token changes nothing."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pytest

from config import get_settings
from newsroom import verp
from tests import mailsamples
from tests.mailsupport import plan, publish, send_all, subscribe
from tests.smtpsink import SmtpSink
from tests.test_bounces import ASA, MATTI, add, delivered, feed, state

SECRET = b"test-secret-key"


@pytest.mark.parametrize(
    ("written", "found"),
    [
        pytest.param(lambda a: a, True, id="as-sent"),
        pytest.param(str.upper, True, id="upper-cased-by-an-mta"),
        pytest.param(lambda a: f"Budkavle <{a}>", True, id="in-a-to-header"),
        pytest.param(lambda a: a.replace("-", "-x", 1)[:-1], False, id="tag-changed"),
        pytest.param(lambda a: a.replace("d1042", "d1043"), False, id="other-delivery-same-tag"),
        pytest.param(lambda a: a.replace("+d", "+n"), False, id="notice-form-same-tag"),
        pytest.param(lambda a: "bounces@nyheter.example", False, id="no-token"),
    ],
)  # fmt: skip
def test_a_token_reads_back_only_as_we_made_it(written: Callable[[str], str], found: bool) -> None:
    address = verp.for_delivery(1042, "bounces@nyheter.example", SECRET)
    assert address.startswith("bounces+d1042-") and address.endswith("@nyheter.example")
    assert len(address.partition("@")[0]) <= 64  # RFC 5321 §4.5.3.1.1
    origin = verp.find([written(address)], SECRET)
    assert origin == (verp.Origin(verp.Of.DELIVERY, 1042) if found else None)
    assert verp.find([address], b"another-secret") is None


def test_a_digest_goes_out_with_its_verp_envelope_sender(mail: SmtpSink) -> None:
    subscribe(ASA)
    publish(title="Ångfärjan till Runn går igen")
    send_all(plan())
    [received] = mail.wait_for(1)
    local, _, domain = received.mail_from.partition("@")
    assert local.startswith("bounces+d") and domain == "nyheter.example"
    origin = verp.find([received.mail_from], get_settings().resolved_secret_key().encode())
    assert origin is not None and origin.of is verp.Of.DELIVERY
    # The bounce that comes back to that address names Åsa by it alone.
    feed(mailsamples.empty_bounce(received.mail_from, message_id="<tom-1@mx.kommun.example>"))
    assert state(ASA) == ("active", 1)


def _to_verp(sample: Callable[[str], bytes]) -> Callable[[int], bytes]:
    def make(delivery_id: int) -> bytes:
        address = verp.for_delivery(delivery_id, "bounces@nyheter.example", SECRET)
        return sample(address)

    return make


@dataclass(frozen=True)
class Case:
    bounces: list[Callable[[int], bytes]]  # delivery id -> raw bounce
    after: tuple[str, int]


# An empty bounce is a failure of unknown cause: it counts; three in a row suppress.
_EMPTY = [
    _to_verp(lambda a, n=n: mailsamples.empty_bounce(a, message_id=f"<tom-{n}@mx.example>"))
    for n in range(3)
]


@pytest.mark.parametrize(
    "case",
    [
        pytest.param(Case(_EMPTY[:1], ("active", 1)), id="empty-bounce-counts"),
        pytest.param(Case(_EMPTY, ("bounced", 3)), id="three-empty-bounces-suppress"),
        pytest.param(Case([_to_verp(lambda a: mailsamples.user_unknown(
                          "asa@postlada.kommun.internal", None, delivered_to=a))],
                          ("bounced", 1)),
                     id="5.1.1-naming-a-forward-target-without-original-suppresses"),
        pytest.param(Case([_to_verp(lambda a: mailsamples.user_unknown(
                          ASA, None, delivered_to=a.upper()))], ("bounced", 1)),
                     id="upper-cased-verp-address"),
        pytest.param(Case([_to_verp(lambda a: mailsamples.mailbox_full(
                          ASA, None, delivered_to=a))], ("active", 0)),
                     id="delayed-changes-nothing"),
    ],
)  # fmt: skip
def test_a_bounce_at_a_verp_address_applies_to_its_recipient(db: str, case: Case) -> None:
    asa = add(ASA)
    add(MATTI)
    for make in case.bounces:
        delivery_id = _delivery_of(delivered(asa))
        applied = feed(make(delivery_id))
        assert not applied.unverified and not applied.duplicate
        assert feed(make(delivery_id)).duplicate  # the same bounce again counts nothing
    assert state(ASA) == case.after
    assert state(MATTI) == ("active", 0)


def test_a_bounce_at_a_notices_verp_address_suppresses_the_pending(db: str) -> None:
    from newsroom.models import SubscriberStatus

    asa = add(ASA, SubscriberStatus.PENDING)
    address = verp.for_notice(asa, "bounces@nyheter.example", SECRET)
    feed(mailsamples.user_unknown(ASA, None, delivered_to=address))
    assert state(ASA) == ("bounced", 1)


@pytest.mark.parametrize(
    "forge",
    [
        pytest.param(lambda d: f"bounces+d{d}-aaaaaaaaaaaaaaaa@nyheter.example",
                     id="made-up-tag"),
        pytest.param(lambda d: verp.for_delivery(d, "bounces@nyheter.example", b"other-key"),
                     id="tag-under-another-key"),
        pytest.param(lambda d: verp.for_delivery(d + 1, "bounces@nyheter.example", SECRET)
                     .replace(f"d{d + 1}-", f"d{d}-"), id="tag-of-the-next-delivery"),
    ],
)  # fmt: skip
def test_a_forged_verp_token_changes_nothing(db: str, forge: Callable[[int], str]) -> None:
    asa = add(ASA)
    delivery_id = _delivery_of(delivered(asa))
    for raw in (
        mailsamples.empty_bounce(forge(delivery_id), message_id="<falsk@mx.example>"),
        mailsamples.user_unknown(ASA, None, delivered_to=forge(delivery_id)),
    ):
        applied = feed(raw)
        assert applied.unverified and not applied.duplicate
    assert state(ASA) == ("active", 0)


def _delivery_of(message_id: str) -> int:
    return int(message_id.strip("<").partition(".")[0])
