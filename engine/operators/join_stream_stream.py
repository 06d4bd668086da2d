"""StreamStreamJoin: two streams joined WITHIN a time window (INNER, LEFT, RIGHT, FULL OUTER).

Each side buffers its records (`WindowedRows`) for before + after + grace; a record joins every
record of the other side with the same key and a timestamp in [t - before, t + after] (seen from
the left), the result stamped with the later of the two timestamps. Records of a side expire
by that side's own stream time, as Kafka Streams' window stores do; stream time for closing
windows is shared by both sides.

Outer results (a record that found no match) follow ksqlDB: with an explicit GRACE PERIOD the
null-padded row is held until the record's window closes (stream time > t + after + grace) and
dropped if a match arrives first; without GRACE the legacy join emits it at once. A run of
records is matched against the other side in one DuckDB join; only the hold-until-close
bookkeeping of GRACE outer joins walks the run record by record (`_process_holding_outer`).
"""
from __future__ import annotations

import bisect

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from pyksqlite.operators.base import ROWTIME_COL
from pyksqlite.operators.join_common import (hash_type, JoinStep, HASH_COL, JOIN_KEY_COL, SideSpec, empty_output,
                                          meta_from, output_schema, output_table)
from pyksqlite.state.join_state import WindowedRows
from pyksqlite.state.snapshot import Snapshot, SnapshotError
from pyksqlite.common.types import to_arrow

KEY_COL = "__jk"
# A held outer row's place in `held`, in its snapshot table: (time, side order, key hash, position).
HELD_COLUMNS = ("__held_time", "__held_order", "__held_hash", "__held_position")


class StreamStreamJoin(JoinStep):
    def __init__(self, step, left: SideSpec, right: SideSpec):
        self.step = step
        self.left, self.right = left, right
        self.output_schema = output_schema(left, right, step.key_type, table_result=False)
        self.data_schema = list(left.schema) + list(right.schema)
        extra = [(ROWTIME_COL, pa.int64()), (HASH_COL, hash_type(step)), (KEY_COL, to_arrow(step.key_type)),
                 ("__order", pa.int64())]
        retention = step.retention_ms
        self.left_rows = WindowedRows(pa.schema(list(left.schema) + extra), retention)
        self.right_rows = WindowedRows(pa.schema(list(right.schema) + extra), retention)
        self.left_outer = step.kind in ("LEFT", "FULL")
        self.right_outer = step.kind in ("RIGHT", "FULL")
        self.holds_outer = step.grace_ms is not None and (self.left_outer or self.right_outer)
        self.grace = step.grace_ms or 0
        self.stream_time = -1
        # Held outer records: (time, side order, key, side, row) sorted; rows kept per side.
        self.held: list[tuple] = []

    def describe(self) -> str:
        return (f"JOIN stream-stream {self.step.kind} WITHIN ({self.step.before_ms}, {self.step.after_ms}) ms"
                f"{'' if self.step.grace_ms is None else f' GRACE {self.step.grace_ms} ms'} ON {self.step.text}")

    def process_left(self, rows: pa.Table) -> pa.Table:
        return self._process(rows, True)

    def process_right(self, rows: pa.Table) -> pa.Table:
        return self._process(rows, False)

    # --- one run ---
    def _process(self, rows: pa.Table, is_left: bool) -> pa.Table:
        this = self.left if is_left else self.right
        this_buf = self.left_rows if is_left else self.right_rows
        other_buf = self.right_rows if is_left else self.left_rows
        outer = self.left_outer if is_left else self.right_outer
        before, after = (self.step.before_ms, self.step.after_ms) if is_left else (self.step.after_ms, self.step.before_ms)
        key, hashes = this.key(rows)
        valid = hashes.is_valid()
        if valid.false_count:
            rows, key, hashes = rows.filter(valid), key.filter(valid), hashes.filter(valid)
        if rows.num_rows == 0:
            return empty_output(self.output_schema)
        times = rows.column(ROWTIME_COL).to_numpy(zero_copy_only=False).astype(np.int64)
        probe, found = other_buf.matches(hashes, np.maximum(times - before, 0), times + after)
        if self.holds_outer:
            out = self._process_holding_outer(rows, key, hashes, times, probe, found, is_left, outer, after)
        else:
            self.stream_time = max(self.stream_time, int(times.max()))
            this_idx, other_idx = probe, found.astype(np.float64)
            if outer:
                counts = np.bincount(probe, minlength=rows.num_rows)
                unmatched = np.flatnonzero(counts == 0)
                if len(unmatched):
                    this_idx = np.concatenate([probe, unmatched])
                    other_idx = np.concatenate([other_idx, np.full(len(unmatched), np.nan)])
                    order = np.argsort(this_idx, kind="stable")
                    this_idx, other_idx = this_idx[order], other_idx[order]
            out = self._joined(rows, key, this_idx, other_idx, other_buf, is_left)
        stored = rows.append_column(HASH_COL, hashes).append_column(KEY_COL, key)
        this_buf.put(stored.append_column("__order", pa.nulls(rows.num_rows, pa.int64())).drop_columns(["__order"]))
        return out

    def _joined(self, rows, key, this_idx: np.ndarray, other_idx: np.ndarray, other_buf: WindowedRows,
                is_left: bool) -> pa.Table:
        if len(this_idx) == 0:
            return empty_output(self.output_schema)
        this = self.left if is_left else self.right
        other = self.right if is_left else self.left
        take_this = pa.array(this_idx.astype(np.int64))
        missing = np.isnan(other_idx)
        take_other = pa.array(np.where(missing, 0, other_idx).astype(np.int64), mask=missing)
        columns = {name: rows.column(name).take(take_this) for name, _ in this.schema}
        other_rows = other_buf.rows
        for name, typ in other.schema:
            columns[name] = other_rows.column(name).take(take_other) if other_rows.num_rows else pa.nulls(len(this_idx), typ)
        columns.update(meta_from(rows, take_this))
        this_time = rows.column(ROWTIME_COL).take(take_this)
        if other_rows.num_rows:
            columns[ROWTIME_COL] = pc.max_element_wise(this_time, other_rows.column(ROWTIME_COL).take(take_other),
                                                       skip_nulls=True)
        columns[JOIN_KEY_COL] = key.take(take_this)
        return output_table(self.output_schema, columns, False)

    def _process_holding_outer(self, rows, key, hashes, times, probe, found, is_left, outer, after) -> pa.Table:
        """Per record (named exception to batch processing): held outer rows depend on stream time
        as it advances record by record."""
        other_buf = self.right_rows if is_left else self.left_rows
        pieces = []
        starts = np.searchsorted(probe, np.arange(rows.num_rows + 1))
        hash_list = hashes.to_pylist()
        for i in range(rows.num_rows):
            t = int(times[i])
            self.stream_time = max(self.stream_time, t)
            if t == self.stream_time:
                emitted = self._emit_closed(rows, i, after)
                if emitted is not None:
                    pieces.append(emitted)
            matched = found[starts[i]:starts[i + 1]]
            if len(matched):
                other_times = other_buf.rows.column(ROWTIME_COL).take(pa.array(matched)).to_pylist()
                other_side = not is_left
                self.held = [h for h in self.held
                             if not (h[3] == other_side and h[2] == hash_list[i] and h[0] in other_times)]
                pieces.append(self._joined(rows, key, np.full(len(matched), i), matched.astype(np.float64),
                                           other_buf, is_left))
            elif outer:
                if t + after < self.stream_time:
                    pieces.append(self._joined(rows, key, np.array([i]), np.array([np.nan]), other_buf, is_left))
                else:
                    row = rows.slice(i, 1).append_column(JOIN_KEY_COL, key.slice(i, 1))
                    entry = (t, self._side_order(is_left), hash_list[i], is_left, row)
                    bisect.insort(self.held, entry, key=lambda h: (h[0], h[1], str(h[2])))
        pieces = [p for p in pieces if p.num_rows]
        if not pieces:
            return empty_output(self.output_schema)
        return pa.concat_tables(pieces)

    def _side_order(self, is_left: bool) -> int:
        # Kafka Streams orders held records by (time, its left side after its right side, key);
        # a RIGHT join runs as the right stream's left join.
        streams_left = is_left if self.step.kind != "RIGHT" else not is_left
        return 1 if streams_left else 0

    def _emit_closed(self, rows: pa.Table, i: int, this_after: int):
        if not self.held:
            return None
        if self.held[0][0] + this_after + self.grace >= self.stream_time:
            return None
        out, keep = [], []
        for entry in self.held:
            t, _, _, side, row = entry
            lookback = self.step.after_ms if side else self.step.before_ms
            if t + lookback + self.grace < self.stream_time:
                out.append(self._null_padded(row, side, rows, i))
            else:
                keep.append(entry)
        self.held = keep
        return pa.concat_tables(out) if out else None

    def _null_padded(self, row: pa.Table, is_left: bool, current: pa.Table, i: int) -> pa.Table:
        this = self.left if is_left else self.right
        other = self.right if is_left else self.left
        columns = {name: row.column(name) for name, _ in this.schema}
        columns.update({name: pa.nulls(1, typ) for name, typ in other.schema})
        columns.update(meta_from(current.slice(i, 1)))
        columns[ROWTIME_COL] = row.column(ROWTIME_COL)
        columns[JOIN_KEY_COL] = row.column(JOIN_KEY_COL)
        return output_table(self.output_schema, columns, False)

    # --- state ---
    def snapshot(self) -> Snapshot:
        snapshot = Snapshot().put_child("left", self.left_rows.snapshot()) \
            .put_child("right", self.right_rows.snapshot()).put("stream_time", self.stream_time)
        for side, name in ((True, "held_left"), (False, "held_right")):
            snapshot.put_table(name, self._held_table(side))
        return snapshot

    def _held_table(self, side: bool):
        """The held outer rows of one side as one table, with their place in `held`."""
        entries = [(position, entry) for position, entry in enumerate(self.held) if entry[3] == side]
        if not entries:
            return None
        table = pa.concat_tables([entry[4] for _, entry in entries], promote_options="permissive")
        extra = ([e[0] for _, e in entries], [e[1] for _, e in entries], [e[2] for _, e in entries],
                 [p for p, _ in entries])
        for name, values, typ in zip(HELD_COLUMNS, extra, (pa.int64(), pa.int64(), hash_type(self.step), pa.int64())):
            table = table.append_column(name, pa.array(values, typ))
        return table

    def restore(self, state: Snapshot) -> None:
        self.left_rows.restore(state.child("left"))
        self.right_rows.restore(state.child("right"))
        self.stream_time = state.integer("stream_time")
        held = []
        for side, name, spec in ((True, "held_left", self.left), (False, "held_right", self.right)):
            table = state.table(name, optional=True)
            if table is None:
                continue
            needed = [column for column, _ in spec.schema] + [ROWTIME_COL, JOIN_KEY_COL, *HELD_COLUMNS]
            if any(column not in table.column_names for column in needed):
                raise SnapshotError(f"held rows of the {name[5:]} side lack columns of {needed}")
            rows = table.drop_columns(list(HELD_COLUMNS))
            columns = [table.column(c).to_pylist() for c in HELD_COLUMNS]
            held += [(position, (t, o, h, side, rows.slice(i, 1)))
                     for i, (t, o, h, position) in enumerate(zip(*columns))]
        self.held = [entry for _, entry in sorted(held, key=lambda item: item[0])]
