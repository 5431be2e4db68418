"""`budkavle digest ...`: preview the next digest, send one now, watch it go out."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from budkavle.tables import Column, JsonOption, print_json, show, when
from config import get_settings
from email_templates import content as email_content
from email_templates.render import render_digest
from newsroom import editions
from newsroom.db import migrate, session_scope
from newsroom.models import Frequency, utcnow
from worker import bell, deliver, digest

app = typer.Typer(help="Email digests: preview, send, follow.", no_args_is_help=True)
console = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)


@app.command("preview")
def preview(
    language: Annotated[str, typer.Option(help="Language of the edition.")] = "sv",
    frequency: Annotated[Frequency, typer.Option(help="Whose next edition.")] = Frequency.DAILY,
    tags: Annotated[str, typer.Option(help="Comma-separated tag slugs; none: all.")] = "",
    html: Annotated[Path | None, typer.Option(help="Also write the HTML part here.")] = None,
) -> None:
    """Show what the next edition would hold, without sending or storing anything."""
    settings = get_settings()
    if language not in settings.subscribe_language_codes:
        err.print(f"[red]✗[/red] --language: one of {', '.join(settings.subscribe_language_codes)}")
        raise typer.Exit(2)
    migrate()
    now = utcnow()
    with session_scope() as session:
        wanted = [t for t in tags.split(",") if t]
        article_ids = email_content.upcoming(
            session, language, frequency, settings, wanted
        ).article_ids
        content = email_content.digest_content(
            session, 0, language, article_ids, settings, settings.time_zone, now
        )
    if not article_ids:
        console.print(f"Nothing new for {frequency} subscribers in {language}: no email would go.")
        return
    rendered = render_digest(content, personal_links=False)
    console.print(f"[bold]Subject:[/bold] {rendered.subject}\n")
    console.print(rendered.text, markup=False, highlight=False)
    if html is not None:
        html.write_text(rendered.html, encoding="utf-8")
        console.print(f"\nHTML written to {html}")


@app.command("send")
def send(
    frequency: Annotated[Frequency, typer.Option(help="Whose edition to send now.")],
    here: Annotated[
        bool, typer.Option("--here", help="Send from this process instead of the workers.")
    ] = False,
    wait: Annotated[bool, typer.Option(help="Follow the sending with a progress bar.")] = True,
) -> None:
    """Plan an edition for every subscriber of FREQUENCY now (all time zones) and send it."""
    migrate()
    settings = get_settings()
    now = utcnow()
    batches = digest.plan_edition(editions.manual_slot(frequency, now), settings, now)
    if not batches:
        console.print(f"Nothing new for any {frequency} subscriber: no edition.")
        return
    edition_id = batches[0][0]
    console.print(f"Edition {edition_id}: {len(batches)} batches.")
    if here:
        for edition, batch in batches:
            deliver.send_batch(edition, batch, settings)
    else:
        bell.ring_digest_batches(batches)
    if wait:
        _follow([edition_id])


@app.command("status")
def status(
    limit: Annotated[int, typer.Option(min=1, help="How many editions to list.")] = 10,
    follow: Annotated[bool, typer.Option(help="Show progress bars until sending ends.")] = False,
    as_json: JsonOption = False,
) -> None:
    """The newest editions and their deliveries: sent, queued, failed."""
    if follow and as_json:
        err.print("[red]✗[/red] --follow draws progress bars for people; leave it out with "
                  "--json, and run the command again to see how sending went on")  # fmt: skip
        raise typer.Exit(2)
    migrate()
    with session_scope() as session:
        rows = editions.progress(session, limit=limit)
    if as_json:
        print_json(_record(row) for row in rows)
        return
    show([_record(row) for row in rows], STATUS_LAYOUTS)
    if follow:
        _follow([row.edition_id for row in rows if row.finished_at is None and row.queued])


def _record(row: editions.Progress) -> dict[str, Any]:
    """One edition as `budkavle digest status --json` gives it."""
    return {
        "id": row.edition_id,
        "key": row.key,
        "planned_at": row.planned_at,
        "recipients": row.recipients,
        "sent": row.sent,
        "queued": row.queued,
        "failed": row.failed,
        "finished_at": row.finished_at,
    }


def _count(header: str, field: str) -> Column:
    return Column(header, lambda r: str(r[field]), right=True)


ID = _count("id", "id")
EDITION = Column("edition", lambda r: r["key"], fold=True, least=30)
PLANNED = Column("planned", lambda r: when(r["planned_at"]))
COUNTS = tuple(_count(name, name) for name in ("recipients", "sent", "queued", "failed"))
FINISHED = Column("finished", lambda r: when(r["finished_at"], empty="not yet"))
# Widest first: the terminal's width picks the first that fits.
STATUS_LAYOUTS = (
    (ID, EDITION, PLANNED, *COUNTS, FINISHED),
    (ID, EDITION, PLANNED, *COUNTS),
    (ID, EDITION, *COUNTS),
)


def _follow(edition_ids: list[int]) -> None:
    """Progress bars until nothing is queued (Ctrl-C stops watching, not sending)."""
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[failed]} failed"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console) as bars:
        tasks = {}
        while True:
            with session_scope() as session:
                rows = {row.edition_id: row for row in editions.progress(session, limit=50)}
            for edition_id in edition_ids:
                row = rows.get(edition_id)
                if row is None:
                    continue
                if edition_id not in tasks:
                    tasks[edition_id] = bars.add_task(row.key, total=row.recipients, failed=0)
                bars.update(tasks[edition_id], completed=row.sent + row.failed, failed=row.failed)
            if all(rows[e].queued == 0 for e in edition_ids if e in rows):
                return
            time.sleep(0.5)
