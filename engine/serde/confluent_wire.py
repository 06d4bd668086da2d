"""Confluent's wire format around schema-registry payloads: magic byte 0, 4-byte big-endian
schema id, then the payload. Headers of a whole batch are read and written with numpy."""
from __future__ import annotations

import numpy as np
import pyarrow as pa

MAGIC = 0
HEADER_SIZE = 5
UNKNOWN_MAGIC = "Unknown magic byte!"


def binary_parts(data: pa.Array) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(offsets int64[n+1], buffer uint8, valid bool[n]) of a binary array."""
    if isinstance(data, pa.ChunkedArray):
        data = data.combine_chunks()
    if data.type != pa.binary():
        data = data.cast(pa.binary())
    n = len(data)
    valid = np.ones(n, dtype=bool) if data.null_count == 0 else np.asarray(data.is_valid())
    offsets = np.frombuffer(data.buffers()[1], dtype=np.int32, count=n + 1, offset=data.offset * 4).astype(np.int64)
    buffer = data.buffers()[2]
    values = np.frombuffer(buffer, dtype=np.uint8) if buffer is not None else np.zeros(0, np.uint8)
    return offsets, values, valid


def read_headers(data: pa.Array) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per record: schema id (-1 if absent), payload start, payload end, and a mask of records
    whose header is not Confluent's (present but too short or a wrong magic byte)."""
    offsets, values, valid = binary_parts(data)
    starts, ends = offsets[:-1], offsets[1:]
    long_enough = valid & (ends - starts >= HEADER_SIZE)
    safe = np.where(long_enough, starts, 0)
    padded = np.concatenate([values, np.zeros(HEADER_SIZE, np.uint8)])
    magic_ok = long_enough & (padded[safe] == MAGIC)
    ids = np.zeros(len(starts), dtype=np.int64)
    for k in range(1, 5):
        ids = (ids << 8) | padded[safe + k].astype(np.int64)
    ids = np.where(magic_ok, ids, -1)
    bad = valid & ~magic_ok
    return ids, starts + HEADER_SIZE, ends, bad


def header(schema_id: int) -> bytes:
    return bytes([MAGIC]) + int(schema_id).to_bytes(4, "big")


def prefix_all(payloads: pa.Array, prefix: bytes) -> pa.Array:
    """`prefix` before every non-null payload, vectorized."""
    offsets, values, valid = binary_parts(payloads)
    n = len(offsets) - 1
    lengths = np.diff(offsets)
    new_lengths = np.where(valid, lengths + len(prefix), 0)
    new_offsets = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(new_lengths, out=new_offsets[1:])
    out = np.empty(int(new_offsets[-1]), dtype=np.uint8)
    rows = np.nonzero(valid)[0]
    if len(rows):
        heads = new_offsets[rows]
        for k, byte in enumerate(prefix):
            out[heads + k] = byte
        body_rows = np.repeat(rows, lengths[rows])
        if len(body_rows):
            within = np.arange(len(body_rows)) - np.repeat(np.cumsum(lengths[rows]) - lengths[rows], lengths[rows])
            out[new_offsets[body_rows] + len(prefix) + within] = values[offsets[body_rows] + within]
    validity = None if valid.all() else pa.array(valid, pa.bool_()).buffers()[1]
    return pa.Array.from_buffers(pa.large_binary(), n, [validity,
                                                         pa.py_buffer(new_offsets.tobytes()), pa.py_buffer(out.tobytes())],
                                 null_count=int((~valid).sum())).cast(pa.binary())
