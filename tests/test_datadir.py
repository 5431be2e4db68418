"""Run from another folder, the CLI refuses to make a new empty database unless asked.

Real processes: the installed `budkavle` command in an empty folder, with no data folder
or database configured, as a newcomer would type it.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from budkavle import datadir
from config import load_settings

BUDKAVLE = str(Path(sys.executable).parent / "budkavle")


def budkavle(*argv: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items()
           if k not in ("BUDKAVLE_DATA_DIR", "BUDKAVLE_DATABASE_URL")}  # fmt: skip
    env["COLUMNS"] = "200"
    return subprocess.run(
        [BUDKAVLE, *argv], env=env, cwd=cwd, capture_output=True, text=True, timeout=60,
        check=False,
    )  # fmt: skip


@pytest.mark.parametrize("command", [["demo"], ["articles"], ["publish", "Umeå älv.md"]])
def test_no_database_here_is_refused_and_says_what_to_type(
    tmp_path: Path, command: list[str]
) -> None:
    result = budkavle(*command, cwd=tmp_path)
    assert result.returncode == 2, result.stdout
    assert f"No Budkavle database at {tmp_path / 'var' / 'budkavle.db'}" in result.stderr
    typed = " ".join(f"'{part}'" if " " in part else part for part in command)
    assert f"budkavle --init {typed}" in result.stderr
    assert not (tmp_path / "var").exists(), "nothing created"


def test_the_running_services_folder_is_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    service = tmp_path / "redaktion"
    monkeypatch.setenv("BUDKAVLE_DATA_DIR", str(service / "var"))
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    with datadir.noted_while_serving(load_settings()):  # as `budkavle serve` does
        result = budkavle("demo", cwd=elsewhere)
    assert result.returncode == 2
    assert f"budkavle --data-dir {service / 'var'} demo" in result.stderr
    assert datadir.running_data_dirs().count(service / "var") == 0, "the note is gone"


@pytest.mark.parametrize(
    ("options", "created"),
    [
        pytest.param(["--init"], "var/budkavle.db", id="init"),
        pytest.param(["--data-dir", "nyheter"], "nyheter/budkavle.db", id="data-dir"),
    ],
)
def test_asked_for_a_new_database_it_is_made(
    tmp_path: Path, options: list[str], created: str
) -> None:
    result = budkavle(*options, "articles", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / created).exists()


def test_once_made_no_init_is_needed(tmp_path: Path) -> None:
    assert budkavle("--init", "articles", cwd=tmp_path).returncode == 0
    again = budkavle("articles", cwd=tmp_path)
    assert again.returncode == 0, again.stderr
