"""A real SMTP server for tests: aiosmtpd on loopback, recording every message it accepts.

It can answer chosen recipients or the sender with a 4xx or 5xx, counts TCP connections
(so a test can see that a batch used one), and can be stopped and started again on the
same port (an SMTP server that is down for a while). STARTTLS, implicit TLS and AUTH are
switched on by passing a TLS context or credentials. It offers PIPELINING (RFC 2920) as
Postfix and Exim do, unless told not to; aiosmtpd itself does not announce it, but reads
one command line at a time and answers in order, which is all pipelining asks of it.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import ssl
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

# aiosmtpd logs every connection at INFO on "mail.log"; a test run needs only its warnings.
logging.getLogger("mail.log").setLevel(logging.WARNING)


@dataclass(frozen=True)
class Received:
    mail_from: str
    rcpt_tos: tuple[str, ...]
    data: bytes


class Recorder:
    """The aiosmtpd handler: its hooks run on the server's thread, tests read from theirs."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._messages: list[Received] = []
        self._replies: dict[str, str] = {}
        self._sender_reply: str | None = None
        self.connections = 0
        self.pipelining = True  # announce PIPELINING in the EHLO reply
        # Answer DATA with 354 even when no recipient was accepted, as RFC 2920 3.1 warns a
        # server may; count the messages then received (a client should send "." alone).
        self.data_without_recipients = False
        self.empty_data: list[bytes] = []

    # Hooks: aiosmtpd calls them by these names (hence noqa: N802) ------------------------

    async def handle_EHLO(  # noqa: N802
        self, server: SMTP, session: Session, envelope: Envelope, hostname: str,
        responses: list[str],
    ) -> list[str]:  # fmt: skip
        # One count per TCP connection: a client greets again after STARTTLS (RFC 3207
        # 4.2), and aiosmtpd makes one SMTP object per connection, so mark that object.
        # (Counting in connection_made would also count the Controller's own probe.)
        if not getattr(server, "_budkavle_counted", False):
            server._budkavle_counted = True  # type: ignore[attr-defined]
            with self._lock:
                self.connections += 1
        session.host_name = hostname
        if self.pipelining:  # before the last line, "250 HELP"
            responses.insert(len(responses) - 1, "250-PIPELINING")
        return responses

    async def handle_MAIL(  # noqa: N802
        self, server: SMTP, session: Session, envelope: Envelope, address: str,
        mail_options: list[str],
    ) -> str:  # fmt: skip
        with self._lock:
            reply = self._sender_reply
        if reply is not None:
            return reply
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_RCPT(  # noqa: N802
        self, server: SMTP, session: Session, envelope: Envelope, address: str,
        rcpt_options: list[str],
    ) -> str:  # fmt: skip
        with self._lock:
            reply = self._replies.get(address.lower())
        if reply is not None:
            return reply
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(  # noqa: N802
        self, server: SMTP, session: Session, envelope: Envelope
    ) -> str:
        content = envelope.original_content or b""
        received = Received(envelope.mail_from or "", tuple(envelope.rcpt_tos), content)
        with self._lock:
            self._messages.append(received)
        return "250 2.0.0 queued"

    # For tests -----------------------------------------------------------------------------

    @property
    def messages(self) -> list[Received]:
        with self._lock:
            return list(self._messages)

    def reply(self, recipient: str, answer: str | None) -> None:
        """Answer RCPT TO for this address with e.g. "550 5.1.1 no such user" (None: accept)."""
        with self._lock:
            if answer is None:
                self._replies.pop(recipient.lower(), None)
            else:
                self._replies[recipient.lower()] = answer

    def reply_to_sender(self, answer: str | None) -> None:
        """Answer every MAIL FROM with e.g. "550 5.7.1 not allowed" (None: accept)."""
        with self._lock:
            self._sender_reply = answer

    def clear(self) -> None:
        with self._lock:
            self._messages.clear()
            self._replies.clear()
            self._sender_reply = None
            self.empty_data.clear()
            self.connections = 0


class _TrackingController(Controller):
    """Keeps the live sessions, so stop() can close them before the loop goes away."""

    def __init__(self, handler: Recorder, **kwargs: Any) -> None:
        super().__init__(handler, **kwargs)
        self.handler: Recorder = handler
        self.live: set[SMTP] = set()

    def factory(self) -> SMTP:
        controller = self

        class _SMTP(SMTP):
            def connection_made(self, transport: asyncio.BaseTransport) -> None:
                controller.live.add(self)
                super().connection_made(transport)

            def connection_lost(self, error: Exception | None) -> None:
                controller.live.discard(self)
                super().connection_lost(error)

            async def smtp_DATA(self, arg: str) -> None:  # noqa: N802
                recorder = controller.handler
                if (
                    not recorder.data_without_recipients
                    or self.envelope is None
                    or self.envelope.rcpt_tos
                ):
                    await super().smtp_DATA(arg)
                    return
                await self.push("354 End data with <CR><LF>.<CR><LF>")
                lines = []
                while (line := await self._reader.readuntil(b"\r\n")) != b".\r\n":
                    lines.append(line)
                recorder.empty_data.append(b"".join(lines))
                await self.push("554 5.5.1 Error: no valid recipients")

        return _SMTP(self.handler, **self.SMTP_kwargs)

    def close_sessions(self) -> None:
        # Closing the transports ourselves, on the loop's thread, lets every session run its
        # connection_lost; cancelling them in stop() alone leaves sockets for the garbage
        # collector and a ResourceWarning (an error under filterwarnings=error).
        done = threading.Event()

        def close_all() -> None:
            for smtp in list(self.live):
                if smtp.transport is not None:
                    smtp.transport.close()
            done.set()

        self.loop.call_soon_threadsafe(close_all)
        done.wait(5)
        deadline = time.monotonic() + 5
        while self.live and time.monotonic() < deadline:
            time.sleep(0.005)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class SmtpSink:
    """An SMTP server on 127.0.0.1; `url` is what BUDKAVLE_EMAIL_URL would say."""

    def __init__(
        self,
        *,
        port: int | None = None,
        tls_context: ssl.SSLContext | None = None,
        implicit_tls: bool = False,
        require_starttls: bool = False,
        credentials: tuple[str, str] | None = None,
        pipelining: bool = True,
    ) -> None:
        self.recorder = Recorder()
        self.recorder.pipelining = pipelining
        self.port = port or free_port()
        self._tls_context = tls_context
        self._implicit_tls = implicit_tls
        self._require_starttls = require_starttls
        self.credentials = credentials
        self._controller: _TrackingController | None = None

    @property
    def url(self) -> str:
        scheme = "smtps" if self._implicit_tls else "smtp"
        return f"{scheme}://127.0.0.1:{self.port}"

    @property
    def messages(self) -> list[Received]:
        return self.recorder.messages

    @property
    def connections(self) -> int:
        return self.recorder.connections

    @property
    def pipelining(self) -> bool:
        """Whether EHLO announces PIPELINING; a change applies to the next session."""
        return self.recorder.pipelining

    @pipelining.setter
    def pipelining(self, on: bool) -> None:
        self.recorder.pipelining = on

    def reply(self, recipient: str, answer: str | None) -> None:
        self.recorder.reply(recipient, answer)

    def start(self) -> SmtpSink:
        assert self._controller is None, "the sink is already running"
        kwargs: dict[str, Any] = {"hostname": "127.0.0.1", "port": self.port}
        kwargs["server_hostname"] = "sink.budkavle.test"  # no getfqdn() DNS look-up
        kwargs["ready_timeout"] = 5.0
        if self._implicit_tls:
            kwargs["ssl_context"] = self._tls_context
        elif self._tls_context is not None:
            kwargs["tls_context"] = self._tls_context
            kwargs["require_starttls"] = self._require_starttls
        if self.credentials is not None:
            kwargs["authenticator"] = self._authenticate
            kwargs["auth_required"] = True
        controller = _TrackingController(self.recorder, **kwargs)
        controller.start()
        self._controller = controller
        return self

    def stop(self) -> None:
        if self._controller is None:
            return
        self._controller.close_sessions()
        self._controller.stop()
        self._controller = None

    def restart(self) -> None:
        self.stop()
        self.start()

    def wait_for(self, count: int, timeout: float = 10.0) -> list[Received]:
        deadline = time.monotonic() + timeout
        while len(messages := self.messages) < count:
            if time.monotonic() > deadline:
                raise AssertionError(f"sink got {len(messages)} messages, wanted {count}")
            time.sleep(0.01)
        return messages

    def _authenticate(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str,
        auth_data: Any,
    ) -> AuthResult:  # fmt: skip
        expected = self.credentials
        ok = (
            expected is not None
            and isinstance(auth_data, LoginPassword)
            and (auth_data.login.decode(), auth_data.password.decode()) == expected
        )
        return AuthResult(success=ok, handled=False)


def make_certificate(folder: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 and localhost (Debian's openssl; the venv
    has no `cryptography`). Returns (certificate, key); the certificate is its own CA."""
    cert, key = folder / "sink-cert.pem", folder / "sink-key.pem"
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
            "-subj", "/CN=sink.budkavle.test", "-keyout", str(key), "-out", str(cert),
            "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return cert, key


def server_tls_context(cert: Path, key: Path) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    return context
