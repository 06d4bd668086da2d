"""kill -9 at random points of a process running a filter, a windowed aggregation and a
stream-table join over 200k records, restarted each time; then its outputs against an
independent DuckDB computation over the inputs.

Each round starts the worker (tests/faults/pipeline_worker.py) and kills it: at a named crash
point inside the engine (KSQLITE_CRASH_AT, engine/common/crash_points.py) at a random pass, which
reaches every step of the commit protocol, or with SIGKILL from here after a random delay. After
the rounds a last run finishes the work. Then: the final table must be exact, the streams must
lose nothing, and under exactly_once_v2 hold nothing twice. The figures go to the summary.
"""
import os
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from pyksqlite.log import EmbeddedLog
from tests.faults import pipeline

ROOT = Path(__file__).resolve().parents[2]
WORKER = Path(__file__).with_name("pipeline_worker.py")
POINTS = {
    "exactly_once_v2": ["txn.commit.written", "txn.commit.recorded", "txn.commit.published",
                        "checkpoint.written", "checkpoint.installed", "task.processed", "log.append.written"],
    "at_least_once": ["checkpoint.installed", "offsets.committed", "task.processed", "log.append.written"],
}
TIMED_KILLS = 3
STARTUP_TIMEOUT = 120


class Worker:
    """A worker process and the lines it printed."""

    def __init__(self, work: Path, guarantee: str, crash_at: str = "", final: bool = False):
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        env.pop("KSQLITE_CRASH_AT", None)
        if crash_at:
            env["KSQLITE_CRASH_AT"] = crash_at
        self.process = subprocess.Popen([sys.executable, str(WORKER), str(work), guarantee] + (["final"] if final else []),
                                        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for line in self.process.stdout:
            self.lines.append(line.strip())

    def saw(self, word: str) -> bool:
        return any(line.split()[0] == word for line in self.lines if line)

    def wait_for(self, word: str, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.saw(word):
                return True
            if self.process.poll() is not None:
                self._reader.join(5)
                return self.saw(word)
            time.sleep(0.02)
        return False

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
        self.process.wait(30)
        self._reader.join(5)

    def failure(self) -> str:
        return f"worker exited {self.process.returncode}: {self.lines[-3:]} {self.process.stderr.read()[-3000:]}"


def run_round(work: Path, guarantee: str, rng: random.Random, point: str) -> str:
    """One run killed at `point` (a crash point name, or "timed"); what killed it, or "" if the
    work was done before the kill landed (such a kill is not counted)."""
    crash_at = f"{point}:{rng.randint(2, 6)}" if point != "timed" else ""
    worker = Worker(work, guarantee, crash_at)
    try:
        assert worker.wait_for("ready", STARTUP_TIMEOUT) or worker.process.returncode == -9, worker.failure()
        if point == "timed":
            delay = rng.uniform(0.5, 1.5)
            worker.wait_for("done", delay)
        else:
            worker.wait_for("done", STARTUP_TIMEOUT)
        assert not worker.saw("error") and worker.process.returncode in (None, -9), worker.failure()
        killed_by_point = worker.process.returncode == -9
        done = worker.saw("done")
    finally:
        worker.kill()
    if done and not killed_by_point:
        return ""
    return crash_at if killed_by_point else f"SIGKILL after {delay:.1f}s"


@pytest.mark.parametrize("guarantee", ["at_least_once", "exactly_once_v2"])
def test_killed_and_restarted_the_pipeline_loses_nothing_and_exactly_once_doubles_nothing(
        tmp_path, guarantee, report_figures):
    rng = random.Random(f"faults-{guarantee}")
    points = list(POINTS[guarantee])
    rng.shuffle(points)
    points += ["timed"] * TIMED_KILLS
    figures = pipeline.Figures()
    for point in points:
        killed = run_round(tmp_path, guarantee, rng, point)
        print(f"round {point}: {killed or 'the work was done first'}")
        if killed:
            figures.kills.append(killed)
    final = Worker(tmp_path, guarantee, final=True)
    assert final.wait_for("done", 300) and final.process.wait(60) == 0, final.failure()
    assert len(figures.kills) >= 5, f"only {len(figures.kills)} kills landed before the work was done"

    log = EmbeddedLog(tmp_path / "data" / "log")
    try:
        acknowledged, tried = pipeline.markers(tmp_path / "markers")
        expected = pipeline.expected(pipeline.users(), pipeline.events())
        pipeline.compare(log, expected, acknowledged, tried, figures)
    finally:
        log.close()
    report_figures(figures.summary(guarantee))
    assert figures.wrong["PER_USER"] == 0 and figures.outputs["PER_USER"] == len(expected.per_user)
    assert figures.lost == {"BIG": 0, "ENRICHED": 0}
    assert figures.wrong == {"BIG": 0, "ENRICHED": 0, "PER_USER": 0}
    if guarantee != "at_least_once":
        assert figures.duplicated == {"BIG": 0, "ENRICHED": 0}
