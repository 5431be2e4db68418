"""Render and personalise one digest: what each step costs, in µs, in this process.

One Swedish edition as a newsroom sends it: 10 new articles (title, summary, image with
alt text and caption, tags, byline), 8 in "Senaste nyheter" and a tag cloud of 30 tags,
all from bench/nordic.py. Timed with perf_counter, median and p99 over many runs:

- the MJML render of the edition (`render_digest`, once per edition and segment), and of
  one with 50 new articles, more than fit under Gmail's clip, whose fitting renders
  several times (email_templates/budget.py);
- building its `MessageTemplate` (once per batch and segment, in `deliver._claim`);
- per recipient, the three signed links (`newsroom.links`, itsdangerous) and the
  Message-ID, which `deliver._claim` and `_send_one` compute for every subscriber;
- per recipient, `MessageTemplate.personalize`;
- per recipient, the naive way: an `EmailMessage` built and serialised for each one,
  which the issue measured at ~2.7 ms.

Run: .venv/bin/python bench/digest_render.py [--runs 2000]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.policy import SMTP
from functools import partial
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import nordic
import service

sys.path.insert(0, str(service.ROOT))
# Settings are read from the environment once; these are what a production site sets.
os.environ.setdefault("BUDKAVLE_SECRET_KEY", "bench-secret-key")
os.environ.setdefault("BUDKAVLE_PUBLIC_URL", "https://nyheter.example")
os.environ.setdefault("BUDKAVLE_EMAIL_FROM", "Budkavle <nyheter@nyheter.example>")

from config import get_settings
from email_templates import personal
from email_templates.render import (
    Brand,
    DigestArticle,
    DigestContent,
    RenderedEmail,
    render_digest,
)
from newsroom import links, urls
from newsroom.models import Subscriber
from newsroom.tagcloud import CloudTag
from worker.envelope import MessageTemplate, message_id

NOW = datetime(2026, 11, 26, 6, 0, tzinfo=UTC)
SWEDISH = [n for n in range(200) if nordic.STORIES[n % len(nordic.STORIES)][0] == "sv"]


def content(count: int = 10) -> DigestContent:
    settings = get_settings()

    def digest_article(n: int, age: int) -> DigestArticle:
        data = nordic.article(n, "render")
        return DigestArticle(
            title=data["title"],
            summary=data["summary"],
            url=f"{settings.public_url}/artiklar/{n}",
            image_url=data["image"]["url"],
            image_alt=data["image"]["alt"],
            image_caption=data["image"]["caption"],
            published_at=NOW - timedelta(hours=age),
            tags=[(nordic._ascii(tag), tag) for tag in data["tags"]],
            authors=data["authors"],
        )

    places = {s[1] for s in nordic.STORIES} | {s[2] for s in nordic.STORIES}
    places |= {"Mariehamn", "Luleå", "Åbo", "Göteborg", "Ålesund"}
    labels = (sorted(places) + nordic.TOPICS + nordic.WHO)[:30]
    return DigestContent(
        language="sv",
        brand=Brand.from_settings(settings),
        time_zone="Europe/Stockholm",
        edition_date=NOW,
        articles=[digest_article(SWEDISH[i % len(SWEDISH)], i) for i in range(count)],
        latest=[digest_article(n, 12 + i) for i, n in enumerate(SWEDISH[10:18])],
        cloud=[
            CloudTag(slug=nordic._ascii(label), label=label, count=30 - i, step=5 - i * 5 // 30)
            for i, label in enumerate(sorted(labels))
        ],
        view_url=f"{settings.public_url}/newsletter/1",
        archive_url=f"{settings.public_url}/newsletter",
        topic_url=partial(urls.topic_url, settings=settings),
    )


def subscriber(n: int) -> Subscriber:
    return Subscriber(id=n + 1, email=f"asa.lindqvist{n}@example.se")


def template(rendered: RenderedEmail) -> MessageTemplate:
    settings = get_settings()
    return MessageTemplate(
        rendered,
        sender=settings.sender,
        list_id=f"{settings.site_name} <sv.digest.{settings.mail_domain}>",
        date=NOW,
    )


def personal_values(n: int) -> dict[str, str]:
    """What `deliver` computes for one recipient: three signed links and a Message-ID."""
    settings = get_settings()
    reader = subscriber(n)
    secret = settings.resolved_secret_key().encode()
    return {
        "to": reader.email,
        "message_id": message_id(n + 1, settings.mail_domain, secret),
        "unsubscribe_url": links.unsubscribe_url(reader, settings),
        "unsubscribe_mailto": links.unsubscribe_mailto(reader, settings),
        "preferences_url": links.preferences_url(reader, settings),
    }


def naive(rendered: RenderedEmail, values: dict[str, str]) -> bytes:
    """The way the issue measured at ~2.7 ms: an EmailMessage per recipient, serialised."""
    settings = get_settings()
    swap = {
        personal.UNSUBSCRIBE_URL: values["unsubscribe_url"],
        personal.PREFERENCES_URL: values["preferences_url"],
        personal.EMAIL: values["to"],
    }
    text, html = rendered.text, rendered.html
    for token, value in swap.items():
        text = text.replace(token, value)
        html = html.replace(token, value)
    message = EmailMessage(policy=SMTP)
    message["From"] = settings.sender
    message["To"] = values["to"]
    message["Subject"] = rendered.subject
    message["Date"] = "Thu, 26 Nov 2026 06:00:00 +0000"
    message["Message-ID"] = values["message_id"]
    message["List-Unsubscribe"] = f"<{values['unsubscribe_url']}>, <{values['unsubscribe_mailto']}>"
    message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    message["Precedence"] = "bulk"
    message.set_content(text, cte="base64")
    message.add_alternative(html, subtype="html", cte="base64")
    return message.as_bytes()


def timed(runs: int, step: Callable[[int], object]) -> list[float]:
    """µs of each of ``runs`` calls, after a tenth as many of warm-up."""
    for n in range(max(1, runs // 10)):
        step(n)
    times = []
    for n in range(runs):
        started = time.perf_counter()
        step(n)
        times.append((time.perf_counter() - started) * 1e6)
    return times


def line(name: str, times: list[float]) -> float:
    ordered = sorted(times)
    median = statistics.median(ordered)
    p99 = ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))]
    print(f"{name:<44} median {median:9.1f} µs   p99 {p99:9.1f} µs   ({len(ordered)} runs)")
    return median


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--runs", type=int, default=2000, help="per-recipient runs")
    parser.add_argument("--render-runs", type=int, default=100)
    args = parser.parse_args()

    edition = content()
    rendered = render_digest(edition)
    built = template(rendered)
    values = [personal_values(n) for n in range(args.runs)]
    message = built.personalize(**values[0])
    print(
        f"one edition: {len(edition.articles)} new articles, {len(edition.latest)} latest, "
        f"{len(edition.cloud)} tags; html {len(rendered.html.encode()):,} bytes, "
        f"text {len(rendered.text.encode()):,} bytes; a personalised message "
        f"{len(message):,} bytes"
    )
    with service.cpu_report():
        render = line("render_digest (MJML), once per segment", timed(
            args.render_runs, lambda _: render_digest(edition)))  # fmt: skip
        # Over Gmail's clip: the renders that find how many articles fit (email_templates/
        # budget.py), each one measured.
        big = content(50)
        fitted = render_digest(big)
        print(f"50 new articles: {fitted.html.count('<h3') + 1} fit in "
              f"{len(fitted.html.encode()):,} bytes")
        line("render_digest, 50 articles fitted to 90 KB", timed(
            max(5, args.render_runs // 10), lambda _: render_digest(big)))  # fmt: skip
        line("MessageTemplate(), once per batch+segment", timed(
            args.render_runs * 10, lambda _: template(rendered)))  # fmt: skip
        links_us = line("3 signed links + Message-ID, per recipient", timed(
            args.runs, personal_values))  # fmt: skip
        personalize = line("personalize, per recipient", timed(
            args.runs, lambda n: built.personalize(**values[n])))  # fmt: skip
        slow = line("EmailMessage per recipient (naive)", timed(
            args.runs // 4, lambda n: naive(rendered, values[n])))  # fmt: skip
    print(
        f"per recipient: personalize + links {personalize + links_us:.1f} µs; "
        f"naive EmailMessage / personalize = {slow / personalize:.0f}x; "
        f"one render = {render / personalize:.0f} personalisations"
    )


if __name__ == "__main__":
    main()
