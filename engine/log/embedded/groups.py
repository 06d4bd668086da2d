"""Consumer groups: membership, partition assignment and durably committed offsets.

A group lives in `<log>/groups/<group>/` (group names follow Kafka's topic-name rule, and the
directory is checked to be inside the log's: `pyksqlite.common.names`):
- `offsets.json`: the committed next-offsets, replaced atomically (temp + fsync + rename) under
  an flock on `offsets.lock`, so commits from several processes merge and survive a crash. A
  file that is not valid JSON of that shape is an error naming it (`CorruptGroupFile`), never
  read as "no offsets" (which would silently restart the group elsewhere);
- `transaction`: the commit record of the group's transactional writer (exactly-once; see
  `transactions` and `transaction_record`). Its offsets are the group's committed offsets: they
  win over `offsets.json`'s, which a non-transactional commit then takes over (the record keeps
  only where the writer's batches end);
- `members/<member id>`: one file per live member holding its pid and subscribed topics. A
  member is live while its file exists and its process runs, so the members a crashed process
  left behind drop out at once. (One process at a time has a log directory open, see `owner`;
  the pid check is what clears a previous owner's members.) In this process a member is live
  only while its consumer object exists, so a consumer that was dropped without close() does
  not keep partitions.

Every poll lists the members directory; when the member set (or a topic) changed, each member
recomputes the same deterministic assignment (Kafka's range assignor: per topic, contiguous
partition ranges to the sorted subscribed members, which keeps co-partitioned topics together).
Partitions a member newly gets start at the committed offsets; the ones it keeps keep their
positions.
"""
from __future__ import annotations

import fcntl
import itertools
import json
import logging
import os
import time
import weakref
from pathlib import Path
from typing import Callable, Iterable, Optional

from pyksqlite.log.embedded.transaction_record import (TransactionRecord, decode_record, encode_record, nest_offsets,
                                           parse_offsets)
from pyksqlite.common.names import check_group_name, inside

TopicPartition = tuple[str, int]
_member_sequence = itertools.count()
# This process's members by id; an entry goes away with its consumer object.
_local_members: "weakref.WeakValueDictionary[str, object]" = weakref.WeakValueDictionary()


class CorruptGroupFile(Exception):
    """A consumer group file that cannot be read as what it should hold."""


def group_directory(log_directory: Path, group: str) -> Path:
    return inside(log_directory / "groups", check_group_name(group))


class OffsetStore:
    """A group's committed offsets: `offsets.json`, overridden by its commit record's, if any."""

    def __init__(self, directory: Path, durable: bool = True):
        self.path = directory / "offsets.json"
        self.lock_path = directory / "offsets.lock"
        self.record_path = directory / "transaction"
        self.durable = durable  # fsync each commit (the log's flush policy "batch")

    def load(self) -> dict[TopicPartition, int]:
        offsets = self._load_plain()
        record = self.transaction_record()
        if record is not None:
            offsets.update(record.offsets)
        return offsets

    def _load_plain(self) -> dict[TopicPartition, int]:
        try:
            text = self.path.read_bytes()
        except FileNotFoundError:
            return {}
        try:
            return parse_offsets(json.loads(text))
        except (ValueError, TypeError, AttributeError) as error:
            raise CorruptGroupFile(f"consumer group offsets {self.path} are corrupt ({error}); move the "
                                   "file away to let the group start from auto.offset.reset") from None

    def transaction_record(self) -> Optional[TransactionRecord]:
        """The commit record of the group's transactional writer, None if there is none."""
        try:
            data = self.record_path.read_bytes()
        except FileNotFoundError:
            return None
        try:
            return decode_record(data)
        except (ValueError, TypeError) as error:
            raise CorruptGroupFile(f"the transaction commit record {self.record_path} is corrupt ({error}): "
                                   "the group's committed offsets and outputs are unknown") from None

    def commit(self, offsets: dict[TopicPartition, int]) -> None:
        """Merge `offsets` into the file durably, serialized with other processes' commits."""
        with self._locked():
            merged = self.load()
            merged.update(offsets)
            write_json_durably(self.path, nest_offsets(merged), fsync=self.durable)
            record = self.transaction_record()
            if record is not None and record.offsets:   # offsets.json has them now
                self._replace_record(TransactionRecord(record.sequence, {}, record.ends, record.metadata))

    def commit_transaction(self, record: TransactionRecord) -> None:
        """Replace the commit record (the commit point of a transaction): written, synced with a
        durable store, then renamed into place. OSError if it was not replaced."""
        with self._locked():
            self._replace_record(record)

    def forget_topic(self, topic: str) -> None:
        with self._locked():
            kept = {tp: o for tp, o in self._load_plain().items() if tp[0] != topic}
            write_json_durably(self.path, nest_offsets(kept))
            try:
                record = self.transaction_record()
            except CorruptGroupFile:
                return
            if record is not None:
                self._replace_record(record.without_topic(topic))

    def _locked(self):
        return _FileLock(self.lock_path)

    def _replace_record(self, record: TransactionRecord) -> None:
        replace_durably(self.record_path, encode_record(record), fsync=self.durable)


class _FileLock:
    """An exclusive flock on a lock file for the duration of a `with` block."""

    def __init__(self, path: Path):
        self.path = path

    def __enter__(self):
        self._file = open(self.path, "a")
        fcntl.flock(self._file, fcntl.LOCK_EX)
        return self

    def __exit__(self, *exc):
        self._file.close()   # releases the lock


def replace_durably(path: Path, data: bytes, fsync: bool = True) -> None:
    """Replace `path` with `data` atomically (temp file + rename); with `fsync`, durably. Raises
    OSError if `path` was not replaced; once it is, a failure to sync the directory is only
    logged (the new content is in place for every reader of this system)."""
    temporary = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    try:
        with open(temporary, "wb") as f:
            f.write(data)
            f.flush()
            if fsync:
                os.fsync(f.fileno())
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    if fsync:
        try:
            _fsync_directory(path.parent)
        except OSError as error:
            logging.getLogger("ksqlite.log").warning("cannot sync the directory of %s: %s", path, error)


def _fsync_directory(directory: Path) -> None:
    descriptor = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def write_json_durably(path: Path, data, fsync: bool = True) -> None:
    """Replace `path` atomically (temp file + rename); with `fsync`, durably too."""
    replace_durably(path, json.dumps(data).encode(), fsync=fsync)


class Membership:
    """The member files of one group and the assignment they imply."""

    def __init__(self, directory: Path, durable: bool = True):
        self.durable = durable
        self.directory = directory / "members"
        self.directory.mkdir(parents=True, exist_ok=True)
        self._subscriptions: dict[str, frozenset[str]] = {}

    def join(self, topics: Iterable[str], owner: object) -> str:
        """Add a member owned by `owner` (it stays live while `owner` does); returns its id."""
        # Ids sort by join time, so earlier members take the first ranges.
        member_id = f"{time.time_ns():020d}-{os.getpid()}-{next(_member_sequence)}"
        _local_members[member_id] = owner
        topics = sorted(set(topics))
        write_json_durably(self.directory / member_id, {"pid": os.getpid(), "topics": topics},
                           fsync=self.durable)
        self._subscriptions[member_id] = frozenset(topics)
        return member_id

    def leave(self, member_id: str) -> None:
        (self.directory / member_id).unlink(missing_ok=True)

    def live_members(self) -> dict[str, frozenset[str]]:
        """Member id -> subscribed topics, for members whose process still runs."""
        live = {}
        for member_id in sorted(os.listdir(self.directory)):
            if member_id.endswith(".tmp"):
                continue
            topics = self._subscription(member_id)
            if topics is not None:
                live[member_id] = topics
        return live

    def _subscription(self, member_id: str) -> Optional[frozenset[str]]:
        pid = _member_pid(member_id)
        if pid is None:           # not a member file (a stray file is ignored, never fatal)
            return None
        alive = member_id in _local_members if pid == os.getpid() else _process_alive(pid)
        if not alive:
            self.leave(member_id)
            return None
        if member_id not in self._subscriptions:
            try:
                content = json.loads((self.directory / member_id).read_bytes())
                topics = content["topics"]
            except (OSError, ValueError, TypeError, KeyError):
                return None
            if not isinstance(topics, list) or not all(isinstance(t, str) for t in topics):
                return None
            self._subscriptions[member_id] = frozenset(topics)
        return self._subscriptions[member_id]


def _member_pid(member_id: str) -> Optional[int]:
    """The process id in a member file's name (`<ns>-<pid>-<n>`), or None if it is not one."""
    parts = member_id.split("-")
    if len(parts) != 3 or not all(part.isascii() and part.isdigit() for part in parts):
        return None
    return int(parts[1])


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def range_assignment(members: dict[str, frozenset[str]],
                     partition_counts: Callable[[str], int]) -> dict[str, list[TopicPartition]]:
    """Kafka's RangeAssignor: per topic, contiguous partition ranges to sorted subscribers."""
    assignment: dict[str, list[TopicPartition]] = {m: [] for m in members}
    for topic in sorted(set().union(*members.values()) if members else ()):
        subscribers = sorted(m for m, topics in members.items() if topic in topics)
        per_member, extra = divmod(partition_counts(topic), len(subscribers))
        start = 0
        for i, member_id in enumerate(subscribers):
            count = per_member + (1 if i < extra else 0)
            assignment[member_id].extend((topic, p) for p in range(start, start + count))
            start += count
    return assignment
