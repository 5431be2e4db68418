"""Publish to partners: time from the POST returning to all live partners holding the push.

50 partner endpoints on loopback (one process, one port, one path each); one of them
hangs on every request, as a dead partner would. Each publish matches every partner. For
each of N publishes we record when the last of the 49 live partners received its push,
counted from the moment the POST answered; the hanging partner must not move that number.

Started like production: uvicorn, a Celery worker for the default queue, and a threaded
worker for the "push" queue. Run: .venv/bin/python bench/partner_fanout.py [--db sqlite]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

sys.path.insert(0, str(Path(__file__).resolve().parent))
import nordic
import service

PARTNERS = 50
HANGING = "partner-00"
PER_PUBLISH_TIMEOUT = 30.0


class Receivers:
    """Every partner endpoint: records (path, article title, arrival time)."""

    def __init__(self) -> None:
        self.arrivals: dict[str, dict[str, float]] = {}  # title -> path -> monotonic time
        self.lock = threading.Lock()

    async def receive(self, request: Request) -> Response:
        body = await request.body()
        arrived = time.monotonic()
        path = request.path_params["name"]
        if path == HANGING:
            await asyncio.sleep(60)  # longer than the push timeout: the push gives up
            return Response(status_code=200)
        title = _title(body)
        with self.lock:
            self.arrivals.setdefault(title, {})[path] = arrived
        return Response(status_code=204)

    def live_received(self, title: str) -> dict[str, float]:
        with self.lock:
            return dict(self.arrivals.get(title, {}))


def _title(body: bytes) -> str:
    import json

    return str(json.loads(body)["data"]["article"]["title"])


def start_receivers(receivers: Receivers) -> tuple[str, uvicorn.Server]:
    app = Starlette(routes=[Route("/{name}", receivers.receive, methods=["POST"])])
    port = service.free_port()
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, log_level="error", timeout_graceful_shutdown=1
    )
    server = uvicorn.Server(config)
    threading.Thread(target=server.run, daemon=True).start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline:
            raise TimeoutError("the partner endpoints did not start")
        time.sleep(0.05)
    return f"http://127.0.0.1:{port}", server


def run(db: str, publishes: int) -> None:
    receivers = Receivers()
    base, receiver_server = start_receivers(receivers)
    port = service.free_port()
    with tempfile.TemporaryDirectory(prefix="budkavle-bench-") as tmp:
        data_dir = Path(tmp)
        env = service.prepare(db, data_dir, port)
        env["BUDKAVLE_WEBHOOK_ALLOW_NETWORKS"] = "127.0.0.0/8"
        env["BUDKAVLE_PUSH_TIMEOUT_SECONDS"] = "5"
        pusher = [
            sys.executable, "-m", "celery", "-A", "worker", "worker", "-Q", "push",
            "-n", "push@%h", "--pool", "threads", "--concurrency", "16",
            "--loglevel", "WARNING",
        ]  # fmt: skip
        with (
            service.running(env, port) as svc,
            service.process("pusher", pusher, env, data_dir),
            httpx.Client(base_url=svc.url, timeout=10) as client,
        ):
            admin = {"Authorization": f"Bearer {service.ADMIN_TOKEN}"}
            for n in range(PARTNERS):
                partner = {"name": f"Kommun {n:02d}", "webhook_url": f"{base}/partner-{n:02d}"}
                client.post("/api/partners", headers=admin, json=partner).raise_for_status()
            live = {f"partner-{n:02d}" for n in range(PARTNERS)} - {HANGING}
            latencies = []
            run_id = f"partners-{db}-{int(time.time())}"
            for n in range(publishes + 5):
                article = nordic.article(n, run_id)
                response = client.post("/api/articles", json=article, headers=admin)
                response.raise_for_status()
                returned = time.monotonic()
                deadline = returned + PER_PUBLISH_TIMEOUT
                while set(receivers.live_received(article["title"])) != live:
                    if time.monotonic() > deadline:
                        got = len(receivers.live_received(article["title"]))
                        logs = "".join(p.read_text()[-3000:] for p in data_dir.glob("*.log"))
                        raise TimeoutError(
                            f"publish {n}: {got} of {len(live)} live partners "
                            f"got it; the service's logs:\n{logs}"
                        )
                    time.sleep(0.002)
                last = max(receivers.live_received(article["title"]).values())
                if n >= 5:  # the first few warm up connections and caches
                    latencies.append((last - returned) * 1000)
    receiver_server.should_exit = True
    _report(db, latencies)


def _report(db: str, latencies: list[float]) -> None:
    ordered = sorted(latencies)

    def p(q: float) -> float:
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]

    print(
        f"{db}: {len(ordered)} publishes to {PARTNERS - 1} live partners (+1 hanging): "
        f"p50 {statistics.median(ordered):.0f} ms, p90 {p(0.9):.0f} ms, "
        f"p99 {p(0.99):.0f} ms, max {ordered[-1]:.0f} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--db", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--publishes", type=int, default=100)
    args = parser.parse_args()
    service.stop_on_sigterm()
    for db in ("sqlite", "postgresql") if args.db == "both" else (args.db,):
        with service.cpu_report():
            run(db, args.publishes)


if __name__ == "__main__":
    main()
