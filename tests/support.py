"""Helpers for tests: a real uvicorn server on loopback, polling, and Nordic articles."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import httpx
import uvicorn

ADMIN = {"Authorization": "Bearer test-admin-token"}
T = TypeVar("T")


class Server:
    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        # uvicorn closes a connection idle for 5 s, and httpx would keep it for 5 s too:
        # a request sent in that same instant meets a reset. The client lets go first.
        limits = httpx.Limits(keepalive_expiry=1.0)
        self.client = httpx.Client(base_url=base_url, timeout=10, limits=limits)

    @classmethod
    @contextmanager
    def running(cls, app: Any) -> Iterator[Server]:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        # proxy_headers=False as `budkavle serve` and the image run it: only
        # BUDKAVLE_TRUSTED_PROXIES makes X-Forwarded-For count.
        config = uvicorn.Config(app, log_level="warning", lifespan="on", proxy_headers=False)
        server = uvicorn.Server(config)
        thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
        thread.start()
        wait_for(lambda: server.started, timeout=10, what="uvicorn to start")
        running = cls(f"http://127.0.0.1:{port}")
        try:
            yield running
        finally:
            running.client.close()
            server.should_exit = True
            thread.join(timeout=10)
            sock.close()


def wait_for(
    check: Callable[[], T], timeout: float = 10.0, interval: float = 0.02, what: str = ""
) -> T:
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what or check}")
        time.sleep(interval)


def article(**overrides: Any) -> dict[str, Any]:
    """A Swedish article in the shape editors send."""
    body = {
        "title": "Personliga möten stärker det nordiska samarbetet",
        "language": "sv",
        "summary": "Borlänge och Helsingfors delar erfarenheter av förebyggande arbete.",
        "body_markdown": (
            "Projektet sammanför städer i hela Norden.\n\n"
            "– Vi förstår varandra på ett annat sätt, säger Kristina Westerholm "
            "från Helsingfors stadskansli.\n\n"
            "## Nordiskt samarbete viktigt\n\n"
            "– Vi vill få vårt arbete bekräftat men också ifrågasatt, säger Marcus Hjelm.\n\n"
            "*Text: Åsa Lindqvist / Budkavle*"
        ),
        "tags": ["Borlänge", "Nordiskt samarbete"],
        "authors": ["Åsa Lindqvist"],
        "image": {
            "url": "https://bilder.nyheter.example/2026/borlange-hjelm.jpg",
            "alt": "Marcus Hjelm framför stadshuset i Borlänge",
            "caption": "Marcus Hjelm från Borlänge.",
        },
    }
    body.update(overrides)
    return body
