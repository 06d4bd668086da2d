"""Between Arrow batches and librdkafka's messages, for the Kafka log.

librdkafka moves one message per call in both directions (`produce`, `Message` objects out of
`consume`), so these are the two places where ksqlite's Kafka log touches records one by one; both
keep the per-record work to the client's own calls: columns go in as Python lists built by Arrow
(`to_pylist`), and come out as lists built by comprehensions, then one `pa.array` per column.

librdkafka reads a produce timestamp of 0 as "now", so a record whose timestamp is 0 (QTT's
favourite ROWTIME) is sent with the header `ZERO_TIMESTAMP_HEADER` and read back with timestamp 0
and without that header.
"""
from __future__ import annotations

from typing import Optional

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from pyksqlite.log.api import CONSUME_SCHEMA, HEADER_TYPE

ZERO_TIMESTAMP_HEADER = "__ksqlite.timestamp.zero"
_ZERO_TIMESTAMP = (ZERO_TIMESTAMP_HEADER, b"")


def produce_headers(headers: pa.Array, timestamps: np.ndarray) -> Optional[list]:
    """Per record, librdkafka's headers (a list of (key, value) pairs, or None); None for all when
    no record has headers and no timestamp is 0 (the common, fast case)."""
    zero = timestamps == 0
    if headers.null_count == len(headers) and not zero.any():
        return None
    out = [None if h is None else [(p["key"], p["value"]) for p in h] for h in headers.to_pylist()]
    for index in np.flatnonzero(zero).tolist():
        out[index] = (out[index] or []) + [_ZERO_TIMESTAMP]
    return out


def messages_to_batch(messages: list, topic_names: dict[str, str]) -> pa.RecordBatch:
    """CONSUME_SCHEMA batch of librdkafka messages (none of them an error event); `topic_names`
    maps a topic's name on the broker to the name the engine knows it by."""
    topics = [m.topic() for m in messages]
    if topic_names:
        topics = [topic_names.get(t, t) for t in topics]
    timestamps = pa.array([m.timestamp()[1] for m in messages], pa.int64())
    raw_headers = [m.headers() for m in messages]
    if any(h is not None for h in raw_headers):
        headers, timestamps = _consumed_headers(raw_headers, timestamps)
    else:
        headers = pa.nulls(len(messages), HEADER_TYPE)
    return pa.RecordBatch.from_arrays([
        pa.array(topics, pa.string()),
        pa.array([m.partition() for m in messages], pa.int32()),
        pa.array([m.offset() for m in messages], pa.int64()),
        pa.array([m.key() for m in messages], pa.binary()),
        pa.array([m.value() for m in messages], pa.binary()),
        timestamps,
        headers,
    ], schema=CONSUME_SCHEMA)


def _consumed_headers(raw: list, timestamps: pa.Array) -> tuple[pa.Array, pa.Array]:
    zero_rows = []
    out = []
    for index, pairs in enumerate(raw):
        if pairs is None:
            out.append(None)
            continue
        if any(k == ZERO_TIMESTAMP_HEADER for k, _ in pairs):
            zero_rows.append(index)
            pairs = [p for p in pairs if p[0] != ZERO_TIMESTAMP_HEADER]
            if not pairs:
                out.append(None)
                continue
        out.append([{"key": k, "value": v} for k, v in pairs])
    if zero_rows:
        mask = np.zeros(len(raw), dtype=bool)
        mask[zero_rows] = True
        timestamps = pc.if_else(pa.array(mask), pa.scalar(0, pa.int64()), timestamps)
    return pa.array(out, HEADER_TYPE), timestamps


def empty_batch() -> pa.RecordBatch:
    return pa.RecordBatch.from_pylist([], schema=CONSUME_SCHEMA)
