"""The README's Quick start demo (examples/pageviews.sql) is fed by the datagen connector, ends
by itself and prints its results."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_quick_start_demo_ends_by_itself_and_prints_its_results(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "pyksqlite.shell.cli", "run", str(ROOT / "examples" / "pageviews.sql"),
         "--until-idle", "--timeout", "120", "--data-dir", str(tmp_path),
         "--show", "FRONT_PAGE_VIEWS,VIEWS_PER_USER,VIEWS_BY_REGION"],
        capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "Created connector PAGEVIEWS_GEN" in out and "Created connector USERS_GEN" in out
    region_table = out.split("VIEWS_BY_REGION:")[1]
    counts = [int(line.split("|")[2]) for line in region_table.splitlines() if line.startswith("| Region_")]
    assert sum(counts) == 200            # every generated view joined its user
