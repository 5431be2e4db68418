"""DKIM signatures (RFC 6376) on finished messages, with dkimpy.

The signature covers the headers a receiver acts on, the RFC 8058 pair above all: Gmail and
Yahoo honour one-click unsubscribe only when List-Unsubscribe and List-Unsubscribe-Post are
signed, and signing them means nobody on the way can point the button elsewhere.
"""

from __future__ import annotations

from pathlib import Path

import dkim

from config.settings import Settings, SettingsError

SIGNED_HEADERS = (
    b"from", b"to", b"subject", b"date", b"message-id", b"list-id", b"list-unsubscribe",
    b"list-unsubscribe-post", b"mime-version", b"content-type",
)  # fmt: skip
# Listed once more than they occur ("oversigned", RFC 6376 8.15): a second From, Subject or
# List-Unsubscribe added in transit, which a reader might be shown instead, breaks the
# signature.
OVERSIGNED = (b"from", b"subject", b"list-unsubscribe", b"list-unsubscribe-post")


class DkimSigner:
    def __init__(self, private_key: bytes, *, selector: str, domain: str) -> None:
        if not selector or not domain:
            raise ValueError("DKIM needs a selector and a domain")
        # Parse once here so a bad key fails at start-up, not on the first of 100,000 sends.
        try:
            dkim.crypto.parse_pem_private_key(private_key)
        except dkim.crypto.UnparsableKeyError as error:
            raise ValueError(f"not an RSA private key in PEM (PKCS#1 or PKCS#8): {error}") from None
        self._key = private_key
        self.selector = selector
        self.domain = domain

    def signature(self, message: bytes) -> bytes:
        """The `DKIM-Signature: ...` header field (CRLF-terminated) for these exact bytes."""
        # relaxed/simple (dkimpy's default): header case and folding may change in transit,
        # the body may not.
        header: bytes = dkim.sign(
            message,
            self.selector.encode("ascii"),
            self.domain.encode("ascii"),
            self._key,
            include_headers=[*SIGNED_HEADERS, *OVERSIGNED],
            linesep=b"\r\n",
        )
        return header

    def sign(self, message: bytes) -> bytes:
        return self.signature(message) + message


def signer_from_settings(settings: Settings, domain: str) -> DkimSigner | None:
    """None when BUDKAVLE_DKIM_PRIVATE_KEY_PATH is empty (signing off, the default)."""
    key_path = settings.dkim_private_key_path
    if not key_path:
        return None
    selector = settings.dkim_selector
    try:
        key = Path(key_path).read_bytes()
    except OSError as error:
        raise SettingsError(
            f"BUDKAVLE_DKIM_PRIVATE_KEY_PATH: cannot read {key_path}: {error.strerror}"
        ) from None
    try:
        return DkimSigner(key, selector=selector, domain=domain)
    except ValueError as error:
        raise SettingsError(f"BUDKAVLE_DKIM_PRIVATE_KEY_PATH: {key_path}: {error}") from None
