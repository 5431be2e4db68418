"""Every way to start Budkavle says what is wrong with a bad setting in one line, exit 2.

Real processes: the installed `budkavle` command, Celery's own CLI and uvicorn, each run
as an operator would type it.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

BIN = Path(sys.executable).parent
BAD = {"BUDKAVLE_FEED_SIZE": "femtio"}
LINE = (
    "BUDKAVLE_FEED_SIZE='femtio': Input should be a valid integer, unable to parse string "
    "as an integer (e.g. BUDKAVLE_FEED_SIZE=50)"
)


def run(argv: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        argv, env={**os.environ, **env}, cwd=cwd, capture_output=True, text=True, timeout=60,
        check=False,
    )  # fmt: skip


@pytest.mark.parametrize(
    "argv",
    [
        pytest.param([str(BIN / "budkavle"), "demo"], id="budkavle-demo"),
        pytest.param([str(BIN / "budkavle"), "serve"], id="budkavle-serve"),
        pytest.param([str(BIN / "celery"), "-A", "worker", "worker"], id="celery-worker"),
        pytest.param([str(BIN / "celery"), "-A", "worker", "beat"], id="celery-beat"),
        pytest.param(
            [sys.executable, "-m", "uvicorn", "web.app:create_app", "--factory", "--port", "1"],
            id="uvicorn",
        ),
    ],
)
def test_a_bad_setting_is_one_line_and_exit_2(argv: list[str], tmp_path: Path) -> None:
    result = run(argv, BAD, tmp_path)
    assert result.returncode == 2, result.stderr
    assert result.stdout.strip() == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].endswith(LINE)
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("argv", "shown"),
    [
        pytest.param(["--help"], "Usage: budkavle", id="help"),
        pytest.param(["demo", "--help"], "Usage: budkavle demo", id="demo-help"),
    ],
)
def test_help_works_with_a_bad_setting(argv: list[str], shown: str, tmp_path: Path) -> None:
    result = run([str(BIN / "budkavle"), *argv], {**BAD, "COLUMNS": "100"}, tmp_path)
    assert result.returncode == 0, result.stderr
    assert shown in result.stdout
