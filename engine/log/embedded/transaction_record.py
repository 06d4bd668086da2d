"""A transactional writer's commit record: what one file says once a transaction has committed.

The record (`groups/<group>/transaction`, see `pyksqlite.log.embedded.transactions`) is replaced atomically at
each commit; replacing it is the commit. It holds:
- `sequence`: how many transactions of this writer committed;
- `offsets`: the consumer group's committed next-offsets, per (topic, partition);
- `ends`: per partition this writer ever wrote to, the end offset after its last committed batches
  there (cumulative, so that recovery knows every committed transactional batch, whatever later
  transactions wrote to);
- `metadata`: a small JSON object committed with them (a query's checkpoint identity).

On disk: the magic `KSTX`, the CRC-32 of the JSON that follows, the JSON. Anything else is
`ValueError` (the caller names the file).
"""
from __future__ import annotations

import json
import struct
import zlib
from dataclasses import dataclass, field
from typing import Any, Optional

TopicPartition = tuple[str, int]
_MAGIC = b"KSTX"
_PREFIX = struct.Struct("<4sI")


@dataclass(frozen=True)
class TransactionRecord:
    sequence: int
    offsets: dict[TopicPartition, int] = field(default_factory=dict)
    ends: dict[TopicPartition, int] = field(default_factory=dict)
    metadata: Optional[dict[str, Any]] = None

    def without_topic(self, topic: str) -> "TransactionRecord":
        return TransactionRecord(self.sequence, {tp: o for tp, o in self.offsets.items() if tp[0] != topic},
                                 {tp: e for tp, e in self.ends.items() if tp[0] != topic}, self.metadata)


def encode_record(record: TransactionRecord) -> bytes:
    body = json.dumps({"sequence": record.sequence, "offsets": nest_offsets(record.offsets),
                       "ends": nest_offsets(record.ends), "metadata": record.metadata},
                      separators=(",", ":")).encode()
    return _PREFIX.pack(_MAGIC, zlib.crc32(body)) + body


def decode_record(data: bytes) -> TransactionRecord:
    """The record in `data`; ValueError if the bytes are not one (damaged, truncated, foreign)."""
    if len(data) < _PREFIX.size:
        raise ValueError("too short")
    magic, crc = _PREFIX.unpack_from(data)
    body = data[_PREFIX.size:]
    if magic != _MAGIC:
        raise ValueError("not a transaction record")
    if zlib.crc32(body) != crc:
        raise ValueError("checksum mismatch")
    raw = json.loads(body)
    if not isinstance(raw, dict) or type(raw.get("sequence")) is not int or raw["sequence"] < 0:
        raise ValueError("no sequence number")
    metadata = raw.get("metadata")
    if metadata is not None and not isinstance(metadata, dict):
        raise ValueError("metadata is not an object")
    return TransactionRecord(raw["sequence"], parse_offsets(raw.get("offsets", {})),
                             parse_offsets(raw.get("ends", {})), metadata)


def parse_offsets(raw) -> dict[TopicPartition, int]:
    """{topic: {partition: offset}} as read, checked entry by entry."""
    if not isinstance(raw, dict):
        raise ValueError("offsets are not an object")
    offsets = {}
    for topic, parts in raw.items():
        if not isinstance(parts, dict):
            raise ValueError(f"invalid entry {topic!r}")
        for partition, offset in parts.items():
            if not isinstance(topic, str) or type(offset) is not int or offset < 0 \
                    or not str(partition).isdigit():
                raise ValueError(f"invalid entry {topic!r}/{partition!r}: {offset!r}")
            offsets[(topic, int(partition))] = offset
    return offsets


def nest_offsets(offsets: dict[TopicPartition, int]) -> dict[str, dict[str, int]]:
    nested: dict[str, dict[str, int]] = {}
    for (topic, partition), offset in sorted(offsets.items()):
        nested.setdefault(topic, {})[str(partition)] = int(offset)
    return nested
