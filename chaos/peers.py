"""The other side of every delivery, on loopback: partner endpoints and an SMTP server.

Each records only what the table needs: who got which id (webhook-id, Message-ID), so
a duplicate is told apart from a second message, and 10,000 digests fit in memory.
"""

from __future__ import annotations

import asyncio
import random
import re
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from aiosmtpd.smtp import SMTP, Envelope, Session
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tests.smtpsink import Recorder, SmtpSink
from tests.support import Server


@dataclass
class Partners:
    """Endpoints by behaviour: ``ok``, ``flaky`` (503 until ``healthy_at``), ``hang`` (never
    answers), ``gone`` (410). Any other name answers 200 too."""

    base_url: str = ""
    healthy_at: float = 0.0  # time.monotonic() from which "flaky" answers 200
    got: dict[str, Counter[str]] = field(default_factory=dict)  # endpoint -> webhook-id count
    answered: Counter[str] = field(default_factory=Counter)  # "flaky 503", ...
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @classmethod
    @contextmanager
    def running(cls) -> Iterator[Partners]:
        peers = cls()
        app = Starlette(routes=[Route("/{name}", peers._answer, methods=["POST"])])
        with Server.running(app) as server:
            peers.base_url = server.base_url
            yield peers

    def url(self, name: str) -> str:
        return f"{self.base_url}/{name}"

    def received(self, name: str) -> Counter[str]:
        with self._lock:
            return Counter(self.got.get(name, Counter()))

    async def _answer(self, request: Request) -> Response:
        name = request.path_params["name"]
        await request.body()
        if name.startswith("hang"):
            await asyncio.sleep(3600)
        status, headers = 200, {}
        if name.startswith("gone"):
            status = 410
        elif name.startswith("flaky") and time.monotonic() < self.healthy_at:
            status, headers = 503, {"Retry-After": "5"}  # RFC 9110 10.2.3
        with self._lock:
            self.answered[f"{name} {status}"] += 1
            if status == 200:
                self.got.setdefault(name, Counter())[request.headers["webhook-id"]] += 1
        return Response(status_code=status, headers=headers)


_MESSAGE_ID = re.compile(rb"^Message-ID:\s*(<[^>\r\n]+>)", re.IGNORECASE | re.MULTILINE)


class _Ids(Recorder):
    """Keeps (recipient, Message-ID) of each message, and can answer 4xx at random."""

    def __init__(self) -> None:
        super().__init__()
        self.ids: Counter[tuple[str, str]] = Counter()
        self.transient_rate = 0.0
        self.refused = 0
        self._random = random.Random(5)  # the same faults in every run

    async def handle_RCPT(  # noqa: N802
        self, server: SMTP, session: Session, envelope: Envelope, address: str,
        rcpt_options: list[str],
    ) -> str:  # fmt: skip
        if self.transient_rate and self._random.random() < self.transient_rate:
            self.refused += 1
            return self._random.choice(
                ["421 4.3.2 try again later", "451 4.7.1 greylisted, try again"]
            )
        return await super().handle_RCPT(server, session, envelope, address, rcpt_options)

    async def handle_DATA(  # noqa: N802
        self, server: SMTP, session: Session, envelope: Envelope
    ) -> str:
        content = envelope.original_content or b""
        found = _MESSAGE_ID.search(content[:8192])
        message_id = found.group(1).decode() if found else "?"
        for recipient in envelope.rcpt_tos:
            self.ids[(recipient.lower(), message_id)] += 1
        return "250 2.0.0 queued"


class Mailbox(SmtpSink):
    def __init__(self) -> None:
        super().__init__(pipelining=True)
        self.recorder = self.ids_recorder = _Ids()

    def recipients(self) -> Counter[str]:
        """Messages per recipient (a digest: one each)."""
        counts: Counter[str] = Counter()
        for (recipient, _), count in list(self.ids_recorder.ids.items()):
            counts[recipient] += count
        return counts

    def duplicates(self) -> tuple[int, int]:
        """(extra copies of one Message-ID, extra messages under another Message-ID)."""
        same = sum(count - 1 for count in list(self.ids_recorder.ids.values()) if count > 1)
        per_recipient = Counter(recipient for recipient, _ in list(self.ids_recorder.ids))
        other = sum(count - 1 for count in per_recipient.values() if count > 1)
        return same, other
