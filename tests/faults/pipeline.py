"""The pipeline the fault-injection tests run, its inputs, and the independent check of its outputs.

Inputs (deterministic, from SEED): a table `users` (USERS users, each with VERSIONS versions of its
name at distinct timestamps spread over the events' time) and a stream `events` (EVENTS records,
ids 0..EVENTS-1, a random user and amount, timestamps ascending), both keyed by the user id
(KAFKA INT), 2 partitions each (Kafka's default partitioner).

Queries:
- BIG: a filter (amount >= 900), and a second query INSERT INTO BIG (amount < 10), and INSERT
  VALUES markers into BIG (negative ids): three writers on one topic;
- PER_USER: a windowed aggregation (tumbling 60 s: count and sum per user and window), a table;
- ENRICHED: a stream-table join of events with the user's name as of the event's time (the
  worker sets `max.task.idle.ms`, so that the join waits for events while the whole table is
  there before them, as Kafka Streams does: an as-of join by timestamp).

`expected` computes what they must hold with plain DuckDB SQL over the generated inputs (never the
engine): the stream outputs by id, the final table by (user, window); `compare` reads the sink
topics straight from the log and counts what is lost, duplicated or wrong.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pa_json

from pyksqlite.log.api import HEADER_TYPE, PRODUCE_SCHEMA
from pyksqlite.log.partitioner import partitions_for_keys

SEED = 1313
USERS, VERSIONS, EVENTS, PARTITIONS = 400, 3, 200_000, 2
START_MS, STEP_MS, WINDOW_MS = 1_000_000, 10, 60_000
MARKER_AMOUNT = -1

STATEMENTS = [
    "CREATE STREAM IF NOT EXISTS events (uid INT KEY, id BIGINT, amount INT) "
    "WITH (kafka_topic='events', partitions=2, value_format='JSON');",
    "CREATE TABLE IF NOT EXISTS users (uid INT PRIMARY KEY, name STRING) "
    "WITH (kafka_topic='users', partitions=2, value_format='JSON');",
    "CREATE STREAM IF NOT EXISTS big AS SELECT uid, id, amount FROM events WHERE amount >= 900;",
    "CREATE TABLE IF NOT EXISTS per_user AS SELECT uid, AS_VALUE(uid) AS u, WINDOWSTART AS ws, "
    "COUNT(*) AS n, SUM(amount) AS total FROM events WINDOW TUMBLING (SIZE 60 SECONDS) GROUP BY uid "
    "EMIT CHANGES;",
    "CREATE STREAM IF NOT EXISTS enriched AS SELECT e.uid, e.id, e.amount, u.name FROM events e "
    "LEFT JOIN users u ON e.uid = u.uid;",
]
SECOND_WRITER = ("SMALL", "INSERT INTO big WITH (QUERY_ID='SMALL') SELECT uid, id, amount FROM events "
                          "WHERE amount < 10;")


def users(seed: int = SEED) -> pa.Table:
    """uid, version, name, ts: version 0 at time 0, the others at distinct random times; in time
    order, as a partition's records must be for Kafka Streams' order to be an as-of join (a record
    older than its partition's time is processed at once)."""
    rng = np.random.default_rng(seed)
    uid = np.repeat(np.arange(USERS, dtype=np.int32), VERSIONS)
    version = np.tile(np.arange(VERSIONS, dtype=np.int32), USERS)
    span = EVENTS * STEP_MS
    later = np.sort(rng.choice(span // 7, size=(USERS, VERSIONS - 1), replace=False) * 7, axis=1)
    ts = np.concatenate([np.zeros((USERS, 1), np.int64), START_MS + later], axis=1).ravel()
    names = pc.binary_join_element_wise("u", pc.cast(pa.array(uid), pa.string()), "v",
                                        pc.cast(pa.array(version), pa.string()), "")
    return pa.table({"uid": uid, "version": version, "name": names, "ts": ts}).sort_by("ts")


def events(count: int = EVENTS, seed: int = SEED) -> pa.Table:
    rng = np.random.default_rng(seed + 1)
    return pa.table({
        "id": np.arange(count, dtype=np.int64),
        "uid": rng.integers(0, USERS, size=count, dtype=np.int32),
        "amount": rng.integers(0, 1000, size=count, dtype=np.int32),
        "ts": START_MS + np.arange(count, dtype=np.int64) * STEP_MS,
    })


def user_records() -> list[pa.Table]:
    return produce_batches(users(), {"NAME": "name"})


def event_records(count: int = EVENTS, first: int = 0) -> list[pa.Table]:
    """Per partition, the records of events first..count-1 of `events(count)`."""
    return produce_batches(events(count).slice(first), {"ID": "id", "AMOUNT": "amount"})


def create(engine) -> None:
    """The sources and queries, those that do not exist yet."""
    for statement in STATEMENTS:
        engine.execute(statement)
    query_id, statement = SECOND_WRITER
    if query_id not in engine.catalog.queries:
        engine.execute(statement)


def append_all(log, topic: str, per_partition: list[pa.Table], chunk: int = 1000) -> None:
    """Append each partition's records, `chunk` per append (one stored batch each)."""
    for partition, records in enumerate(per_partition):
        for start in range(0, records.num_rows, chunk):
            log.append(topic, records.slice(start, chunk), partition=partition)


def int_keys(values: pa.Array) -> pa.Array:
    """KAFKA-format INT keys: 4 bytes big-endian."""
    raw = np.ascontiguousarray(np.asarray(values), dtype=">i4").tobytes()
    return pa.Array.from_buffers(pa.binary(4), len(values), [None, pa.py_buffer(raw)]).cast(pa.binary())


def produce_batches(table: pa.Table, value_columns: dict[str, str]) -> list[pa.Table]:
    """Per partition, the PRODUCE_SCHEMA records of `table` in its order (JSON values whose
    members are `value_columns`' keys, from the columns they name)."""
    keys = int_keys(table["uid"].combine_chunks())
    pieces = []
    for index, (member, column) in enumerate(value_columns.items()):
        text = pc.cast(table[column], pa.string())
        if pa.types.is_string(table[column].type):
            text = pc.binary_join_element_wise('"', text, '"', "")
        pieces += ["{" if index == 0 else ",", f'"{member}":', text]
    values = pc.binary_join_element_wise(*pieces, "}", "").combine_chunks().cast(pa.binary())
    records = pa.table([keys, values, table["ts"].combine_chunks(), pa.nulls(len(table), HEADER_TYPE)],
                       schema=PRODUCE_SCHEMA)
    destinations = partitions_for_keys(keys, PARTITIONS)
    return [records.filter(pa.array(destinations == p)) for p in range(PARTITIONS)]


# --- the independent computation --------------------------------------------------------------

@dataclass
class Expected:
    big: dict[int, int]          # id -> amount
    enriched: dict[int, object]  # id -> the user's name at the event's time (None before any)
    per_user: dict[tuple[int, int], tuple[int, int]]   # (uid, window start) -> (count, total)


def expected(user_rows: pa.Table, event_rows: pa.Table) -> Expected:
    """Plain DuckDB SQL over the generated inputs."""
    con = duckdb.connect()
    con.register("users", user_rows)
    con.register("events", event_rows)
    big = con.sql("SELECT id, amount FROM events WHERE amount >= 900 OR amount < 10").fetchall()
    enriched = con.sql("SELECT e.id, u.name FROM events e ASOF LEFT JOIN users u "
                       "ON e.uid = u.uid AND e.ts >= u.ts").fetchall()
    per_user = con.sql(f"SELECT uid, ts - ts % {WINDOW_MS} AS ws, count(*), sum(amount) FROM events "
                       "GROUP BY ALL").fetchall()
    return Expected(dict(big), dict(enriched), {(u, w): (n, t) for u, w, n, t in per_user})


# --- reading and comparing the outputs -------------------------------------------------------

def read_topic(log, topic: str) -> pa.Table:
    """Every record of a topic with its JSON value decoded (upper-case columns), plus partition
    and offset."""
    batches = []
    for partition in range(len(log.end_offsets(topic))):
        offset = log.start_offsets(topic)[partition]
        while True:
            batch = log.read(topic, partition, offset)
            if batch.num_rows == 0:
                break
            batches.append(batch)
            offset = batch.column("offset")[-1].as_py() + 1
    if not batches:
        return pa.table({"partition": pa.array([], pa.int32()), "offset": pa.array([], pa.int64())})
    records = pa.Table.from_batches(batches)
    lines = pc.binary_join_element_wise(records["value"].cast(pa.string()), "\n", "")
    text = "".join(lines.to_pylist()).encode()
    values = pa_json.read_json(pa.BufferReader(text))
    return values.append_column("partition", records["partition"]).append_column("offset", records["offset"])


@dataclass
class Figures:
    """What a run's outputs hold against the expected: per stream, lost/duplicated/wrong; for
    the table, wrong windows."""
    records: int = EVENTS
    kills: list[str] = field(default_factory=list)
    lost: dict[str, int] = field(default_factory=dict)
    duplicated: dict[str, int] = field(default_factory=dict)
    wrong: dict[str, int] = field(default_factory=dict)
    outputs: dict[str, int] = field(default_factory=dict)

    def summary(self, guarantee: str) -> str:
        streams = ", ".join(f"{name}: {self.outputs[name]} records, lost {self.lost[name]}, duplicated "
                            f"{self.duplicated[name]}, wrong {self.wrong[name]}" for name in ("BIG", "ENRICHED"))
        return (f"{guarantee}: {len(self.kills)} kills -9 ({', '.join(self.kills)}), {self.records} events; "
                f"{streams}; PER_USER: {self.outputs['PER_USER']} windows, {self.wrong['PER_USER']} wrong or missing")


def compare(log, expect: Expected, acknowledged_markers: set[int], tried_markers: set[int],
            figures: Figures) -> Figures:
    """Fill `figures` from the sink topics in `log`."""
    big = read_topic(log, "BIG")
    wanted_big = dict(expect.big)
    wanted_big.update({-k: MARKER_AMOUNT for k in acknowledged_markers})
    maybe = {-k for k in tried_markers - acknowledged_markers}   # tried, never acknowledged
    _stream_figures("BIG", big, "AMOUNT", wanted_big, maybe, figures)
    _stream_figures("ENRICHED", read_topic(log, "ENRICHED"), "NAME", expect.enriched, set(), figures)
    table = read_topic(log, "PER_USER")
    latest = _latest(table, ("U", "WS"))
    figures.outputs["PER_USER"] = len(latest)
    keys = set(expect.per_user) | set(latest)
    figures.wrong["PER_USER"] = sum(1 for k in keys if latest.get(k) != expect.per_user.get(k))
    return figures


def _stream_figures(name: str, rows: pa.Table, column: str, wanted: dict, maybe: set, figures: Figures) -> None:
    ids = rows["ID"].to_pylist() if rows.num_rows else []
    values = rows[column].to_pylist() if rows.num_rows else []
    counts: dict[int, int] = {}
    wrong = 0
    for id_, value in zip(ids, values):
        counts[id_] = counts.get(id_, 0) + 1
        if id_ in maybe:
            continue
        if id_ not in wanted or wanted[id_] != value:
            wrong += 1
    figures.outputs[name] = len(ids)
    figures.lost[name] = sum(1 for id_ in wanted if id_ not in counts)
    figures.duplicated[name] = sum(n - 1 for n in counts.values())
    figures.wrong[name] = wrong


def _latest(table: pa.Table, key_columns: tuple[str, ...]) -> dict[tuple, tuple[int, int]]:
    """(key) -> (N, TOTAL) of the last record per key (keys of a table live in one partition)."""
    if table.num_rows == 0:
        return {}
    con = duckdb.connect()
    con.register("sink", table)
    keys = ", ".join(key_columns)
    rows = con.sql(f"SELECT {keys}, N, TOTAL FROM sink QUALIFY row_number() OVER "
                   f"(PARTITION BY {keys} ORDER BY partition, \"offset\" DESC) = 1").fetchall()
    return {tuple(row[:len(key_columns)]): tuple(row[len(key_columns):]) for row in rows}


def markers(path: Path) -> tuple[set[int], set[int]]:
    """(acknowledged, tried) marker numbers from the worker's marker file."""
    acknowledged, tried = set(), set()
    if path.exists():
        for line in path.read_text().splitlines():
            what, _, number = line.partition(" ")
            if number.isdigit():
                (acknowledged if what == "ack" else tried).add(int(number))
    return acknowledged, tried | acknowledged
