"""`budkavle subscribers ...`: import readers from CSV, export them, list them."""

from __future__ import annotations

import csv
import enum
import shlex
import sys
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, NoReturn, TextIO

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.progress import Progress
from sqlalchemy import select
from sqlalchemy.orm import Session

from budkavle.tables import Column, JsonOption, print_json, show, when
from newsroom import subscribers
from newsroom.db import migrate, session_scope
from newsroom.errors import DomainError
from newsroom.models import Frequency, Subscriber, SubscriberStatus, utcnow
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
    language: Annotated[str | None, typer.Option(help="Only this language (sv, fi…).")] = None,
    frequency: Annotated[Frequency | None, typer.Option(help="Only this frequency.")] = None,
    search: Annotated[str, typer.Option(
        help="Only addresses containing this (a domain with å ä ö: type its whole name)."
    )] = "",
    limit: Annotated[int, typer.Option(min=1, max=10000, help="How many, in id order.")] = 50,
    after: Annotated[int, typer.Option(min=0, help="Start after this id (paging).")] = 0,
    as_json: JsonOption = False,
) -> None:
    """Subscribers in id order: status, language, frequency, tags, time zone, failures."""
    migrate()
    with session_scope() as session:
        found = subscribers.listing(session, status=status, language=language,
                                    frequency=frequency, search=search, after=after,
                                    limit=limit)  # fmt: skip
        records = [_record(subscriber) for subscriber in found]
    if as_json:
        print_json(records)
    else:
        show(records, LIST_LAYOUTS)
    if len(records) == limit:  # perhaps more: the same command, from the last id shown
        hint = _next_page(records[-1]["id"], status, language, frequency, search, limit)
        (err if as_json else console).print(f"More: {hint}", markup=False, highlight=False)


def _next_page(
    last: int, status: SubscriberStatus | None, language: str | None,
    frequency: Frequency | None, search: str, limit: int,
) -> str:  # fmt: skip
    """The command for the next page: this one, after the last id shown."""
    args = ["budkavle", "subscribers", "list", "--after", str(last)]
    for option, value in (("--status", status), ("--language", language),
                          ("--frequency", frequency), ("--search", search)):  # fmt: skip
        if value:
            args += [option, str(value)]
    return shlex.join(args + (["--limit", str(limit)] if limit != 50 else []))


def _record(subscriber: Subscriber) -> dict[str, Any]:
    """One subscriber as `budkavle subscribers list --json` gives it, with the names that
    GET /api/subscribers uses."""
    return {
        "id": subscriber.id,
        "email": subscriber.email,
        "status": str(subscriber.status),
        "language": subscriber.language,
        "frequency": str(subscriber.frequency),
        "tags": list(subscriber.tags),
        "time_zone": subscriber.time_zone,
        "consent_at": subscriber.consent_at,
        "consent_form": subscriber.consent_form,
        "confirmed_at": subscriber.confirmed_at,
        "unsubscribed_at": subscriber.unsubscribed_at,
        "failures": subscriber.failures,
        "created_at": subscriber.created_at,
    }


ID = Column("id", lambda s: str(s["id"]), right=True)
EMAIL = Column("email", lambda s: s["email"])  # the handle to copy into the next command
STATUS = Column("status", lambda s: s["status"])
LANGUAGE = Column("lang", lambda s: s["language"])
FREQUENCY = Column("frequency", lambda s: s["frequency"])
GETS = Column("gets", lambda s: f"{s['language']} {s['frequency']}")  # lang and frequency
TAGS = Column("tags", lambda s: ", ".join(s["tags"]) or "all", fold=True)
TIME_ZONE = Column("time zone", lambda s: s["time_zone"])
FAILURES = Column("failures", lambda s: str(s["failures"]), right=True)
SINCE = Column("since", lambda s: when(s["created_at"]))
# Narrow: the failures go beside the status, where there are any.
STANDING = Column("status", lambda s: s["status"] + (f" ({s['failures']} failed)"
                  if s["failures"] else ""), fold=True, least=12)  # fmt: skip
# Widest first: the terminal's width picks the first that fits.
LIST_LAYOUTS = (
    (ID, EMAIL, STATUS, LANGUAGE, FREQUENCY, TAGS, TIME_ZONE, FAILURES, SINCE),
    (ID, EMAIL, STATUS, LANGUAGE, FREQUENCY, TAGS, TIME_ZONE, FAILURES),
    (ID, EMAIL, STANDING, GETS, TAGS),
    (ID, EMAIL, STANDING, GETS),
    (ID, EMAIL, STANDING),
)
