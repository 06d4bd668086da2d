"""ksqlite vs DuckDB on Nexmark-style bids: `python benchmarks/run.py --events N [--json] [--workloads a,b]`.

The same N bids (deterministic) go to a JSON-lines file for DuckDB and into a 4-partition topic
`bids` of the engine's embedded log. Per workload, ksqlite is timed from the persistent query's
creation until `run_until_idle()` returns; DuckDB (one thread) runs the equivalent batch query end to
end, JSON in and JSON out. Both outputs are then compared as multisets. A workload is one
`Workload` entry: ksqlite statements, DuckDB SQL, the sink topic and the columns to compare.

Each workload also runs under `processing.guarantee=exactly_once_v2` (commit.interval.ms 100, as
Kafka Streams commits under exactly-once), alternating with the default at-least-once runs:
`eos_ratio` is its throughput over at-least-once's (1.0: exactly-once costs nothing).
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

import duckdb
import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pa_json

SEED = 20240601
PARTITIONS = 4
CHANNELS = ("Google", "Facebook", "Baidu", "Apple")
START_MS = 1_700_000_000_000
HOUR_MS = 3_600_000
CHUNK = 200_000
BIDS_COLUMNS = ("{auction: 'BIGINT', bidder: 'BIGINT', price: 'BIGINT', channel: 'VARCHAR', "
                "url: 'VARCHAR', date_time: 'BIGINT', extra: 'VARCHAR'}")
BIDS_STREAM = ("CREATE STREAM bids (auction BIGINT, bidder BIGINT, price BIGINT, channel STRING, "
               "url STRING, date_time BIGINT, extra STRING) WITH (kafka_topic='bids', value_format='JSON', "
               "timestamp='date_time');")
# Like DuckDB's COPY, the log leaves flushing to the OS (flush="none"): the same durability.
ENGINE_PROPERTIES = {"ksql.streams.auto.offset.reset": "earliest", "ksqlite.threads": 1,
                     "ksqlite.log.flush": "none"}
EXACTLY_ONCE_PROPERTIES = {**ENGINE_PROPERTIES, "processing.guarantee": "exactly_once_v2"}


@dataclass(frozen=True)
class Workload:
    name: str
    statements: str              # timed: creates the persistent query
    duckdb_select: str           # the same query over `bids` (replaced by read_json(...))
    sink_topic: str
    key_columns: tuple[str, ...]   # compared exactly, upper-case names as in the sink
    float_columns: tuple[str, ...] = ()  # compared with a tolerance
    setup: Optional[Callable] = None     # setup(engine, work_dir) before timing -> DuckDB table replacements
    key_column: Optional[str] = None     # the sink's KAFKA BIGINT key, read back under this name
    windowed: bool = False               # a windowed table: compare the last value per (key, WINDOW_START)


WORKLOADS = {
    "filter": Workload(
        name="filter",
        statements="CREATE STREAM hi AS SELECT auction, bidder, price * 0.908 AS price_eur, date_time "
                   "FROM bids WHERE price > 50000;",
        duckdb_select="SELECT auction, bidder, price * 0.908 AS price_eur, date_time FROM bids WHERE price > 50000",
        sink_topic="HI",
        key_columns=("AUCTION", "BIDDER", "DATE_TIME"),
        float_columns=("PRICE_EUR",),
    ),
    "join": Workload(
        name="join",
        statements="CREATE STREAM enriched AS SELECT b.auction, b.bidder, b.price, a.seller, a.category "
                   "FROM bids b JOIN auctions a ON b.auction = a.id;",
        duckdb_select="SELECT b.auction, b.bidder, b.price, a.seller, a.category "
                      "FROM bids b JOIN auctions a ON b.auction = a.id",
        sink_topic="ENRICHED",
        key_columns=("AUCTION", "BIDDER", "PRICE", "SELLER", "CATEGORY"),
        setup=lambda engine, work_dir: load_auctions(engine, work_dir),
        key_column="AUCTION",
    ),
    "tumbling": Workload(
        name="tumbling",
        statements="CREATE TABLE t AS SELECT auction, COUNT(*) AS n, SUM(price) AS total, MAX(price) AS top "
                   "FROM bids WINDOW TUMBLING (SIZE 10 SECONDS) GROUP BY auction EMIT CHANGES;",
        duckdb_select="SELECT auction, date_time - date_time % 10000 AS window_start, COUNT(*) AS n, "
                      "SUM(price) AS total, MAX(price) AS top FROM bids GROUP BY ALL",
        sink_topic="T",
        key_columns=("AUCTION", "WINDOW_START", "N", "TOTAL", "TOP"),
        key_column="AUCTION",
        windowed=True,
    ),
    "hopping": Workload(
        name="hopping",
        statements="CREATE TABLE h AS SELECT auction, COUNT(*) AS n, SUM(price) AS total, MAX(price) AS top "
                   "FROM bids WINDOW HOPPING (SIZE 10 SECONDS, ADVANCE BY 2 SECONDS) GROUP BY auction "
                   "EMIT CHANGES;",
        duckdb_select="SELECT auction, window_start, COUNT(*) AS n, SUM(price) AS total, MAX(price) AS top "
                      "FROM (SELECT auction, price, unnest(generate_series("
                      "greatest(0, date_time - 10000 + 2000) // 2000 * 2000, date_time - date_time % 2000, 2000)) "
                      "AS window_start FROM bids) GROUP BY ALL",
        sink_topic="H",
        key_columns=("AUCTION", "WINDOW_START", "N", "TOTAL", "TOP"),
        key_column="AUCTION",
        windowed=True,
    ),
}

# avro_filter: the filter workload with the bids and the output in AVRO (schemas in the embedded
# registry); the reference is the same filter with fastavro decoding and encoding one record at a
# time on one thread (the per-record client loop most Python consumers write).
AVRO_BIDS_STREAM = BIDS_STREAM.replace("value_format='JSON'", "value_format='AVRO'")
AVRO_FILTER = ("CREATE STREAM hi WITH (value_format='AVRO') AS SELECT auction, bidder, price * 0.908 AS price_eur, "
               "date_time FROM bids WHERE price > 50000;")
WORKLOADS["avro_filter"] = Workload(name="avro_filter", statements=AVRO_FILTER, duckdb_select="", sink_topic="HI",
                                    key_columns=("AUCTION", "BIDDER", "DATE_TIME"), float_columns=("PRICE_EUR",))


def run_avro_filter(events: int, work_dir: Path, bids: pa.Table, repeat: int = 1) -> dict:
    import io
    import fastavro
    from pyksqlite import Engine
    from pyksqlite.log.api import HEADER_TYPE, PRODUCE_SCHEMA, TopicConfig
    from pyksqlite.common.schema import Column
    from pyksqlite.serde.api import FormatInfo
    from pyksqlite.serde.avro_format import AvroSerde
    from pyksqlite.serde.schema_translate import avro_schema
    from pyksqlite.common.types import BIGINT, DOUBLE, STRING
    names = ("AUCTION", "BIDDER", "PRICE", "CHANNEL", "DATE_TIME", "EXTRA")
    columns = [Column(n, STRING if n in ("CHANNEL", "URL", "EXTRA") else BIGINT) for n in names]
    bid_schema = fastavro.parse_schema(avro_schema(columns, True))
    out_schema = fastavro.parse_schema(avro_schema(
        [Column("AUCTION", BIGINT), Column("BIDDER", BIGINT), Column("PRICE_EUR", DOUBLE), Column("DATE_TIME", BIGINT)], True))
    renamed = bids.rename_columns([c.upper() for c in bids.column_names]).select(list(names))
    best_engine = best_reference = best_eos = (float("inf"), float("inf"))
    eos_rows = None

    def time_engine(directory: str, properties: dict):
        """(seconds, the sink's rows, the payloads of the bids for the reference)."""
        engine = Engine(str(work_dir / directory), properties=dict(properties))
        try:
            engine.log.create_topic("bids", TopicConfig(partitions=PARTITIONS))
            fmt = FormatInfo("AVRO", properties=(("registry", engine._executor.schema_registry_token),
                                                 ("subject", "bids-value")))
            serde = AvroSerde(fmt, columns, False, True)
            keys, timestamps = big_endian_keys(bids["auction"]), bids["date_time"].combine_chunks()
            for start in range(0, len(bids), CHUNK):
                end = min(start + CHUNK, len(bids))
                encoded = serde.serialize(renamed.slice(start, end - start))
                engine.log.append("bids", pa.table([keys[start:end], encoded, timestamps[start:end],
                                                    pa.nulls(end - start, HEADER_TYPE)], schema=PRODUCE_SCHEMA))
            payloads = [v[5:] for v in pa.concat_arrays([serde.serialize(renamed.slice(s, CHUNK))
                                                         for s in range(0, len(bids), CHUNK)]).to_pylist()]
            engine.execute(AVRO_BIDS_STREAM)
            seconds = run_ksqlite(engine, WORKLOADS["avro_filter"])
            return seconds, _read_avro_sink(engine, serde), payloads
        finally:
            engine.close()

    for attempt in range(repeat):
        seconds, rows, payloads = time_engine(f"avro-{attempt}", ENGINE_PROPERTIES)
        best_engine = tuple(map(min, best_engine, seconds))
        if EXACTLY_ONCE:
            seconds, eos_rows, _ = time_engine(f"avro-eos-{attempt}", EXACTLY_ONCE_PROPERTIES)
            best_eos = tuple(map(min, best_eos, seconds))
        started, cpu = time.perf_counter(), time.process_time()
        reference = []
        for payload in payloads:
            bid = fastavro.schemaless_reader(io.BytesIO(payload), bid_schema, None)
            if bid["PRICE"] > 50000:
                out = io.BytesIO()
                fastavro.schemaless_writer(out, out_schema, {"AUCTION": bid["AUCTION"], "BIDDER": bid["BIDDER"],
                                                             "PRICE_EUR": bid["PRICE"] * 0.908,
                                                             "DATE_TIME": bid["DATE_TIME"]})
                reference.append(out.getvalue())
        best_reference = tuple(map(min, best_reference, (time.perf_counter() - started, time.process_time() - cpu)))
    expected = pa.Table.from_pylist([fastavro.schemaless_reader(io.BytesIO(b), out_schema, None) for b in reference])
    result = {"ksqlite_eps": round(events / best_engine[0]), "fastavro_eps": round(events / best_reference[0]),
              "ratio": round(best_reference[0] / best_engine[0], 4),
              "results_equal": results_equal(rows, expected, WORKLOADS["avro_filter"]),
              "cpu_ratio": round(best_reference[1] / best_engine[1], 4)}
    if eos_rows is not None:
        result.update(exactly_once_figures(events, best_engine, best_eos, eos_rows, expected, WORKLOADS["avro_filter"]))
    return result


def _read_avro_sink(engine, serde) -> pa.Table:
    """The sink's AVRO values decoded through the engine's registry (the writer schema by id)."""
    from pyksqlite.common.schema import Column
    from pyksqlite.serde.api import FormatInfo
    from pyksqlite.serde.avro_format import AvroSerde
    from pyksqlite.common.types import BIGINT, DOUBLE
    columns = [Column("AUCTION", BIGINT), Column("BIDDER", BIGINT), Column("PRICE_EUR", DOUBLE),
               Column("DATE_TIME", BIGINT)]
    reader = AvroSerde(FormatInfo("AVRO", properties=serde.fmt.properties), columns, False, True)
    values = []
    for partition in range(len(engine.log.end_offsets("HI"))):
        offset = engine.log.start_offsets("HI")[partition]
        while True:
            batch = engine.log.read("HI", partition, offset)
            if batch.num_rows == 0:
                break
            values.append(batch.column("value"))
            offset = batch.column("offset")[-1].as_py() + 1
    return reader.deserialize(pa.concat_arrays(values)).columns


AUCTIONS_COLUMNS = "{id: 'BIGINT', seller: 'BIGINT', category: 'BIGINT', reserve: 'BIGINT'}"
AUCTIONS_TABLE = ("CREATE TABLE auctions (id BIGINT PRIMARY KEY, seller BIGINT, category BIGINT, reserve BIGINT) "
                  "WITH (kafka_topic='auctions', value_format='JSON');")


def load_auctions(engine, work_dir: Path) -> dict[str, str]:
    """The `auctions` table (ids 1000-10999), produced before every bid, and its JSON lines for DuckDB."""
    from pyksqlite.log.api import HEADER_TYPE, PRODUCE_SCHEMA, TopicConfig
    rng = np.random.default_rng(SEED + 1)
    count = 10_000
    auctions = pa.table({
        "id": np.arange(1000, 1000 + count, dtype=np.int64),
        "seller": rng.integers(1, 1001, size=count, dtype=np.int64),
        "category": rng.integers(10, 20, size=count, dtype=np.int64),
        "reserve": rng.integers(1, 100_000, size=count, dtype=np.int64),
    })
    text = {name: pc.cast(auctions[name], pa.string()) for name in auctions.column_names}
    values = pc.binary_join_element_wise('{"seller":', text["seller"], ',"category":', text["category"],
                                         ',"reserve":', text["reserve"], "}", "").combine_chunks()
    engine.log.create_topic("auctions", TopicConfig(partitions=PARTITIONS, cleanup_policy="compact"))
    engine.log.append("auctions", pa.table([big_endian_keys(auctions["id"]), values.cast(pa.binary()),
                                            pa.array(np.full(count, START_MS - 1, dtype=np.int64)),
                                            pa.nulls(count, HEADER_TYPE)], schema=PRODUCE_SCHEMA))
    engine.log.flush()
    engine.execute(AUCTIONS_TABLE)
    path = work_dir / "auctions.jsonl"
    full = pc.binary_join_element_wise('{"id":', text["id"], ',"seller":', text["seller"], ',"category":',
                                       text["category"], ',"reserve":', text["reserve"], "}", "").combine_chunks()
    write_json_lines(full, path)
    return {"JOIN auctions": f"JOIN read_json('{path}', columns={AUCTIONS_COLUMNS}, format='newline_delimited')"}


# --- data ---------------------------------------------------------------------------------------

def generate_bids(events: int) -> pa.Table:
    """N bids as columns; date_time ascends over one hour."""
    rng = np.random.default_rng(SEED)
    letters = rng.integers(ord("a"), ord("z") + 1, size=(events, 20), dtype=np.uint8)
    return pa.table({
        "auction": rng.integers(1000, 11000, size=events, dtype=np.int64),
        "bidder": rng.integers(1, 1001, size=events, dtype=np.int64),
        "price": rng.integers(1, 100_000, size=events, dtype=np.int64),
        "channel": pa.array(np.array(CHANNELS, dtype=object)[rng.integers(0, len(CHANNELS), size=events)]),
        "date_time": START_MS + (np.arange(events, dtype=np.int64) * HOUR_MS) // max(events, 1),
        "extra": pa.array(letters.view("S20").ravel()).cast(pa.string()),
    })


def bid_json_values(bids: pa.Table) -> pa.Array:
    """One JSON object per bid, built with Arrow string kernels (no per-row Python)."""
    def text(name):
        return pc.cast(bids[name], pa.string())
    url = pc.binary_join_element_wise("https://www.nexmark.com/", pc.utf8_lower(bids["channel"]),
                                      "/item.htm?query=1&id=", text("auction"), "")
    pieces = ['{"auction":', text("auction"), ',"bidder":', text("bidder"), ',"price":', text("price"),
              ',"channel":"', bids["channel"], '","url":"', url, '","date_time":', text("date_time"),
              ',"extra":"', bids["extra"], '"}']
    return pc.binary_join_element_wise(*pieces, "").combine_chunks()


def big_endian_keys(auctions: pa.ChunkedArray) -> pa.Array:
    """KAFKA-format BIGINT keys: 8-byte big-endian."""
    raw = np.ascontiguousarray(auctions.to_numpy(), dtype=">i8").tobytes()
    fixed = pa.Array.from_buffers(pa.binary(8), len(auctions), [None, pa.py_buffer(raw)])
    return fixed.cast(pa.binary())


def json_lines_buffer(values: pa.Array) -> memoryview:
    """The values joined by newlines, taken straight from the Arrow data buffer (no copy per row)."""
    lines = pc.binary_join_element_wise(values.cast(pa.large_string()), pa.scalar("\n", pa.large_string()),
                                       pa.scalar("", pa.large_string()))
    offsets = np.frombuffer(lines.buffers()[1], dtype=np.int64)[lines.offset:lines.offset + len(lines) + 1]
    return memoryview(lines.buffers()[2])[offsets[0]:offsets[-1]]


def write_json_lines(values: pa.Array, path: Path) -> None:
    with open(path, "wb") as handle:
        handle.write(json_lines_buffer(values))


def produce_bids(log, bids: pa.Table, values: pa.Array) -> None:
    from pyksqlite.log.api import HEADER_TYPE, PRODUCE_SCHEMA, TopicConfig
    log.create_topic("bids", TopicConfig(partitions=PARTITIONS))
    keys = big_endian_keys(bids["auction"])
    timestamps = bids["date_time"].combine_chunks()
    for start in range(0, len(bids), CHUNK):
        end = min(start + CHUNK, len(bids))
        batch = pa.table([keys[start:end], values[start:end].cast(pa.binary()), timestamps[start:end],
                          pa.nulls(end - start, HEADER_TYPE)], schema=PRODUCE_SCHEMA)
        log.append("bids", batch)
    log.flush()


# --- running ------------------------------------------------------------------------------------

def run_ksqlite(engine, workload: Workload) -> tuple[float, float]:
    """(wall seconds, CPU seconds) from creating the query until its last output is in the topic."""
    started, cpu = time.perf_counter(), time.process_time()
    engine.execute(workload.statements)
    engine.run_until_idle()
    return time.perf_counter() - started, time.process_time() - cpu


def read_sink(log, topic: str, key_column: Optional[str] = None, windowed: bool = False) -> pa.Table:
    """Decode the sink topic's JSON values (and a KAFKA BIGINT key) straight from the log."""
    values, keys = [], []
    for partition in range(len(log.end_offsets(topic))):
        offset = log.start_offsets(topic)[partition]
        while True:
            batch = log.read(topic, partition, offset)
            if batch.num_rows == 0:
                break
            values.append(batch.column("value"))
            keys.append(batch.column("key"))
            offset = batch.column("offset")[-1].as_py() + 1
    rows = parse_json_lines(pa.chunked_array(values, pa.binary()).combine_chunks())
    if key_column is not None and rows.num_rows:
        raw = pa.chunked_array(keys, pa.binary()).combine_chunks()
        data = np.frombuffer(raw.buffers()[2], dtype=np.uint8)[raw.offset * 0:]
        offsets = np.frombuffer(raw.buffers()[1], dtype=np.int32)[raw.offset:raw.offset + len(raw) + 1]
        fixed = np.stack([data[offsets[:-1] + i] for i in range(8)], axis=1).copy().view(">i8").ravel()
        rows = rows.append_column(key_column, pa.array(fixed.astype(np.int64)))
        if windowed:  # a time-windowed key: the 8-byte key, then the 8-byte window start
            start = np.stack([data[offsets[:-1] + 8 + i] for i in range(8)], axis=1).copy().view(">i8").ravel()
            rows = rows.append_column("WINDOW_START", pa.array(start.astype(np.int64)))
            rows = rows.append_column("__i", pa.array(np.arange(rows.num_rows)))
            con = duckdb.connect()
            con.register("sink", rows)
            rows = con.sql(f"SELECT * EXCLUDE (__i) FROM sink QUALIFY row_number() OVER "
                           f"(PARTITION BY {key_column}, WINDOW_START ORDER BY __i DESC) = 1").to_arrow_table()
    return rows


def parse_json_lines(values: pa.Array) -> pa.Table:
    if len(values) == 0:
        return pa.table({})
    return pa_json.read_json(pa.BufferReader(pa.py_buffer(json_lines_buffer(values.cast(pa.string())))))


def run_duckdb(workload: Workload, bids_path: Path, out_path: Path,
               tables: Optional[dict[str, str]] = None) -> tuple[tuple[float, float], pa.Table]:
    con = duckdb.connect()
    con.execute("SET threads=1")
    source = f"read_json('{bids_path}', columns={BIDS_COLUMNS}, format='newline_delimited')"
    select = workload.duckdb_select.replace("FROM bids", f"FROM {source}")
    for text, replacement in (tables or {}).items():
        select = select.replace(text, replacement)
    started, cpu = time.perf_counter(), time.process_time()
    con.execute(f"COPY ({select}) TO '{out_path}' (FORMAT json)")
    elapsed = (time.perf_counter() - started, time.process_time() - cpu)
    result = con.sql(f"SELECT * FROM read_json_auto('{out_path}')").to_arrow_table()
    return elapsed, result.rename_columns([c.upper() for c in result.column_names])


def results_equal(ksqlite_rows: pa.Table, duckdb_rows: pa.Table, workload: Workload) -> bool:
    """Multiset equality: sort both by every column, exact on keys, 1e-6 relative on floats."""
    if ksqlite_rows.num_rows != duckdb_rows.num_rows:
        return False
    if ksqlite_rows.num_rows == 0:
        return True
    columns = list(workload.key_columns + workload.float_columns)
    order = [(c, "ascending") for c in columns]
    left = ksqlite_rows.select(columns).sort_by(order)
    right = duckdb_rows.select(columns).sort_by(order)
    for column in workload.key_columns:
        if left[column].to_pylist() != right[column].to_pylist():
            return False
    return all(np.allclose(_floats(left[c]), _floats(right[c]), rtol=1e-6, atol=1e-6)
               for c in workload.float_columns)


def _floats(column: pa.ChunkedArray) -> np.ndarray:
    return pc.cast(column, pa.float64()).to_numpy()


def run_workload(workload: Workload, events: int, work_dir: Path, bids: pa.Table, values: pa.Array,
                 bids_path: Path, repeat: int = 1) -> dict:
    """Time ksqlite and DuckDB on the workload `repeat` times, alternating, and keep each one's
    best run: on a shared machine the fastest run is the one least disturbed by others."""
    ksqlite_best = duckdb_best = eos_best = (float("inf"), float("inf"))
    eos_rows = None
    for attempt in range(repeat):
        seconds, ksqlite_rows, tables = _time_ksqlite(
            workload, work_dir / f"ksqlite-{workload.name}-{attempt}", bids, values)
        ksqlite_best = tuple(map(min, ksqlite_best, seconds))
        if EXACTLY_ONCE:
            seconds, eos_rows, _ = _time_ksqlite(workload, work_dir / f"ksqlite-eos-{workload.name}-{attempt}",
                                                 bids, values, EXACTLY_ONCE_PROPERTIES)
            eos_best = tuple(map(min, eos_best, seconds))
        seconds, duckdb_rows = run_duckdb(workload, bids_path, work_dir / f"{workload.name}.jsonl", tables)
        duckdb_best = tuple(map(min, duckdb_best, seconds))
    (ksqlite_wall, ksqlite_cpu), (duckdb_wall, duckdb_cpu) = ksqlite_best, duckdb_best
    # Wall time is the measure; CPU time (both engines run on one thread) is reported beside it
    # because it holds steady when other processes share the machine.
    result = {"ksqlite_eps": round(events / ksqlite_wall), "duckdb_eps": round(events / duckdb_wall),
              "ratio": round(duckdb_wall / ksqlite_wall, 4),
              "results_equal": results_equal(ksqlite_rows, duckdb_rows, workload),
              "cpu_ratio": round(duckdb_cpu / ksqlite_cpu, 4)}
    if eos_rows is not None:
        result.update(exactly_once_figures(events, ksqlite_best, eos_best, eos_rows, duckdb_rows, workload))
    return result


def exactly_once_figures(events: int, at_least_once: tuple[float, float], exactly_once: tuple[float, float],
                         rows: pa.Table, duckdb_rows: pa.Table, workload: Workload) -> dict:
    """exactly_once_v2 beside at-least-once: its throughput, and the ratio of the two (wall and
    CPU); its results must equal DuckDB's too (results_equal covers both)."""
    return {"eos_eps": round(events / exactly_once[0]),
            "eos_ratio": round(at_least_once[0] / exactly_once[0], 4),
            "eos_cpu_ratio": round(at_least_once[1] / exactly_once[1], 4),
            "eos_results_equal": results_equal(rows, duckdb_rows, workload)}


BOOTSTRAP_SERVERS: Optional[str] = None   # --bootstrap-servers: the log is this Kafka cluster
EXACTLY_ONCE = True                       # --no-exactly-once: skip the exactly_once_v2 runs


def _kafka_log():
    """None (the embedded log), or a Kafka log whose topics are this run's alone."""
    if not BOOTSTRAP_SERVERS:
        return None
    import uuid
    from pyksqlite.log.kafka.log import KafkaLog
    return KafkaLog(BOOTSTRAP_SERVERS, topic_prefix=f"bench-{uuid.uuid4().hex[:8]}.", delete_topics_on_close=True)


def _time_ksqlite(workload: Workload, data_dir: Path, bids: pa.Table, values: pa.Array,
                  properties: dict = ENGINE_PROPERTIES):
    """(seconds, the sink's rows, the DuckDB tables the workload's setup wrote)."""
    from pyksqlite import Engine
    engine = Engine(str(data_dir), properties=dict(properties), log=_kafka_log())
    try:
        produce_bids(engine.log, bids, values)
        engine.execute(BIDS_STREAM)
        tables = workload.setup(engine, data_dir.parent) if workload.setup else None
        seconds = run_ksqlite(engine, workload)
        rows = read_sink(engine.log, workload.sink_topic, workload.key_column, workload.windowed)
    finally:
        engine.close()
    return seconds, rows, tables


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--json", action="store_true", help="end with one JSON line of results")
    parser.add_argument("--workloads", default=",".join(WORKLOADS), help="comma-separated names")
    parser.add_argument("--repeat", type=int, default=3, help="runs per engine; the best counts")
    parser.add_argument("--bootstrap-servers", metavar="HOST:PORT",
                        help="run ksqlite on this Apache Kafka cluster instead of the embedded log")
    parser.add_argument("--no-exactly-once", action="store_true",
                        help="skip the exactly_once_v2 runs (and their eos_* figures)")
    args = parser.parse_args(argv)
    global BOOTSTRAP_SERVERS, EXACTLY_ONCE
    BOOTSTRAP_SERVERS = args.bootstrap_servers
    EXACTLY_ONCE = not args.no_exactly_once
    pa.set_cpu_count(1)
    pa.set_io_thread_count(1)
    names = [n.strip() for n in args.workloads.split(",") if n.strip()]
    unknown = [n for n in names if n not in WORKLOADS]
    if unknown:
        parser.error(f"unknown workloads {unknown}; known: {sorted(WORKLOADS)}")
    results = {}
    with tempfile.TemporaryDirectory(prefix="ksqlite-bench-") as scratch:
        work_dir = Path(scratch)
        bids = generate_bids(args.events)
        values = bid_json_values(bids)
        bids_path = work_dir / "bids.jsonl"
        write_json_lines(values, bids_path)
        print(f"{args.events} bids, {bids_path.stat().st_size / max(args.events, 1):.0f} bytes each", file=sys.stderr)
        for name in names:
            if name == "avro_filter":
                results[name] = run_avro_filter(args.events, work_dir, bids, args.repeat)
                print(f"{name}: {results[name]}", file=sys.stderr if args.json else sys.stdout)
                continue
            results[name] = run_workload(WORKLOADS[name], args.events, work_dir, bids, values, bids_path,
                                         args.repeat)
            print(f"{name}: {results[name]}", file=sys.stderr if args.json else sys.stdout)
    if args.json:
        print(orjson.dumps(results).decode())
    return 0 if all(r["results_equal"] and r.get("eos_results_equal", True) for r in results.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
