"""A query task's checkpoint: its operators' state and the input positions that state covers.

`save` writes both in one `CheckpointFile` (the task commits those offsets only afterwards).
Under exactly-once, `prepare` writes it beside the installed one and returns its identity, which
the task's transaction commits with the outputs and offsets; `install` then puts it in place, and
`restore(expected=...)` accepts only the checkpoint the last committed transaction names.
`restore` reads it back, checks it against the plan (the same operators, in the same order) and
restores every operator, then seeks the consumer to the positions. It reports a checkpoint that
cannot be used instead of raising, so that the task can rebuild: a checkpoint that is corrupt
(flipped bytes, truncated, a blob missing or changed, state that does not fit an operator), or one
that is missing while the query's consumer group has committed offsets (a checkpoint existed: a
stateful task commits only what a checkpoint covers). Starting from those offsets with empty state
would silently lose everything before them; the task replays its inputs from the start instead.

Pickled checkpoints of older versions (`checkpoint.pickle`) are never read: unpickling runs code.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Callable, Optional

from pyksqlite.log.api import Consumer, LogError
from pyksqlite.state.checkpoint_store import CheckpointError, CheckpointFile
from pyksqlite.state.snapshot import Snapshot, SnapshotError

logger = logging.getLogger("ksqlite.runtime")

FILE_NAME = "checkpoint.state"
LEGACY_FILE_NAME = "checkpoint.pickle"


class QueryCheckpoint:
    def __init__(self, state_dir: Path):
        self.file = CheckpointFile(state_dir / FILE_NAME)
        self.legacy = state_dir / LEGACY_FILE_NAME

    @property
    def path(self) -> Path:
        return self.file.path

    def save(self, operators: list, positions: dict[tuple[str, int], int],
             partition_times: Optional[dict[tuple[str, int], int]] = None) -> None:
        """`partition_times`: per input partition, the time the task's record order had reached
        (see engine.partition_group), so that a restored task orders what follows the same way."""
        self.file.write(self._snapshot(operators, positions, partition_times))

    def prepare(self, operators: list, positions: dict[tuple[str, int], int],
                partition_times: Optional[dict[tuple[str, int], int]] = None) -> dict:
        """Write the checkpoint beside the installed one; its identity, for the commit record."""
        return self.file.write_next(self._snapshot(operators, positions, partition_times))

    def install(self) -> None:
        """The checkpoint `prepare` wrote becomes the checkpoint (its transaction committed)."""
        self.file.install_next()

    def _snapshot(self, operators: list, positions: dict[tuple[str, int], int],
                  partition_times: Optional[dict[tuple[str, int], int]]) -> Snapshot:
        snapshot = Snapshot()
        snapshot.put("positions", [[topic, partition, int(offset)]
                                   for (topic, partition), offset in sorted(positions.items())])
        snapshot.put("partition_times", [[topic, partition, int(time_)]
                                         for (topic, partition), time_ in sorted((partition_times or {}).items())])
        snapshot.put("operators", [type(operator).__name__ for operator in operators])
        snapshot.put_children("states", [operator.snapshot() for operator in operators])
        return snapshot

    def restore(self, operators: list, consumer: Consumer,
                seek: Optional[Callable[[str, int, int, Optional[int]], None]] = None,
                expected: Optional[dict] = None) -> Optional[str]:
        """Restore the operators and seek the inputs (`seek(topic, partition, offset,
        partition_time)`, by default the consumer's seek). None when done (or when there is nothing
        to restore: a new query); else why the state must be rebuilt (the checkpoint file, if any,
        is set aside as `<name>.corrupt`). Operators may be partly restored then. `expected`: the
        identity of the checkpoint the last committed transaction names (exactly-once)."""
        if expected is None and not self.file.exists():
            if not consumer.committed():
                return None
            legacy = " (a pickled checkpoint of an older version is never read)" if self.legacy.exists() else ""
            return f"checkpoint {self.path} is missing although the query committed offsets{legacy}"
        try:
            states, positions, times = self._read(operators, expected)
            for operator, state in zip(operators, states):
                if state is not None:
                    operator.restore(state)
            for (topic, partition), offset in positions.items():
                if seek is None:
                    consumer.seek(topic, partition, offset)
                else:
                    seek(topic, partition, offset, times.get((topic, partition)))
        except CheckpointError as error:
            return self._unusable(str(error))
        except LogError:   # the log, not the checkpoint, is wrong (a position past its end)
            raise
        except Exception as error:  # noqa: BLE001 - state from a file that does not fit the plan
            return self._unusable(f"checkpoint {self.path}: its state does not fit the query "
                                  f"({type(error).__name__}: {error})")
        return None

    def _read(self, operators: list, expected: Optional[dict]) -> tuple[
            list[Optional[Snapshot]], dict[tuple[str, int], int], dict[tuple[str, int], int]]:
        snapshot = self.file.read(expected)
        try:
            kinds = snapshot.get("operators", list)
            states = snapshot.children("states")
            entries = snapshot.get("positions", list)
            time_entries = snapshot.get("partition_times", list) if "partition_times" in snapshot else []
        except SnapshotError as error:
            raise CheckpointError(self.path, str(error)) from None
        if kinds != [type(operator).__name__ for operator in operators] or len(states) != len(operators):
            raise CheckpointError(self.path, f"it holds the state of other operators ({kinds})")
        positions = self._per_partition(entries, "position", non_negative=True)
        times = self._per_partition(time_entries, "partition time", non_negative=False)
        return states, positions, times

    def _per_partition(self, entries: list, what: str, non_negative: bool) -> dict[tuple[str, int], int]:
        """[[topic, partition, number], ...] checked entry by entry."""
        values = {}
        for entry in entries:
            if not (isinstance(entry, list) and len(entry) == 3 and isinstance(entry[0], str)
                    and all(isinstance(n, int) and not isinstance(n, bool) for n in entry[1:])
                    and entry[1] >= 0 and (entry[2] >= 0 or not non_negative)):
                raise CheckpointError(self.path, f"invalid {what} {entry!r}")
            values[(entry[0], entry[1])] = entry[2]
        return values

    def _unusable(self, reason: str) -> str:
        try:
            aside = self.file.set_aside()
        except OSError as error:
            logger.warning("could not set %s aside: %s", self.path, error)
            aside = None
        return reason + (f" (kept as {aside})" if aside is not None else "")


def replay_from_start(consumer: Consumer) -> Optional[str]:
    """Seek every assigned input partition to the start of its log; a note if some start after
    offset 0 (retention deleted records that the rebuilt state will lack)."""
    consumer.seek_to_beginning()
    truncated = [f"{topic}-{partition} starts at offset {consumer.position(topic, partition)}"
                 for topic, partition in sorted(consumer.assignment())
                 if consumer.position(topic, partition) > 0]
    if not truncated:
        return None
    return ("the inputs no longer reach back to offset 0 (" + ", ".join(truncated) +
            "): records deleted by retention are missing from the rebuilt state")
