"""The desk's pages with 100,000 subscribers and 10,000 articles (issue 13).

Fills PostgreSQL (or SQLite, ``--db``) by bench/deskfill.py — subscribers, articles,
partners with their delivery logs, desk users, the audit log — cached between runs;
starts uvicorn as production runs it, on loopback; signs in once as an operator (the
real POST /desk/login with its CSRF token); then times one keep-alive client's GETs of
every page in PAGES, sequentially: ``--warmup`` first, then ``--requests`` measured.
The baseline of the same run: /healthz (a route that reads nothing) and the desk's style
sheet (a static file from the same app); each page's p50 is printed as a multiple of the
style sheet's. The goal (issue 13): every desk page ≤ 50 ms p50.

Pages that other branches are adding are in PAGES already, marked ``guarded``: they are
measured when their route answers, and skipped with a note while it is a 404.

    .venv/bin/python bench/desk_pages.py                       # PostgreSQL, 100k / 10k
    .venv/bin/python bench/desk_pages.py --db sqlite,postgresql --markdown
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

# The tree measured first on the path, as in growth.py: this process fills with the same
# code the service runs.
sys.path.insert(0, os.environ.get("BENCH_ROOT") or str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import deskfill
import httpx
import redis
import service
from sqlalchemy import func, select

from newsroom.db import make_engine, session_scope
from newsroom.deskmodels import AuditEntry
from newsroom.models import Article, PartnerDelivery, Subscriber, utcnow

GOAL_MS = 50.0
AUDIT_PAGE = 50  # web/desk/auditlog.py's PAGE_SIZE


@dataclass(frozen=True)
class Page:
    name: str
    path: str  # {names} are filled from the database: see targets()
    guarded: bool = False  # another branch's page: skipped while its route is a 404
    anonymous: bool = False  # asked without the session cookie


# Every desk page, one line each. A new page: add its line; {names} come from targets().
PAGES = [
    Page("overview", "/desk"),
    Page("partners", "/desk/partners"),
    Page("partner, the busiest", "/desk/partners/{busy_partner}"),
    Page("users", "/desk/users"),
    Page("audit log, newest", "/desk/audit"),
    Page("audit log, page 2", "/desk/audit?before={audit_page_2}"),
    Page("audit log, oldest page", "/desk/audit?before={audit_oldest}"),
    Page("sign-in form, anonymous", "/desk/login", anonymous=True),
    Page("articles", "/desk/articles"),
    Page("article editor, new", "/desk/articles/new"),
    Page("article editor", "/desk/articles/{article}"),
    Page("article, retract asked", "/desk/articles/{article}/retract"),
    Page("editions", "/desk/editions"),
    Page("edition preview, sv daily", "/desk/editions/{language}/preview.html?frequency=daily"),
    Page("dashboard", "/desk/dashboard"),
    Page("subscribers", "/desk/subscribers"),
    Page("subscriber", "/desk/subscribers/{subscriber}"),
    Page("subscriber, erase asked", "/desk/subscribers/{subscriber}/erase"),
]


@dataclass(frozen=True)
class Result:
    name: str
    path: str
    p50: float | None  # None: skipped
    p99: float | None
    note: str = ""

    def met(self) -> bool:
        return self.p50 is not None and self.p50 <= GOAL_MS


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--db", default="postgresql", help="postgresql, sqlite, or both")
    parser.add_argument("--subscribers", type=int, default=100_000)
    parser.add_argument("--articles", type=int, default=10_000)
    parser.add_argument("--partners", type=int, default=50)
    parser.add_argument("--deliveries", type=int, default=4_000, help="over all partners")
    parser.add_argument("--audit", type=int, default=10_000, help="audit log entries")
    parser.add_argument("--requests", type=int, default=300, help="measured, per page")
    parser.add_argument("--warmup", type=int, default=20, help="per page, not measured")
    parser.add_argument(
        "--cache", type=Path,
        default=Path(os.environ.get("BENCH_CACHE", "/var/tmp/budkavle-growth")),
    )  # fmt: skip
    parser.add_argument("--markdown", action="store_true", help="print a table for RESULTS.md")
    args = parser.parse_args()
    dbs = args.db.split(",")
    if not set(dbs) <= {"sqlite", "postgresql"}:
        parser.error(f"--db: {args.db!r}; give postgresql, sqlite or sqlite,postgresql")
    spec = deskfill.Spec(args.subscribers, args.articles, args.partners, args.deliveries,
                         args.audit)  # fmt: skip
    service.stop_on_sigterm()
    commit = subprocess.run(
        ["git", "describe", "--always", "--dirty"], cwd=service.ROOT, capture_output=True,
        text=True, check=False,
    ).stdout.strip()  # fmt: skip
    print(f"desk pages of {service.ROOT} at {commit or 'an unknown commit'}, "
          f"{os.cpu_count()} cores, {args.requests} requests per page")  # fmt: skip
    runs = {}
    with service.cpu_report():
        for db in dbs:
            runs[db] = run(db, spec, args.requests, args.warmup, args.cache)
            report(db, runs[db])
            load = " / ".join(f"{value:.1f}" for value in os.getloadavg())
            print(f"load average (1, 5, 15 min) after {db}: {load}")
    if args.markdown:
        print(markdown(runs))
    if any(not r.met() for results in runs.values() for r in results
           if r.p50 is not None and not r.name.startswith("baseline")):  # fmt: skip
        sys.exit(1)


def run(
    db: str,
    spec: deskfill.Spec,
    requests: int,
    warmup: int,
    cache: Path | None,
    *,
    postgres_url: str = service.POSTGRES_URL,
    redis_url: str = service.REDIS_URL,
) -> list[Result]:
    """Fill (or copy from ``cache``), start the service, sign in, time every page."""
    with tempfile.TemporaryDirectory(prefix="budkavle-desk-bench-") as tmp:
        started = time.perf_counter()
        url, took = deskfill.working_database(db, spec, Path(tmp), postgres_url, cache, utcnow())
        how = f"filled in {took:.0f} s" if took is not None else "copied from the cache"
        print(f"\n{db}: {how}, ready in {time.perf_counter() - started:.0f} s", flush=True)
        names, counts = targets(url)
        print("  " + ", ".join(f"{n:,} {what}" for what, n in counts.items()))
        redis.Redis.from_url(redis_url).flushdb()
        port = service.free_port()
        env = service.environment(url, Path(tmp), port)
        env.update(
            BUDKAVLE_REDIS_URL=redis_url,
            # One sign-in here, but a bench run after a bench run must not wait for it.
            BUDKAVLE_DESK_LOGIN_RATE_PER_MINUTE="6000",
            BUDKAVLE_DESK_LOGIN_BURST="1000",
        )
        with service.running(env, port, worker=False) as svc:
            return measure(svc.url, names, requests, warmup)


def targets(url: str) -> tuple[dict[str, int], dict[str, int]]:
    """The ids the paths name, and the sizes of the tables, from the database."""
    engine = make_engine(url)
    try:
        with session_scope(engine) as session:
            count = func.count()
            by_partner = (
                select(PartnerDelivery.partner_id, count)
                .group_by(PartnerDelivery.partner_id)
                .order_by(count.desc())
                .limit(1)
            )
            busy, busy_count = session.execute(by_partner).one()
            newest = select(AuditEntry.id).order_by(AuditEntry.id.desc()).limit(AUDIT_PAGE)
            ids = list(session.scalars(newest))
            oldest = session.scalar(select(func.min(AuditEntry.id)))
            articles = session.scalar(select(func.count()).select_from(Article)) or 0
            subscribers = session.scalar(select(func.count()).select_from(Subscriber)) or 0
            deliveries = session.scalar(select(func.count()).select_from(PartnerDelivery)) or 0
            audit = session.scalar(select(func.count()).select_from(AuditEntry)) or 0
            middle_article = session.scalar(
                select(Article.id).order_by(Article.id).offset(articles // 2).limit(1)
            )
            middle_subscriber = session.scalar(
                select(Subscriber.id).order_by(Subscriber.id).offset(subscribers // 2).limit(1)
            )
    finally:
        engine.dispose()
    names = {
        "busy_partner": busy,
        "audit_page_2": ids[-1],  # the "older" link of the newest page
        "audit_oldest": (oldest or 0) + AUDIT_PAGE,
        "article": middle_article or 0,
        "subscriber": middle_subscriber or 0,
        "language": "sv",  # an edition the fill's Swedish subscribers get
    }
    counts = {"subscribers": subscribers, "articles": articles, "partner deliveries": deliveries,
              f"deliveries of the busiest partner ({busy})": busy_count,
              "audit entries": audit}  # fmt: skip
    return names, counts


def measure(url: str, names: dict[str, int], requests: int, warmup: int) -> list[Result]:
    headers = {"accept-language": "sv-SE,sv;q=0.9,en;q=0.5"}
    with (
        httpx.Client(base_url=url, timeout=10, headers=headers) as client,
        httpx.Client(base_url=url, timeout=10, headers=headers) as anonymous,
    ):
        sign_in(client)
        stylesheet = _stylesheet(client.get("/desk").text)
        results = [
            timed(client, "baseline: /healthz", "/healthz", requests, warmup),
            timed(client, "baseline: style sheet", stylesheet, requests, warmup),
        ]
        for page in PAGES:
            path = page.path.format(**names)
            who = anonymous if page.anonymous else client
            if page.guarded:
                probe = who.get(path)
                if probe.status_code == 404:
                    results.append(Result(page.name, path, None, None, "skipped: a 404, not built"))
                    continue
            results.append(timed(who, page.name, path, requests, warmup))
    return results


_CSRF = re.compile(r'name="csrf" value="([^"]+)"')


def sign_in(client: httpx.Client) -> None:
    """As a browser does: the form (its CSRF token and cookie), then the POST."""
    form = client.get("/desk/login")
    form.raise_for_status()
    found = _CSRF.search(form.text)
    assert found, "no CSRF token in the sign-in form"
    answer = client.post("/desk/login", data={
        "csrf": found.group(1), "login": deskfill.OPERATOR, "password": deskfill.PASSWORD,
        "next": "/desk"})  # fmt: skip
    assert answer.status_code == 303, f"sign-in answered {answer.status_code}"
    page = client.get("/desk")
    assert page.status_code == 200 and "/desk/partners" in page.text, "not signed in as an operator"


def _stylesheet(page: str) -> str:
    found = re.search(r'<link rel="stylesheet" href="([^"]+)"', page)
    assert found, "the desk page links no style sheet"
    href = found.group(1)  # root-relative; an absolute URL's path otherwise
    return "/" + href.split("://", 1)[1].split("/", 1)[1] if "://" in href else href


def timed(client: httpx.Client, name: str, path: str, requests: int, warmup: int) -> Result:
    for _ in range(warmup):  # connections, caches, the first render of each template
        client.get(path)
    timings = []
    for _ in range(requests):
        started = time.perf_counter()
        response = client.get(path)
        timings.append((time.perf_counter() - started) * 1000)
        if response.status_code != 200:
            raise AssertionError(f"{path} answered {response.status_code}, not 200")
    p99 = statistics.quantiles(timings, n=100)[98] if len(timings) > 1 else timings[0]
    return Result(name, path, statistics.median(timings), p99)


def _base(results: list[Result]) -> float:
    return next(r.p50 for r in results if r.name == "baseline: style sheet") or 1.0


def report(db: str, results: list[Result]) -> None:
    base = _base(results)
    print(f"\n{db}: GET, ms{'':24}{'p50':>8}{'p99':>9}{'× css':>8}  goal ≤ {GOAL_MS:.0f} ms p50")
    for r in results:
        if r.p50 is None or r.p99 is None:
            print(f"  {r.name:34}{'':25}  {r.note} ({r.path})")
            continue
        goal = "" if r.name.startswith("baseline") else ("met" if r.met() else "MISSED")
        print(f"  {r.name:34}{r.p50:8.2f}{r.p99:9.2f}{r.p50 / base:8.1f}  {goal}")


def markdown(runs: dict[str, list[Result]]) -> str:
    dbs = list(runs)
    head = " | ".join(f"{db} | × style sheet" for db in dbs)
    lines = [
        f"| GET, ms (p50 / p99) | {head} | goal ≤ 50 ms |",
        "|---|" + "---|---|" * len(dbs) + "---|",
    ]
    first = runs[dbs[0]]
    for row, r in enumerate(first):
        cells = []
        met = []
        for db in dbs:
            other = runs[db][row]
            if other.p50 is None or other.p99 is None:
                cells += [other.note, ""]
                continue
            cells += [f"{other.p50:.2f} / {other.p99:.2f}", f"{other.p50 / _base(runs[db]):.1f}"]
            met.append(other.met())
        goal = "met" if all(met) else "**missed**"
        goal = "" if r.name.startswith("baseline") or not met else goal
        lines.append(f"| {r.name} (`{r.path}`) | " + " | ".join(cells) + f" | {goal} |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
