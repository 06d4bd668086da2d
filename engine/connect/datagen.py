"""The datagen source connector (io.confluent.kafka.connect.datagen.DatagenConnector), embedded.

Config, as the connector's: `kafka.topic` (required), `quickstart` (one of `QUICKSTARTS`) or an
Avro schema with `arg.properties` (`schema.string`, or `schema.filename` in an allowed directory)
keyed by `schema.keyfield`; `max.interval` (ms, default 500: each record comes after a random
pause below it; 0 writes as fast as the log takes them), `iterations` (records to write, default
1000000; below 1: no end), `random.seed` (a run with a seed writes the same records every time),
key and value converters or formats (`pyksqlite.connect.formats`: the key is the key field's
value as a string, by default with StringConverter; values by default schemaless JSON).

Records are made in blocks of `BLOCK`, each from a generator seeded with (seed, block number),
so the values do not depend on how many records one step writes, and a restart resumes the
same sequence from the stored position (`{"current.iteration", "random.seed"}`, per task, in
the offsets topic). When the iterations are done the task stays RUNNING and idle.
"""
from __future__ import annotations

import json
import secrets
import time
from typing import Optional

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from pyksqlite.common.types import STRING
from pyksqlite.common.schema import Column
from pyksqlite.connect.api import ConnectError
from pyksqlite.connect.context import WorkerContext
from pyksqlite.connect.formats import RecordWriter, format_of
from pyksqlite.connect.generators import record_generator
from pyksqlite.connect.quickstarts import QUICKSTARTS

CLASS = "io.confluent.kafka.connect.datagen.DatagenConnector"
BLOCK = 1000
MAX_PER_STEP = 10_000
_PARTITION = {"task.id": 0}


def _int(config: dict[str, str], key: str, default: int) -> int:
    value = config.get(key)
    if value is None or str(value).strip() == "":
        return default
    try:
        return int(str(value).strip())
    except ValueError:
        raise ConnectError(400, f"Invalid value {value} for configuration {key}: Not a number of type "
                                f"{'LONG' if key != 'iterations' else 'INT'}") from None


class DatagenSource:
    def __init__(self, name: str, config: dict[str, str], context: WorkerContext):
        self.name, self.context = name, context
        self.topic = (config.get("kafka.topic") or "").strip()
        if not self.topic:
            raise ConnectError(400, 'Missing required configuration "kafka.topic" which has no default value.')
        schema, self.key_field = _schema(config, context)
        self.generator = record_generator(schema)
        names = [name for name, _ in self.generator.columns]
        if self.key_field and self.key_field not in names:
            raise ConnectError(400, f"schema.keyfield '{self.key_field}' is not a field of the schema "
                                    f"({', '.join(names)}).")
        self.max_interval = max(0, _int(config, "max.interval", 500)) / 1000
        self.iterations = _int(config, "iterations", 1_000_000)
        seed = config.get("random.seed")
        self.seed = _int(config, "random.seed", 0) if seed not in (None, "") else None
        self.key_format = format_of(config, "key", "KAFKA")
        self.value_format = format_of(config, "value", "JSON")
        self.config = config
        self.count = 0
        self._started = False
        self._block: Optional[tuple[int, pa.Table]] = None
        self._next_due = time.monotonic()
        self._pacing = np.random.default_rng()
        # Now, so that a stream can be declared on the topic (its schema found in the registry).
        context.ensure_topic(self.topic, config)
        self._writers = self._make_writers()

    # ------------------------------------------------------------------ the task
    def start(self) -> None:
        stored = self.context.offsets.get(self.name, _PARTITION)
        if stored:
            self.count = int(stored.get("current.iteration", 0))
            self.seed = int(stored.get("random.seed", self.seed or 0))
        elif self.seed is None:
            self.seed = secrets.randbits(63)
        self._started = True

    def _make_writers(self) -> tuple[RecordWriter, RecordWriter]:
        columns = [Column(name, sql_type) for name, sql_type in self.generator.columns]
        return (RecordWriter(self.key_format, [Column(self.key_field or "key", STRING)], True, self.topic,
                             self.context.registry, self.context.registry_token),
                RecordWriter(self.value_format, columns, False, self.topic, self.context.registry,
                             self.context.registry_token))

    def poll(self) -> int:
        if not self._started:
            self.start()
        count = self._due()
        if count == 0:
            return 0
        values = self._records(self.count, count)
        key_writer, value_writer = self._writers
        if self.key_field:
            keys = key_writer.write(pa.table({key_writer.columns[0].name:
                                              pc.cast(values.column(self.key_field), pa.string())}))
        else:
            keys = pa.nulls(count, pa.binary())
        self.context.append(self.topic, keys, value_writer.write(values))
        self.count += count
        self.context.offsets.put(self.name, _PARTITION, {"current.iteration": self.count, "random.seed": self.seed})
        return count

    def pending(self) -> bool:
        return self.iterations > 0 and self.count < self.iterations

    def positions(self) -> dict:
        return {}

    def topics(self) -> list[str]:
        return [self.topic]

    def close(self) -> None:
        pass

    # ------------------------------------------------------------------ records
    def _remaining(self) -> int:
        return MAX_PER_STEP if self.iterations <= 0 else max(0, self.iterations - self.count)

    def _due(self) -> int:
        """How many records are due now: each comes a random pause (below max.interval) after
        the one before it."""
        limit = min(self._remaining(), MAX_PER_STEP)
        if limit == 0 or self.max_interval == 0:
            return limit
        now = time.monotonic()
        if self._next_due > now:
            return 0
        self._next_due = max(self._next_due, now - 1.0)     # no burst after the engine was busy
        pauses = self._pacing.random(limit) * self.max_interval
        due_times = self._next_due + np.concatenate(([0.0], np.cumsum(pauses[:-1])))
        count = int(np.searchsorted(due_times, now, side="right"))
        self._next_due = due_times[count - 1] + pauses[count - 1]
        return count

    def _records(self, first: int, count: int) -> pa.Table:
        pieces = []
        position, end = first, first + count
        while position < end:
            block = position // BLOCK
            table = self._block_table(block)
            start = position - block * BLOCK
            take = min(end - position, BLOCK - start)
            pieces.append(table.slice(start, take))
            position += take
        return pa.concat_tables(pieces) if len(pieces) > 1 else pieces[0]

    def _block_table(self, block: int) -> pa.Table:
        if self._block is None or self._block[0] != block:
            rng = np.random.default_rng([self.seed, block])
            self._block = (block, self.generator.generate(rng, block * BLOCK, BLOCK))
        return self._block[1]


def _schema(config: dict[str, str], context: WorkerContext) -> tuple[dict, str]:
    quickstart = (config.get("quickstart") or "").strip().lower()
    keyfield = (config.get("schema.keyfield") or "").strip()
    if quickstart:
        if quickstart not in QUICKSTARTS:
            raise ConnectError(400, f"Invalid value {config['quickstart']} for configuration quickstart: "
                                    f"use one of {', '.join(QUICKSTARTS)}.")
        schema, default_key = QUICKSTARTS[quickstart]
        return schema, keyfield or default_key
    text = config.get("schema.string")
    if not text and config.get("schema.filename"):
        path = context.allowed_path(config["schema.filename"], "schema.filename")
        try:
            text = path.read_text()
        except OSError as error:
            raise ConnectError(400, f"Unable to read the '{path}' schema file: {error.strerror}") from None
    if not text:
        raise ConnectError(400, "The datagen connector needs a quickstart, schema.string or schema.filename.")
    try:
        return json.loads(text), keyfield
    except json.JSONDecodeError as error:
        raise ConnectError(400, f"The datagen schema is not JSON: {error}") from None
