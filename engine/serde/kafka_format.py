"""The KAFKA format: one column as Kafka's primitive serializers write it.

INTEGER is 4 bytes big-endian, BIGINT 8 bytes, DOUBLE an 8-byte IEEE 754 big-endian double,
STRING UTF-8 and BYTES the raw bytes. Fixed-width values are decoded by viewing the concatenated
value buffer with numpy (byte-swapped), so no Python step runs per record.
"""
from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from pyksqlite.common.schema import Column
from pyksqlite.serde.api import DecodeResult

# Big-endian numpy dtypes and Kafka's deserializer names (they name the wrong-size error).
FIXED_WIDTH = {
    "INTEGER": (np.dtype(">i4"), "IntegerDeserializer"),
    "BIGINT": (np.dtype(">i8"), "LongDeserializer"),
    "DOUBLE": (np.dtype(">f8"), "Deserializer"),
}
SUPPORTED_TYPES = ("INTEGER", "BIGINT", "DOUBLE", "STRING", "BYTES")


def decode_fixed_width(data: pa.Array, dtype: np.dtype) -> tuple[np.ndarray, np.ndarray]:
    """Values of the records that are exactly `dtype.itemsize` bytes, and that mask.

    Returns (values in native byte order for every row, zero where not decoded; a boolean mask of
    the rows decoded).
    """
    lengths = pc.binary_length(data).fill_null(-1).to_numpy(zero_copy_only=False)
    decodable = lengths == dtype.itemsize
    values = np.zeros(len(data), dtype=dtype.newbyteorder("="))
    if decodable.any():
        good = data.filter(pa.array(decodable))
        offsets = np.frombuffer(good.buffers()[1], dtype=np.int32, count=len(good) + 1, offset=good.offset * 4)
        raw = np.frombuffer(good.buffers()[2], dtype=np.uint8)[offsets[0]:offsets[-1]]
        values[decodable] = raw.view(dtype).astype(values.dtype)
    return values, decodable


def encode_fixed_width(values: pa.Array, dtype: np.dtype) -> pa.Array:
    """Each value as `dtype.itemsize` big-endian bytes; nulls stay null."""
    n = len(values)
    native = values.fill_null(0).to_numpy(zero_copy_only=False).astype(dtype)
    offsets = np.arange(n + 1, dtype=np.int32) * dtype.itemsize
    validity = values.buffers()[0] if values.null_count else None
    if validity is not None and values.offset:
        validity = pc.is_valid(values).buffers()[1]
    return pa.BinaryArray.from_buffers(pa.binary(), n, [validity, pa.py_buffer(offsets.tobytes()),
                                                        pa.py_buffer(native.tobytes())],
                                       null_count=values.null_count)


def _wrong_size_errors(data: pa.Array, decodable: np.ndarray, deserializer: str, width: int) -> dict[int, str]:
    wrong = np.flatnonzero(~decodable & data.is_valid().to_numpy(zero_copy_only=False))
    return {int(row): f"Size of data received by {deserializer} is not {width}" for row in wrong}


class KafkaSerde:
    """KAFKA serde of a single column of a primitive type."""

    def __init__(self, column: Column):
        self.column = column

    def deserialize(self, data: pa.Array) -> DecodeResult:
        if isinstance(data, pa.ChunkedArray):
            data = data.combine_chunks()
        base = self.column.type.base
        errors: dict[int, str] = {}
        if base in FIXED_WIDTH:
            dtype, deserializer = FIXED_WIDTH[base]
            values, decodable = decode_fixed_width(data, dtype)
            column = pa.array(values, mask=~decodable)
            errors = _wrong_size_errors(data, decodable, deserializer, dtype.itemsize)
        elif base == "STRING":
            column, errors = _utf8(data)
        else:
            column = data.cast(pa.binary())
        return DecodeResult(pa.table([column], names=[self.column.name]), errors)

    def serialize(self, columns: pa.Table) -> pa.Array:
        values = columns.column(0).combine_chunks()
        base = self.column.type.base
        if base in FIXED_WIDTH:
            return encode_fixed_width(values, FIXED_WIDTH[base][0])
        return values.cast(pa.binary())


def _utf8(data: pa.Array) -> tuple[pa.Array, dict[int, str]]:
    try:
        return data.cast(pa.string()), {}
    except pa.ArrowInvalid:
        return _utf8_per_record(data)


def _utf8_per_record(data: pa.Array) -> tuple[pa.Array, dict[int, str]]:
    """Error path only: find the records that are not UTF-8, one Python step per record."""
    texts, errors = [], {}
    for row, raw in enumerate(data.to_pylist()):
        try:
            texts.append(None if raw is None else raw.decode("utf-8"))
        except UnicodeDecodeError as error:
            texts.append(None)
            errors[row] = f"Error when deserializing byte[] to string: {error}"
    return pa.array(texts, pa.string()), errors
