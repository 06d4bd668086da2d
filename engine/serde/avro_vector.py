"""Vectorized Avro for flat records: a whole batch decoded or encoded with numpy, no Python per record.

Avro has no per-field offsets, so records are walked field by field for all rows at once: a
position array holds each record's cursor, and each field reads (varints, fixed 4/8 bytes,
length-prefixed bytes) at every cursor in one numpy step. Supports records whose fields are
boolean, int, long, float, double, string, bytes (date, time-millis, timestamp-millis as their
int/long), each plain or a union with null. Other schemas return None from `plan` and use
fastavro. Rows that do not parse exactly (a cursor past the record's end, or not at its end
afterwards) are reported so the caller decodes just those one by one and gets fastavro's error.
"""
from __future__ import annotations

from typing import Any, Optional

import numpy as np
import pyarrow as pa

_KINDS = {"boolean", "int", "long", "float", "double", "string", "bytes"}
_LOGICAL = {"date": pa.date32(), "time-millis": pa.time32("ms"), "timestamp-millis": pa.timestamp("ms", tz="UTC")}


def plan(schema: Any) -> Optional[list[tuple[str, str, int, Optional[pa.DataType]]]]:
    """[(field, kind, null branch index or -1, logical Arrow type)] for a flat record, else None."""
    if not isinstance(schema, dict) or schema.get("type") != "record":
        return None
    out = []
    for field in schema["fields"]:
        t, null_index = field["type"], -1
        if isinstance(t, list):
            if len(t) != 2 or "null" not in t:
                return None
            null_index = t.index("null")
            t = t[1 - null_index]
        logical = None
        if isinstance(t, dict):
            logical = t.get("logicalType")
            if set(t) - {"type", "logicalType", "connect.name", "connect.version"} or (logical and logical not in _LOGICAL):
                return None
            t = t.get("type")
        if t not in _KINDS:
            return None
        out.append((field["name"], t, null_index, _LOGICAL.get(logical)))
    return out


def _read_varints(buf: np.ndarray, pos: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(zigzag-decoded int64 values, byte lengths) of the varints at `pos`."""
    result = np.zeros(len(pos), dtype=np.uint64)
    length = np.zeros(len(pos), dtype=np.int64)
    active = np.ones(len(pos), dtype=bool)
    for k in range(10):
        if not active.any():
            break
        byte = buf[pos + k].astype(np.uint64)
        result |= np.where(active, (byte & np.uint64(0x7F)) << np.uint64(7 * k), np.uint64(0))
        length += active
        active &= (byte & np.uint64(0x80)) != 0
    signed = (result >> np.uint64(1)).astype(np.int64) ^ -(result & np.uint64(1)).astype(np.int64)
    return signed, length


def decode(buf: np.ndarray, starts: np.ndarray, ends: np.ndarray, fields, arrow_type: pa.StructType):
    """(StructArray, mask of rows that did not parse) for payloads buf[starts:ends]."""
    n = len(starts)
    padded = np.concatenate([buf, np.zeros(16, np.uint8)])
    limit = len(buf)
    pos = starts.astype(np.int64).copy()
    bad = np.zeros(n, dtype=bool)
    children = []
    for name, kind, null_index, logical in fields:
        pos = np.minimum(pos, limit)
        present = np.ones(n, dtype=bool)
        if null_index >= 0:
            branch, length = _read_varints(padded, pos)
            pos += length
            present = branch != null_index
            bad |= (branch != 0) & (branch != 1)
        pos = np.minimum(pos, limit)
        if kind in ("int", "long"):
            values, length = _read_varints(padded, pos)
            pos += np.where(present, length, 0)
            array = pa.array(values.astype(np.int32 if kind == "int" else np.int64), mask=~present)
        elif kind in ("float", "double"):
            width = 4 if kind == "float" else 8
            index = pos[:, None] + np.arange(width)
            raw = padded[index].copy().view("<f4" if width == 4 else "<f8").ravel()
            pos += np.where(present, width, 0)
            array = pa.array(raw, mask=~present)
        elif kind == "boolean":
            array = pa.array(padded[pos] != 0, mask=~present)
            bad |= present & (padded[pos] > 1)
            pos += present
        else:
            size, length = _read_varints(padded, pos)
            size = np.where(present, size, 0)
            bad |= size < 0
            size = np.maximum(size, 0)
            pos += np.where(present, length, 0)
            offsets = np.zeros(n + 1, dtype=np.int64)
            np.cumsum(size, out=offsets[1:])
            total = int(offsets[-1])
            within = np.arange(total, dtype=np.int64) - np.repeat(offsets[:-1], size)
            gather = np.repeat(pos, size) + within
            bad |= pos + size > ends
            data = padded[np.minimum(gather, limit)] if total else np.zeros(0, np.uint8)
            pos += size
            typ = pa.large_string() if kind == "string" else pa.large_binary()
            validity = None if present.all() else pa.array(present).buffers()[1]
            array = pa.Array.from_buffers(typ, n, [validity, pa.py_buffer(offsets.tobytes()),
                                                  pa.py_buffer(data.tobytes())])
            if kind == "string":   # bytes that are not UTF-8 are not a string: fastavro reports them
                bad |= _invalid_utf8_rows(array)
            array = array.cast(pa.string() if kind == "string" else pa.binary(), safe=False)
        if logical is not None:
            array = array.cast(pa.int64() if pa.types.is_timestamp(logical) else array.type).cast(logical)
        children.append(array)
    bad |= pos != ends
    struct = pa.StructArray.from_arrays(children, fields=list(arrow_type))
    return struct, bad


def _invalid_utf8_rows(strings: pa.Array) -> np.ndarray:
    """Which rows of a string array built from raw bytes hold invalid UTF-8: one full validation
    of the whole array, and halves of it only when that fails."""
    bad = np.zeros(len(strings), dtype=bool)
    pending = [(0, len(strings))]
    while pending:
        start, end = pending.pop()
        try:
            strings.slice(start, end - start).validate(full=True)
        except pa.ArrowInvalid:
            if end - start == 1:
                bad[start] = True
            else:
                middle = (start + end) // 2
                pending += [(start, middle), (middle, end)]
    return bad


def _varint_segment(values: np.ndarray, valid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(per-row byte counts, bytes) of zigzag varints, no bytes for invalid rows."""
    v = values.astype(np.int64)
    zz = ((v << 1) ^ (v >> 63)).astype(np.uint64)
    count = np.ones(len(v), dtype=np.int64)
    for k in range(1, 10):
        count += zz >= (np.uint64(1) << np.uint64(7 * k))
    count = np.where(valid, count, 0)
    k = np.arange(10, dtype=np.uint64)
    groups = ((zz[:, None] >> (np.uint64(7) * k)) & np.uint64(0x7F)).astype(np.uint8)
    more = k[None, :].astype(np.int64) < (count[:, None] - 1)
    groups |= np.where(more, 0x80, 0).astype(np.uint8)
    keep = k[None, :].astype(np.int64) < count[:, None]
    return count, groups[keep]


def encode(struct: pa.StructArray, fields) -> pa.Array:
    """Avro bytes of each row of `struct` (fields in the plan's order and types)."""
    n = len(struct)
    segments: list[tuple[np.ndarray, np.ndarray]] = []
    for i, (name, kind, null_index, logical) in enumerate(fields):
        column = struct.field(i)
        if logical is not None:
            column = column.cast(pa.int64() if pa.types.is_timestamp(logical) else
                                 (pa.int32()))
        valid = np.ones(n, dtype=bool) if column.null_count == 0 else np.asarray(column.is_valid())
        if null_index >= 0:
            branch = np.where(valid, 1 - null_index, null_index)
            segments.append(_varint_segment(branch, np.ones(n, dtype=bool)))
        elif not valid.all():
            raise ValueError(f"null value for non-optional field {name}")
        if kind in ("int", "long"):
            segments.append(_varint_segment(np.asarray(column.fill_null(0)), valid))
        elif kind in ("float", "double"):
            width = 4 if kind == "float" else 8
            raw = np.asarray(column.fill_null(0)).astype("<f4" if width == 4 else "<f8")
            data = raw.view(np.uint8).reshape(n, width)[valid].ravel()
            segments.append((np.where(valid, width, 0), data))
        elif kind == "boolean":
            data = np.asarray(column.fill_null(False)).astype(np.uint8)[valid]
            segments.append((valid.astype(np.int64), data))
        else:
            column = column.cast(pa.large_binary())
            offsets = np.frombuffer(column.buffers()[1], dtype=np.int64, count=n + 1, offset=column.offset * 8)
            sizes = np.where(valid, np.diff(offsets), 0)
            segments.append(_varint_segment(sizes, valid))
            buffer = column.buffers()[2]
            data = np.frombuffer(buffer, dtype=np.uint8) if buffer is not None else np.zeros(0, np.uint8)
            within = np.arange(int(sizes.sum()), dtype=np.int64) - np.repeat(np.cumsum(sizes) - sizes, sizes)
            segments.append((sizes, data[np.repeat(offsets[:-1], sizes) + within]))
    row_lengths = np.zeros(n, dtype=np.int64)
    for counts, _ in segments:
        row_lengths += counts
    out_offsets = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(row_lengths, out=out_offsets[1:])
    out = np.empty(int(out_offsets[-1]), dtype=np.uint8)
    cursor = out_offsets[:-1].copy()
    for counts, data in segments:
        if len(data):
            within = np.arange(len(data), dtype=np.int64) - np.repeat(np.cumsum(counts) - counts, counts)
            out[np.repeat(cursor, counts) + within] = data
        cursor += counts
    return pa.Array.from_buffers(pa.large_binary(), n, [None, pa.py_buffer(out_offsets.tobytes()),
                                                        pa.py_buffer(out.tobytes())]).cast(pa.binary())
