"""Consumer groups: membership, partition assignment and durably committed offsets.

A group lives in `<log>/groups/<group>/` (group names follow Kafka's topic-name rule, and the
directory is checked to be inside the log's: `pyksqlite.common.names`):
- `offsets.json`: the committed next-offsets, replaced atomically (temp + fsync + rename) under
  an flock on `offsets.lock`, so commits from several processes merge and survive a crash. A
  file that is not valid JSON of that shape is an error naming it (`CorruptGroupFile`), never
  read as "no offsets" (which would silently restart the group elsewhere);
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
import os
import time
import weakref
from pathlib import Path
from typing import Callable, Iterable, Optional

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
    """A group's committed offsets in one JSON file."""

    def __init__(self, directory: Path, durable: bool = True):
        self.path = directory / "offsets.json"
        self.lock_path = directory / "offsets.lock"
        self.durable = durable  # fsync each commit (the log's flush policy "batch")

    def load(self) -> dict[TopicPartition, int]:
        try:
            text = self.path.read_bytes()
        except FileNotFoundError:
            return {}
        try:
            return _offsets(json.loads(text))
        except (ValueError, TypeError, AttributeError) as error:
            raise CorruptGroupFile(f"consumer group offsets {self.path} are corrupt ({error}); move the "
                                   "file away to let the group start from auto.offset.reset") from None

    def commit(self, offsets: dict[TopicPartition, int]) -> None:
        """Merge `offsets` into the file durably, serialized with other processes' commits."""
        with open(self.lock_path, "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            merged = self.load()
            merged.update(offsets)
            write_json_durably(self.path, _nest(merged), fsync=self.durable)

    def forget_topic(self, topic: str) -> None:
        with open(self.lock_path, "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            kept = {tp: o for tp, o in self.load().items() if tp[0] != topic}
            write_json_durably(self.path, _nest(kept))


def _offsets(raw) -> dict[TopicPartition, int]:
    """{topic: {partition: offset}} as read, checked."""
    offsets = {}
    for topic, parts in raw.items():
        for partition, offset in parts.items():
            if not isinstance(topic, str) or type(offset) is not int or offset < 0 or int(partition) < 0:
                raise ValueError(f"invalid entry {topic!r}/{partition!r}: {offset!r}")
            offsets[(topic, int(partition))] = offset
    return offsets


def _nest(offsets: dict[TopicPartition, int]) -> dict[str, dict[str, int]]:
    nested: dict[str, dict[str, int]] = {}
    for (topic, partition), offset in sorted(offsets.items()):
        nested.setdefault(topic, {})[str(partition)] = int(offset)
    return nested


def write_json_durably(path: Path, data, fsync: bool = True) -> None:
    """Replace `path` atomically (temp file + rename); with `fsync`, durably too."""
    temporary = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    with open(temporary, "w") as f:
        json.dump(data, f)
        f.flush()
        if fsync:
            os.fsync(f.fileno())
    os.replace(temporary, path)
    if not fsync:
        return
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


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
