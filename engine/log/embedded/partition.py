"""One partition of a topic: an ordered list of segments with consecutive offsets.

Appends take the partition lock (offsets are assigned under it; the Arrow encoding happens
before it) and are all-or-nothing: `prepare` writes the batches (and syncs them, with the flush
policy "batch") without showing them, `publish` shows them, `abort` cuts them off again. A
failed write leaves the files and the index as they were, and the caller gets the error. The
high-water offset (see `recovery`) is written as the batches are shown, after every partition
of the append is written and synced, so it never runs ahead of what is durable.

The segment list is replaced copy-on-write, never mutated, so readers work lock-free from a
snapshot: a segment deleted by retention or replaced by compaction stays readable through the
snapshot that still holds it. Reads check each batch's CRC the first time they meet it and stop
before damaged offsets; reading at damaged offsets raises `CorruptRecordError`.
"""
from __future__ import annotations

import bisect
import logging
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import numpy as np
import pyarrow as pa

from pyksqlite.log.api import CONSUME_SCHEMA, CorruptRecordError, LogAppendError
from pyksqlite.log.embedded.recovery import DamagedRange, HighWater, ScannedSegment, recover
from pyksqlite.log.embedded.segment import (
    SUFFIX, BatchEntry, EncodedBatch, Segment, encode_batch, fsync_directory,
)

logger = logging.getLogger("ksqlite.log")

# Big appends are cut into batches of about this many bytes. A batch larger than segment_bytes
# gets a segment of its own.
MAX_BATCH_BYTES = 16 * 1024 * 1024


@dataclass
class PendingAppend:
    """Batches written by `prepare`, not yet shown to readers."""
    end_offset: int
    new_segments: list[Segment] = field(default_factory=list)


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
        self.damaged: tuple[DamagedRange, ...] = ()   # sorted by first offset
        self._high_water: Optional[HighWater] = None
        # Compaction reruns only after a roll or while closed segments still hold tombstones.
        self.compacted_through = -1
        self.tombstones_pending = False

    @classmethod
    def open(cls, directory: Path, topic: str, index: int, segment_bytes: int, sync: bool,
             committed_end: Optional[int] = None) -> "Partition":
        """Open (or create) the partition directory, recovering after a crash (see `recovery`;
        `committed_end`: where committed transactions' batches end in it)."""
        directory.mkdir(parents=True, exist_ok=True)
        partition = cls(directory, topic, index, segment_bytes, sync)
        for leftover in directory.glob("*" + SUFFIX + ".*"):
            leftover.unlink()  # an unfinished compaction rewrite; the original is intact
        high_water = HighWater(directory)
        recovered = recover(directory, partition.label, high_water.read(), committed_end)
        segments = [_opened(s, writable=False, verified=False) for s in recovered.closed]
        if recovered.active is not None:
            segments.append(_opened(recovered.active, writable=True, verified=True))
        else:
            segments.append(Segment.create(directory, recovered.end_offset))
            fsync_directory(directory)
        high_water.write(recovered.end_offset)
        partition.segments = tuple(segments)
        partition.damaged = tuple(recovered.damaged)
        partition._high_water = high_water
        return partition

    @property
    def label(self) -> str:
        return f"topic '{self.topic}' partition {self.index}"

    # --- offsets ---
    @property
    def active(self) -> Segment:
        return self.segments[-1]

    @property
    def end_offset(self) -> int:
        return self.active.next_offset

    @property
    def start_offset(self) -> int:
        """The first offset held, or damaged: damaged records are reported, not skipped."""
        first_damaged = self.damaged[0].first if self.damaged else None
        for segment in self.segments:
            if segment.entries:
                first = segment.entries[0].base_offset
                return first if first_damaged is None else min(first, first_damaged)
        return self.end_offset if first_damaged is None else min(self.end_offset, first_damaged)

    @property
    def size_bytes(self) -> int:
        return sum(s.size for s in self.segments)

    # --- write ---
    def append(self, batch: pa.RecordBatch) -> None:
        """Append a STORED_SCHEMA batch with non-null timestamps, cut into a few disk batches;
        all of it or (raising LogAppendError) none of it."""
        encoded = self.encode(batch)
        with self.lock:
            self.publish(self.prepare(encoded))

    def encode(self, batch: pa.RecordBatch, transactional: bool = False) -> list[EncodedBatch]:
        pieces = max(1, -(-batch.nbytes // MAX_BATCH_BYTES))
        rows = -(-batch.num_rows // pieces)
        return [encode_batch(batch.slice(start, rows), transactional=transactional)
                for start in range(0, batch.num_rows, rows)]

    def prepare(self, encoded: list[EncodedBatch]) -> PendingAppend:
        """Write (and with flush "batch", sync) the batches, unseen by readers. Holds the lock.
        On failure everything written is cut off again and LogAppendError is raised."""
        pending = PendingAppend(self.end_offset)
        try:
            target = self.active
            for chunk in encoded:
                if target.written_size and target.written_size + chunk.payload.size > self.segment_bytes:
                    target = Segment.create(self.directory, pending.end_offset)
                    pending.new_segments.append(target)
                target.write(chunk, pending.end_offset)
                pending.end_offset += chunk.last_offset_delta + 1
            if self.sync:
                for segment in (self.active, *pending.new_segments):
                    segment.sync()
                if pending.new_segments:
                    fsync_directory(self.directory)
        except OSError as error:
            self.abort(pending)
            raise LogAppendError(self.topic, self.index, error) from error
        except BaseException:
            self.abort(pending)
            raise
        return pending

    def publish(self, pending: PendingAppend) -> None:
        """Show prepared batches to readers. Holds the lock."""
        try:
            self._high_water.write(pending.end_offset)
        except OSError as error:  # an overwrite in place: not expected to fail; if it does, the
            # next open checks the end against an older high-water offset (no false alarm)
            logger.warning("%s: cannot record the high-water offset: %s", self.label, error)
        self.active.publish()
        if pending.new_segments:
            for segment in pending.new_segments:
                segment.publish()
            previous = self.segments
            self.segments = previous + tuple(pending.new_segments)
            for segment in (previous[-1], *pending.new_segments[:-1]):
                segment.seal()

    def abort(self, pending: PendingAppend) -> None:
        """Cut prepared batches off again. Holds the lock."""
        self.active.rollback()
        for segment in pending.new_segments:
            segment.close()
            segment.delete()

    def replace_segments(self, old: Segment, new: Optional[Segment]) -> None:
        """Swap (or drop, when `new` is None) a closed segment; used by retention and compaction."""
        with self.lock:
            self.segments = tuple(
                s for s in (new if seg is old else seg for seg in self.segments) if s is not None)
            start = self.segments[0].base_offset
            self.damaged = tuple(d for d in self.damaged if d.last >= start)  # deleted with their segments

    def damage_before(self, offset: int) -> Optional[CorruptRecordError]:
        """The error for the first damaged range below `offset`, if any."""
        if self.damaged and self.damaged[0].first < offset:
            return self._corrupt(self.damaged[0])
        return None

    # --- read ---
    def read(self, offset: int, max_records: int) -> pa.RecordBatch:
        """CONSUME_SCHEMA records from `offset` (or the next offset still present), stopping
        before damaged offsets; CorruptRecordError if the records at `offset` are damaged."""
        damage = self._damage_from(offset)
        if damage is not None and damage.first <= offset:
            raise self._corrupt(damage)
        limit = damage.first if damage is not None else None
        pieces, offsets = [], []
        remaining = max_records
        for segment in self.segments:
            if remaining <= 0 or (limit is not None and segment.base_offset >= limit):
                break
            if segment.next_offset <= offset:
                continue
            entries = _entries_from(segment.entries, offset, remaining)
            if limit is not None:
                entries = [e for e in entries if e.base_offset < limit]
            stored_batches, bad = segment.read_batches(entries)
            for entry, stored in zip(entries, stored_batches):
                piece, piece_offsets = _slice_from(stored, entry, offset)
                pieces.append(piece.slice(0, remaining))
                offsets.append(piece_offsets[:remaining])
                remaining -= pieces[-1].num_rows
            if bad is not None:
                damage = self._record_damage(segment, bad)
                break
        if not pieces and damage is not None:
            raise self._corrupt(damage)  # nothing readable before it
        return self._to_consume(pieces, offsets)

    def verified_batches(self, segment: Segment, entries: list[BatchEntry]) -> list[pa.RecordBatch]:
        """The stored batches of `entries`, CRC-checked; CorruptRecordError if one is damaged."""
        batches, bad = segment.read_batches(entries)
        if bad is not None:
            raise self._corrupt(self._record_damage(segment, bad))
        return batches

    def _damage_from(self, offset: int) -> Optional[DamagedRange]:
        """The first damaged range that ends at or after `offset`."""
        for damage in self.damaged:
            if damage.last >= offset:
                return damage
        return None

    def _record_damage(self, segment: Segment, bad: BatchEntry) -> DamagedRange:
        """A batch failed its CRC: its offsets (from after the batch before it to before the
        batch after it, as its own header cannot be trusted) become a damaged range."""
        entries = segment.entries
        index = entries.index(bad)
        first = entries[index - 1].last_offset + 1 if index else segment.base_offset
        later = [s for s in self.segments if s.base_offset > segment.base_offset]
        last = entries[index + 1].base_offset - 1 if index + 1 < len(entries) else \
            (later[0].base_offset - 1 if later else bad.last_offset)
        damage = DamagedRange(first, max(first, last), f"checksum mismatch (bytes {bad.position}-"
                                                      f"{bad.position + bad.size - 1} of {segment.path.name})")
        if damage not in self.damaged:
            logger.error("%s: offsets %d-%d are damaged: %s", self.label, damage.first, damage.last, damage.reason)
            self.damaged = tuple(sorted(self.damaged + (damage,)))
        return damage

    def _corrupt(self, damage: DamagedRange) -> CorruptRecordError:
        return CorruptRecordError(self.topic, self.index, damage.first, damage.last, damage.reason)

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
            stored = self.verified_batches(segment, [entry])[0]
            row = int(np.argmax(stored.column("timestamp").to_numpy() >= timestamp_ms))
            return int(offsets_of(stored, entry)[row])
        return self.end_offset

    def flush(self) -> None:
        with self.lock:
            self.active.sync()

    def close(self) -> None:
        for segment in self.segments:
            segment.close()
        if self._high_water is not None:
            self._high_water.close()


def _opened(scanned: ScannedSegment, writable: bool, verified: bool) -> Segment:
    size = scanned.whole_size if writable else scanned.scan.file_size
    return Segment(scanned.path, scanned.base_offset, scanned.scan.entries, size, writable, verified)


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
