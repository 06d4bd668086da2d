"""Kafka's default partitioner: which partition a record goes to.

Keyed records go to `toPositive(murmur2(keyBytes)) % numPartitions`, bit-exact with Kafka's
`Utils.murmur2` (Java, 32-bit wrapping ints), so a topic written here is laid out as a Kafka
producer would lay it out. Keyless records are spread round-robin.

`murmur2` is the scalar reference; `murmur2_array` is the hot path: keys are grouped by length
and each length-group is hashed as one 2-D uint8 array with numpy uint32 arithmetic (which wraps
modulo 2**32 exactly like Java's int), so the Python loop runs over key length, not records.
"""
from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

SEED = 0x9747B28C
M = 0x5BD1E995
R = 24
MASK32 = 0xFFFFFFFF


def murmur2(data: bytes) -> int:
    """Kafka's `Utils.murmur2` as an unsigned 32-bit int (the Java int's bit pattern)."""
    length = len(data)
    h = (SEED ^ length) & MASK32
    whole = length & ~3
    for i in range(0, whole, 4):
        k = int.from_bytes(data[i:i + 4], "little")
        k = (k * M) & MASK32
        k ^= k >> R
        k = (k * M) & MASK32
        h = (h * M) & MASK32
        h ^= k
    tail = length & 3
    if tail == 3:
        h ^= data[whole + 2] << 16
    if tail >= 2:
        h ^= data[whole + 1] << 8
    if tail >= 1:
        h ^= data[whole]
        h = (h * M) & MASK32
    h ^= h >> 13
    h = (h * M) & MASK32
    h ^= h >> 15
    return h


def to_signed(h: int) -> int:
    """The Java int value of an unsigned 32-bit pattern (Kafka's tests quote signed values)."""
    return h - (1 << 32) if h & 0x80000000 else h


def partition_for_key(key: bytes, num_partitions: int) -> int:
    """Scalar reference of the keyed routing rule."""
    return (murmur2(key) & 0x7FFFFFFF) % num_partitions


def _murmur2_same_length(rows: np.ndarray) -> np.ndarray:
    """murmur2 of each row of an (n, length) uint8 array; returns uint32[n]."""
    n, length = rows.shape
    m = np.uint32(M)
    h = np.full(n, (SEED ^ length) & MASK32, dtype=np.uint32)
    whole = length & ~3
    if whole:
        words = np.ascontiguousarray(rows[:, :whole]).view("<u4").astype(np.uint32, copy=False)
        for i in range(whole // 4):
            k = words[:, i] * m
            k ^= k >> np.uint32(R)
            k *= m
            h *= m
            h ^= k
    tail = length & 3
    if tail == 3:
        h ^= rows[:, whole + 2].astype(np.uint32) << np.uint32(16)
    if tail >= 2:
        h ^= rows[:, whole + 1].astype(np.uint32) << np.uint32(8)
    if tail >= 1:
        h ^= rows[:, whole].astype(np.uint32)
        h *= m
    h ^= h >> np.uint32(13)
    h *= m
    h ^= h >> np.uint32(15)
    return h


def _binary_buffers(keys: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """(offsets int64[n+1], data uint8[]) of a binary array, without copying the data."""
    if pa.types.is_large_binary(keys.type):
        offset_type = np.int64
    else:
        keys = keys.cast(pa.binary()) if not pa.types.is_binary(keys.type) else keys
        offset_type = np.int32
    _, offsets_buf, data_buf = keys.buffers()
    offsets = np.frombuffer(offsets_buf, dtype=offset_type)[keys.offset:keys.offset + len(keys) + 1]
    data = np.frombuffer(data_buf, dtype=np.uint8) if data_buf is not None else np.empty(0, np.uint8)
    return offsets.astype(np.int64), data


def murmur2_array(keys: pa.Array) -> np.ndarray:
    """murmur2 of every key of a binary array as uint32 (null keys hash as empty: mask them)."""
    keys = keys.combine_chunks() if isinstance(keys, pa.ChunkedArray) else keys
    offsets, data = _binary_buffers(keys)
    starts = offsets[:-1]
    lengths = offsets[1:] - starts
    if len(keys) and (lengths == lengths[0]).all():   # one length: the data is already (n, length)
        return _murmur2_same_length(data[starts[0]:offsets[-1]].reshape(len(keys), int(lengths[0])))
    hashes = np.empty(len(keys), dtype=np.uint32)
    for length in np.unique(lengths):
        selected = np.flatnonzero(lengths == length)
        byte_index = starts[selected, None] + np.arange(length, dtype=np.int64)[None, :]
        hashes[selected] = _murmur2_same_length(data[byte_index])
    return hashes


def partitions_for_keys(keys: pa.Array, num_partitions: int, round_robin_start: int = 0) -> np.ndarray:
    """Partition (int32) of each record: murmur2 of keyed records, round-robin for null keys."""
    if keys.null_count == len(keys):  # keyless records only: nothing to hash
        return ((round_robin_start + np.arange(len(keys))) % num_partitions).astype(np.int32)
    hashes = murmur2_array(keys)
    partitions = ((hashes & np.uint32(0x7FFFFFFF)) % np.uint32(num_partitions)).astype(np.int32)
    if keys.null_count:
        keyless = np.asarray(pc.is_null(keys).to_numpy(zero_copy_only=False))
        count = int(keyless.sum())
        partitions[keyless] = (round_robin_start + np.arange(count)) % num_partitions
    return partitions
