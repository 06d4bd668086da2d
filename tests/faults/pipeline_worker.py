"""The process the fault-injection tests kill: it runs the pipeline of `pipeline` on a data dir.

Usage: python pipeline_worker.py <work dir> <processing.guarantee> [final]

It opens the engine (a restart resumes the queries from the command topic), creates what is
missing, starts the queries in the background, and produces the inputs where the log says it
stopped: all of `users`, then `events` in paced chunks, with an INSERT VALUES marker into BIG now
and then (each marker's number is written to `<work dir>/markers` as `try n` before the insert and
`ack n` after it returned). Then it waits until every query has processed (and, under
exactly-once, committed) everything and prints `done`. With `final` it then closes the engine and
exits; else it waits to be killed. Lines: `ready`, `done`, or `error <message>` (exit status 3).
"""
import os
import sys
import time
from pathlib import Path

from pyksqlite.facade.engine import Engine
from tests.faults import pipeline

CHUNK = 500           # events per partition per append
PAUSE_SECONDS = 0.05
MARKER_EVERY = 10     # chunks


def start_engine(work: Path, guarantee: str) -> Engine:
    engine = Engine(work / "data", {"ksql.streams.auto.offset.reset": "earliest", "ksqlite.log.flush": "none",
                                    "processing.guarantee": guarantee,   # the default intervals
                                    # the join waits for events while the table runs ahead of them
                                    "max.task.idle.ms": 2000})
    pipeline.create(engine)
    return engine


def produce_rest(engine: Engine, topic: str, per_partition, chunk: int, between=None) -> None:
    """Append each partition's records from where its end offset says it stopped."""
    positions = engine.log.end_offsets(topic)
    while any(position < len(records) for position, records in zip(positions, per_partition)):
        for partition, records in enumerate(per_partition):
            if positions[partition] < len(records):
                piece = records.slice(positions[partition], chunk)
                engine.log.append(topic, piece, partition=partition)
                positions[partition] += piece.num_rows
        engine.scheduler.appended.notify()
        if between is not None:
            between()


class Markers:
    """INSERT VALUES rows into BIG with ids -1, -2, ...: a third writer of the topic."""

    def __init__(self, engine: Engine, path: Path):
        self.engine, self.path = engine, path
        acknowledged, tried = pipeline.markers(path)
        self.next = max(tried, default=0) + 1
        self.chunks = 0

    def between_chunks(self) -> None:
        self.chunks += 1
        time.sleep(PAUSE_SECONDS)
        if self.chunks % MARKER_EVERY:
            return
        number, self.next = self.next, self.next + 1
        self._note(f"try {number}")
        self.engine.execute(f"INSERT INTO big (uid, id, amount) VALUES (0, {-number}, {pipeline.MARKER_AMOUNT});")
        self._note(f"ack {number}")

    def _note(self, line: str) -> None:
        with open(self.path, "a") as f:
            f.write(line + "\n")


def wait_until_done(engine: Engine) -> None:
    from pyksqlite.runtime.query_task import RUNNING
    while True:
        failed = [f"{t.query_id}: {t.error}" for t in engine.scheduler.tasks.values() if t.state != RUNNING]
        if failed:
            print("error", "; ".join(failed), flush=True)
            os._exit(3)
        if engine.caught_up():
            return
        time.sleep(0.05)


def main() -> None:
    work, guarantee, final = Path(sys.argv[1]), sys.argv[2], sys.argv[3:] == ["final"]
    engine = start_engine(work, guarantee)
    engine.start()
    print("ready", flush=True)
    produce_rest(engine, "users", pipeline.user_records(), chunk=10**9)
    markers = Markers(engine, work / "markers")
    produce_rest(engine, "events", pipeline.event_records(), chunk=CHUNK, between=markers.between_chunks)
    wait_until_done(engine)
    print("done", flush=True)
    if final:
        engine.close()
        return
    while True:
        time.sleep(1)


if __name__ == "__main__":
    main()
