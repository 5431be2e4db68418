"""Provider webhooks on the real app over loopback: Amazon SES via SNS (signed with our own
RSA key and self-signed certificate, handed to the app through its certificate fetcher,
so no test reaches the network), Postmark (HTTP Basic) and Mailgun (HMAC). A valid
report applies once; a forged, unsigned or stale one gets a 4xx and changes nothing."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID

from config import get_settings
from tests.support import Server
from tests.test_bounces import ASA, MATTI, add, state
from web import bouncehooks
from web.app import create_app
from worker import tallies

TOPIC = "arn:aws:sns:eu-north-1:123456789012:budkavle-studsar"
CERT_URL = "https://sns.eu-north-1.amazonaws.com/SimpleNotificationService-0a1b2c3d.pem"
SUBSCRIBE_URL = (
    "https://sns.eu-north-1.amazonaws.com/?Action=ConfirmSubscription&TopicArn="
    f"{TOPIC}&Token=2336412f37fb687f5d51e6e241d09c805a5a57b30d712f794cc5f6a988666d92768dd"
)
POSTMARK_AUTH = "postmark:Hemligt-ord-42"
MAILGUN_KEY = "key-3ax6xnjp29jd6fds4gc373sgvjxteol0"


def _key_and_certificate() -> tuple[rsa.RSAPrivateKey, bytes]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sns.amazonaws.com")])
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1)).not_valid_after(now + timedelta(days=2))
        .sign(key, hashes.SHA256())
    )  # fmt: skip
    return key, certificate.public_bytes(serialization.Encoding.PEM)


SNS_KEY, SNS_CERT = _key_and_certificate()
OTHER_KEY, _ = _key_and_certificate()


class Fetcher:
    """What the app's https GET would find: our certificate, and SNS confirming."""

    def __init__(self) -> None:
        self.urls: list[str] = []

    def __call__(self, url: str) -> bytes:
        self.urls.append(url)
        if url == CERT_URL:
            return SNS_CERT
        if url == SUBSCRIBE_URL:
            return b"<ConfirmSubscriptionResponse/>"
        raise httpx.ConnectError(f"no network in tests: {url}")


@pytest.fixture(scope="module")
def running() -> Iterator[tuple[Server, Fetcher]]:
    """One server for the module (starting one costs more than most tests here); the
    settings are read per request, so each test's database is the one it gets."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("BUDKAVLE_SES_TOPIC_ARNS", f"{TOPIC}, arn:aws:sns:eu-west-1:1:annan")
        patch.setenv("BUDKAVLE_POSTMARK_WEBHOOK_AUTH", POSTMARK_AUTH)
        patch.setenv("BUDKAVLE_MAILGUN_SIGNING_KEY", MAILGUN_KEY)
        get_settings.cache_clear()
        fetcher = Fetcher()
        front = create_app()
        front.app.dependency_overrides[bouncehooks.fetcher] = lambda: fetcher
        with Server.running(front) as server:
            yield server, fetcher
    get_settings.cache_clear()


@pytest.fixture
def hooks(db: str, running: tuple[Server, Fetcher]) -> tuple[Server, Fetcher]:
    running[1].urls.clear()
    return running


# Amazon SES via SNS -------------------------------------------------------------------


def sns(kind: str, *, version: str = "2", key: rsa.RSAPrivateKey = SNS_KEY,
        **fields: Any) -> dict[str, Any]:  # fmt: skip
    """An SNS message signed as SNS signs it (the string to sign of its documentation)."""
    envelope = {
        "Type": kind, "MessageId": secrets.token_hex(16), "TopicArn": TOPIC,
        "Timestamp": "2026-11-26T06:00:03.123Z", "SignatureVersion": version,
        "SigningCertURL": CERT_URL, **fields,
    }  # fmt: skip
    names = ["Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"]
    if kind != "Notification":
        names = ["Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type"]
    signed = "".join(f"{name}\n{envelope[name]}\n" for name in names if name in envelope)
    digest = hashes.SHA1() if version == "1" else hashes.SHA256()
    signature = key.sign(signed.encode(), padding.PKCS1v15(), digest)
    return {**envelope, "Signature": base64.b64encode(signature).decode()}


def ses_bounce(address: str, bounce_type: str = "Permanent", status: str = "5.1.1",
               feedback: str = "0100019f-bounce-1") -> str:  # fmt: skip
    return json.dumps({
        "notificationType": "Bounce",
        "bounce": {
            "bounceType": bounce_type, "bounceSubType": "General", "feedbackId": feedback,
            "bouncedRecipients": [{"emailAddress": address, "action": "failed", "status": status,
                                   "diagnosticCode": f"smtp; 550 {status} user unknown"}],
            "timestamp": "2026-11-26T06:00:02.000Z",
            "reportingMTA": "dns; a8-50.smtp-out.amazonses.com",
        },
        "mail": {"timestamp": "2026-11-26T06:00:00.000Z", "messageId": "0100019f-mail-1",
                 "source": "bounces@nyheter.example", "destination": [address]},
    })  # fmt: skip


def ses_complaint(address: str) -> str:
    return json.dumps({
        "notificationType": "Complaint",
        "complaint": {"complainedRecipients": [{"emailAddress": address}],
                      "timestamp": "2026-11-26T09:12:40.000Z", "feedbackId": "0100019f-compl-1",
                      "complaintFeedbackType": "abuse"},
        "mail": {"messageId": "0100019f-mail-2", "source": "bounces@nyheter.example"},
    })  # fmt: skip


# Postmark and Mailgun -------------------------------------------------------------------


def postmark(record: str, kind: str, address: str, record_id: int = 4323372036) -> dict[str, Any]:
    return {
        "RecordType": record, "MessageStream": "outbound", "ID": record_id, "Type": kind,
        "TypeCode": 1, "Name": "Hard bounce", "MessageID": "883953f4-6105-42a2-a16a-77a8eac79483",
        "ServerID": 23, "Description": "The server was unable to deliver your message.",
        "Details": "smtp;550 5.1.1 The email account that you tried to reach does not exist",
        "Email": address, "From": "nyheter@nyheter.example", "BouncedAt": "2026-11-26T06:00:02Z",
        "DumpAvailable": False, "Inactive": True, "CanActivate": True,
        "Subject": "Senaste nyheter från Borlänge",
    }  # fmt: skip


def postmark_headers(credentials: str = POSTMARK_AUTH) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(credentials.encode()).decode()}


def mailgun(event: str, address: str, *, severity: str = "permanent", event_id: str = "ZDvbb3Aa",
            token: str | None = None, stamp: int | None = None,
            key: str = MAILGUN_KEY) -> dict[str, Any]:  # fmt: skip
    stamp = int(time.time()) if stamp is None else stamp
    token = token or secrets.token_hex(25)
    signature = hmac.new(key.encode(), f"{stamp}{token}".encode(), hashlib.sha256).hexdigest()
    return {
        "signature": {"timestamp": str(stamp), "token": token, "signature": signature},
        "event-data": {
            "event": event, "id": event_id, "timestamp": stamp + 0.329574, "severity": severity,
            "reason": "bounce", "recipient": address, "log-level": "error",
            "delivery-status": {"code": 550, "attempt-no": 1, "description": "",
                                "message": "5.1.1 The email account does not exist"},
            "message": {"headers": {"to": address, "message-id": "20261126.1@nyheter.example",
                                    "from": "nyheter@nyheter.example", "subject": "Nyheter"}},
            "envelope": {"sender": "bounces@nyheter.example", "transport": "smtp"},
        },
    }  # fmt: skip


# Valid reports apply, once --------------------------------------------------------------


@dataclass(frozen=True)
class Sent:
    provider: str
    body: Callable[[], dict[str, Any]]  # made anew per send: a retry is signed anew
    headers: dict[str, str]


@pytest.mark.parametrize(
    ("sent", "after"),
    [
        pytest.param(Sent("ses", lambda: sns("Notification", Message=ses_bounce(ASA)), {}),
                     ("bounced", 1), id="ses-permanent-bounce-v2"),
        pytest.param(Sent("ses", lambda: sns("Notification", version="1",
                                             Message=ses_bounce(ASA), Subject="Bounce"), {}),
                     ("bounced", 1), id="ses-permanent-bounce-v1-with-subject"),
        pytest.param(Sent("ses", lambda: sns("Notification", Message=ses_bounce(
                          ASA, "Transient", "4.2.2")), {}), ("active", 0),
                     id="ses-transient-counts-nothing"),
        pytest.param(Sent("ses", lambda: sns("Notification", Message=ses_complaint(ASA)), {}),
                     ("complained", 0), id="ses-complaint"),
        pytest.param(Sent("postmark", lambda: postmark("Bounce", "HardBounce", ASA),
                          postmark_headers()), ("bounced", 1), id="postmark-hard-bounce"),
        pytest.param(Sent("postmark", lambda: postmark("Bounce", "SoftBounce", ASA),
                          postmark_headers()), ("active", 0), id="postmark-soft-bounce"),
        pytest.param(Sent("postmark", lambda: postmark("SpamComplaint", "SpamComplaint", ASA),
                          postmark_headers()), ("complained", 0), id="postmark-spam-complaint"),
        pytest.param(Sent("mailgun", lambda: mailgun("failed", ASA), {}), ("bounced", 1),
                     id="mailgun-failed-permanent"),
        pytest.param(Sent("mailgun", lambda: mailgun("failed", ASA, severity="temporary"), {}),
                     ("active", 0), id="mailgun-failed-temporary"),
        pytest.param(Sent("mailgun", lambda: mailgun("complained", ASA), {}),
                     ("complained", 0), id="mailgun-complained"),
    ],
)  # fmt: skip
def test_a_signed_report_applies_once(
    hooks: tuple[Server, Fetcher], sent: Sent, after: tuple[str, int]
) -> None:
    server, _ = hooks
    add(ASA)
    add(MATTI)
    first = server.client.post(f"/api/bounces/{sent.provider}", json=sent.body(),
                               headers=sent.headers)  # fmt: skip
    assert first.status_code == 200, first.text
    [applied] = first.json()["applied"]
    assert not applied["duplicate"] and not applied["unverified"]
    again = server.client.post(f"/api/bounces/{sent.provider}", json=sent.body(),
                               headers=sent.headers)  # fmt: skip
    assert again.status_code == 200 and again.json()["applied"][0]["duplicate"]
    assert state(ASA) == after
    assert state(MATTI) == ("active", 0)
    # Counted once for /metrics (worker/tallies.py); a soft bounce is no bounce.
    counted = tallies.totals()
    assert (counted.get("emails_bounced", 0), counted.get("emails_complained", 0)) == (
        int(after[0] == "bounced"), int(after[0] == "complained"),
    )  # fmt: skip


# Forged, unsigned, stale: 4xx, nothing changes ------------------------------------------


def _tampered() -> dict[str, Any]:
    message = sns("Notification", Message=ses_bounce(MATTI))
    return {**message, "Message": ses_bounce(ASA)}


@pytest.mark.parametrize(
    ("sent", "status", "field"),
    [
        pytest.param(Sent("ses", lambda: sns("Notification", key=OTHER_KEY,
                                             Message=ses_bounce(ASA)), {}),
                     403, "Signature", id="ses-signed-by-another-key"),
        pytest.param(Sent("ses", _tampered, {}), 403, "Signature", id="ses-message-changed"),
        pytest.param(Sent("ses", lambda: {**sns("Notification", Message=ses_bounce(ASA)),
                                          "Signature": ""}, {}),
                     401, "Signature", id="ses-unsigned"),
        pytest.param(Sent("ses", lambda: sns("Notification", Message=ses_bounce(ASA),
                                             TopicArn="arn:aws:sns:eu-north-1:666:annans"), {}),
                     403, "TopicArn", id="ses-someone-elses-topic"),
        pytest.param(Sent("ses", lambda: sns("Notification", Message=ses_bounce(ASA),
                          SigningCertURL="https://sns.eu-north-1.amazonaws.com.evil.example/c.pem"),
                          {}), 403, "SigningCertURL", id="ses-certificate-elsewhere"),
        pytest.param(Sent("ses", lambda: sns("Notification", Message=ses_bounce(ASA),
                          SigningCertURL=CERT_URL.replace("https", "http")), {}),
                     403, "SigningCertURL", id="ses-certificate-over-http"),
        pytest.param(Sent("ses", lambda: sns("Notification", version="3",
                                             Message=ses_bounce(ASA)), {}),
                     403, "SignatureVersion", id="ses-unknown-signature-version"),
        pytest.param(Sent("postmark", lambda: postmark("Bounce", "HardBounce", ASA), {}),
                     401, "Authorization", id="postmark-no-credentials"),
        pytest.param(Sent("postmark", lambda: postmark("Bounce", "HardBounce", ASA),
                          postmark_headers("postmark:gissat")), 401, "Authorization",
                     id="postmark-wrong-password"),
        pytest.param(Sent("mailgun", lambda: mailgun("failed", ASA, key="key-gissad"), {}),
                     403, "signature.signature", id="mailgun-wrong-key"),
        pytest.param(Sent("mailgun", lambda: mailgun("failed", ASA,
                                                     stamp=int(time.time()) - 3600), {}),
                     403, "signature.timestamp", id="mailgun-stale-timestamp"),
        pytest.param(Sent("mailgun", lambda: {"event-data": mailgun("failed", ASA)["event-data"]},
                          {}), 401, "signature", id="mailgun-unsigned"),
    ],
)  # fmt: skip
def test_a_forged_or_unsigned_report_is_refused_and_changes_nothing(
    hooks: tuple[Server, Fetcher], sent: Sent, status: int, field: str
) -> None:
    server, _ = hooks
    add(ASA)
    add(MATTI)
    response = server.client.post(f"/api/bounces/{sent.provider}", json=sent.body(),
                                  headers=sent.headers)  # fmt: skip
    assert response.status_code == status, response.text
    assert response.json()["detail"][0]["field"] == field
    if status == 401:
        assert response.headers["WWW-Authenticate"]
    assert state(ASA) == ("active", 0) and state(MATTI) == ("active", 0)


def test_a_replayed_mailgun_token_is_refused(hooks: tuple[Server, Fetcher]) -> None:
    server, _ = hooks
    add(ASA)
    body = mailgun("failed", ASA, severity="temporary")
    assert server.client.post("/api/bounces/mailgun", json=body).status_code == 200
    replayed = server.client.post("/api/bounces/mailgun", json=body)
    assert replayed.status_code == 403
    assert replayed.json()["detail"][0]["field"] == "signature.token"


@pytest.mark.parametrize(
    ("subscribe_url", "confirmed"),
    [
        pytest.param(SUBSCRIBE_URL, True, id="sns-host-confirmed"),
        pytest.param("https://confirm.evil.example/?Token=1", False, id="other-host-only-logged"),
    ],
)
def test_an_sns_subscription_is_confirmed_only_at_an_sns_host(
    hooks: tuple[Server, Fetcher], subscribe_url: str, confirmed: bool
) -> None:
    server, fetcher = hooks
    message = sns("SubscriptionConfirmation", Token="2336412f37", SubscribeURL=subscribe_url,
                  Message=f"You have chosen to subscribe to the topic {TOPIC}.")  # fmt: skip
    response = server.client.post("/api/bounces/ses", json=message)
    assert response.status_code == 200, response.text
    assert (subscribe_url in fetcher.urls) is confirmed
    assert response.json()["note"].startswith("subscription confirmed" if confirmed else "not")
    forged = {**message, "SubscribeURL": SUBSCRIBE_URL + "&x=1"}
    fetcher.urls.clear()
    assert server.client.post("/api/bounces/ses", json=forged).status_code == 403
    assert fetcher.urls == [CERT_URL]  # the certificate, to check; never the forged URL


@pytest.mark.parametrize(
    ("path", "field"),
    [
        pytest.param("/api/bounces/sendgrid", "provider", id="unknown-provider"),
    ],
)
def test_an_unknown_provider_is_404(hooks: tuple[Server, Fetcher], path: str, field: str) -> None:
    server, _ = hooks
    response = server.client.post(path, json={})
    assert response.status_code == 404 and response.json()["detail"][0]["field"] == field


def test_a_provider_without_settings_is_off(
    hooks: tuple[Server, Fetcher], monkeypatch: pytest.MonkeyPatch
) -> None:
    server, _ = hooks
    settings = (("ses", "SES_TOPIC_ARNS"), ("postmark", "POSTMARK_WEBHOOK_AUTH"),
                ("mailgun", "MAILGUN_SIGNING_KEY"))  # fmt: skip
    for _, setting in settings:
        monkeypatch.setenv(f"BUDKAVLE_{setting}", "")
    get_settings.cache_clear()
    try:
        for provider, setting in settings:
            response = server.client.post(f"/api/bounces/{provider}", json={})
            assert response.status_code == 404 and setting in response.text
    finally:
        monkeypatch.undo()
        get_settings.cache_clear()
