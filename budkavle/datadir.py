"""Which data folder a command works on, and refusing to make a new one by mistake.

Run from another folder, `budkavle demo` used to create ./var with an empty SQLite
database and report success into it, while the running service read its own. Now only
`serve` and `migrate` create a database; any other command, finding none, says where the
running service keeps its data (each `budkavle serve` notes that in a small file in the
temp folder while it runs) and what to type.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

from sqlalchemy.engine import make_url

from budkavle.processes import alive
from config import Settings

_NOTES = Path(tempfile.gettempdir())
_PREFIX = f"budkavle-serve-{os.getuid()}-"


def database_file(settings: Settings) -> Path | None:
    """The SQLite file the settings point at; None for a server database (PostgreSQL)."""
    url = make_url(settings.sqlalchemy_url)
    if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:":
        return None
    return Path(url.database).resolve()


def missing_database(settings: Settings, command: str = "COMMAND") -> str | None:
    """Why ``command`` should not run here, and what to type instead; None if it may."""
    path = database_file(settings)
    if path is None or path.exists():
        return None
    here = [p for p in running_data_dirs() if p != settings.data_path]
    lines = [f"No Budkavle database at {path}, and this command does not create one."]
    for folder in here:
        lines.append(f"A running `budkavle serve` keeps its data in {folder}: use it with")
        lines.append(f"  budkavle --data-dir {folder} {command}")
        lines.append(f"or cd {folder.parent} first.")
    if not here:
        lines.append("Run it in the folder where `budkavle serve` runs (its data is ./var),")
        lines.append(f"or name the data folder:  budkavle --data-dir PATH {command}")
    lines.append(f"To start a new, empty database here:  budkavle --init {command}")
    return "\n".join(lines)


@contextmanager
def noted_while_serving(settings: Settings) -> Iterator[None]:
    """Note this service's data folder while it runs, for CLI commands run elsewhere."""
    note = _NOTES / f"{_PREFIX}{os.getpid()}"
    note.write_text(str(settings.data_path))
    try:
        yield
    finally:
        note.unlink(missing_ok=True)


def running_data_dirs() -> list[Path]:
    """The data folders of this user's running services (notes of dead ones are dropped)."""
    found = []
    for note in sorted(_NOTES.glob(f"{_PREFIX}*")):
        pid = note.name.removeprefix(_PREFIX)
        if not pid.isdigit() or not alive(int(pid)):
            with suppress(OSError):
                note.unlink()  # left by a killed service
            continue
        with suppress(OSError):
            found.append(Path(note.read_text().strip()))
    return found
