"""Builders of produce batches shared by the log tests."""
from __future__ import annotations

import pyarrow as pa

from pyksqlite.log.api import PRODUCE_SCHEMA


def records(keys, values, timestamps=None) -> pa.Table:
    """A PRODUCE_SCHEMA table; keys/values are str, bytes or None."""
    def encode(items):
        return [x.encode() if isinstance(x, str) else x for x in items]
    timestamps = list(range(len(keys))) if timestamps is None else timestamps
    return pa.table({
        "key": pa.array(encode(keys), pa.binary()),
        "value": pa.array(encode(values), pa.binary()),
        "timestamp": pa.array(timestamps, pa.int64()),
        "headers": pa.nulls(len(keys), PRODUCE_SCHEMA.field("headers").type),
    })


def values_of(batch: pa.RecordBatch) -> list:
    return [v.decode() if v is not None else None for v in batch.column("value").to_pylist()]
