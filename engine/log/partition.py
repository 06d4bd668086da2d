"""One partition of a topic: an ordered list of segments with consecutive offsets.

Appends take the partition lock (offsets are assigned under it; the Arrow encoding happens
before it). The segment list is replaced copy-on-write, never mutated, so readers work lock-free
from a snapshot: a segment deleted by retention or replaced by compaction stays readable
through the snapshot that still holds it.
"""
from __future__ import annotations

import bisect
import threading
from pathlib import Path
from typing import Optional

import numpy as np
import pyarrow as pa

from engine.log.api import CONSUME_SCHEMA
from engine.log.segment import (
    SUFFIX, BatchEntry, EncodedBatch, Segment, encode_batch, fsync_directory,
)

# Big appends are cut into batches of about this many bytes. A batch larger than segment_bytes
# gets a segment of its own.
MAX_BATCH_BYTES = 16 * 1024 * 1024


class Partition:
    """Segments of one partition, plus the offsets they hold."""

    def __init__(self, directory: Path, topic: str, index: int, segment_bytes: int, sync: bool):
        self.directory = directory
        self.topic = topic
        self.index = index
        self.segment_bytes = segment_bytes
        self.sync = sync
        self.lock = threading.Lock()
        self.segments: tuple[Segment, ...] = ()
        # Compaction reruns only after a roll or while closed segments still hold tombstones.
        self.compacted_through = -1
        self.tombstones_pending = False

    @classmethod
    def open(cls, directory: Path, topic: str, index: int, segment_bytes: int, sync: bool) -> "Partition":
        """Open (or create) the partition directory, recovering the active segment's tail."""
        directory.mkdir(parents=True, exist_ok=True)
        partition = cls(directory, topic, index, segment_bytes, sync)
        for leftover in directory.glob("*" + SUFFIX + ".*"):
            leftover.unlink()  # an unfinished compaction rewrite; the original is intact
        paths = sorted(directory.glob("*" + SUFFIX))
        segments = [Segment.open(p, recover=(i >= len(paths) - 2), writable=(i == len(paths) - 1))
                    for i, p in enumerate(paths)]
        partition.segments = tuple(segments) or (Segment.create(directory, 0),)
        return partition

    # --- offsets ---
    @property
    def active(self) -> Segment:
        return self.segments[-1]

    @property
    def end_offset(self) -> int:
        return self.active.next_offset

    @property
    def start_offset(self) -> int:
        for segment in self.segments:
            if segment.entries:
                return segment.entries[0].base_offset
        return self.end_offset

    @property
    def size_bytes(self) -> int:
        return sum(s.size for s in self.segments)

    # --- write ---
    def append(self, batch: pa.RecordBatch) -> None:
        """Append a STORED_SCHEMA batch with non-null timestamps, cut into a few disk batches."""
        encoded = [encode_batch(chunk) for chunk in self._chunks(batch)]
        with self.lock:
            for chunk in encoded:
                self._append_encoded(chunk)

    def _chunks(self, batch: pa.RecordBatch) -> list[pa.RecordBatch]:
        pieces = max(1, -(-batch.nbytes // MAX_BATCH_BYTES))
        rows = -(-batch.num_rows // pieces)
        return [batch.slice(start, rows) for start in range(0, batch.num_rows, rows)]

    def _append_encoded(self, encoded: EncodedBatch) -> None:
        active = self.active
        if active.size and active.size + encoded.payload.size > self.segment_bytes:
            active = self._roll()
        active.append(encoded, active.next_offset, self.sync)

    def _roll(self) -> Segment:
        """Close the active segment and start a new one at the next offset (under the lock)."""
        if self.sync:
            self.active.sync()
        self.active.seal()
        segment = Segment.create(self.directory, self.end_offset)
        if self.sync:
            fsync_directory(self.directory)
        self.segments = self.segments + (segment,)
        return segment

    def replace_segments(self, old: Segment, new: Optional[Segment]) -> None:
        """Swap (or drop, when `new` is None) a closed segment; used by retention and compaction."""
        with self.lock:
            self.segments = tuple(
                s for s in (new if seg is old else seg for seg in self.segments) if s is not None)

    # --- read ---
    def read(self, offset: int, max_records: int) -> pa.RecordBatch:
        """CONSUME_SCHEMA records from `offset` (or the next offset still present)."""
        pieces, offsets = [], []
        remaining = max_records
        for segment in self.segments:
            if remaining <= 0:
                break
            if segment.next_offset <= offset:
                continue
            entries = _entries_from(segment.entries, offset, remaining)
            for entry, stored in zip(entries, segment.read_batches(entries)):
                piece, piece_offsets = _slice_from(stored, entry, offset)
                pieces.append(piece.slice(0, remaining))
                offsets.append(piece_offsets[:remaining])
                remaining -= pieces[-1].num_rows
        return self._to_consume(pieces, offsets)

    def _to_consume(self, pieces: list[pa.RecordBatch], offsets: list[np.ndarray]) -> pa.RecordBatch:
        if not pieces:
            return _empty_consume()
        stored = pieces[0] if len(pieces) == 1 else pa.concat_batches(pieces)
        all_offsets = offsets[0] if len(offsets) == 1 else np.concatenate(offsets)
        n = stored.num_rows
        return pa.RecordBatch.from_arrays([
            pa.repeat(pa.scalar(self.topic, pa.string()), n),
            pa.repeat(pa.scalar(self.index, pa.int32()), n),
            pa.array(all_offsets),
            stored.column("key"), stored.column("value"),
            stored.column("timestamp"), stored.column("headers"),
        ], schema=CONSUME_SCHEMA)

    def offset_for_timestamp(self, timestamp_ms: int) -> int:
        """The first offset whose timestamp is >= timestamp_ms, else the end offset."""
        for segment in self.segments:
            entries = list(segment.entries)
            if not entries or max(e.max_timestamp for e in entries) < timestamp_ms:
                continue
            max_timestamps = np.fromiter((e.max_timestamp for e in entries), np.int64, len(entries))
            entry = entries[int(np.argmax(max_timestamps >= timestamp_ms))]
            stored = segment.read_batches([entry])[0]
            row = int(np.argmax(stored.column("timestamp").to_numpy() >= timestamp_ms))
            return int(offsets_of(stored, entry)[row])
        return self.end_offset

    def flush(self) -> None:
        with self.lock:
            self.active.sync()

    def close(self) -> None:
        for segment in self.segments:
            segment.close()


def _entries_from(entries: list[BatchEntry], offset: int, max_records: int) -> list[BatchEntry]:
    """The consecutive entries holding records at >= offset, enough for max_records."""
    entries = entries[:]  # a snapshot: batches appended after this point are not seen
    first = bisect.bisect_left(entries, offset, key=lambda e: e.last_offset)
    chosen, count = [], 0
    for entry in entries[first:]:
        chosen.append(entry)
        count += entry.record_count - max(0, offset - entry.base_offset)
        if count >= max_records:
            break
    return chosen


def offsets_of(stored: pa.RecordBatch, entry: BatchEntry) -> np.ndarray:
    if stored.schema.get_field_index("offset") >= 0:
        return stored.column("offset").to_numpy()
    return np.arange(entry.base_offset, entry.base_offset + stored.num_rows, dtype=np.int64)


def _slice_from(stored: pa.RecordBatch, entry: BatchEntry, offset: int) -> tuple[pa.RecordBatch, np.ndarray]:
    offsets = offsets_of(stored, entry)
    first = int(np.searchsorted(offsets, offset)) if offset > entry.base_offset else 0
    return stored.select(["timestamp", "key", "value", "headers"]).slice(first), offsets[first:]


def _empty_consume() -> pa.RecordBatch:
    return pa.RecordBatch.from_pylist([], schema=CONSUME_SCHEMA)
