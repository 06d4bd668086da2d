"""Windowed keys as Kafka Streams writes them: the inner key's bytes followed by the window.

A time-windowed key ends with the window start (8 bytes big-endian epoch ms); its end is the start
plus the window size, which the key does not carry. A session-windowed key ends with the window
end and then the start (8 bytes each). Decoded keys carry WINDOWSTART and WINDOWEND (BIGINT)
after the inner key columns.
"""
from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from pyksqlite.common.schema import WINDOWEND, WINDOWSTART
from pyksqlite.serde.api import DecodeResult, Serde
from pyksqlite.serde.kafka_format import decode_fixed_width, encode_fixed_width

_EPOCH_MS = np.dtype(">i8")


def _trailing_long(data: pa.Array, from_end: int) -> tuple[np.ndarray, np.ndarray]:
    """The 8-byte big-endian long ending `from_end` bytes before each record's end."""
    stop = -from_end if from_end else None
    window_bytes = pc.binary_slice(data, -8 - from_end, stop) if stop else pc.binary_slice(data, -8)
    return decode_fixed_width(window_bytes, _EPOCH_MS)


def _fixed_width_rows(data: pa.Array):
    """A binary array whose records all have one length (no nulls) as an (n, length) uint8 view."""
    if data.null_count or not pa.types.is_binary(data.type):
        return None
    n = len(data)
    if not n:
        return None
    offsets = np.frombuffer(data.buffers()[1], dtype=np.int32, count=n + 1, offset=data.offset * 4)
    width = int(offsets[1] - offsets[0])
    if not width or not (np.diff(offsets) == width).all():
        return None
    raw = np.frombuffer(data.buffers()[2], dtype=np.uint8)[offsets[0]:offsets[-1]]
    return raw.reshape(n, width)


def _joined_fixed_width(inner: pa.Array, suffix: pa.Array):
    """inner + suffix per record in one numpy copy, when both have fixed-width records (as a
    BIGINT or INT key and the window always do); None otherwise."""
    left, right = _fixed_width_rows(inner), _fixed_width_rows(suffix)
    if left is None or right is None:
        return None
    rows = np.concatenate([left, right], axis=1)
    n, width = rows.shape
    offsets = np.arange(n + 1, dtype=np.int32) * width
    return pa.BinaryArray.from_buffers(pa.binary(), n, [None, pa.py_buffer(offsets), pa.py_buffer(rows)])


class _WindowedSerde:
    """Shared framing: inner key bytes plus a fixed-size window suffix."""

    suffix_size = 8

    def __init__(self, inner: Serde):
        self.inner = inner

    def deserialize(self, data: pa.Array) -> DecodeResult:
        if isinstance(data, pa.ChunkedArray):
            data = data.combine_chunks()
        long_enough = pc.greater_equal(pc.binary_length(data), self.suffix_size).fill_null(True)
        inner_bytes = pc.if_else(long_enough, pc.binary_slice(data, 0, -self.suffix_size), pa.scalar(None, pa.binary()))
        decoded = self.inner.deserialize(inner_bytes)
        start, end, decodable = self._window(data)
        mask = ~decodable
        columns = decoded.columns.append_column(WINDOWSTART, pa.array(start, mask=mask))
        columns = columns.append_column(WINDOWEND, pa.array(end, mask=mask))
        errors = dict(decoded.errors)
        short = np.flatnonzero(~long_enough.to_numpy(zero_copy_only=False))
        errors.update({int(row): f"Windowed key is shorter than its {self.suffix_size}-byte window" for row in short})
        return DecodeResult(columns, errors)

    def serialize(self, columns: pa.Table) -> pa.Array:
        inner = self.inner.serialize(columns.drop_columns([WINDOWSTART, WINDOWEND])).fill_null(b"")
        suffix = self._suffix(columns.column(WINDOWSTART).combine_chunks().cast(pa.int64()),
                              columns.column(WINDOWEND).combine_chunks().cast(pa.int64()))
        if isinstance(inner, pa.ChunkedArray):
            inner = inner.combine_chunks()
        joined = _joined_fixed_width(inner, suffix)
        return joined if joined is not None else pc.binary_join_element_wise(inner, suffix, b"")

    def _window(self, data: pa.Array) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        raise NotImplementedError

    def _suffix(self, start: pa.Array, end: pa.Array) -> pa.Array:
        raise NotImplementedError


class TimeWindowedSerde(_WindowedSerde):
    """Tumbling/hopping window keys: inner key + 8-byte start; end = start + size."""

    def __init__(self, inner: Serde, window_size_ms: int):
        super().__init__(inner)
        self.window_size_ms = window_size_ms

    def _window(self, data):
        start, decodable = _trailing_long(data, 0)
        return start, start + self.window_size_ms, decodable

    def _suffix(self, start, end):
        return encode_fixed_width(start, _EPOCH_MS)


class SessionWindowedSerde(_WindowedSerde):
    """Session window keys: inner key + 8-byte end + 8-byte start."""

    suffix_size = 16

    def _window(self, data):
        start, start_ok = _trailing_long(data, 0)
        end, end_ok = _trailing_long(data, 8)
        return start, end, start_ok & end_ok

    def _suffix(self, start, end):
        return pc.binary_join_element_wise(encode_fixed_width(end, _EPOCH_MS),
                                           encode_fixed_width(start, _EPOCH_MS), b"")
