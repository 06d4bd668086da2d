"""Opening a partition after a clean stop or a crash: what is on disk, what is damaged, what was lost.

Every segment is scanned (see `segment.scan`); the last one is CRC-checked whole. Then:
- a damaged last batch of the last segment, with nothing whole after it, is a torn tail (an
  append the crash interrupted, never acknowledged): it is cut off, and a warning says so;
- damaged bytes anywhere else are reported (an error naming the offsets), never cut: their
  offsets become a `DamagedRange`, and reading them raises `CorruptRecordError`;
- the partition's high-water offset (`high-water`, the end offset after the last acknowledged
  append, written after each append) says how far acknowledged records went. If the records on
  disk end before it, records that were acknowledged are missing: that range is reported and
  kept in `lost-offsets.json` (so later opens report it too), the damaged tail (if any) stays
  on disk for inspection, and appends go on at the high-water offset in a new segment: the end
  offset never moves backwards and no offset is handed out twice;
- batches a transaction wrote (`pyksqlite.log.embedded.transactions`) at the end of the partition, past both
  the high-water offset and the end the committed transactions reached in it, belong to a
  transaction that never committed (a crash between writing them and its commit record): they are
  cut off, so readers never see them. Nothing else can follow them: a transaction holds the
  partition's lock from writing its batches until they are published.
"""
from __future__ import annotations

import json
import logging
import os
import struct
import zlib
from pathlib import Path
from typing import NamedTuple, Optional

from pyksqlite.log.embedded.groups import write_json_durably
from pyksqlite.log.embedded.scan import DamagedRegion, SegmentScan, cut_tail, scan
from pyksqlite.log.embedded.segment import SUFFIX, base_offset_of

logger = logging.getLogger("ksqlite.log")

HIGH_WATER_FILE = "high-water"
LOST_FILE = "lost-offsets.json"
_HIGH_WATER = struct.Struct("<4sIq")
_HIGH_WATER_MAGIC = b"KSHW"


class DamagedRange(NamedTuple):
    """Offsets first..last of a partition that cannot be read, and why."""
    first: int
    last: int
    reason: str


class ScannedSegment(NamedTuple):
    path: Path
    base_offset: int
    scan: SegmentScan

    @property
    def next_offset(self) -> int:
        return self.scan.entries[-1].last_offset + 1 if self.scan.entries else self.base_offset

    @property
    def whole_size(self) -> int:
        """Bytes up to the end of the last whole batch."""
        last = self.scan.entries[-1] if self.scan.entries else None
        return last.position + last.size if last else 0


class Recovered(NamedTuple):
    closed: list[ScannedSegment]
    active: Optional[ScannedSegment]     # None: start a new segment at `end_offset`
    end_offset: int
    damaged: list[DamagedRange]


class HighWater:
    """The end offset after the last acknowledged append, in a small checksummed file that is
    overwritten in place (no allocation, so it cannot fail for a full disk once created)."""

    def __init__(self, directory: Path):
        self.path = directory / HIGH_WATER_FILE
        self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)

    def read(self) -> Optional[int]:
        raw = os.pread(self._fd, _HIGH_WATER.size, 0)
        if not raw:
            return None
        if len(raw) == _HIGH_WATER.size:
            magic, crc, offset = _HIGH_WATER.unpack(raw)
            if magic == _HIGH_WATER_MAGIC and crc == zlib.crc32(raw[8:]):
                return offset
        logger.warning("%s is damaged; the end offset of the partition cannot be checked this time", self.path)
        return None

    def write(self, offset: int) -> None:
        fields = struct.pack("<q", offset)
        data = _HIGH_WATER.pack(_HIGH_WATER_MAGIC, zlib.crc32(fields), offset)
        if os.pwrite(self._fd, data, 0) != len(data):
            raise OSError(f"short write to {self.path}")

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def __del__(self):
        if hasattr(self, "_fd"):
            self.close()


def recover(directory: Path, label: str, high_water: Optional[int],
            committed_end: Optional[int] = None) -> Recovered:
    """Scan the segments of a partition directory (see the module docstring). `label` names
    the partition in messages ("topic 't' partition 0"); `committed_end` is where the committed
    transactions' batches end in it (None: no transaction wrote to it)."""
    if committed_end is not None and (high_water is None or committed_end > high_water):
        high_water = committed_end
    paths = sorted(directory.glob("*" + SUFFIX))
    if _cut_uncommitted(paths, high_water or 0, label):
        paths = sorted(directory.glob("*" + SUFFIX))
    scanned = [ScannedSegment(p, base_offset_of(p), scan(p, verify_crc=(i == len(paths) - 1),
                                                          base_offset=base_offset_of(p)))
               for i, p in enumerate(paths)]
    damaged = _load_lost(directory)
    for i, segment in enumerate(scanned):
        next_base = scanned[i + 1].base_offset if i + 1 < len(scanned) else None
        regions = list(segment.scan.damaged)
        if next_base is None and regions and regions[-1].end == segment.scan.file_size \
                and regions[-1].start >= segment.whole_size:
            regions.pop()  # the tail of the last segment: decided below
        damaged += _ranges_of(segment, regions, next_base, label)
    last = scanned[-1] if scanned else None
    end = last.next_offset if last else 0
    if high_water is not None and high_water > end:
        lost = DamagedRange(end, high_water - 1, f"acknowledged records missing on disk at startup "
                                                 f"(the partition's end offset had reached {high_water})")
        logger.error("%s: offsets %d-%d were acknowledged but are not on disk; they cannot be read, "
                     "and new records start at offset %d", label, lost.first, lost.last, high_water)
        _save_lost(directory, _load_lost(directory) + [lost])
        return Recovered(scanned, None, high_water, _prune(damaged + [lost], scanned))
    if last is not None and last.whole_size < last.scan.file_size:
        logger.warning("%s: cut %d bytes after offset %d at the end of %s (a write interrupted by a "
                       "crash, never acknowledged)", label, last.scan.file_size - last.whole_size,
                       end - 1, last.path.name)
        cut_tail(last.path, last.whole_size)
        last = last._replace(scan=last.scan._replace(damaged=[], file_size=last.whole_size))
    return Recovered(scanned[:-1], last, end, _prune(damaged, scanned))


def _cut_uncommitted(paths: list[Path], acknowledged: int, label: str) -> bool:
    """Cut the batches of an uncommitted transaction off the end of the partition: the trailing
    transactional batches at or past `acknowledged` (and any torn bytes after them); segments
    left empty are deleted, but the first. True if anything was cut."""
    cut = False
    for index in range(len(paths) - 1, -1, -1):
        path = paths[index]
        base = base_offset_of(path)
        segment = scan(path, verify_crc=False, base_offset=base)
        position = segment.file_size
        for entry in reversed(segment.entries):
            if not (entry.transactional and entry.base_offset >= acknowledged):
                break
            position = entry.position
        if position == segment.file_size:
            return cut
        first = next(e.base_offset for e in segment.entries if e.position >= position)
        logger.warning("%s: cut the batches of a transaction that never committed from offset %d "
                       "(%d bytes of %s)", label, first, segment.file_size - position, path.name)
        if position == 0 and index > 0:
            path.unlink()
        else:
            cut_tail(path, position)
        cut = True
        if position > 0:
            return cut
    return cut


def _ranges_of(segment: ScannedSegment, regions: list[DamagedRegion], next_base: Optional[int],
               label: str) -> list[DamagedRange]:
    """The offsets each damaged region of a segment hides: from after the batch before it to
    before the batch after it (or the next segment)."""
    ranges = []
    entries = segment.scan.entries
    for region in regions:
        before = [e for e in entries if e.position < region.start]
        after = [e for e in entries if e.position >= region.end]
        first = before[-1].last_offset + 1 if before else segment.base_offset
        last = after[0].base_offset - 1 if after else (next_base - 1 if next_base is not None else first - 1)
        where = f"bytes {region.start}-{region.end - 1} of {segment.path.name}"
        if last < first:
            logger.warning("%s: %s are unreadable (%s) but hide no offsets", label, where, region.reason)
            continue
        ranges.append(DamagedRange(first, last, f"{region.reason} ({where})"))
        logger.error("%s: offsets %d-%d are damaged: %s (%s)", label, first, last, region.reason, where)
    return ranges


def _prune(damaged: list[DamagedRange], scanned: list[ScannedSegment]) -> list[DamagedRange]:
    """The damaged ranges still in the partition (retention may have deleted older ones),
    sorted, without duplicates."""
    start = scanned[0].base_offset if scanned else 0
    return sorted({r for r in damaged if r.last >= start})


def _load_lost(directory: Path) -> list[DamagedRange]:
    path = directory / LOST_FILE
    try:
        return [DamagedRange(int(first), int(last), str(reason)) for first, last, reason in json.loads(path.read_text())]
    except FileNotFoundError:
        return []
    except (ValueError, TypeError) as error:
        logger.error("%s is damaged (%s): the offsets it listed as lost are not known any more", path, error)
        return []


def _save_lost(directory: Path, ranges: list[DamagedRange]) -> None:
    write_json_durably(directory / LOST_FILE, [list(r) for r in sorted(set(ranges))])
