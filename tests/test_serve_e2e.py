"""`budkavle serve` with no configuration at all: embedded SQLite, Redis, worker, beat and
the outbox folder for email."""

from __future__ import annotations

import email
import email.policy
import json
import os
import re
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import feedparser
import httpx
import pytest

from tests.support import article, wait_for

pytestmark = pytest.mark.slow


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[tuple[str, Path, subprocess.Popen[bytes]]]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("BUDKAVLE_")}
    budkavle = Path(sys.executable).parent / "budkavle"
    process = subprocess.Popen(
        [str(budkavle), "serve", "--port", str(port), "--concurrency", "1",
         "--log-format", "json"],
        cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        yield f"http://127.0.0.1:{port}", tmp_path, process
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_serve_publishes_to_the_feed_within_seconds_and_stops_cleanly(
    serve: tuple[str, Path, subprocess.Popen[bytes]],
) -> None:
    base, folder, process = serve

    def up() -> bool:
        try:
            return httpx.get(f"{base}/readyz", timeout=1).status_code == 200
        except httpx.TransportError:
            assert process.poll() is None, process.stdout.read().decode()  # type: ignore[union-attr]
            return False

    wait_for(up, timeout=60, interval=0.25, what="budkavle serve to be ready")
    token = (folder / "var" / "admin-token").read_text().strip()
    headers = {"Authorization": f"Bearer {token}"}
    created = httpx.post(f"{base}/api/articles", json=article(), headers=headers, timeout=5)
    assert created.status_code == 201, created.text

    def served() -> list[str]:
        response = httpx.get(f"{base}/feeds/all.atom", timeout=2)
        if response.status_code != 200:
            return []
        return [entry.title for entry in feedparser.parse(response.content).entries]

    assert wait_for(served, timeout=15, interval=0.1, what="the article in all.atom") == [
        article()["title"]
    ]
    assert (folder / "var" / "budkavle.db").exists()

    # The embedded mail transport: the confirmation email lands in var/outbox as a file.
    form = {"email": "asa.oberg@example.se", "language": "sv", "frequency": "daily"}
    response = httpx.post(f"{base}/subscribe", data=form, timeout=5)
    assert response.status_code == 200, response.text
    outbox = folder / "var" / "outbox"
    [saved] = wait_for(lambda: list(outbox.glob("*.eml")), timeout=15, what="an .eml file")
    confirmation = email.message_from_bytes(saved.read_bytes(), policy=email.policy.default)
    assert confirmation["To"] == "asa.oberg@example.se"
    assert "/subscribe/confirm/" in str(confirmation.get_body(("plain",)).get_content())  # type: ignore[union-attr]
    # The README's way: open the file in an editor, find the link, follow it. The text
    # part is 8bit in the outbox, so the link stands whole, where it was written.
    raw = saved.read_bytes()
    link = re.search(rb"(https?://\S+/subscribe/confirm/[\w.-]+)\r\n", raw)
    assert link is not None, raw.decode()
    assert "ä".encode() in raw, "Swedish as it is, not =C3=A4"
    url = link.group(1).decode()
    assert httpx.get(url, timeout=5).status_code == 200  # the page with the button
    confirmed = httpx.post(url, timeout=5)
    assert confirmed.status_code == 200 and "asa.oberg@example.se" in confirmed.text

    process.send_signal(signal.SIGINT)
    output, _ = process.communicate(timeout=30)
    text = output.decode()
    assert process.returncode == 0, text
    assert "Admin token" in text and token in text
    assert "Traceback" not in text
    # --log-format json: the worker's and web's lines are JSON objects with the ids.
    logged = [json.loads(line) for line in text.splitlines() if line.startswith("{")]
    handled = [entry for entry in logged if entry["logger"] == "worker.events"]
    assert handled and {"event_id", "article_id"} <= set(handled[0]), logged
    assert any(entry["logger"].startswith("uvicorn") for entry in logged)
    # The sweepers ran every 5 s: beat's routine lines are DEBUG, not shown at INFO.
    assert not [entry for entry in logged if "Sending due task" in entry["message"]]
    with pytest.raises(httpx.TransportError):
        httpx.get(f"{base}/healthz", timeout=1)
