"""`budkavle subscribers ...`: import readers from CSV, export them, list them."""

from __future__ import annotations

import csv
import enum
import sys
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, NoReturn, TextIO

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.progress import Progress
from rich.table import Table
from sqlalchemy import select
from sqlalchemy.orm import Session

from newsroom import subscribers
from newsroom.db import migrate, session_scope
from newsroom.errors import DomainError
from newsroom.models import Subscriber, SubscriberStatus, utcnow
from newsroom.subscription import SubscriptionIn

app = typer.Typer(help="Subscribers: import from CSV, export, list.", no_args_is_help=True)
console = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)

COLUMNS = ("email", "language", "frequency", "tags", "time_zone")
EXPORT_COLUMNS = (*COLUMNS, "status", "consent_at", "consent_form")
CSV_IMPORT = "csv-import"   # the consent form an import records: consent was given elsewhere
CHUNK = 500                 # lines per transaction: a crash keeps what was committed
PAGE = 1000                 # rows per query of an export


class Outcome(enum.StrEnum):
    CREATED = "created"
    UPDATED = "updated"
    SKIPPED = "skipped"     # known and not active (left, suppressed, pending): left as it is
    REFUSED = "refused"     # the line is wrong; the message says why


class LineError(Exception):
    pass


@app.command("import")
def import_csv(
    file: Annotated[Path, typer.Argument(help="CSV with a header: " + ",".join(COLUMNS))],
    dry_run: Annotated[bool, typer.Option(help="Check every line; change nothing.")] = False,
) -> None:
    """Add readers who already consented elsewhere, as active; one line's error does not
    stop the rest. Addresses that left or were suppressed stay as they are."""
    lines = _count_lines(file)
    migrate()
    counts: Counter[Outcome] = Counter()
    with file.open(encoding="utf-8-sig", newline="") as handle:
        reader = csv.DictReader(handle)
        reader.fieldnames = _check_header(file, reader.fieldnames)
        with Progress(console=console, transient=True) as progress:
            task = progress.add_task(f"Importing {file.name}", total=max(lines - 1, 0))
            # A dry run is one transaction, rolled back: every line sees the ones before.
            for chunk in _chunks(reader, None if dry_run else CHUNK):
                with session_scope() as session:
                    for line, row in chunk:
                        outcome = _import_line(session, line, row)
                        counts[outcome] += 1
                        progress.update(task, completed=line - 1)
                    if dry_run:
                        session.rollback()
    verb = "would be" if dry_run else "were"
    console.print(", ".join(f"{counts[o]} {verb} {o}" for o in Outcome) + f" ({file.name})")
    raise typer.Exit(1 if counts[Outcome.REFUSED] else 0)


def _import_line(session: Session, line: int, row: dict[str | None, object]) -> Outcome:
    try:
        data, listed_status = _parse(row)
        if listed_status not in ("", SubscriberStatus.ACTIVE):
            # An export of another instance: its unsubscribed must not arrive active here.
            console.print(f"  line {line}: {data.email} is {listed_status} in the file: skipped")
            return Outcome.SKIPPED
        # A savepoint per line: a line that fails leaves nothing of itself behind.
        with session.begin_nested():
            subscriber, created = subscribers.import_active(
                session, data, now=utcnow(), consent_form=CSV_IMPORT
            )
    except LineError as exc:
        err.print(f"[red]✗[/red] line {line}: {exc}")
        return Outcome.REFUSED
    except DomainError as exc:
        err.print(f"[red]✗[/red] line {line}: {exc}")
        return Outcome.REFUSED
    if created:
        return Outcome.CREATED
    if subscriber.status is SubscriberStatus.ACTIVE:
        return Outcome.UPDATED
    console.print(f"  line {line}: {subscriber.email} is {subscriber.status}: left as it is")
    return Outcome.SKIPPED


def _parse(row: dict[str | None, object]) -> tuple[SubscriptionIn, str]:
    if None in row:  # DictReader files surplus cells under None
        raise LineError(f"has more cells than the header has columns ({len(COLUMNS)} or more)")
    cells = {key: str(value or "").strip() for key, value in row.items() if key}
    # Empty cells take the defaults; tags may be split by spaces or semicolons.
    values: dict[str, object] = {k: v for k, v in cells.items() if k in COLUMNS and v}
    if "tags" in values:
        values["tags"] = str(values["tags"]).replace(";", " ").split()
    try:
        data = SubscriptionIn.model_validate(values)
    except ValidationError as exc:
        error = exc.errors()[0]
        field = ".".join(str(part) for part in error["loc"]) or "line"
        raise LineError(f"{field}: {str(error['msg']).removeprefix('Value error, ')}") from None
    return data, cells.get("status", "").lower()


def _chunks(
    reader: csv.DictReader[str], size: int | None
) -> Iterator[list[tuple[int, dict[str | None, object]]]]:
    chunk: list[tuple[int, dict[str | None, object]]] = []
    for row in reader:
        chunk.append((reader.line_num, dict(row)))
        if size is not None and len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _count_lines(file: Path) -> int:
    """Lines in the file, for the progress bar; also proves it is UTF-8 before anything
    is imported, so a wrong encoding changes nothing."""
    try:
        with file.open(encoding="utf-8-sig", newline="") as handle:
            return sum(1 for _ in handle)
    except (FileNotFoundError, IsADirectoryError):
        _fail(f"{file}: no such file; give the path of a CSV file with a header line "
              f"{','.join(COLUMNS)}")  # fmt: skip
    except UnicodeDecodeError as exc:
        _fail(f"{file}: byte {exc.start} is not UTF-8; save the file as UTF-8 (e.g. "
              f"iconv -f latin1 -t utf-8 {file} > utf8.csv) and import that")  # fmt: skip


def _check_header(file: Path, header: Sequence[str] | None) -> list[str]:
    names = [name.strip().lower() for name in header or []]
    unknown = [name for name in names if name not in EXPORT_COLUMNS]
    if "email" not in names or unknown:
        problem = f"unknown column {unknown[0]!r}" if unknown else "no 'email' column"
        _fail(f"{file}: {problem}; the first line must name the columns, e.g. "
              f"{','.join(COLUMNS)} (status, consent_at, consent_form are also read)")  # fmt: skip
    return names


def _fail(message: str) -> NoReturn:
    err.print(f"[red]✗[/red] {message}")
    raise typer.Exit(2)


@app.command("export")
def export_csv(
    file: Annotated[str, typer.Argument(help="CSV file to write; - for standard output.")] = "-",
) -> None:
    """Every subscriber as CSV (the import's columns plus status and consent), streamed."""
    migrate()
    with _output(file) as handle:
        writer = csv.writer(handle)
        writer.writerow(EXPORT_COLUMNS)
        count = 0
        for subscriber in _all_subscribers():
            writer.writerow([
                subscriber.email, subscriber.language, subscriber.frequency,
                " ".join(subscriber.tags), subscriber.time_zone, subscriber.status,
                subscriber.consent_at.isoformat().replace("+00:00", "Z"), subscriber.consent_form,
            ])  # fmt: skip
            count += 1
    if file != "-":
        console.print(f"[green]✓[/green] {count} subscribers written to {file}")


@contextmanager
def _output(file: str) -> Iterator[TextIO]:
    if file == "-":
        yield sys.stdout
        sys.stdout.flush()
        return
    try:
        handle = open(file, "w", encoding="utf-8", newline="")  # noqa: SIM115
    except OSError as exc:
        _fail(f"{file}: {exc.strerror}; give a path in a folder you can write to, or - ")
    with handle:
        yield handle


def _all_subscribers() -> Iterator[Subscriber]:
    # Pages by id, one short transaction each: memory stays flat however many there are,
    # and no transaction stays open while the output is written.
    after = 0
    while True:
        with session_scope() as session:
            page = list(session.scalars(select(Subscriber).where(Subscriber.id > after)
                                        .order_by(Subscriber.id).limit(PAGE)))  # fmt: skip
        yield from page
        if len(page) < PAGE:
            return
        after = page[-1].id


@app.command("list")
def list_subscribers(
    status: Annotated[SubscriberStatus | None, typer.Option(help="Only this status.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=10000)] = 50,
    after: Annotated[int, typer.Option(min=0, help="Start after this id (paging).")] = 0,
) -> None:
    """Subscribers in id order: status, language, frequency, tags, time zone."""
    migrate()
    query = select(Subscriber).where(Subscriber.id > after).order_by(Subscriber.id).limit(limit)
    if status is not None:
        query = query.where(Subscriber.status == status)
    table = Table("id")
    table.add_column("email", no_wrap=True)  # the handle to copy into the next command
    for name in ("status", "lang", "frequency", "tags", "time zone", "failures"):
        table.add_column(name)
    last = after
    with session_scope() as session:
        for row in session.scalars(query):
            last = row.id
            table.add_row(
                str(row.id), row.email, str(row.status), row.language, str(row.frequency),
                " ".join(row.tags) or "all", row.time_zone, str(row.failures),
            )  # fmt: skip
    console.print(table)
    if table.row_count == limit:
        console.print(f"More: budkavle subscribers list --after {last}")
