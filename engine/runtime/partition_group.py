"""A task's input partitions merged in Kafka Streams' order (its `PartitionGroup`).

A query's task reads several partitions (every partition of its source, and of every topic of a
join). Kafka Streams buffers each partition's records in a queue that deserializes them and
extracts their timestamps as they arrive (ksqlDB's extractor reads the TIMESTAMP column), and
always processes next the record of the partition whose head has the lowest timestamp; within a
partition, offset order always. Here a fetched batch is first *prepared* by the plan (the
stateless work: decoding, and for a stateless query everything but the sink), which gives rows
with their event time (`__rowtime`), partition and offset; the rows are buffered per partition.
A row's merge key is its partition's running maximum of event times: a record whose time is
lower than its predecessor's is taken right after it, as Kafka Streams takes a head that is lower
than every other head at once. Ties go to the partition ranked first (the query's topics in
order, then partition number). The merge is a stable sort on (merge key, rank, offset): arrays,
no Python per record. The rows come out as runs of one kind (a join's source: its `tag`).

A row may be processed only once nothing can come before it: a partition that still has unread
records in the log (lag > 0) may still deliver rows whose merge key is as low as its partition
time (the key of its last fetched row), so rows of other partitions above that point wait while
it is fetched, as Kafka Streams >= 3.0 waits for partitions with known lag. An empty partition
without lag holds nothing up, unless `max.task.idle.ms` > 0: then the task waits that long for
it to receive data before going on without it (`-1`: never wait, not even for lag). The order
therefore does not depend on how records were split between polls, so a query started over
existing data, restarted, or far behind gives what a query that ran all along gives.

Records fetched but not processed stay buffered here, so the offsets to commit are the
`positions()` of this group (the next record to process per partition), never the consumer's.

A task rebuilding lost state replays its inputs from the start, but the outputs of the records
before its committed offsets are in the log already: `hold_back_until(offsets)` makes the group
hand out only rows below those offsets (a partition that reached its limit no longer holds the
others up) until `release_if_reached()` says every partition got there; the task drops the
outputs of what it processed meanwhile.
"""
from __future__ import annotations

import time
from typing import Callable, Iterable, Optional

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from pyksqlite.operators.base import OFFSET_COL, PARTITION_COL, ROWTIME_COL

TP = tuple[str, int]
Prepared = tuple[int, str, pa.Table]       # (tag: the kind of rows, topic, rows)
Run = tuple[int, pa.Table]                 # consecutive rows of one tag, in processing order
UNKNOWN_TIME = int(np.iinfo(np.int64).min)  # a partition's time before any record was seen
NEVER_WAIT = -1                             # max.task.idle.ms that processes whatever is buffered


def topics_in_tie_order(sources) -> tuple[str, ...]:
    """The topics of a query's sources (objects with `topic` and `is_table`), ranked for ties:
    tables first, then streams, each in the query's order."""
    ordered = [s.topic for s in sources if s.is_table] + [s.topic for s in sources if not s.is_table]
    return tuple(dict.fromkeys(ordered))


def raw_records(records: pa.Table) -> list[Prepared]:
    """The preparation of a consumer that takes raw records: the records as they are, ordered by
    their log timestamps."""
    if records.num_rows == 0:
        return []
    rows = records.append_column(PARTITION_COL, records.column("partition")) \
        .append_column(OFFSET_COL, records.column("offset")).append_column(ROWTIME_COL, records.column("timestamp"))
    return [(0, topic, rows.filter(pc.equal(records.column("topic"), topic)))
            for topic in pc.unique(records.column("topic")).to_pylist()]


class PartitionBuffer:
    """The prepared, unprocessed rows of one partition (per tag) with their merge keys."""

    def __init__(self, rank: int, partition_time: int = UNKNOWN_TIME):
        self.rank = rank
        self.tables: dict[int, list[pa.Table]] = {}
        self.keys: dict[int, np.ndarray] = {}
        self.offsets: dict[int, np.ndarray] = {}
        self.fetched_time = partition_time     # merge key of the last fetched row
        self.processed_time = partition_time   # merge key of the last processed row
        self.idle_deadline: Optional[float] = None

    def __len__(self) -> int:
        return sum(len(k) for k in self.keys.values())

    def first_offset(self) -> Optional[int]:
        firsts = [int(o[0]) for o in self.offsets.values() if len(o)]
        return min(firsts) if firsts else None

    def add(self, pieces: list[tuple[int, pa.Table]]) -> None:
        """Rows of one fetch, per tag, each in offset order (a record may give rows of several tags)."""
        offsets = [_int64(rows.column(OFFSET_COL)) for _, rows in pieces]
        times = [_times(rows.column(ROWTIME_COL)) for _, rows in pieces]
        if len(pieces) == 1:
            keys = [np.maximum.accumulate(np.maximum(times[0], self.fetched_time))]
        else:   # one running maximum over the partition's rows of every tag, in offset order
            all_offsets, all_times = np.concatenate(offsets), np.concatenate(times)
            order = np.argsort(all_offsets, kind="stable")
            running = np.empty_like(all_times)
            running[order] = np.maximum.accumulate(np.maximum(all_times[order], self.fetched_time))
            keys = np.split(running, np.cumsum([len(o) for o in offsets])[:-1])
        for (tag, rows), key, offset in zip(pieces, keys, offsets):
            self.tables.setdefault(tag, []).append(rows)
            self.keys[tag] = np.concatenate([self.keys[tag], key]) if tag in self.keys else key
            self.offsets[tag] = np.concatenate([self.offsets[tag], offset]) if tag in self.offsets else offset
            self.fetched_time = max(self.fetched_time, int(key[-1]))

    def ready_counts(self, bound: Optional[tuple[int, int]]) -> dict[int, int]:
        """Per tag, how many leading rows come before `bound` (key, rank); all without one."""
        counts = {}
        for tag, keys in self.keys.items():
            if bound is None:
                count = len(keys)
            else:   # (key, rank) < bound: a key equal to the bound's passes if ranked first
                count = int(np.searchsorted(keys, bound[0], side="right" if self.rank < bound[1] else "left"))
            if count:
                counts[tag] = count
        return counts

    def counts_below(self, limit: int, counts: dict[int, int]) -> dict[int, int]:
        """`counts` cut to the rows whose offset is below `limit`."""
        cut = {tag: min(count, int(np.searchsorted(self.offsets[tag], limit))) for tag, count in counts.items()}
        return {tag: count for tag, count in cut.items() if count}

    def take(self, tag: int, count: int) -> pa.Table:
        """The first `count` rows of `tag`, removed from the buffer."""
        tables, taken, remaining = self.tables[tag], [], count
        while remaining:
            if tables[0].num_rows <= remaining:
                remaining -= tables[0].num_rows
                taken.append(tables.pop(0))
            else:
                taken.append(tables[0].slice(0, remaining))
                tables[0] = tables[0].slice(remaining)
                remaining = 0
        self.processed_time = max(self.processed_time, int(self.keys[tag][count - 1]))
        self.keys[tag], self.offsets[tag] = self.keys[tag][count:], self.offsets[tag][count:]
        return taken[0] if len(taken) == 1 else _concat(taken)

    def clear(self, partition_time: int) -> None:
        self.tables, self.keys, self.offsets = {}, {}, {}
        self.fetched_time = self.processed_time = partition_time


class PartitionGroup:
    """Buffers a consumer's records per partition and hands them out in processing order."""

    def __init__(self, consumer, topics: Iterable[str] = (), max_task_idle_ms: int = 0,
                 prepare: Callable[[pa.Table], list[Prepared]] = raw_records,
                 clock: Callable[[], float] = time.monotonic):
        self.consumer = consumer
        self.max_task_idle_ms = int(max_task_idle_ms)
        self.prepare = prepare
        self._topic_order = {topic: index for index, topic in enumerate(dict.fromkeys(topics))}
        self._clock = clock
        self._buffers: dict[TP, PartitionBuffer] = {}
        self._paused: set[TP] = set()
        self._restored_times: dict[TP, int] = {}
        self._limits: dict[TP, int] = {}        # hold_back_until

    # --- the task's loop ---
    def poll(self, max_records: int) -> tuple[list[Run], int]:
        """(the runs ready to process, in processing order; how many records were fetched). A
        poll fetches up to `max_records` and hands out up to twice that, so that what a poll
        leaves buffered (rows above the horizon) goes with the next one, not in a batch alone."""
        fetched = self.fetch(max_records)
        return self.take_ready(2 * max_records), fetched

    def fetch(self, max_records: int) -> int:
        """Poll the consumer for the partitions whose buffers are short, prepare and buffer the
        records; how many were fetched."""
        self._follow_assignment()
        self._pause_full(max(1, max_records // max(1, len(self._buffers))))
        records = self.consumer.poll(max_records)
        self._follow_assignment()
        if records is None or records.num_rows == 0:
            return 0
        if isinstance(records, pa.RecordBatch):
            records = pa.Table.from_batches([records])
        by_partition: dict[TP, list[tuple[int, pa.Table]]] = {}
        for tag, topic, rows in self.prepare(records):
            for partition, piece in _split_by_partition(rows):
                by_partition.setdefault((topic, partition), []).append((tag, piece))
        for tp, pieces in by_partition.items():
            buffer = self._buffers.get(tp)
            if buffer is not None:          # else revoked during the poll: its new owner reads it
                buffer.add(pieces)
        return records.num_rows

    def take_ready(self, max_rows: int) -> list[Run]:
        """Up to `max_rows` rows that nothing still unread can precede, as runs in order."""
        self._follow_assignment()
        bounds = sorted(self._bounds().items(), key=lambda item: item[1])
        ready = {}
        for tp, buffer in self._buffers.items():
            counts = buffer.ready_counts(next((b for other, b in bounds if other != tp), None))
            if tp in self._limits:
                counts = buffer.counts_below(self._limits[tp], counts)
            if counts:
                ready[tp] = counts
        if not ready:
            return []
        ready = self._first_in_order(ready, max_rows)
        parts = [(tp, tag, n) for tp, counts in ready.items() for tag, n in counts.items()]
        keys = [self._buffers[tp].keys[tag][:n] for tp, tag, n in parts]
        offsets = [self._buffers[tp].offsets[tag][:n] for tp, tag, n in parts]
        tables = [self._buffers[tp].take(tag, n) for tp, tag, n in parts]
        return _merged_runs([(tag, self._buffers[tp].rank) for tp, tag, _ in parts], keys, offsets, tables)

    # --- positions ---
    def positions(self) -> dict[TP, int]:
        """Per assigned partition, the offset of the next record to process (what to commit)."""
        consumed = getattr(self.consumer, "consumed_positions", None)
        if consumed is not None:
            positions = consumed()
        else:
            positions = {tp: self.consumer.position(*tp) for tp in self._assignment()}
        for tp, buffer in self._buffers.items():
            first = buffer.first_offset()
            if first is not None and tp in positions:
                positions[tp] = first
        return positions

    def partition_times(self) -> dict[TP, int]:
        """Per partition, the merge key of its last processed row (saved with checkpoints so that
        a restarted task orders the records after it as an uninterrupted one would)."""
        return {tp: b.processed_time for tp, b in self._buffers.items() if b.processed_time != UNKNOWN_TIME}

    def seek(self, topic: str, partition: int, offset: int, partition_time: Optional[int] = None) -> None:
        """Read the partition from `offset` next; its buffered rows are dropped."""
        tp = (topic, partition)
        self.consumer.seek(topic, partition, offset)
        time_ = UNKNOWN_TIME if partition_time is None else int(partition_time)
        if tp in self._buffers:
            self._buffers[tp].clear(time_)
        else:
            self._restored_times[tp] = time_

    # --- holding back a replay ---
    def hold_back_until(self, limits: dict[TP, int]) -> None:
        """Hand out only rows below these offsets until every partition reaches its own."""
        self._limits = {tp: int(offset) for tp, offset in limits.items()}

    @property
    def holding_back(self) -> bool:
        return bool(self._limits)

    def release_if_reached(self) -> bool:
        """True (and no more holding back) once every partition's next row is at its limit."""
        if not self._limits:
            return False
        positions = self.positions()
        if any(positions.get(tp, limit) < limit for tp, limit in self._limits.items()):
            return False
        self._limits = {}
        return True

    def _reached_limit(self, tp: TP, buffer: PartitionBuffer) -> bool:
        limit = self._limits.get(tp)
        if limit is None:
            return False
        first = buffer.first_offset()
        return (first if first is not None else self.consumer.position(*tp)) >= limit

    def buffered(self) -> int:
        return sum(len(b) for b in self._buffers.values())

    # --- assignment and fetching ---
    def _assignment(self) -> list[TP]:
        current = getattr(self.consumer, "current_assignment", None)
        return current() if current is not None else self.consumer.assignment()

    def _follow_assignment(self) -> None:
        assigned = set(self._assignment())
        for tp in [tp for tp in self._buffers if tp not in assigned]:
            del self._buffers[tp]
        for tp in sorted(assigned - self._buffers.keys()):
            self._buffers[tp] = PartitionBuffer(self._rank(tp), self._restored_times.pop(tp, UNKNOWN_TIME))
        self._paused &= assigned

    def _rank(self, tp: TP) -> int:
        topic_index = self._topic_order.setdefault(tp[0], len(self._topic_order))
        return topic_index * (1 << 20) + tp[1]

    def _pause_full(self, cap: int) -> None:
        """Fetch only partitions holding fewer than `cap` rows (bounded memory per task)."""
        full = {tp for tp, buffer in self._buffers.items() if len(buffer) >= cap}
        if full - self._paused:
            self.consumer.pause(sorted(full - self._paused))
        if self._paused - full:
            self.consumer.resume(sorted(self._paused - full))
        self._paused = full

    # --- the horizon ---
    def _bounds(self) -> dict[TP, tuple[int, int]]:
        """Partitions that may still deliver rows: each with the lowest (merge key, rank) its
        next row can have."""
        if self.max_task_idle_ms == NEVER_WAIT:
            return {}
        bounds, now = {}, None
        for tp, buffer in self._buffers.items():
            if self._limits and self._reached_limit(tp, buffer):
                continue                         # it delivers nothing more while holding back
            lag = self.consumer.current_lag(*tp)
            if lag is None or lag > 0:
                buffer.idle_deadline = None
                bounds[tp] = (buffer.fetched_time, buffer.rank)
            elif self.max_task_idle_ms == 0:
                buffer.idle_deadline = None
            elif len(buffer):                    # once drained, it will be waited for
                buffer.idle_deadline = None
                bounds[tp] = (buffer.fetched_time, buffer.rank)
            else:                                # empty and caught up: wait max.task.idle.ms for it
                now = self._clock() if now is None else now
                if buffer.idle_deadline is None:
                    buffer.idle_deadline = now + self.max_task_idle_ms / 1000
                if now < buffer.idle_deadline:
                    bounds[tp] = (buffer.fetched_time, buffer.rank)
        return bounds

    def _first_in_order(self, ready: dict[TP, dict[int, int]], max_rows: int) -> dict[TP, dict[int, int]]:
        """The ready counts cut to the first `max_rows` rows of the merge."""
        parts = [(tp, tag, n) for tp, counts in ready.items() for tag, n in counts.items()]
        sizes = [n for _, _, n in parts]
        if sum(sizes) <= max_rows:
            return ready
        keys = np.concatenate([self._buffers[tp].keys[tag][:n] for tp, tag, n in parts])
        ranks = np.concatenate([np.full(n, self._buffers[tp].rank, dtype=np.int64) for tp, _, n in parts])
        offsets = np.concatenate([self._buffers[tp].offsets[tag][:n] for tp, tag, n in parts])
        tags = np.concatenate([np.full(n, tag, dtype=np.int64) for _, tag, n in parts])
        first = np.lexsort((tags, offsets, ranks, keys))[:max_rows]
        taken = np.bincount(np.searchsorted(np.cumsum(sizes), first, side="right"), minlength=len(parts))
        cut: dict[TP, dict[int, int]] = {}
        for (tp, tag, _), n in zip(parts, taken):
            if n:
                cut.setdefault(tp, {})[tag] = int(n)
        return cut


def _merged_runs(sources: list[tuple[int, int]], keys: list[np.ndarray], offsets: list[np.ndarray],
                 tables: list[pa.Table]) -> list[Run]:
    """Rows of several (tag, rank) pieces merged by (merge key, rank, offset, tag), as runs of one
    tag: a run is a slice where the pieces were already in order, else one `take`."""
    if len(tables) == 1:
        return [(sources[0][0], tables[0])]
    if len({tag for tag, _ in sources}) == 1:
        return _merged_one_tag(sources, keys, tables)
    by_tag: dict[int, list[int]] = {}
    for index, (tag, _) in enumerate(sources):
        by_tag.setdefault(tag, []).append(index)
    order_of_pieces = [i for indices in by_tag.values() for i in indices]
    all_keys = np.concatenate([keys[i] for i in order_of_pieces])
    all_ranks = np.concatenate([np.full(len(keys[i]), sources[i][1], dtype=np.int64) for i in order_of_pieces])
    all_offsets = np.concatenate([offsets[i] for i in order_of_pieces])
    all_tags = np.concatenate([np.full(len(keys[i]), sources[i][0], dtype=np.int64) for i in order_of_pieces])
    order = np.lexsort((all_tags, all_offsets, all_ranks, all_keys))
    tag_tables, tag_starts, start = {}, {}, 0
    for tag, indices in by_tag.items():
        tag_tables[tag] = _concat([tables[i] for i in indices])
        tag_starts[tag] = start
        start += tag_tables[tag].num_rows
    ordered_tags = all_tags[order]
    cuts = np.flatnonzero(np.diff(ordered_tags)) + 1
    runs = []
    for begin, end in zip(np.concatenate([[0], cuts]), np.concatenate([cuts, [len(order)]])):
        tag = int(ordered_tags[begin])
        rows = order[begin:end] - tag_starts[tag]
        table = tag_tables[tag]
        if np.all(np.diff(rows) == 1):
            runs.append((tag, table.slice(int(rows[0]), len(rows))))
        else:
            runs.append((tag, _take(table, rows)))
    return runs


def _take(table: pa.Table, rows: np.ndarray) -> pa.Table:
    """`table.take(rows)`, without copying the columns that hold nulls only (the decoded value
    columns a query does not read)."""
    indices = pa.array(rows)
    columns = [pa.nulls(len(rows), column.type) if column.null_count == len(column) else column.take(indices)
               for column in table.columns]
    return pa.Table.from_arrays(columns, schema=table.schema)


def _merged_one_tag(sources: list[tuple[int, int]], keys: list[np.ndarray], tables: list[pa.Table]) -> list[Run]:
    """Pieces of one kind of rows, one per partition, each in offset order: concatenated in rank
    order, a stable sort on the merge key alone gives (merge key, rank, offset)."""
    by_rank = sorted(range(len(tables)), key=lambda i: sources[i][1])
    merged = pa.concat_tables([tables[i] for i in by_rank], promote_options="permissive")
    all_keys = np.concatenate([keys[i] for i in by_rank])
    if np.all(all_keys[1:] >= all_keys[:-1]):
        return [(sources[0][0], merged)]
    return [(sources[0][0], _take(merged, np.argsort(all_keys, kind="stable")))]


def _split_by_partition(rows: pa.Table) -> list[tuple[int, pa.Table]]:
    """The rows of each partition, in offset order (a poll may interleave partitions)."""
    if rows.num_rows == 0:
        return []
    partitions = _int64(rows.column(PARTITION_COL))
    offsets = _int64(rows.column(OFFSET_COL))
    starts = np.flatnonzero(partitions[1:] != partitions[:-1]) + 1
    heads = partitions[np.concatenate([[0], starts])]
    descending = np.flatnonzero(offsets[1:] < offsets[:-1]) + 1
    if len(set(heads.tolist())) < len(heads) or not np.isin(descending, starts).all():
        order = np.lexsort((offsets, partitions))
        rows, partitions = rows.take(pa.array(order)), partitions[order]
        starts = np.flatnonzero(partitions[1:] != partitions[:-1]) + 1
    bounds = np.concatenate([[0], starts, [len(partitions)]])
    return [(int(partitions[b]), rows.slice(int(b), int(e - b))) for b, e in zip(bounds[:-1], bounds[1:])]


def _int64(column) -> np.ndarray:
    return column.to_numpy().astype(np.int64, copy=False)


def _times(column) -> np.ndarray:
    if column.null_count:
        column = pc.fill_null(column, UNKNOWN_TIME)
    return _int64(column)


def _concat(tables: list[pa.Table]) -> pa.Table:
    return tables[0] if len(tables) == 1 else pa.concat_tables(tables, promote_options="permissive")
