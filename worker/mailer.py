"""Sending finished messages: SMTP in production, an outbox folder as the embedded default.

One interface for both. `transport.connect()` gives a Connection that a whole batch sends
through (one SMTP session for hundreds of messages); `send` either returns (accepted) or
raises SendError, which says whether trying again later can help.

What is permanent: a 5xx answer to RCPT TO or to the message (RFC 5321 4.2.1: "do not
repeat the exact request"). What is not: 4xx answers, a lost or refused connection, a
timeout, and every failure before the first MAIL FROM (greeting, STARTTLS, AUTH) or at
MAIL FROM itself, even with 5xx. Those are the server's or our configuration's fault, not
the recipient's, and must never count towards suppressing a subscriber's address.

When the server offers PIPELINING (RFC 2920), MAIL FROM, RCPT TO and DATA go out in one
write and their three replies are read in order, then the message: two round trips per
message instead of four. The answers are judged exactly as one by one; a refused RCPT TO
makes the DATA reply an error (nothing is sent, then RSET), and a server that answers DATA
with 354 anyway gets the lone "." RFC 2920 3.1 asks for. Servers without it get the
commands one at a time. Either way the message goes out as it is when it has CRLF line
ends and no line starting with "." (what worker/envelope.py makes; checked per message,
cheaper than smtplib's data() and its regex); anything else first gets CRLF line ends
(RFC 5321 2.3.8: no bare CR or LF) and its leading dots doubled (4.5.2).

After a broken connection the next send opens a new one, so a server restart in the
middle of a batch costs one message, not the batch. When opening a connection fails,
the Connection stays failed: every later send raises the same temporary error at once
instead of waiting out another timeout per message; the caller records each and retries
the batch later with a fresh connect().
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
import smtplib
import socket
import ssl
import tempfile
from contextlib import suppress
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from types import TracebackType
from typing import Literal, Protocol, Self
from urllib.parse import parse_qsl, unquote, urlsplit

from config.settings import Settings, SettingsError

Security = Literal["plain", "starttls", "starttls-required", "tls"]

# An envelope address goes into "MAIL FROM:<...>" and "RCPT TO:<...>" as it is: anything
# that could end the command or open another (CR, LF, NUL, '>', space) is refused.
_ENVELOPE_ADDRESS = re.compile(r"[!-;=?-~]{1,254}", re.ASCII)

# The message after DATA, when it is not sent as it is: every CR, LF or CRLF becomes CRLF,
# then a "." that starts a line gets a second one (RFC 5321 4.5.2).
_LINE_END = re.compile(rb"\r\n|\r|\n")
_LEADING_DOT = re.compile(rb"^\.", re.MULTILINE)


class SendError(Exception):
    def __init__(self, code: int | None, text: str, permanent: bool) -> None:
        super().__init__(f"{code} {text}" if code is not None else text)
        self.code = code
        self.text = text
        self.permanent = permanent


class Connection(Protocol):
    def send(self, sender: str, recipient: str, message: bytes) -> None: ...

    def close(self) -> None: ...

    def __enter__(self) -> Self: ...

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None: ...  # fmt: skip


class Transport(Protocol):
    def connect(self) -> Connection: ...


class _Closing:
    def close(self) -> None:
        pass

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:  # fmt: skip
        self.close()


def _envelope_address(role: str, value: str) -> str:
    if not _ENVELOPE_ADDRESS.fullmatch(value) or "@" not in value:
        # A bad recipient will never do; a bad sender is our configuration's fault.
        permanent = role == "recipient"
        raise SendError(None, f"{role}: not a usable address: {value!r}", permanent=permanent)
    return value


def _reply_text(reply: bytes | str) -> str:
    return reply.decode("utf-8", "replace") if isinstance(reply, bytes) else reply


# SMTP -------------------------------------------------------------------------------------


@cache
def _local_hostname() -> str:
    # smtplib would call getfqdn() (a DNS look-up that can hang) for every connection.
    return socket.getfqdn()


@dataclass(frozen=True)
class SmtpTransport:
    host: str
    port: int
    security: Security = "plain"
    username: str = ""
    password: str = field(default="", repr=False)
    timeout: float = 30.0
    verify: bool = True  # ?verify=0: accept any certificate (staging only)
    cafile: str = ""  # ?cafile=/path: trust this CA (a self-signed test server)
    ehlo_name: str = ""

    def connect(self) -> SmtpConnection:
        return SmtpConnection(self)

    def ssl_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(cafile=self.cafile or None)
        if not self.verify:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        return context

    def open(self) -> smtplib.SMTP:
        """A greeted, secured and authenticated session; raises SendError (temporary)."""
        name = self.ehlo_name or _local_hostname()
        smtp: smtplib.SMTP | None = None
        try:
            if self.security == "tls":
                smtp = smtplib.SMTP_SSL(
                    self.host, self.port, local_hostname=name, timeout=self.timeout,
                    context=self.ssl_context(),
                )  # fmt: skip
            else:
                smtp = smtplib.SMTP(self.host, self.port, local_hostname=name, timeout=self.timeout)
            smtp.ehlo()
            secure = self.security == "tls"
            if self.security == "starttls-required" or (
                self.security == "starttls" and smtp.has_extn("starttls")
            ):
                smtp.starttls(context=self.ssl_context())  # RFC 3207
                smtp.ehlo()  # RFC 3207 4.2: forget what was learnt before TLS
                secure = True
            if self.username:
                if not secure:
                    raise SendError(
                        None,
                        f"refusing to send the SMTP password to {self.host} unencrypted; use "
                        "smtps:// or ?starttls=required in BUDKAVLE_EMAIL_URL",
                        permanent=False,
                    )
                _login(smtp, self.username, self.password)
            return smtp
        except BaseException as error:
            if smtp is not None:
                smtp.close()
            if isinstance(error, SendError):
                raise
            # ValueError: smtplib's LOGIN and CRAM-MD5 cannot encode a non-ASCII password.
            if isinstance(error, smtplib.SMTPException | OSError | ValueError):
                raise _temporary(error, f"connecting to {self.host}:{self.port}") from error
            raise


def _login(smtp: smtplib.SMTP, username: str, password: str) -> None:
    mechanisms = smtp.esmtp_features.get("auth", "").upper().split()
    if "PLAIN" not in mechanisms:
        smtp.login(username, password)  # smtplib picks CRAM-MD5 or LOGIN
        return
    # AUTH PLAIN ourselves: RFC 4616 credentials are UTF-8, but smtplib encodes them as
    # ASCII and fails on a password such as "hemlig/lösen".
    smtp.ehlo_or_helo_if_needed()
    token = base64.b64encode(f"\0{username}\0{password}".encode()).decode("ascii")
    code, reply = smtp.docmd("AUTH", f"PLAIN {token}")
    if code != 235:
        raise smtplib.SMTPAuthenticationError(code, reply)


def _temporary(error: BaseException, doing: str) -> SendError:
    if isinstance(error, smtplib.SMTPResponseException):
        return SendError(error.smtp_code, f"{doing}: {_reply_text(error.smtp_error)}", False)
    return SendError(None, f"{doing}: {type(error).__name__}: {error}", permanent=False)


class _Stale(Exception):
    """A reused session turned out to be closed before anything was sent."""


class SmtpConnection(_Closing):
    def __init__(self, transport: SmtpTransport) -> None:
        self.transport = transport
        self._smtp: smtplib.SMTP | None = None
        self._failed: SendError | None = None

    def send(self, sender: str, recipient: str, message: bytes) -> None:
        _envelope_address("sender", sender)
        _envelope_address("recipient", recipient)
        if self._failed is not None:
            failed = self._failed
            raise SendError(failed.code, failed.text, failed.permanent)
        reused = self._smtp is not None
        try:
            self._transaction(self._session(), sender, recipient, message, reused=reused)
        except _Stale:
            # The server closed an idle session (RFC 5321 4.5.3.2 lets it) before our MAIL
            # FROM: nothing was accepted, so the same message goes on a new session.
            self._transaction(self._session(), sender, recipient, message, reused=False)

    def _session(self) -> smtplib.SMTP:
        if self._smtp is None:
            try:
                self._smtp = self.transport.open()
            except SendError as error:
                self._failed = error
                raise
        return self._smtp

    def _transaction(
        self, smtp: smtplib.SMTP, sender: str, recipient: str, message: bytes, *, reused: bool
    ) -> None:
        if smtp.has_extn("pipelining"):
            self._pipelined(smtp, sender, recipient, message, reused=reused)
        else:
            self._one_by_one(smtp, sender, recipient, message, reused=reused)

    def _one_by_one(
        self, smtp: smtplib.SMTP, sender: str, recipient: str, message: bytes, *, reused: bool
    ) -> None:
        stage = "MAIL FROM"
        try:
            code, reply = smtp.docmd("MAIL", f"FROM:<{sender}>")
            if code == 421 and reused:
                raise smtplib.SMTPServerDisconnected("421 at MAIL FROM")
            if code != 250:
                self._refused(code, reply, permanent=False)  # the sender, not the recipient
            stage = "RCPT TO"
            code, reply = smtp.docmd("RCPT", f"TO:<{recipient}>")
            if code not in (250, 251):
                self._refused(code, reply, permanent=code >= 500)
            stage = "DATA"
            code, reply = smtp.docmd("DATA")
            if code != 354:  # refused before the message was sent
                self._refused(code, reply, permanent=code >= 500)
            code, reply = self._message(smtp, message)
            if code != 250:
                self._refused(code, reply, permanent=code >= 500)
        except (smtplib.SMTPServerDisconnected, OSError) as error:
            self._broken()
            if reused and stage == "MAIL FROM":
                raise _Stale from error
            raise _temporary(error, stage) from error

    def _pipelined(
        self, smtp: smtplib.SMTP, sender: str, recipient: str, message: bytes, *, reused: bool
    ) -> None:
        """RFC 2920: the three commands in one write, their replies read in order. Each is
        judged as `_one_by_one` judges it; the first refusal is the one reported."""
        stage = "MAIL FROM"
        refusal: tuple[int, bytes, bool] | None = None  # code, reply, permanent
        try:
            # RFC 2920 3.1: DATA may only end a group, as it does here.
            smtp.send(f"MAIL FROM:<{sender}>\r\nRCPT TO:<{recipient}>\r\nDATA\r\n")
            code, reply = smtp.getreply()
            if code == 421 and reused:
                raise smtplib.SMTPServerDisconnected("421 at MAIL FROM")
            if code != 250:
                refusal = (code, reply, False)  # the sender, not the recipient
            if code != 421:  # after a 421 the server closes: no more replies come
                stage = "RCPT TO"
                code, reply = smtp.getreply()
                if refusal is None and code not in (250, 251):
                    refusal = (code, reply, code >= 500)
            if code != 421:
                stage = "DATA"
                code, reply = smtp.getreply()
                if refusal is None and code != 354:  # refused before the message was sent
                    refusal = (code, reply, code >= 500)
                elif refusal is not None and code == 354:
                    # RFC 2920 3.1: "If the DATA command was properly rejected the client
                    # SMTP can just issue RSET, but if the DATA command was accepted the
                    # client SMTP should send a single dot." An empty message to nobody.
                    smtp.send(b".\r\n")
                    code, reply = smtp.getreply()
            if refusal is not None:
                refused, refused_reply, permanent = refusal
                self._refused(refused, refused_reply, permanent=permanent, closing=code == 421)
            code, reply = self._message(smtp, message)
            if code != 250:
                self._refused(code, reply, permanent=code >= 500)
        except (smtplib.SMTPServerDisconnected, OSError) as error:
            self._broken()
            if refusal is not None:  # the answer stands; only the session is lost
                code, reply, permanent = refusal
                raise SendError(code, _reply_text(reply), permanent and code >= 500) from error
            if reused and stage == "MAIL FROM":
                raise _Stale from error
            raise _temporary(error, stage) from error

    @staticmethod
    def _message(smtp: smtplib.SMTP, message: bytes) -> tuple[int, bytes]:
        """After 354: the message and the "." line, then the server's final reply."""
        smtp.send(_data_payload(message))
        return smtp.getreply()

    def _refused(
        self, code: int, reply: bytes | str, *, permanent: bool, closing: bool = False
    ) -> None:
        if code == 421 or closing:  # RFC 5321 3.8: the server is closing this session
            self._broken()
        elif self._smtp is not None:
            try:
                self._smtp.rset()  # a clean transaction for the next message
            except (smtplib.SMTPException, OSError):
                self._broken()
        raise SendError(code, _reply_text(reply), permanent=permanent and 500 <= code < 600)

    def _broken(self) -> None:
        if self._smtp is not None:
            self._smtp.close()
            self._smtp = None

    def close(self) -> None:
        if self._smtp is None:
            return
        try:
            self._smtp.quit()
        except (smtplib.SMTPException, OSError):
            pass
        finally:
            self._smtp.close()
            self._smtp = None


def _data_payload(message: bytes) -> bytes:
    """What follows a 354: the message, ending in CRLF, and the "." line (RFC 5321 4.1.1.4).

    Sent as it is when every line end is CRLF and no line starts with "." — what
    worker/envelope.py builds, nearly always (header lines start with a name or white
    space; a quoted-printable line rarely starts with a dot). Checking that takes four scans
    of the bytes in C, about a third of the time of the regex smtplib's data() runs over
    every message (80 KB: ~120 against ~350 µs). Anything else is first brought to CRLF
    line ends (RFC 5321 2.3.8: no bare CR or LF) and dot-stuffed (4.5.2)."""
    crlf = message.count(b"\r\n")
    if (
        message.count(b"\n") != crlf  # a bare LF
        or message.count(b"\r") != crlf  # a bare CR
        or message.startswith(b".")
        or message.rfind(b"\r\n.") != -1  # rfind: 3-4 times faster than `in` on CPython 3.11
    ):
        message = _LEADING_DOT.sub(b"..", _LINE_END.sub(b"\r\n", message))
    if message.endswith(b"\r\n"):
        return message + b".\r\n"
    return message + b"\r\n.\r\n"


# Outbox folder ----------------------------------------------------------------------------

_MESSAGE_ID_HEADER = re.compile(rb"^message-id:[ \t]*(.*?)\r?$", re.IGNORECASE | re.MULTILINE)
_UNSAFE = re.compile(rb"[^A-Za-z0-9._-]+")


@dataclass(frozen=True)
class FolderTransport:
    """One .eml per message, for a newcomer to open in any mail program."""

    folder: Path

    def connect(self) -> FolderConnection:
        return FolderConnection(self.folder)


class FolderConnection(_Closing):
    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def send(self, sender: str, recipient: str, message: bytes) -> None:
        _envelope_address("sender", sender)
        _envelope_address("recipient", recipient)
        path = self.folder / file_name(recipient, message)
        # What a delivering MTA adds (RFC 5321 4.4), so the envelope can be read too.
        envelope = f"Return-Path: <{sender}>\r\nDelivered-To: {recipient}\r\n".encode("ascii")
        temporary: str | None = None
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            # A reader never sees half a file: write beside it, then rename over it.
            with tempfile.NamedTemporaryFile(
                dir=self.folder, prefix=".sending-", suffix=".tmp", delete=False
            ) as handle:
                temporary = handle.name
                handle.write(envelope + message)
            os.replace(temporary, path)
        except OSError as error:
            # A full disk is temporary: the delivery is tried again later. The half-written
            # file goes now, or each retry would leave one more and keep the disk full.
            if temporary is not None:
                with suppress(OSError):
                    os.unlink(temporary)
            raise SendError(None, f"writing {path}: {error.strerror}", permanent=False) from None


def file_name(recipient: str, message: bytes) -> str:
    """From the Message-ID and the recipient, so sending the same message again overwrites."""
    head = message.split(b"\r\n\r\n", 1)[0]
    match = _MESSAGE_ID_HEADER.search(head)
    if match and match.group(1).strip():
        stem = _UNSAFE.sub(b"_", match.group(1).strip().replace(b"@", b"_at_")).strip(b"._")
    else:
        stem = hashlib.sha256(message).hexdigest()[:32].encode("ascii")
    who = hashlib.sha256(recipient.lower().encode("utf-8")).hexdigest()[:12]
    return f"{stem[:150].decode('ascii')}-{who}.eml"


# From the settings ------------------------------------------------------------------------

_SCHEMES = "smtp://host:port, smtps://host:port, a folder path or file:///path"
_STARTTLS: dict[str, Security] = {
    "0": "plain", "false": "plain", "no": "plain",
    "1": "starttls", "true": "starttls", "yes": "starttls", "opportunistic": "starttls",
    "required": "starttls-required",
}  # fmt: skip


def transport_from_url(url: str, *, data_dir: Path, timeout: float = 30.0) -> Transport:
    """Raises SettingsError naming BUDKAVLE_EMAIL_URL for anything it cannot use."""
    if not url.strip():
        return FolderTransport(data_dir / "outbox")
    if "://" not in url:
        return FolderTransport(Path(url).expanduser())
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme == "file":
        if parts.netloc not in ("", "localhost"):
            raise SettingsError(f"BUDKAVLE_EMAIL_URL: a file URL names no host: use {_SCHEMES}")
        return FolderTransport(Path(unquote(parts.path)))
    if scheme not in ("smtp", "smtps"):
        raise SettingsError(f"BUDKAVLE_EMAIL_URL: unsupported scheme {scheme!r}: use {_SCHEMES}")
    try:
        port = parts.port or (465 if scheme == "smtps" else 25)
    except ValueError:
        raise SettingsError("BUDKAVLE_EMAIL_URL: the port must be a number") from None
    if not parts.hostname:
        raise SettingsError("BUDKAVLE_EMAIL_URL: no host, e.g. smtp://mail.example.se:587")
    options = dict(parse_qsl(parts.query, keep_blank_values=True))
    unknown = set(options) - {"starttls", "timeout", "verify", "cafile", "ehlo"}
    if unknown:
        raise SettingsError(
            f"BUDKAVLE_EMAIL_URL: unknown option {sorted(unknown)[0]!r} "
            "(known: starttls, timeout, verify, cafile, ehlo)"
        )
    security: Security = "tls" if scheme == "smtps" else "plain"
    if "starttls" in options:
        if scheme == "smtps":
            raise SettingsError("BUDKAVLE_EMAIL_URL: smtps:// is TLS already; drop ?starttls")
        if options["starttls"].lower() not in _STARTTLS:
            raise SettingsError("BUDKAVLE_EMAIL_URL: starttls must be 1, 0 or required")
        security = _STARTTLS[options["starttls"].lower()]
    try:
        timeout = float(options.get("timeout", timeout))
    except ValueError:
        raise SettingsError("BUDKAVLE_EMAIL_URL: timeout must be seconds, e.g. 30") from None
    if not timeout > 0:
        raise SettingsError("BUDKAVLE_EMAIL_URL: timeout must be more than 0 seconds")
    return SmtpTransport(
        host=parts.hostname,
        port=port,
        security=security,
        username=unquote(parts.username or ""),
        password=unquote(parts.password or ""),
        timeout=timeout,
        verify=options.get("verify", "1").lower() not in ("0", "false", "no"),
        cafile=options.get("cafile", ""),
        ehlo_name=options.get("ehlo", ""),
    )


def writes_files(settings: Settings) -> bool:
    """Mail goes to an outbox folder, as files a person opens (8-bit text reads best there),
    rather than over SMTP."""
    return isinstance(transport_from_settings(settings), FolderTransport)


def transport_from_settings(settings: Settings) -> Transport:
    return transport_from_url(
        settings.email_url, data_dir=settings.data_path, timeout=settings.smtp_timeout_seconds
    )
