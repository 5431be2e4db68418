"""`budkavle feeds rebuild` on a site with thousands of tags: this tree against a base.

For each size, and for each tree (the base commit, then this one), in a fresh database
migrated by that tree and bulk-filled as bench/tagfeeds.py fills (5,006 tags, three per
article), runs `python -m budkavle feeds rebuild` twice with that tree's code and prints
the wall time of each run: the first places every archive slot and writes every
document, the second finds nothing to change (a rebuild after a settings change that
alters no bytes costs about that).

    .venv/bin/python bench/rebuild.py --db postgresql --sizes 10000 --base d4409e0
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import service
import tagfeeds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--db", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--sizes", default="10000")
    parser.add_argument("--base", default="d4409e0", help="the commit to compare with")
    parser.add_argument(
        "--skip-base-above", type=int, default=10000, help="larger sizes: this tree only"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="budkavle-bench-") as tmp, service.cpu_report():
        base = Path(tmp) / "base"
        base.mkdir()
        archive = subprocess.run(
            ["git", "archive", args.base], cwd=service.ROOT, check=True, capture_output=True
        )
        subprocess.run(["tar", "-x", "-C", str(base)], input=archive.stdout, check=True)
        for size in [int(s) for s in args.sizes.split(",")]:
            trees = [("this tree", service.ROOT)]
            if size <= args.skip_base_above:
                trees.insert(0, (f"base {args.base}", base))
            for name, tree in trees:
                data = Path(tmp) / f"{size}-{tree.name}"
                data.mkdir()
                seconds = measure(args.db, size, tree, data)
                print(f"{args.db}, {size:,} articles, {name}: rebuild "
                      + ", then ".join(f"{s:.1f} s" for s in seconds))  # fmt: skip


def measure(db: str, size: int, tree: Path, data: Path) -> list[float]:
    env = service.environment(service.fresh_database(db, data), data, service.free_port())
    env["PYTHONPATH"] = str(tree)
    budkavle = [sys.executable, "-m", "budkavle"]
    subprocess.run([*budkavle, "migrate"], env=env, cwd=tree, check=True, capture_output=True)
    os.environ.update(env)
    from config import get_settings

    get_settings.cache_clear()
    from newsroom.db import get_engine

    tagfeeds.fill(size)
    get_engine().dispose()
    seconds = []
    for _ in range(2):
        started = time.perf_counter()
        run = subprocess.run(
            [*budkavle, "feeds", "rebuild"], env=env, cwd=tree, capture_output=True, text=True
        )
        seconds.append(time.perf_counter() - started)
        if run.returncode:
            raise SystemExit(f"rebuild failed:\n{run.stdout}\n{run.stderr}")
        print(f"    {run.stdout.strip().splitlines()[-1]}")
    return seconds


if __name__ == "__main__":
    main()
