"""A loose throughput guard: 1M small records append and read in batches of 50k."""
import time

import numpy as np
import pyarrow as pa

from pyksqlite.log import EmbeddedLog, TopicConfig

RECORDS, BATCH = 1_000_000, 50_000


def make_batch(start: int) -> pa.Table:
    keys = np.arange(start, start + BATCH, dtype=np.int64).view(np.uint8).reshape(-1, 8)
    key_offsets = np.arange(0, 8 * BATCH + 1, 8, dtype=np.int32)
    value_offsets = np.arange(0, 200 * BATCH + 1, 200, dtype=np.int32)
    return pa.table({
        "key": pa.Array.from_buffers(pa.binary(), BATCH, [None, pa.py_buffer(key_offsets), pa.py_buffer(keys.tobytes())]),
        "value": pa.Array.from_buffers(pa.binary(), BATCH, [None, pa.py_buffer(value_offsets), pa.py_buffer(b"v" * 200 * BATCH)]),
        "timestamp": pa.array(np.arange(start, start + BATCH, dtype=np.int64)),
    })


def test_million_records_append_and_read_fast(tmp_path):
    log = EmbeddedLog(tmp_path, flush="none")
    log.create_topic("t", TopicConfig(partitions=4))
    batches = [make_batch(start) for start in range(0, RECORDS, BATCH)]
    started = time.perf_counter()
    for batch in batches:
        log.append("t", batch)
    append_seconds = time.perf_counter() - started
    started = time.perf_counter()
    consumer = log.consumer("g", ["t"])
    read = 0
    while (batch := consumer.poll(BATCH)) is not None:
        read += batch.num_rows
    read_seconds = time.perf_counter() - started
    assert read == RECORDS
    print(f"append {RECORDS / append_seconds:,.0f} rec/s, read {RECORDS / read_seconds:,.0f} rec/s")
    assert append_seconds < 3 and read_seconds < 3  # target ~0.3 s each; loose for busy machines
