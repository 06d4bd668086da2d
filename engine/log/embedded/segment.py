"""Segment files: a partition's records on disk, as framed Arrow record batches.

A segment is `<base offset, 20 digits>.log`, a sequence of batches. Each batch is a fixed header
followed by its payload, one Arrow IPC stream holding one RecordBatch (timestamp, key, value,
headers, and - only in batches rewritten by compaction, where offsets have gaps - offset):

    magic 4s | payload length u32 | crc32 u32 | base offset i64 | last offset delta i32
    | record count i32 | min timestamp i64 | max timestamp i64

The CRC covers the header fields after it plus the payload. Without an offset column, row i has
offset base + i. The magic is `KSL1`, or `KSLT` for a batch a transaction wrote (see
`pyksqlite.log.embedded.transactions`): recovery cuts such batches off the end of a partition unless a
committed transaction covers them.

The in-memory index (one `BatchEntry` per batch) is built on open from the headers (see
`scan`). The active segment is CRC-checked on open; the batches of the others are checked when
first read (`read_batches`), once per process. Batches this process wrote count as checked.

Writes are two-step: `write` puts a batch after the last written one, at an explicit file
position, and `publish` makes the written batches visible to readers; `rollback` truncates the
file back to the published end. A failed or partial write therefore never leaves bytes that a
later batch would be framed after, and readers only ever see whole, published batches.

Reads memory-map the batches' byte range: the record batches handed out are zero-copy views of
the page cache, valid for as long as they are referenced (also after the segment is deleted).
"""
from __future__ import annotations

import ctypes
import mmap
import os
import struct
import zlib
from pathlib import Path
from typing import NamedTuple, Optional

import pyarrow as pa

from pyksqlite.log.api import HEADER_TYPE

MAGIC = b"KSL1"
TRANSACTIONAL_MAGIC = b"KSLT"     # a batch written by a transaction (see the module docstring)
MAGICS = (MAGIC, TRANSACTIONAL_MAGIC)
HEADER = struct.Struct("<4sIIqiiqq")
CRC_FIELDS_AT = 12  # the crc covers the header from here on, then the payload
SUFFIX = ".log"

STORED_SCHEMA = pa.schema([
    ("timestamp", pa.int64()),
    ("key", pa.binary()),
    ("value", pa.binary()),
    ("headers", HEADER_TYPE),
])
COMPACTED_SCHEMA = STORED_SCHEMA.append(pa.field("offset", pa.int64()))


class BatchEntry(NamedTuple):
    """Where one batch sits and what it holds."""
    base_offset: int
    last_offset: int
    position: int        # of the header in the file
    size: int            # header + payload
    record_count: int
    max_timestamp: int
    transactional: bool = False   # written by a transaction (magic KSLT)


class EncodedBatch(NamedTuple):
    """A batch ready to be framed: its IPC payload and the header facts known before offsets."""
    payload: pa.Buffer
    last_offset_delta: int
    record_count: int
    min_timestamp: int
    max_timestamp: int
    transactional: bool = False


def encode_batch(batch: pa.RecordBatch, last_offset_delta: Optional[int] = None,
                 transactional: bool = False) -> EncodedBatch:
    """Serialize a STORED_SCHEMA (or COMPACTED_SCHEMA) batch with non-null timestamps."""
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, batch.schema) as writer:
        writer.write_batch(batch)
    timestamps = batch.column(0).to_numpy()
    count = batch.num_rows
    return EncodedBatch(
        payload=sink.getvalue(),
        last_offset_delta=count - 1 if last_offset_delta is None else last_offset_delta,
        record_count=count,
        min_timestamp=int(timestamps.min()) if count else 0,
        max_timestamp=int(timestamps.max()) if count else -1,
        transactional=transactional,
    )


def frame_header(encoded: EncodedBatch, base_offset: int) -> bytes:
    magic = TRANSACTIONAL_MAGIC if encoded.transactional else MAGIC
    fields = HEADER.pack(magic, encoded.payload.size, 0, base_offset, encoded.last_offset_delta,
                         encoded.record_count, encoded.min_timestamp, encoded.max_timestamp)
    crc = zlib.crc32(encoded.payload, zlib.crc32(fields[CRC_FIELDS_AT:]))
    return fields[:8] + struct.pack("<I", crc) + fields[CRC_FIELDS_AT:]


def decode_payload(payload: pa.Buffer) -> pa.RecordBatch:
    return pa.ipc.open_stream(payload).read_next_batch()


def segment_path(directory: Path, base_offset: int) -> Path:
    return directory / f"{base_offset:020d}{SUFFIX}"


def base_offset_of(path: Path) -> int:
    return int(path.name[:-len(SUFFIX)])


def fsync_directory(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class Segment:
    """One segment file: its index, an append handle and a read handle."""

    def __init__(self, path: Path, base_offset: int, entries: list[BatchEntry], size: int,
                 writable: bool = True, verified: bool = False):
        self.path = path
        self.base_offset = base_offset
        self.entries = entries
        self.size = size                 # bytes of the published batches
        self._written = size             # bytes written (more than `size` only between write and publish)
        self._unpublished: list[BatchEntry] = []
        # Positions of batches whose CRC held (or that this process wrote).
        self._verified: set[int] = {e.position for e in entries} if verified else set()
        self._write_fd = -1
        if writable:
            self._write_fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o644)
        self._read_fd = os.open(path, os.O_RDONLY)

    @classmethod
    def create(cls, directory: Path, base_offset: int) -> "Segment":
        """A new, empty segment (a leftover file of an abandoned roll is emptied)."""
        path = segment_path(directory, base_offset)
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644))
        return cls(path, base_offset, [], 0, verified=True)

    # --- facts ---
    @property
    def next_offset(self) -> int:
        return self.entries[-1].last_offset + 1 if self.entries else self.base_offset

    @property
    def first_offset(self) -> Optional[int]:
        return self.entries[0].base_offset if self.entries else None

    @property
    def max_timestamp(self) -> int:
        return max((e.max_timestamp for e in self.entries), default=-1)

    @property
    def written_size(self) -> int:
        return self._written

    # --- write ---
    def write(self, encoded: EncodedBatch, base_offset: int) -> BatchEntry:
        """Write a batch after the last one written, unseen by readers until `publish`. On any
        failure the file is cut back to where the batch began and the error is raised."""
        header = frame_header(encoded, base_offset)
        position = self._written
        try:
            _pwrite_all(self._write_fd, [header, encoded.payload], position)
        except BaseException:
            self._truncate(position)
            raise
        entry = BatchEntry(base_offset, base_offset + encoded.last_offset_delta, position,
                           len(header) + encoded.payload.size, encoded.record_count, encoded.max_timestamp,
                           encoded.transactional)
        self._written += entry.size
        self._unpublished.append(entry)
        self._verified.add(position)
        return entry

    def publish(self) -> None:
        """Make the written batches visible to readers (after they are synced, if they must be)."""
        if self._unpublished:
            self.entries.extend(self._unpublished)
            self._unpublished = []
        self.size = self._written

    def rollback(self) -> None:
        """Forget the batches written since the last publish and cut them off the file."""
        for entry in self._unpublished:
            self._verified.discard(entry.position)
        self._unpublished = []
        self._written = self.size
        self._truncate(self.size)

    def _truncate(self, size: int) -> None:
        # Best effort: if the cut fails, the next write still goes to `size` (writes name their
        # position) and a longer file's leftover tail is cut as a torn tail when next opened.
        try:
            os.ftruncate(self._write_fd, size)
        except OSError:
            pass

    def sync(self) -> None:
        if self._write_fd >= 0:
            os.fdatasync(self._write_fd)

    def seal(self) -> None:
        """No more appends: release the write handle (a closed segment keeps only its reader)."""
        if self._write_fd >= 0:
            os.close(self._write_fd)
            self._write_fd = -1

    # --- read ---
    def read_batches(self, entries: list[BatchEntry]) -> tuple[list[pa.RecordBatch], Optional[BatchEntry]]:
        """Decode consecutive entries from one memory map of their byte range (zero-copy: the
        batches' buffers are the page cache's; the map lives as long as they do). Each batch is
        CRC-checked the first time this process reads it; returns the batches before the first
        one that fails, and that one (None if all hold)."""
        if not entries:
            return [], None
        start = entries[0].position
        end = entries[-1].position + entries[-1].size
        buffer = self._map(start, end)
        batches = []
        for entry in entries:
            framed = buffer.slice(entry.position - start, entry.size)
            if entry.position not in self._verified:
                if not _checksum_holds(framed):
                    return batches, entry
                self._verified.add(entry.position)
            batches.append(decode_payload(framed.slice(HEADER.size)))
        return batches, None

    def _map(self, start: int, end: int) -> pa.Buffer:
        """Bytes [start, end) of the file, mapped read-only. Published batches are never
        truncated away (only unpublished bytes past them are), so the mapping stays valid."""
        aligned = start - start % mmap.ALLOCATIONGRANULARITY
        mapping = _Mapping(self._read_fd, end - aligned, aligned)
        return pa.foreign_buffer(mapping.address, mapping.length, base=mapping).slice(start - aligned)

    def close(self) -> None:
        self.seal()
        if self._read_fd >= 0:
            os.close(self._read_fd)
            self._read_fd = -1

    def delete(self) -> None:
        """Unlink the file; readers holding this object keep reading until they let go."""
        self.path.unlink(missing_ok=True)

    def __del__(self):
        if hasattr(self, "_read_fd"):
            self.close()


def _checksum_holds(framed: pa.Buffer) -> bool:
    view = memoryview(framed)
    magic, _length, crc = struct.unpack_from("<4sII", view)
    return magic in MAGICS and zlib.crc32(view[CRC_FIELDS_AT:]) == crc


class _Mapping:
    """A read-only shared memory map, unmapped when the last Arrow buffer over it goes.

    libc's mmap rather than Python's: `mmap.mmap` keeps a duplicate of the file descriptor
    for as long as the map lives, and batches read from the log may be kept for long."""

    def __init__(self, fd: int, length: int, offset: int):
        address = _libc.mmap(None, length, mmap.PROT_READ, mmap.MAP_SHARED, fd, offset)
        if address in (None, _MAP_FAILED):
            error = ctypes.get_errno()
            raise OSError(error, os.strerror(error))
        self.address = address
        self.length = length

    def __del__(self):
        _libc.munmap(self.address, self.length)


_libc = ctypes.CDLL(None, use_errno=True)
_libc.mmap.restype = ctypes.c_void_p
_libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_long]
_libc.munmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
_MAP_FAILED = ctypes.c_void_p(-1).value


def _pwrite_all(fd: int, buffers: list, position: int) -> None:
    """Write all of `buffers` at `position`; a short write is continued, an error raised."""
    views = [memoryview(b) for b in buffers]
    while views:
        written = os.pwritev(fd, views, position)
        position += written
        while views and written >= len(views[0]):
            written -= len(views[0])
            views.pop(0)
        if views and written:
            views[0] = views[0][written:]
