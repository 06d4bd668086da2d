"""Log cleanup: retention (delete whole old segments) and compaction (latest record per key).

Both only touch closed segments, never the active one, and follow Kafka's rules:
- time retention deletes the oldest segments while their max timestamp is older than
  now - retention.ms; size retention deletes the oldest segments while the partition stays at or
  above retention.bytes without them;
- compaction keeps, per key, only the record with the highest offset in the whole partition,
  keeps offsets (gaps allowed) and drops tombstones once older than delete.retention.ms.
A compacted segment is written to a temporary file, fsynced and renamed over the old one.
Compaction reads every batch through the CRC check: a damaged batch stops the compaction of its
partition with CorruptRecordError (it is never copied, nor dropped from the copy).
"""
from __future__ import annotations

import os

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from pyksqlite.log.api import TopicConfig
from pyksqlite.log.embedded.partition import MAX_BATCH_BYTES, Partition, offsets_of
from pyksqlite.log.embedded.segment import COMPACTED_SCHEMA, Segment, encode_batch, fsync_directory

CLEANING_SUFFIX = ".cleaning"


def apply_retention(partition: Partition, config: TopicConfig, now_ms: int) -> None:
    closed = partition.segments[:-1]
    doomed = []
    if config.retention_ms >= 0:
        for segment in closed:
            if segment.max_timestamp >= now_ms - config.retention_ms:
                break
            doomed.append(segment)
    if config.retention_bytes >= 0:
        excess = partition.size_bytes - config.retention_bytes
        for segment in closed:
            if excess - segment.size < 0:
                break
            excess -= segment.size
            if segment not in doomed:
                doomed.append(segment)
    for segment in doomed:
        partition.replace_segments(segment, None)
        segment.delete()


def compact(partition: Partition, config: TopicConfig, now_ms: int) -> None:
    closed = partition.segments[:-1]
    if not closed:
        return
    closed_end = closed[-1].next_offset
    damage = partition.damage_before(partition.active.base_offset)
    if damage is not None:
        raise damage  # a rewrite would drop the damaged bytes: leave them for inspection
    if closed_end == partition.compacted_through and not partition.tombstones_pending:
        return
    latest = _latest_offset_per_key(partition)
    tombstone_horizon = now_ms - config.delete_retention_ms
    tombstones_kept = False
    for segment in closed:
        stored = _read_segment(partition, segment)
        if stored is None:
            continue
        keep = _keep_mask(stored, latest, tombstone_horizon)
        tombstones_kept |= bool(pc.any(pc.is_null(stored.column("value").filter(pa.array(keep)))).as_py())
        if not keep.all():
            _rewrite(partition, segment, stored.filter(pa.array(keep)))
    partition.compacted_through = closed_end
    partition.tombstones_pending = tombstones_kept


def _read_segment(partition: Partition, segment: Segment) -> pa.Table | None:
    """The segment's records as one COMPACTED_SCHEMA table (explicit offsets)."""
    entries = segment.entries[:]
    if not entries:
        return None
    batches = [
        pa.RecordBatch.from_arrays(
            [stored.column(name) for name in ("timestamp", "key", "value", "headers")]
            + [pa.array(offsets_of(stored, entry))], schema=COMPACTED_SCHEMA)
        for entry, stored in zip(entries, partition.verified_batches(segment, entries))
    ]
    return pa.Table.from_batches(batches, schema=COMPACTED_SCHEMA)


def _latest_offset_per_key(partition: Partition) -> pa.Array:
    """The highest offset of every key in the partition (keyed records only)."""
    tables = [t.select(["key", "offset"]) for t in (_read_segment(partition, s) for s in partition.segments)
              if t is not None]
    if not tables:
        return pa.array([], pa.int64())
    everything = pa.concat_tables(tables)
    keyed = everything.filter(pc.is_valid(everything.column("key")))
    return keyed.group_by("key").aggregate([("offset", "max")]).column("offset_max").combine_chunks()


def _keep_mask(stored: pa.Table, latest: pa.Array, tombstone_horizon: int) -> np.ndarray:
    is_latest = pc.is_in(stored.column("offset"), value_set=latest).to_numpy(zero_copy_only=False)
    keyless = pc.is_null(stored.column("key")).to_numpy(zero_copy_only=False)
    expired_tombstone = (pc.is_null(stored.column("value")).to_numpy(zero_copy_only=False)
                         & (stored.column("timestamp").to_numpy() < tombstone_horizon))
    return keyless | (is_latest & ~expired_tombstone)


def _rewrite(partition: Partition, segment: Segment, kept: pa.Table) -> None:
    """Replace `segment` by one holding only `kept`, crash-safely; drop it if nothing is kept."""
    if kept.num_rows == 0:
        partition.replace_segments(segment, None)
        segment.delete()
        return
    temporary = segment.path.with_name(segment.path.name + CLEANING_SUFFIX)
    temporary.unlink(missing_ok=True)
    writer = Segment(temporary, segment.base_offset, [], 0, writable=True)
    try:
        rows_per_batch = max(1, -(-kept.num_rows // max(1, -(-kept.nbytes // MAX_BATCH_BYTES))))
        for batch in kept.combine_chunks().to_batches(max_chunksize=rows_per_batch):
            offsets = batch.column("offset").to_numpy()
            base = int(offsets[0])
            writer.write(encode_batch(batch, int(offsets[-1]) - base), base)
        writer.sync()
    except BaseException:
        writer.close()
        temporary.unlink(missing_ok=True)   # a full disk: the original segment stays as it was
        raise
    writer.publish()
    writer.close()
    os.replace(temporary, segment.path)
    fsync_directory(partition.directory)
    partition.replace_segments(segment, Segment(segment.path, segment.base_offset, writer.entries,
                                                writer.size, writable=False, verified=True))
