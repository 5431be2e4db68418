"""`make chaos`: run the fault scenarios and print what was expected, lost and doubled.

    python -m chaos.run                      # every scenario, on SQLite and PostgreSQL
    python -m chaos.run --db sqlite burst    # one scenario, one database

Goal in every row: nothing lost; a duplicate only for a message in flight at the
instant of the fault, carrying the same id; no API answer slower than a second.
"""

from __future__ import annotations

import argparse
import signal
import sys
import tempfile
import time
import traceback
from pathlib import Path

from rich.console import Console
from rich.table import Table

from chaos.harness import Row
from chaos.infra import PostgresCluster
from chaos.scenarios import POSTGRES_ONLY, SCENARIOS, SQLITE_ONLY

console = Console(width=200)


def main() -> int:
    # SIGTERM (a timeout, a Ctrl-C from make) unwinds the `with` blocks, which stop every
    # process and server a scenario started; without it they would outlive the suite.
    signal.signal(signal.SIGTERM, lambda signum, _: sys.exit(128 + signum))
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("scenarios", nargs="*", choices=[[], *SCENARIOS], default=[])
    parser.add_argument("--db", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--markdown", type=Path, help="also write the table here, in Markdown")
    args = parser.parse_args()
    names = args.scenarios or list(SCENARIOS)
    dbs = ["sqlite", "postgresql"] if args.db == "both" else [args.db]
    root = Path(tempfile.mkdtemp(prefix="budkavle-chaos-"))
    console.print(f"Logs and data under {root}")
    postgres = None
    if "postgresql" in dbs:
        postgres = PostgresCluster(root)
        postgres.start()
    rows: list[Row] = []
    try:
        for name in names:
            for db in dbs:
                if name in POSTGRES_ONLY and db != "postgresql":
                    continue
                if name in SQLITE_ONLY and db != "sqlite":
                    continue
                started = time.monotonic()
                console.print(f"[bold]{name}[/bold] on {db} ...")
                try:
                    row = SCENARIOS[name](root, db, postgres)
                except Exception as exc:
                    traceback.print_exc()
                    row = Row(name, db, notes=[f"the scenario itself failed: {exc}"])
                console.print(f"  done in {time.monotonic() - started:.0f} s")
                rows.append(row)
                console.print(table([row]))
    finally:
        if postgres is not None:
            postgres.stop()
    console.print(table(rows))
    for row in rows:
        if row.queue:
            console.print(f"queue length, {row.scenario} on {row.db}: {queue_line(row)}")
    if args.markdown:
        args.markdown.write_text(markdown(rows), encoding="utf-8")
    return 0 if all(ok(row) for row in rows) else 1


def ok(row: Row) -> bool:
    return (
        not sum(row.lost.values())
        and not row.dup_other_id
        and row.recovered is not None
        and not any(k.startswith(("POST", "feed")) for k in row.server_errors)
        and max(row.slowest.values(), default=0.0) <= 1.0
    )


COLUMNS = ("scenario", "db", "expected", "lost", "dup same id", "dup new id", "5xx / errors",
           "slowest s", ">1 s", "recovered s", "ok", "notes")  # fmt: skip


def table(rows: list[Row]) -> Table:
    grid = Table(show_lines=False)
    for column in COLUMNS:
        grid.add_column(column, overflow="fold")
    for row in rows:
        grid.add_row(*cells(row))
    return grid


def markdown(rows: list[Row]) -> str:
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    for row in rows:
        lines.append("| " + " | ".join(c.replace("|", "/") for c in cells(row)) + " |")
    lines += ["", *(f"- queue length, {r.scenario} on {r.db}: {queue_line(r)}" for r in rows)]
    return "\n".join(lines) + "\n"


def cells(row: Row) -> tuple[str, ...]:
    return (
        row.scenario,
        row.db,
        " ".join(f"{n} {kind}" for kind, n in sorted(row.expected.items())) or "-",
        " ".join(f"{n} {kind}" for kind, n in sorted(row.lost.items()) if n) or "0",
        str(row.dup_same_id),
        str(row.dup_other_id),
        " ".join(f"{k}: {n}" for k, n in sorted(row.server_errors.items())) or "0",
        " ".join(f"{what} {s:.2f}" for what, s in sorted(row.slowest.items())),
        " ".join(f"{what} {n}" for what, n in sorted(row.over_1s.items()) if n) or "0",
        f"{row.recovered:.0f}" if row.recovered is not None else "NOT",
        "yes" if ok(row) else "NO",
        "; ".join(row.notes),
    )


def queue_line(row: Row) -> str:
    """Every tenth sample: seconds → messages waiting (-1: Redis did not answer)."""
    return " ".join(f"{t:.0f}s:{depth}" for t, depth in row.queue[::5])


if __name__ == "__main__":
    sys.exit(main())
