"""Indexing a segment file from its bytes, as on open: which batches are whole, which bytes are not.

A batch is indexed if its header is sane (magic, length within the file, offsets after the
previous batch's) and, when asked, its CRC holds. Bytes that do not frame such a batch become a
`DamagedRegion`, and indexing resumes at the next whole batch whose CRC holds (a magic found
further on), so one damaged batch never hides the ones after it.
"""
from __future__ import annotations

import os
import zlib
from pathlib import Path
from typing import NamedTuple, Optional

from pyksqlite.log.embedded.segment import CRC_FIELDS_AT, HEADER, MAGIC, MAGICS, TRANSACTIONAL_MAGIC, BatchEntry

_RESYNC_CHUNK = 4 * 1024 * 1024


class DamagedRegion(NamedTuple):
    """Bytes [start, end) of a segment file that hold no whole, sane batch."""
    start: int
    end: int
    reason: str


class SegmentScan(NamedTuple):
    entries: list[BatchEntry]
    damaged: list[DamagedRegion]   # in file order, between or after the entries
    file_size: int


def scan(path: Path, verify_crc: bool, base_offset: int) -> SegmentScan:
    """Index the batches of a segment file. A batch is indexed if its header is sane (magic,
    length within the file, offsets after the previous batch's) and, with `verify_crc`, its
    CRC holds; other bytes become damaged regions, and indexing resumes at the next whole batch
    whose CRC holds."""
    entries: list[BatchEntry] = []
    damaged: list[DamagedRegion] = []
    file_size = path.stat().st_size
    position = 0
    with open(path, "rb") as f:
        fd = f.fileno()
        while position < file_size:
            next_offset = entries[-1].last_offset + 1 if entries else base_offset
            entry, reason = _read_entry(fd, position, file_size, next_offset, verify_crc)
            if entry is not None:
                entries.append(entry)
                position += entry.size
                continue
            resume = _next_whole_batch(fd, position + 1, file_size, next_offset)
            damaged.append(DamagedRegion(position, resume if resume is not None else file_size, reason))
            if resume is None:
                break
            position = resume
    return SegmentScan(entries, damaged, file_size)


def _read_entry(fd: int, position: int, file_size: int, min_offset: int,
                verify_crc: bool) -> tuple[Optional[BatchEntry], str]:
    """The batch at `position`, or None and why it is not one."""
    if position + HEADER.size > file_size:
        return None, "incomplete batch header"
    header = os.pread(fd, HEADER.size, position)
    magic, length, crc, base, last_delta, count, _min_ts, max_ts = HEADER.unpack(header)
    end = position + HEADER.size + length
    if magic not in MAGICS:
        return None, "no batch header"
    if end > file_size:
        return None, "batch cut short"
    if base < min_offset or last_delta < 0 or count < 0 or count > last_delta + 1:
        return None, "batch header offsets out of order"
    if verify_crc:
        payload = os.pread(fd, length, position + HEADER.size)
        if zlib.crc32(payload, zlib.crc32(header[CRC_FIELDS_AT:])) != crc:
            return None, "checksum mismatch"
    return BatchEntry(base, base + last_delta, position, end - position, count, max_ts,
                      magic == TRANSACTIONAL_MAGIC), ""


def _next_whole_batch(fd: int, start: int, file_size: int, min_offset: int) -> Optional[int]:
    """The position of the next batch after damaged bytes: a magic whose batch is sane and
    whose CRC holds."""
    position = start
    while position < file_size:
        chunk = os.pread(fd, min(_RESYNC_CHUNK, file_size - position), position)
        found = _find_magic(chunk, 0)
        while found >= 0:
            entry, _ = _read_entry(fd, position + found, file_size, min_offset, verify_crc=True)
            if entry is not None:
                return position + found
            found = _find_magic(chunk, found + 1)
        position += max(1, len(chunk) - len(MAGIC) + 1)
    return None


def _find_magic(chunk: bytes, start: int) -> int:
    """The position of the first batch magic (of either kind) in `chunk` from `start`, or -1."""
    found = [p for p in (chunk.find(m, start) for m in MAGICS) if p >= 0]
    return min(found) if found else -1


def cut_tail(path: Path, size: int) -> None:
    """Truncate a segment file to `size` bytes, durably."""
    with open(path, "r+b") as f:
        f.truncate(size)
        os.fsync(f.fileno())
