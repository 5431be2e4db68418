"""Amazon SES bounce and complaint notifications, delivered by Amazon SNS over HTTPS.

SNS signs every message (SignatureVersion 1: RSA with SHA1, 2: RSA with SHA256) over
the string its documentation defines per message type, with the certificate at
SigningCertURL. That URL is fetched only over https from ``sns.<region>.amazonaws.com``
(``.amazonaws.com.cn`` in China), so TLS vouches for the certificate. A valid signature
proves only that SNS sent it: anyone can own a topic, so the TopicArn must also be one
of BUDKAVLE_SES_TOPIC_ARNS (AWS: "reject any message with an unexpected TopicArn").

A SubscriptionConfirmation from an allowed topic is confirmed by a GET of its
SubscribeURL (same host rule) and logged for the operator. Notifications carry the SES
event ("Bounce": bounceType Permanent / Transient / Undetermined; "Complaint"), keyed by
SES's feedbackId, so SNS's retries and a second topic apply it once.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

import httpx
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from newsroom.reports import Kind, Recipient, Report, mail_address
from web.bouncehooks.common import (
    Context,
    Reading,
    Refused,
    obj,
    off,
    payload,
    status_in,
    text,
)

log = logging.getLogger(__name__)

_SNS_HOST = re.compile(r"sns\.[a-z0-9-]{1,30}\.amazonaws\.com(\.cn)?", re.ASCII)
_CONFIRMATION = ("Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type")
_SIGNED = {  # the names in the string to sign, in byte order; Subject only when present
    "Notification": ("Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"),
    "SubscriptionConfirmation": _CONFIRMATION,
    "UnsubscribeConfirmation": _CONFIRMATION,
}
_HASHES: dict[str, type[hashes.SHA1 | hashes.SHA256]] = {"1": hashes.SHA1, "2": hashes.SHA256}
# SES bounceSubType NoEmail: "the target email address does not exist" (RFC 3463 5.1.1).
_SUBTYPE_STATUS = {"NoEmail": "5.1.1"}


def read(body: bytes, headers: Mapping[str, str], context: Context) -> Reading:
    topics = context.settings.ses_topics
    if not topics:
        raise off("BUDKAVLE_SES_TOPIC_ARNS")
    envelope = payload(body)
    kind = text(envelope, "Type")
    if kind not in _SIGNED:
        raise Refused(422, "Type", f"must be one of {', '.join(_SIGNED)}")
    if envelope.get("TopicArn") not in topics:
        raise Refused(403, "TopicArn", "not one of BUDKAVLE_SES_TOPIC_ARNS")
    _verify(envelope, kind, context)
    if kind == "SubscriptionConfirmation":
        return Reading([], note=_confirm(text(envelope, "SubscribeURL"), envelope, context))
    if kind == "UnsubscribeConfirmation":
        log.warning("SNS: %s unsubscribed this endpoint", envelope["TopicArn"])
        return Reading([], note="unsubscribed")
    try:
        message = json.loads(text(envelope, "Message"))
    except json.JSONDecodeError:
        raise Refused(422, "Message", "must be an SES notification (JSON)") from None
    if not isinstance(message, dict):
        raise Refused(422, "Message", "must be an SES notification (a JSON object)")
    return Reading(_reports(message))


def _verify(envelope: dict[str, Any], kind: str, context: Context) -> None:
    if not envelope.get("Signature"):
        raise Refused(401, "Signature", "missing: SNS signs every message", challenge="SNS")
    algorithm = _HASHES.get(str(envelope.get("SignatureVersion")))
    if algorithm is None:
        raise Refused(403, "SignatureVersion", "must be 1 or 2")
    try:
        signature = base64.b64decode(str(envelope["Signature"]), validate=True)
    except binascii.Error:
        raise Refused(403, "Signature", "not base64") from None
    signed = "".join(
        f"{name}\n{envelope[name]}\n"
        for name in _SIGNED[kind]
        if not (name == "Subject" and envelope.get(name) is None)
    )
    key = _certificate(text(envelope, "SigningCertURL"), context).public_key()
    if not isinstance(key, rsa.RSAPublicKey):
        raise Refused(403, "SigningCertURL", "the certificate has no RSA key")
    try:
        key.verify(signature, signed.encode("utf-8"), padding.PKCS1v15(), algorithm())
    except InvalidSignature:
        raise Refused(403, "Signature", "does not match the message") from None


def _certificate(url: str, context: Context) -> x509.Certificate:
    parts = urlsplit(url)
    if parts.scheme != "https" or not _SNS_HOST.fullmatch(parts.hostname or "") or parts.port:
        raise Refused(403, "SigningCertURL", "must be https://sns.<region>.amazonaws.com/...")
    if not parts.path.endswith(".pem"):
        raise Refused(403, "SigningCertURL", "must name a .pem certificate")
    try:
        return x509.load_pem_x509_certificate(context.fetch(url))
    except (httpx.HTTPError, OSError) as error:
        # Not the sender's fault: 503, so SNS tries again later.
        raise Refused(503, "SigningCertURL", f"could not be fetched: {error}") from None
    except ValueError:
        raise Refused(403, "SigningCertURL", "is not a PEM certificate") from None


def _confirm(url: str, envelope: dict[str, Any], context: Context) -> str:
    parts = urlsplit(url)
    log.warning("SNS: subscription to %s; SubscribeURL %s", envelope["TopicArn"], url)
    if parts.scheme != "https" or not _SNS_HOST.fullmatch(parts.hostname or "") or parts.port:
        return "not confirmed: SubscribeURL is not https://sns.<region>.amazonaws.com"
    try:
        context.fetch(url)
    except (httpx.HTTPError, OSError) as error:
        raise Refused(503, "SubscribeURL", f"could not be confirmed: {error}") from None
    return "subscription confirmed"


def _reports(message: dict[str, Any]) -> list[Report]:
    # SES notifications say notificationType; event publishing says eventType.
    kind = message.get("notificationType") or message.get("eventType")
    if kind == "Bounce":
        bounce = obj(message, "bounce", "Message.")
        permanent = bounce.get("bounceType") == "Permanent"
        default = _SUBTYPE_STATUS.get(str(bounce.get("bounceSubType")), "")
        recipients = tuple(
            Recipient(
                mail_address(text(one, "emailAddress", "Message.bounce.bouncedRecipients.")),
                "failed" if permanent else "delayed",
                status_in(one.get("status"), one.get("diagnosticCode")) or default,
                permanent,
            )
            for one in _list(bounce, "bouncedRecipients")
        )
        key = "ses:" + text(bounce, "feedbackId", "Message.bounce.")
        return [Report(Kind.DSN, key, recipients, vouched_by="ses")]
    if kind == "Complaint":
        complaint = obj(message, "complaint", "Message.")
        # RFC 5965 §7.3 types; a provider that sends none means "abuse" (SES docs).
        feedback = str(complaint.get("complaintFeedbackType") or "abuse").lower()
        recipients = tuple(
            Recipient(
                mail_address(text(one, "emailAddress", "Message.complaint.complainedRecipients.")),
                feedback, "", feedback in ("abuse", "fraud"),
            )
            for one in _list(complaint, "complainedRecipients")
        )  # fmt: skip
        key = "ses:" + text(complaint, "feedbackId", "Message.complaint.")
        return [Report(Kind.COMPLAINT, key, recipients, vouched_by="ses")]
    return []  # Delivery, Send, Open ...: nothing to act on


def _list(data: dict[str, Any], name: str) -> list[dict[str, Any]]:
    value = data.get(name)
    if not isinstance(value, list) or not all(isinstance(one, dict) for one in value):
        raise Refused(422, f"Message.{name}", "missing or not a list of objects")
    return value
