"""`budkavle bounces FILE...`: apply returned mail (DSN bounces, complaints, unsubscribes)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from config import get_settings
from newsroom import bounces
from newsroom.db import migrate, session_scope
from newsroom.errors import DomainError
from worker import tallies

console = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)


def bounces_command(
    files: Annotated[list[str], typer.Argument(help="Raw mails (.eml); - reads standard input.")],
) -> None:
    """Apply bounces (RFC 3464 DSNs), complaints (RFC 5965 ARF) and unsubscribe mails;
    a file applied before changes nothing again, and a report that does not quote the
    Message-ID of a mail we sent changes nothing at all (unverified)."""
    migrate()
    settings = get_settings()
    table = Table("file")
    table.add_column("address", no_wrap=True)
    table.add_column("event", no_wrap=True)      # "failed 5.1.1", "delayed 4.2.2", "abuse"
    table.add_column("status", no_wrap=True)     # "active → bounced"
    table.add_column("note")                     # "failure 1 of 3", "unverified: ..."
    failed = 0
    for name in files:
        try:
            raw = sys.stdin.buffer.read() if name == "-" else Path(name).read_bytes()
            with session_scope() as session:
                applied = bounces.apply_raw(session, raw, settings)
            tallies.count_report(applied)
        except OSError as exc:
            err.print(f"[red]✗[/red] {name}: {exc.strerror}; give the path of a saved .eml file")
            failed += 1
            continue
        except DomainError as exc:
            err.print(f"[red]✗[/red] {name}: {exc.message}; save the whole message "
                      "(headers and body) as it arrived, e.g. 'Save as .eml'")  # fmt: skip
            failed += 1
            continue
        label = "stdin" if name == "-" else Path(name).name
        if applied.duplicate:
            table.add_row(label, "", str(applied.kind), "", "applied before: nothing changed")
        elif applied.unverified and not applied.changes:
            table.add_row(label, "", str(applied.kind), "", bounces.NOT_OURS)
        elif not applied.changes:
            table.add_row(label, "", str(applied.kind), "", "not a report")
        for change in applied.changes:
            moved = change.before or "–"
            if change.after != change.before:
                moved = f"{change.before} → {change.after}"
            table.add_row(label, change.address, change.event, moved, change.note)
    console.print(table)
    raise typer.Exit(1 if failed else 0)
