"""Publish to partners: time from the POST returning to all live partners holding the push.

N partner endpoints on loopback (--partners, 50 by default; one process, one port, one
path each); one of them hangs on every request, as a dead partner would. Each publish
matches every partner. For each publish we record when the last of the N - 1 live
partners received its push, counted from the moment the POST answered; the hanging
partner must not move that number.

Started like production: uvicorn, a Celery worker for the default queue, and a threaded
worker for the "push" queue (--pushers of them). Prints p50/p90/p99/max, the worker CPU
per publish and the load average. Run:
.venv/bin/python bench/partner_fanout.py [--db sqlite] [--partners 500] [--publishes 30]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
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

HANGING = "partner-000"
WARM_UP = 3  # the first publishes warm up connections and caches


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


def run(db: str, publishes: int, partners: int, pushers: int) -> None:
    receivers = Receivers()
    base, receiver_server = start_receivers(receivers)
    port = service.free_port()
    with tempfile.TemporaryDirectory(prefix="budkavle-bench-") as tmp:
        data_dir = Path(tmp)
        env = service.prepare(db, data_dir, port)
        env["BUDKAVLE_WEBHOOK_ALLOW_NETWORKS"] = "127.0.0.0/8"
        env["BUDKAVLE_PUSH_TIMEOUT_SECONDS"] = "5"
        with contextlib.ExitStack() as stack:
            svc = stack.enter_context(service.running(env, port))
            groups = dict(svc.groups)
            for k in range(pushers):
                pusher = [
                    sys.executable, "-m", "celery", "-A", "worker", "worker", "-Q", "push",
                    "-n", f"push{k}@%h", "--pool", "threads", "--concurrency", "16",
                    "--loglevel", "WARNING",
                ]  # fmt: skip
                groups[f"pusher{k}"] = stack.enter_context(
                    service.process(f"pusher{k}", pusher, env, data_dir)
                )
            client = stack.enter_context(httpx.Client(base_url=svc.url, timeout=10))
            admin = {"Authorization": f"Bearer {service.ADMIN_TOKEN}"}
            for n in range(partners):
                partner = {"name": f"Kommun {n:03d}", "webhook_url": f"{base}/partner-{n:03d}"}
                client.post("/api/partners", headers=admin, json=partner).raise_for_status()
            live = {f"partner-{n:03d}" for n in range(partners)} - {HANGING}
            latencies = []
            run_id = f"partners-{db}-{int(time.time())}"
            # The baseline took ~50 ms per partner: time enough for it too.
            per_publish_timeout = max(30.0, 0.1 * partners)
            cpu_before: dict[str, float] = {}
            for n in range(publishes + WARM_UP):
                if n == WARM_UP:
                    cpu_before = {name: service._group_cpu(g) for name, g in groups.items()}
                article = nordic.article(n, run_id)
                response = client.post("/api/articles", json=article, headers=admin)
                response.raise_for_status()
                returned = time.monotonic()
                deadline = returned + per_publish_timeout
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
                if n >= WARM_UP:
                    latencies.append((last - returned) * 1000)
            cpu = {
                name: service._group_cpu(g) - cpu_before[name] for name, g in groups.items()
            }
    receiver_server.should_exit = True
    _report(db, latencies, partners, cpu)


def _report(db: str, latencies: list[float], partners: int, cpu: dict[str, float]) -> None:
    ordered = sorted(latencies)

    def p(q: float) -> float:
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]

    per_publish = ", ".join(
        f"{name} {seconds * 1000 / len(ordered):.0f} ms" for name, seconds in cpu.items()
    )
    load = " ".join(f"{value:.2f}" for value in os.getloadavg())
    print(
        f"{db}: {len(ordered)} publishes to {partners - 1} live partners (+1 hanging): "
        f"p50 {statistics.median(ordered):.0f} ms, p90 {p(0.9):.0f} ms, "
        f"p99 {p(0.99):.0f} ms, max {ordered[-1]:.0f} ms"
        f"\n  CPU per publish: {per_publish}; load average {load}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--db", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--publishes", type=int, default=100)
    parser.add_argument("--partners", type=int, default=50)
    parser.add_argument("--pushers", type=int, default=1, help="push worker processes")
    args = parser.parse_args()
    service.stop_on_sigterm()
    print(f"tree {service.ROOT}; load average {' '.join(f'{v:.2f}' for v in os.getloadavg())}")
    for db in ("sqlite", "postgresql") if args.db == "both" else (args.db,):
        with service.cpu_report():
            run(db, args.publishes, args.partners, args.pushers)


if __name__ == "__main__":
    main()
