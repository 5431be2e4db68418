"""Feed serving: requests/s for /feeds/all.atom (50 entries), Budkavle against nginx.

The baseline is nginx serving the very same bytes as a static file, in the same run, with
as many worker processes as uvicorn gets; beside it bare_asgi.py, the most any Python
code gets out of uvicorn. wrk measures a full GET and a conditional GET (If-None-Match,
answered 304) against each; and, beyond the goal, a GET that accepts gzip (nginx:
gzip_static with Budkavle's own compressed bytes). Goal (the issue): Budkavle >= 0.5 x
nginx, full GET and 304 alike.

    .venv/bin/python bench/feed_serving.py            # needs nginx and wrk
"""

from __future__ import annotations

import argparse
import gzip
import http.client
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import nordic
import service

HERE = Path(__file__).resolve().parent
GOAL_RATIO = 0.5
ENTRIES = 50  # BUDKAVLE_FEED_SIZE: a full current document
PATH = "/feeds/all.atom"

NGINX_CONF = """\
worker_processes {workers};
pid {tmp}/nginx.pid;
error_log {tmp}/error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    sendfile on;                  # what any static-file setup turns on (Debian's does)
    etag on;
    keepalive_requests 1000000;   # wrk keeps its connections, as uvicorn lets it
    types {{ application/atom+xml atom; }}
    charset utf-8;                # same Content-Type as Budkavle's
    charset_types application/atom+xml;
    client_body_temp_path {tmp}/body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;
    server {{
        listen 127.0.0.1:{port};
        root {root};
        location /feeds/ {{ gzip_static on; }}
    }}
}}
"""


@dataclass(frozen=True)
class Case:
    name: str
    headers: dict[str, str]  # per server: its own ETag in If-None-Match
    status: int


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--db", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--workers", default="1,2", help="uvicorn and nginx processes")
    parser.add_argument("--duration", type=int, default=10, help="seconds per wrk run")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--threads", type=int, default=2, help="wrk threads")
    args = parser.parse_args()
    nginx, wrk = shutil.which("nginx") or "/usr/sbin/nginx", shutil.which("wrk")
    if not Path(nginx).exists() or wrk is None:
        sys.exit("feed_serving needs nginx and wrk: apt-get install nginx-light wrk")
    service.stop_on_sigterm()

    rows: list[Row] = []
    with (
        service.cpu_report(),
        tempfile.TemporaryDirectory(prefix="budkavle-bench-") as tmp,
        # Apart from the data folder, and readable by nginx's unprivileged workers.
        tempfile.TemporaryDirectory(prefix="budkavle-nginx-") as www,
    ):
        Path(www).chmod(0o755)
        port = service.free_port()
        env = service.prepare(args.db, Path(tmp), port)
        with service.running(env, port) as svc:  # the worker builds the feeds, then goes
            fill(svc)
        for workers in [int(n) for n in args.workers.split(",")]:
            with service.running(env, port, web_workers=workers, worker=False) as svc:
                body = copy_feed(svc.url, Path(www))
                with (
                    running_nginx(nginx, Path(www), workers) as static,
                    running_bare(Path(www), workers, Path(tmp)) as bare,
                ):
                    targets = {"nginx": static, "bare uvicorn": bare, "Budkavle": svc.url}
                    cases = {name: cases_for(url, body) for name, url in targets.items()}
                    for i in range(len(cases["nginx"])):  # each server in turn, per case
                        for name, url in targets.items():
                            result = run_wrk(wrk, url, cases[name][i], args)
                            rows.append(Row(workers, cases[name][i].name, name, result))
        report(rows, len(body), args)


def fill(svc: service.Service) -> None:
    """Publish a full feed's worth of articles and wait until all.atom holds them all."""
    run = datetime.now(UTC).strftime("%H%M%S")
    admin = {"Authorization": f"Bearer {service.ADMIN_TOKEN}"}
    with httpx.Client(base_url=svc.url, headers=admin, timeout=10) as client:
        for n in range(ENTRIES):
            client.post("/api/articles", json=nordic.article(n, run)).raise_for_status()
        deadline = time.monotonic() + 120
        while True:
            feed = client.get(PATH)
            if feed.status_code == 200 and feed.content.count(b"<entry ") == ENTRIES:
                return
            if time.monotonic() > deadline:
                raise TimeoutError(f"{PATH} did not reach {ENTRIES} entries in 120 s")
            time.sleep(0.2)


def copy_feed(url: str, www: Path) -> bytes:
    """Budkavle's bytes, plain and gzipped, as the files nginx and bare_asgi.py serve."""
    status, plain_headers, body = fetch(url, {})
    _, gzip_headers, gzipped = fetch(url, {"Accept-Encoding": "gzip"})
    if status != 200 or gzip_headers.get("content-encoding") != "gzip":
        raise RuntimeError(f"{url}{PATH}: {status}, {gzip_headers}")
    target = www / PATH.lstrip("/")
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(body)
    target.with_name(target.name + ".gz").write_bytes(gzipped)
    per_request = {"date", "server", "content-length"}  # uvicorn adds these itself
    headers = {
        variant: {k: v for k, v in sent.items() if k not in per_request}
        for variant, sent in [("identity", plain_headers), ("gzip", gzip_headers)]
    }
    (target.parent / "headers.json").write_text(json.dumps(headers))
    for path in (www, target.parent, *target.parent.iterdir()):
        path.chmod(0o755 if path.is_dir() else 0o644)
    return body


def cases_for(url: str, body: bytes) -> list[Case]:
    """The three requests, each checked once against this server before wrk repeats it."""
    _, headers, _ = fetch(url, {})
    cases = [
        Case("full GET", {}, 200),
        # The server's own ETag: nginx's is mtime-size, Budkavle's a hash of the bytes.
        Case("If-None-Match (304)", {"If-None-Match": headers["etag"]}, 304),
        Case("gzip GET (extra)", {"Accept-Encoding": "gzip"}, 200),
    ]
    for case in cases:
        status, got, content = fetch(url, case.headers)
        plain = got.get("content-encoding") != "gzip"
        same = content == body if plain else gzip.decompress(content) == body
        if status != case.status or (status == 200 and not same):
            raise RuntimeError(f"{url}{PATH} {case.headers}: {status}, same bytes: {same}")
        print(f"checked {url}{PATH} {case.headers or ''}: {status}, {len(content)} bytes")
    return cases


def fetch(url: str, headers: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
    """One request with exactly these headers (httpx would add Accept-Encoding: gzip)."""
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=10)
    try:
        conn.request("GET", PATH, headers=headers)
        response = conn.getresponse()
        head = {k.lower(): v for k, v in response.getheaders()}
        return response.status, head, response.read()
    finally:
        conn.close()


@contextmanager
def running_nginx(nginx: str, www: Path, workers: int) -> Iterator[str]:
    with tempfile.TemporaryDirectory(prefix="budkavle-nginx-run-") as tmp:
        port = service.free_port()
        conf = Path(tmp) / "nginx.conf"
        conf.write_text(NGINX_CONF.format(workers=workers, tmp=tmp, port=port, root=www))
        argv = [nginx, "-p", tmp, "-c", str(conf), "-e", f"{tmp}/error.log", "-g", "daemon off;"]
        with service.process("nginx", argv, dict(os.environ), Path(tmp)):
            url = f"http://127.0.0.1:{port}"
            service.wait_http(url + PATH, timeout=10)
            yield url


@contextmanager
def running_bare(www: Path, workers: int, log_dir: Path) -> Iterator[str]:
    """bare_asgi.py under uvicorn, started as Budkavle's web is (service.running)."""
    port = service.free_port()
    argv = [
        sys.executable, "-m", "uvicorn", "bare_asgi:app", "--app-dir", str(HERE),
        "--host", "127.0.0.1", "--port", str(port), "--no-access-log", "--log-level", "warning",
    ]  # fmt: skip
    if workers > 1:
        argv += ["--workers", str(workers)]
    env = {**os.environ, "BENCH_BARE_DIR": str(www / "feeds")}
    with service.process("bare", argv, env, log_dir):
        url = f"http://127.0.0.1:{port}"
        service.wait_http(url + PATH, timeout=30)
        yield url


@dataclass(frozen=True)
class Result:
    rate: float  # requests/s
    p50_ms: float
    p99_ms: float


@dataclass(frozen=True)
class Row:
    workers: int
    case: str
    server: str
    result: Result


def run_wrk(wrk: str, url: str, case: Case, args: argparse.Namespace) -> Result:
    argv = [wrk, f"-t{args.threads}", f"-c{args.connections}", "--latency"]
    for name, value in case.headers.items():
        argv += ["-H", f"{name}: {value}"]
    # A short run first, not counted: every process has the feed in its cache by then.
    subprocess.run([*argv, "-d2s", url + PATH], check=True, capture_output=True)
    out = subprocess.run(
        [*argv, f"-d{args.duration}s", url + PATH], check=True, capture_output=True, text=True
    ).stdout
    if "Non-2xx" in out or "Socket errors" in out:
        raise RuntimeError(f"wrk saw errors against {url}:\n{out}")
    return Result(
        float(_find(r"Requests/sec:\s+([\d.]+)", out)),
        _millis(_find(r"(?m)^\s+50%\s+(\S+)", out)),  # from --latency's distribution
        _millis(_find(r"(?m)^\s+99%\s+(\S+)", out)),
    )


def tree_state(root: Path) -> str:
    """The commit served, and the changes on top of it that the web process runs."""
    git = ["git", "-C", str(root)]
    head = subprocess.run([*git, "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    if head.returncode != 0:
        return f"commit: unknown ({root} is no git tree)"
    served = ["web", "feeds", "config", "newsroom", "budkavle"]
    changed = subprocess.run(
        [*git, "status", "--porcelain", "--", *served], capture_output=True, text=True
    ).stdout.split("\n")
    dirty = sorted(line[3:] for line in changed if line.strip())
    return f"commit {head.stdout.strip()}" + (
        f", with uncommitted changes to {', '.join(dirty)}" if dirty else ", clean"
    )


def _find(pattern: str, text: str) -> str:
    match = re.search(pattern, text)
    if match is None:
        raise RuntimeError(f"no {pattern!r} in wrk output:\n{text}")
    return match[1]


def _millis(value: str) -> float:
    number, unit = _find(r"^([\d.]+)(us|ms|s)$", value), _find(r"(us|ms|s)$", value)
    return float(number) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def report(rows: list[Row], size: int, args: argparse.Namespace) -> None:
    print(
        f"\n{PATH}: {ENTRIES} entries, {size} bytes; wrk -t{args.threads} "
        f"-c{args.connections} -d{args.duration}s on loopback; database {args.db}"
    )
    print(tree_state(service.ROOT))
    print(
        f"{'':25}{'requests/s':^30}{'ratio to nginx':^18}{'p99 latency, ms':^27}\n"
        f"{'workers, request':25}{'nginx':>10}{'bare':>10}{'Budkavle':>10}"
        f"{'bare':>9}{'Budkavle':>9}{'nginx':>9}{'bare':>9}{'Budkavle':>9}"
        f"   goal: Budkavle >= {GOAL_RATIO:g} x nginx"
    )
    by_key = {(r.workers, r.case, r.server): r.result for r in rows}
    for workers, case in dict.fromkeys((r.workers, r.case) for r in rows):
        static, bare, ours = (
            by_key[workers, case, s] for s in ("nginx", "bare uvicorn", "Budkavle")
        )
        ratio = ours.rate / static.rate
        verdict = "" if "extra" in case else ("met" if ratio >= GOAL_RATIO else "NOT met")
        print(
            f"{workers}, {case:22}{static.rate:10.0f}{bare.rate:10.0f}{ours.rate:10.0f}"
            f"{bare.rate / static.rate:9.2f}{ratio:9.2f}"
            f"{static.p99_ms:9.1f}{bare.p99_ms:9.1f}{ours.p99_ms:9.1f}   {verdict}"
        )


if __name__ == "__main__":
    main()
