"""Segment files: a partition's records on disk, as framed Arrow record batches.

A segment is `<base offset, 20 digits>.log`, a sequence of batches. Each batch is a fixed header
followed by its payload, one Arrow IPC stream holding one RecordBatch (timestamp, key, value,
headers, and - only in batches rewritten by compaction, where offsets have gaps - offset):

    magic 4s | payload length u32 | crc32 u32 | base offset i64 | last offset delta i32
    | record count i32 | min timestamp i64 | max timestamp i64

The CRC covers the header fields after it plus the payload, so a torn or corrupt batch is
detected on recovery. Without an offset column, row i has offset base + i.

The in-memory index (one `BatchEntry` per batch) is rebuilt on open from the headers alone; the
active segment is also CRC-checked and truncated after its last whole batch. Entries are
appended only after the bytes are written, so a reader working from a snapshot of the index
sees whole batches only.

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

from engine.log.api import HEADER_TYPE

MAGIC = b"KSL1"
HEADER = struct.Struct("<4sIIqiiqq")
_CRC_FIELDS = struct.Struct("<qiiqq")  # the header fields after the crc
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


class EncodedBatch(NamedTuple):
    """A batch ready to be framed: its IPC payload and the header facts known before offsets."""
    payload: pa.Buffer
    last_offset_delta: int
    record_count: int
    min_timestamp: int
    max_timestamp: int


def encode_batch(batch: pa.RecordBatch, last_offset_delta: Optional[int] = None) -> EncodedBatch:
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
    )


def frame_header(encoded: EncodedBatch, base_offset: int) -> bytes:
    fields = _CRC_FIELDS.pack(base_offset, encoded.last_offset_delta, encoded.record_count,
                              encoded.min_timestamp, encoded.max_timestamp)
    crc = zlib.crc32(encoded.payload, zlib.crc32(fields))
    return MAGIC + struct.pack("<II", encoded.payload.size, crc) + fields


def decode_payload(payload: pa.Buffer) -> pa.RecordBatch:
    return pa.ipc.open_stream(payload).read_next_batch()


def segment_path(directory: Path, base_offset: int) -> Path:
    return directory / f"{base_offset:020d}{SUFFIX}"


def fsync_directory(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class Segment:
    """One segment file: its index, an append handle and a read handle."""

    def __init__(self, path: Path, base_offset: int, entries: list[BatchEntry], size: int,
                 writable: bool = True):
        self.path = path
        self.base_offset = base_offset
        self.entries = entries
        self.size = size
        self._write_fd = -1
        if writable:
            self._write_fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o644)
            os.lseek(self._write_fd, size, os.SEEK_SET)
        self._read_fd = os.open(path, os.O_RDONLY)

    @classmethod
    def create(cls, directory: Path, base_offset: int) -> "Segment":
        return cls(segment_path(directory, base_offset), base_offset, [], 0)

    @classmethod
    def open(cls, path: Path, recover: bool, writable: bool) -> "Segment":
        """Index an existing file; with `recover`, check CRCs and cut a torn tail off."""
        base_offset = int(path.name[:-len(SUFFIX)])
        entries, whole_size = scan_batches(path, verify_crc=recover)
        if recover and whole_size < path.stat().st_size:
            with open(path, "r+b") as f:
                f.truncate(whole_size)
                os.fsync(f.fileno())
        return cls(path, base_offset, entries, whole_size, writable)

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

    # --- write ---
    def append(self, encoded: EncodedBatch, base_offset: int, sync: bool) -> None:
        header = frame_header(encoded, base_offset)
        _write_all(self._write_fd, [header, encoded.payload])
        if sync:
            os.fdatasync(self._write_fd)
        size = len(header) + encoded.payload.size
        entry = BatchEntry(base_offset, base_offset + encoded.last_offset_delta, self.size, size,
                           encoded.record_count, encoded.max_timestamp)
        self.size += size
        self.entries.append(entry)

    def sync(self) -> None:
        if self._write_fd >= 0:
            os.fdatasync(self._write_fd)

    def seal(self) -> None:
        """No more appends: release the write handle (a closed segment keeps only its reader)."""
        if self._write_fd >= 0:
            os.close(self._write_fd)
            self._write_fd = -1

    # --- read ---
    def read_batches(self, entries: list[BatchEntry]) -> list[pa.RecordBatch]:
        """Decode consecutive entries from one memory map of their byte range (zero-copy: the
        batches' buffers are the page cache's; the map lives as long as they do)."""
        if not entries:
            return []
        start = entries[0].position
        end = entries[-1].position + entries[-1].size
        buffer = self._map(start, end)
        return [decode_payload(buffer.slice(e.position - start + HEADER.size, e.size - HEADER.size))
                for e in entries]

    def _map(self, start: int, end: int) -> pa.Buffer:
        """Bytes [start, end) of the file, mapped read-only. Indexed batches are never truncated
        away (only a torn tail past them is, on open), so the mapping stays valid."""
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


def _write_all(fd: int, buffers: list) -> None:
    views = [memoryview(b) for b in buffers]
    while views:
        written = os.writev(fd, views)
        while views and written >= len(views[0]):
            written -= len(views[0])
            views.pop(0)
        if views and written:
            views[0] = views[0][written:]


def scan_batches(path: Path, verify_crc: bool) -> tuple[list[BatchEntry], int]:
    """Index the whole batches at the start of a file; returns (entries, bytes they cover)."""
    entries: list[BatchEntry] = []
    file_size = path.stat().st_size
    position = 0
    with open(path, "rb") as f:
        while position + HEADER.size <= file_size:
            header = os.pread(f.fileno(), HEADER.size, position)
            magic, length, crc, base, last_delta, count, _min_ts, max_ts = HEADER.unpack(header)
            end = position + HEADER.size + length
            if magic != MAGIC or end > file_size:
                break
            if verify_crc:
                payload = os.pread(f.fileno(), length, position + HEADER.size)
                if zlib.crc32(payload, zlib.crc32(header[12:])) != crc:
                    break
            entries.append(BatchEntry(base, base + last_delta, position, end - position, count, max_ts))
            position = end
    return entries, position
