"""A newsroom as the desk sees it: subscribers, articles, partners and their logs, users,
and an audit log, written in bulk (bench/desk_pages.py measures the desk's pages on it).

- articles: bench/fill.py's bulk fill (Nordic titles and bodies in six languages, tags
  from a head of topics and places and a long tail), with their outbox events;
- subscribers: one multi-row INSERT per 5,000, in the statuses, languages, frequencies
  and tag filters a newsroom has (most active, some pending, unsubscribed or suppressed);
- partners: municipalities with webhooks, deliveries of the newest events and their
  attempts; one busy partner with a third of the deliveries, a few failing (pending
  deliveries retried, some given up), one disabled with deliveries waiting;
- desk users through `users.add` (the operator signs in with OPERATOR and PASSWORD);
- the audit log: entries over the last 90 days, as sign-ins and actions make them.

Filled databases are kept like growth.py's (`fill.Cache`): a SQLite file or a PostgreSQL
database used as a TEMPLATE, keyed by the sizes and a hash of the code that decides what a
fill holds, so a second run copies instead of filling again.
"""

from __future__ import annotations

import hashlib
import random
import shutil
import sqlite3
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import fill
import psycopg
from sqlalchemy import Engine, insert, select
from sqlalchemy.engine import make_url

from newsroom import users
from newsroom.db import make_engine, migrate, session_scope
from newsroom.deskmodels import AuditEntry, Role
from newsroom.models import (
    DeliveryAttempt,
    DeliveryStatus,
    Frequency,
    OutboxEvent,
    Partner,
    PartnerDelivery,
    PartnerState,
    Subscriber,
    SubscriberStatus,
    Tag,
)

OPERATOR = "asa.lindqvist@nyheter.example"
PASSWORD = "Korrekt häst batteri bänk"
SEED = 13
TAGS = 2000  # the article fill's vocabulary
CHUNK = 5000  # rows per INSERT statement's batch
# The code whose change changes what a fill holds.
CODE = ["bench/deskfill.py", "newsroom/deskmodels.py", "newsroom/users.py"]

MUNICIPALITIES = [
    "Göteborgs stad", "Borlänge kommun", "Tammerfors stad", "Umeå kommun", "Tromsø kommune",
    "Aarhus Kommune", "Reykjavíkurborg", "Helsingfors stad", "Malmö stad", "Västerås stad",
    "Örebro kommun", "Jönköpings kommun", "Linköpings kommun", "Norrköpings kommun",
    "Gävle kommun", "Sundsvalls kommun", "Östersunds kommun", "Luleå kommun",
    "Skellefteå kommun", "Kiruna kommun", "Växjö kommun", "Härnösands kommun", "Åre kommun",
    "Ängelholms kommun", "Älmhults kommun", "Söderhamns kommun", "Mariehamns stad",
    "Jyväskylän kaupunki", "Hämeenlinnan kaupunki", "Seinäjoen kaupunki", "Bodø kommune",
    "Ålesund kommune", "Førde kommune", "Lærdal kommune", "Kristiansand kommune",
    "Tønsberg kommune", "Næstved Kommune", "Køge Kommune", "Holstebro Kommune",
    "Bornholms Regionskommune", "Tórshavnar kommuna", "Kommuneqarfik Sermersooq",
    "Akureyrarbær", "Ísafjarðarbær", "Lappeenrannan kaupunki", "Vörå kommun",
    "Närpes stad", "Jakobstads stad", "Öckerö kommun", "Härjedalens kommun",
]  # fmt: skip
FIRSTS = ["asa", "matti", "oystein", "soren", "kristina", "paivi", "gudrun", "annika", "jon"]
LASTS = ["lindqvist", "makela", "haugen", "kjaergaard", "westerholm", "rask", "olafsdottir"]
DOMAINS = ["example.se", "example.fi", "example.no", "example.dk", "posti.example"]
ZONES = ["Europe/Stockholm", "Europe/Helsinki", "Europe/Oslo", "Europe/Copenhagen",
         "Atlantic/Reykjavik"]  # fmt: skip
LANGUAGES = ["sv", "sv", "sv", "fi", "fi", "nb", "da", "en", "is"]
STATUSES = [SubscriberStatus.ACTIVE] * 40 + [
    SubscriberStatus.PENDING] * 4 + [SubscriberStatus.UNSUBSCRIBED] * 4 + [
    SubscriberStatus.BOUNCED, SubscriberStatus.COMPLAINED]  # fmt: skip
FREQUENCIES = [Frequency.DAILY] * 6 + [Frequency.WEEKLY] * 3 + [Frequency.IMMEDIATE]
DESK_USERS = [
    (OPERATOR, Role.OPERATOR, "Åsa Lindqvist"),
    ("matti.makela@nyheter.example", Role.OPERATOR, "Matti Mäkelä"),
    ("oystein.haugen@nyheter.example", Role.EDITOR, "Øystein Haugen"),
    ("soren.kjaergaard@nyheter.example", Role.EDITOR, "Søren Kjærgaard"),
    ("gudrun.olafsdottir@nyheter.example", Role.EDITOR, "Guðrún Ólafsdóttir"),
    ("paivi.rask@nyheter.example", Role.EDITOR, "Päivi Rask"),
]  # fmt: skip


@dataclass(frozen=True)
class Spec:
    subscribers: int = 100_000
    articles: int = 10_000
    partners: int = 50
    deliveries: int = 4_000
    audit: int = 10_000

    def key(self) -> str:
        digest = hashlib.sha256(fill.code_hash().encode())
        for name in CODE:
            digest.update((fill.ROOT / name).read_bytes())
        sizes = f"s{self.subscribers}_a{self.articles}_p{self.partners}_d{self.deliveries}"
        return f"desk_{sizes}_l{self.audit}_{digest.hexdigest()[:8]}"


def fill_database(engine: Engine, spec: Spec, now: datetime, progress: bool = True) -> None:
    """Everything the desk shows, in a migrated, empty database."""
    started = time.perf_counter()
    rng = random.Random(SEED)
    fill.fill(engine, fill.Fill(spec.articles, TAGS, fill.fill_end()), progress=progress)
    _say(progress, f"  {spec.articles:,} articles", started)
    _subscribers(engine, spec.subscribers, now, rng)
    _say(progress, f"  {spec.subscribers:,} subscribers", started)
    _partners(engine, spec, now, rng)
    _say(progress, f"  {spec.partners} partners, {spec.deliveries:,} deliveries", started)
    ids = _desk_users(engine, now)
    _audit(engine, spec.audit, ids, now, rng)
    _say(progress, f"  {len(ids)} desk users, {spec.audit:,} audit entries", started)


def _say(progress: bool, text: str, started: float) -> None:
    if progress:
        print(f"{text} ({time.perf_counter() - started:.0f} s)", flush=True)


def _subscribers(engine: Engine, count: int, now: datetime, rng: random.Random) -> None:
    with session_scope(engine) as session:
        slugs = list(session.scalars(select(Tag.slug).order_by(Tag.id).limit(40)))
    for start in range(0, count, CHUNK):
        rows = []
        for n in range(start, min(count, start + CHUNK)):
            status = rng.choice(STATUSES)
            joined = now - timedelta(days=730) * rng.random()
            confirmed = status is not SubscriberStatus.PENDING
            tags = rng.sample(slugs, rng.choice([0, 0, 0, 1, 1, 2])) if slugs else []
            rows.append({
                "email": f"{FIRSTS[n % 9]}.{LASTS[n % 7]}{n}@{DOMAINS[n % 5]}",
                "status": status, "language": rng.choice(LANGUAGES),
                "frequency": rng.choice(FREQUENCIES), "tags": tags,
                "time_zone": rng.choice(ZONES), "consent_at": joined,
                "consent_ip": f"192.0.2.{n % 250 + 1}", "consent_form": "subscribe-2026-09",
                "notice_requested_at": joined, "notice_sent_at": joined,
                "confirmed_at": joined + timedelta(minutes=7) if confirmed else None,
                "unsubscribed_at": (now - timedelta(days=rng.randint(1, 300))
                                    if status is SubscriberStatus.UNSUBSCRIBED else None),
                "digest_position": 0,
                "failures": 3 if status is SubscriberStatus.BOUNCED else 0,
                "created_at": joined, "updated_at": joined,
            })  # fmt: skip
        with session_scope(engine) as session:
            session.execute(insert(Subscriber), rows)


def _partners(engine: Engine, spec: Spec, now: datetime, rng: random.Random) -> None:
    """Partners 0 (busy), 1 and 2 (failing for a day), 3 (disabled); the rest healthy."""
    names = [MUNICIPALITIES[n % len(MUNICIPALITIES)] + (f" {n // 50 + 1}" if n >= 50 else "")
             for n in range(spec.partners)]  # fmt: skip
    with session_scope(engine) as session:
        events = session.execute(
            select(OutboxEvent.id, OutboxEvent.article_id, OutboxEvent.created_at)
            .where(OutboxEvent.position.is_not(None))
            .order_by(OutboxEvent.position.desc())
            .limit(spec.deliveries)
        ).all()
        partners = []
        for n, name in enumerate(names):
            partner = Partner(
                name=name, webhook_url=f"https://partner{n}.example/budkavle/hook",
                secret=f"whsec_{rng.getrandbits(192):048x}",
                tags=[] if n % 3 else ["klimat"], languages=[] if n % 4 else ["sv"],
                created_at=now - timedelta(days=400 - n),
            )  # fmt: skip
            if n in (0, 1, 2):
                partner.failing_since = now - timedelta(hours=3 if n == 0 else 26)
            if n == 3 and spec.partners > 3:
                partner.state = PartnerState.DISABLED
                partner.disabled_at = now - timedelta(days=1)
                partner.disabled_reason = "HTTP 503 for three days in a row"
            session.add(partner)
            partners.append(partner)
        session.flush()
        partner_ids = [partner.id for partner in partners]
    busy = min(len(events), spec.deliveries // 3)
    each = min(len(events), (spec.deliveries - busy) // max(1, spec.partners - 1))
    deliveries: list[dict[str, Any]] = []
    attempts: dict[str, list[dict[str, Any]]] = {}
    for n, partner_id in enumerate(partner_ids):
        for rank, (event_id, article_id, created) in enumerate(events[: busy if n == 0 else each]):
            webhook_id = f"msg_{rng.getrandbits(128):032x}"
            row, tries = _delivery(n, rank, created, now, rng)
            row.update(event_id=event_id, partner_id=partner_id, article_id=article_id,
                       webhook_id=webhook_id)  # fmt: skip
            deliveries.append(row)
            attempts[webhook_id] = tries
    with session_scope(engine) as session:
        for start in range(0, len(deliveries), CHUNK):
            session.execute(insert(PartnerDelivery), deliveries[start : start + CHUNK])
        ids = dict(session.execute(select(PartnerDelivery.webhook_id, PartnerDelivery.id)).all())
        rows = [dict(attempt, delivery_id=ids[webhook_id])
                for webhook_id, tries in attempts.items() for attempt in tries]  # fmt: skip
        for start in range(0, len(rows), CHUNK):
            session.execute(insert(DeliveryAttempt), rows[start : start + CHUNK])


def _delivery(
    partner: int, rank: int, created: datetime, now: datetime, rng: random.Random
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """One delivery (newest first by ``rank``) and its attempts, as the push worker leaves
    them: retried and pending while the partner fails, given up after eight, or delivered."""
    sent = created + timedelta(seconds=1)
    troubled = partner in (0, 1, 2, 3)
    if troubled and rank < 10:  # while the partner fails: retried, waiting for the next try
        times = [now - timedelta(hours=h) for h in (26, 20, 2)[-(1 + rank % 3) :]]
        row = {"status": DeliveryStatus.PENDING, "attempts": len(times), "last_status": 503,
               "last_error": "Service Unavailable", "next_attempt_at": now + timedelta(hours=1),
               "created_at": times[0], "delivered_at": None}  # fmt: skip
        tries = [_attempt(at, 503, "Service Unavailable", rng) for at in times]
        if partner == 3:  # disabled: held, not tried again
            row["next_attempt_at"] = now
        return row, tries
    if troubled and rank % 40 == 7:  # an earlier run of failures: given up, to be replayed
        times = [sent + timedelta(minutes=2**k) for k in range(8)]
        row = {"status": DeliveryStatus.FAILED, "attempts": 8, "last_status": None,
               "last_error": "timed out after 10 s", "next_attempt_at": times[-1],
               "created_at": sent, "delivered_at": None}  # fmt: skip
        return row, [_attempt(at, None, "timed out after 10 s", rng) for at in times]
    row = {"status": DeliveryStatus.DELIVERED, "attempts": 1, "last_status": 200,
           "last_error": None, "next_attempt_at": sent, "created_at": sent,
           "delivered_at": sent}  # fmt: skip
    return row, [_attempt(sent, 200, None, rng)]


def _attempt(
    at: datetime, status: int | None, error: str | None, rng: random.Random
) -> dict[str, Any]:
    return {"attempted_at": at, "status_code": status, "error": error,
            "duration_ms": 10_000 if status is None else rng.randint(40, 900)}  # fmt: skip


def _desk_users(engine: Engine, now: datetime) -> list[tuple[int, str]]:
    with session_scope(engine) as session:
        made = [users.add(session, login, role, now - timedelta(days=200), name, PASSWORD)[0]
                for login, role, name in DESK_USERS]  # fmt: skip
        session.flush()
        return [(user.id, user.login) for user in made]


ACTIONS: list[tuple[str, int]] = [
    ("sign_in", 50), ("sign_out", 20), ("sign_in.failed", 6), ("partner.replay", 12),
    ("partner.enable", 2), ("account.language", 3), ("user.add", 1), ("user.role", 1),
    ("user.disable", 1), ("article.edit", 4),
]  # fmt: skip


def _audit(
    engine: Engine, count: int, actors: list[tuple[int, str]], now: datetime, rng: random.Random
) -> None:
    names = [name for name, _ in ACTIONS]
    weights = [weight for _, weight in ACTIONS]
    start = now - timedelta(days=90)
    rows = []
    for n in range(count):
        action = rng.choices(names, weights)[0]
        actor_id, login = rng.choice(actors)
        details: dict[str, Any] = {}
        target = login
        if action == "sign_in.failed":
            actor_id, login = None, target
        elif action.startswith("partner."):
            target = rng.choice(MUNICIPALITIES)
            details = {"partner": rng.randint(1, 50), "delivery": rng.randint(1, 4000),
                       "webhook_id": f"msg_{rng.getrandbits(128):032x}"}  # fmt: skip
        elif action == "account.language":
            details = {"from": None, "to": rng.choice(["sv", "en"])}
        elif action.startswith("user."):
            target = rng.choice(actors)[1]
            changed = {"from": "editor", "to": "operator"}
            details = {"role": "editor"} if action == "user.add" else changed
        elif action == "article.edit":
            target = f"nyhet-{rng.randint(1, 10_000)}"
            details = {"fields": ["title", "summary"]}
        rows.append({
            "at": start + (now - start) * (n / max(1, count)), "actor_id": actor_id,
            "actor": login, "action": action, "target": target, "details": details,
            "address": f"198.51.100.{rng.randint(1, 254)}",
        })  # fmt: skip
    with session_scope(engine) as session:
        for first in range(0, len(rows), CHUNK):
            session.execute(insert(AuditEntry), rows[first : first + CHUNK])


# --- the cache -------------------------------------------------------------------------


def working_database(
    db: str, spec: Spec, work: Path, postgres_url: str, cache: Path | None, now: datetime
) -> tuple[str, float | None]:
    """A filled database for this run only, and the seconds a fill took (None: copied).
    ``cache`` None: filled in place, nothing kept (the tests)."""
    if cache is None:
        url = f"sqlite:///{work / 'desk.db'}" if db == "sqlite" else postgres_url
        if db == "postgresql":
            fill._recreate(postgres_url, str(make_url(postgres_url).database))
        return url, _fill_new(url, spec, now, progress=False)
    took = None
    if db == "sqlite":
        cached = cache / f"{spec.key()}.db"
        if not cached.exists():
            cache.mkdir(parents=True, exist_ok=True)
            for old in cache.glob(f"{spec.key().rsplit('_', 1)[0]}_*"):
                old.unlink()
            partial = cached.with_suffix(".partial")
            partial.unlink(missing_ok=True)
            took = _fill_new(f"sqlite:///{partial}", spec, now)
            conn = sqlite3.connect(partial)
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            conn.close()
            partial.rename(cached)
        target = work / "desk.db"
        shutil.copyfile(cached, target)
        return f"sqlite:///{target}", took
    url = make_url(postgres_url)
    cached_name = f"{url.database}_{spec.key()}"
    with fill._admin(postgres_url) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (cached_name,))
        found = exists.fetchone() is not None
        if not found:  # caches of the same sizes made by other code are never used again
            stale = f"{url.database}_{spec.key().rsplit('_', 1)[0]}_"
            olds = conn.execute(
                "SELECT datname FROM pg_database WHERE starts_with(datname, %s)", (stale,)
            ).fetchall()
            for (old,) in olds:
                conn.execute(f'DROP DATABASE "{old}" WITH (FORCE)')
    if not found:
        partial = f"{cached_name}_partial"
        fill._recreate(postgres_url, partial)
        took = _fill_new(url.set(database=partial).render_as_string(False), spec, now)
        with fill._admin(postgres_url) as conn:
            conn.execute(f'ALTER DATABASE "{partial}" RENAME TO "{cached_name}"')
    fill._recreate(postgres_url, str(url.database), template=cached_name)
    return postgres_url, took


def _fill_new(url: str, spec: Spec, now: datetime, progress: bool = True) -> float:
    started = time.perf_counter()
    engine = make_engine(url)
    try:
        migrate(engine)
        if progress:
            backend = make_url(url).get_backend_name()
            print(f"filling {backend}: {spec.subscribers:,} subscribers, "
                  f"{spec.articles:,} articles", flush=True)  # fmt: skip
        fill_database(engine, spec, now, progress)
    finally:
        engine.dispose()
    if make_url(url).get_backend_name() == "postgresql":
        # As autovacuum would have by now on a newsroom that grew over years: the planner's
        # statistics and the visibility map (index-only scans).
        plain = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
        with psycopg.connect(plain, autocommit=True) as conn:
            conn.execute("VACUUM ANALYZE")
    return time.perf_counter() - started
