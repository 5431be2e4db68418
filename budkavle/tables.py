"""Listings for people and for scripts: rich tables that fit the terminal, and --json.

A table never cuts a header or a value to "pl…". When the terminal is narrow, a listing
first falls back to a layout without the columns an operator can spare (or with two
merged into one); text such as titles and names folds onto more lines. Only when even the
narrowest layout is wider than the terminal do its widest one-line columns fold as well,
so every character is still shown. Widths are measured in terminal cells (rich's
cell_len), so "Borlänge kommun – samhällsbyggnad" lines up like ASCII does.

The JSON twin of a table is the list of records the table was drawn from: one object per
row, field names as documented in the README, datetimes in ISO 8601 UTC.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Annotated, Any

import typer
from rich import box
from rich.cells import cell_len
from rich.console import Console
from rich.table import Table
from rich.text import Text

Record = Mapping[str, Any]

# A word longer than this folds inside the word rather than widening its column.
LONGEST_UNFOLDED_WORD = 16


@dataclass(frozen=True)
class Column:
    header: str
    cell: Callable[[Record], str]
    fold: bool = False  # long text (titles, names, URLs) may go on over more lines
    right: bool = False  # numbers line up on the right
    least: int = 0  # folding, keep at least this many cells (fewer if all fit)
    # A part of a folding cell that stays on one line: the slug above an article's title.
    keep: Callable[[Record], str] | None = None


Layout = Sequence[Column]


def new_console() -> Console:
    """A console for standard output, made when it is used: it measures the terminal (or
    $COLUMNS) of this run, not of whatever ran when the module was imported."""
    return Console()


def show(
    records: Sequence[Record], layouts: Sequence[Layout], console: Console | None = None
) -> None:
    """Print the records as a table in the widest of ``layouts`` (widest first) that fits."""
    console = console or new_console()
    layout, widths = fit(records, layouts, console.width)
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
    for column, width in zip(layout, widths, strict=True):
        table.add_column(
            column.header, width=width, no_wrap=not column.fold, overflow="fold",
            justify="right" if column.right else "left",
        )  # fmt: skip
    for record in records:
        # Text, not str: a partner called "[red]" is a name, not console markup.
        table.add_row(*(Text(column.cell(record)) for column in layout))
    console.print(table)


def fit(
    records: Sequence[Record], layouts: Sequence[Layout], width: int
) -> tuple[Layout, list[int]]:
    """The layout to draw at ``width`` terminal cells, and each of its columns' widths."""
    for layout in layouts:
        widths = _widths(layout, records, width)
        if widths is not None:
            return layout, widths
    # Even the narrowest is too wide: its widest column that keeps text on one line
    # folds, one at a time; then the folding columns give up their room to spare; last,
    # words fold anywhere and only the headers stay whole.
    layout = list(layouts[-1])
    while (widths := _widths(layout, records, width)) is None:
        whole = [n for n, column in enumerate(layout) if not column.fold or column.keep]
        if whole:
            widest = max(whole, key=lambda n: _minimum(layout[n], records))
            layout[widest] = replace(layout[widest], fold=True, keep=None)
        elif any(column.least for column in layout):
            layout = [replace(column, least=0) for column in layout]
        else:
            headers = [cell_len(column.header) for column in layout]
            return layout, _widths(layout, records, width, headers) or headers
    return layout, widths


def overhead(columns: int) -> int:
    """Cells a table spends beside its text: one between columns, a space either side."""
    return 3 * (columns - 1)


def _widths(
    layout: Layout, records: Sequence[Record], width: int, minimums: list[int] | None = None
) -> list[int] | None:
    """Each column's width, or None when the layout cannot fit without cutting."""
    room = width - overhead(len(layout))
    naturals = [_natural(column, records) for column in layout]
    last_resort = minimums is not None
    minimums = minimums or [_minimum(column, records) for column in layout]
    if sum(minimums) > room:
        return None
    widths = list(minimums)
    spare = room - sum(widths)
    # What is left goes to the folding columns that need the least to be whole first
    # (a short list of tags before a long title), then in the layout's order. In the last
    # resort (only the headers kept), to the first columns first: they matter most.
    order = list(range(len(layout)))
    if not last_resort:
        order.sort(key=lambda n: naturals[n] - widths[n])
    for n in order:
        grown = min(naturals[n], widths[n] + spare)
        spare -= grown - widths[n]
        widths[n] = grown
    return widths


def _natural(column: Column, records: Sequence[Record]) -> int:
    return max([cell_len(column.header), *(cell_len(column.cell(r)) for r in records)])


def _minimum(column: Column, records: Sequence[Record]) -> int:
    """The fewest cells the column can have without cutting a header or a kept line."""
    if not column.fold:
        return _natural(column, records)
    words = [cell_len(word) for r in records for word in column.cell(r).split()]
    least = max(min(max(words, default=0), LONGEST_UNFOLDED_WORD), column.least)
    kept = [cell_len(column.keep(r)) for r in records] if column.keep else []
    return max(cell_len(column.header), min(least, _natural(column, records)), *kept)


def when(value: datetime | None, empty: str = "–") -> str:
    """A time in a table: to the minute, in UTC like the JSON."""
    return f"{value.astimezone(UTC):%Y-%m-%d %H:%M}" if value else empty


def iso_utc(value: datetime | None) -> str | None:
    """ISO 8601 in UTC with a Z, as the subscriber export writes it."""
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z") if value else None


def print_json(records: Iterable[Record]) -> None:
    """A JSON array of the records on standard output, and nothing else."""
    rows = [{key: _json_value(value) for key, value in record.items()} for record in records]
    sys.stdout.write(json.dumps(rows, ensure_ascii=False, indent=2) + "\n")
    sys.stdout.flush()


def _json_value(value: object) -> object:
    if isinstance(value, datetime):
        return iso_utc(value)
    if isinstance(value, str):
        return str(value)  # a StrEnum as its plain value
    return value


JsonOption = Annotated[
    bool,
    typer.Option(
        "--json",
        help="Print a JSON array of objects instead of the table, for scripts "
        "(field names in the README; times in ISO 8601 UTC).",
    ),
]
