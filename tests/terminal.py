"""Helpers of the terminal tests: run a command at a terminal width, read its table back."""

from __future__ import annotations

from click.testing import Result
from rich.cells import cell_len
from typer.testing import CliRunner

from budkavle.cli import app

runner = CliRunner()

# What rich reads to size and colour its output: a fixed width, and no colour codes even
# where the suite runs in CI with FORCE_COLOR or TERM=dumb (which would pin 80 columns).
TERMINAL = {"TERM": "xterm-256color", "FORCE_COLOR": None, "NO_COLOR": "1",
            "TTY_COMPATIBLE": None, "TTY_INTERACTIVE": None, "LINES": None}  # fmt: skip


def run_at(width: int, *args: str) -> Result:
    return runner.invoke(app, list(args), env={**TERMINAL, "COLUMNS": str(width)})


def lines_of(output: str, width: int) -> list[str]:
    """The output's lines, after checking that none is wider than the terminal and that
    nothing was cut short with an ellipsis."""
    lines = output.splitlines()
    too_wide = [line for line in lines if cell_len(line) > width]
    assert not too_wide, f"wider than {width}: {too_wide}"
    assert "…" not in output, output
    return lines


def shown_whole(lines: list[str], value: str) -> bool:
    """Is ``value`` in the table whole: on one line, or folded down one column (each line
    of it starting where the first one did)? Text here is Nordic, one cell per character."""
    if any(value in line for line in lines):
        return True
    for row, line in enumerate(lines):
        start = line.find(value[:3])
        while start >= 0:
            if _folded_from(lines[row:], start, value):
                return True
            start = line.find(value[:3], start + 1)
    return False


def _folded_from(lines: list[str], column: int, value: str) -> bool:
    rest = value
    for line in lines:
        # The cell's text ends where the gap before the next column begins.
        segment = line[column:].split("   ")[0].strip()
        if not segment or not rest.startswith(segment):
            return False
        rest = rest[len(segment) :].lstrip()
        if not rest:
            return True
    return False
