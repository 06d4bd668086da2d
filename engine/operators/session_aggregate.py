"""SessionAggregate: GROUP BY with WINDOW SESSION (gap).

A record joins every session of its key that ends no earlier than `ts - gap` and starts no later
than `ts + gap`; those sessions merge into one, and each merged-away session is retracted with a
tombstone (at its own timestamp) before the merged session is emitted, as Kafka Streams' session
aggregation forwards them. A record is late (dropped) when the merged session would end before
stream time - grace - gap; sessions that ended before stream time - max(retention, gap + grace)
are expired and no longer merge.

Sessions are sequential by nature (each record may merge the sessions the previous one built),
so the merge runs in Python per record. The per-record partials of the vectorized aggregates are
computed in DuckDB first, merged sessions combine partials (SUM/MIN/MAX), and the output stage
(results, projection, HAVING) runs vectorized over the batch's updates.
"""
from __future__ import annotations

from typing import Optional

import duckdb
import numpy as np
import pyarrow as pa

from pyksqlite.common.duck import connection
from pyksqlite.expressions.aggregates import BoundAggregate, _freeze, partial_sql_for
from pyksqlite.operators.aggregate_output import (EMIT, LAST, PASSED, SEQ, STATE_PASSED, AggregateOutput, conform,
                                               python_results_table)
from pyksqlite.operators.base import ROWTIME_COL, TOMBSTONE_COL, WINDOWEND_COL, WINDOWSTART_COL, BatchLayout
from pyksqlite.state.accumulator_state import accumulator_tables, argument_types, load_accumulators
from pyksqlite.state.snapshot import Snapshot, SnapshotError

NO_TIME = -(2 ** 62)


class _Session:
    __slots__ = ("start", "end", "partials", "accumulators", "rowtime", "passed")

    def __init__(self, start, end, partials, accumulators, rowtime):
        self.start, self.end = start, end
        self.partials, self.accumulators, self.rowtime = partials, accumulators, rowtime
        self.passed = None


def _combine(kind: str, a, b):
    if a is None:
        return b
    if b is None:
        return a
    if kind == "sum":
        return a + b
    return min(a, b) if kind == "min" else max(a, b)


class SessionAggregate:
    def __init__(self, aggregates: list[BoundAggregate], arg_columns: list[list[str]], group_count: int,
                 window, output: AggregateOutput, emit_final: bool, per_record: bool):
        self.aggregates = aggregates
        self.arg_columns = arg_columns
        self.groups = [f"g{i}" for i in range(group_count)]
        self.window = window
        self.output = output
        self.layout: BatchLayout = output.layout
        self.emit_final = emit_final
        self.per_record = per_record
        self.partial_columns: list[list[str]] = []
        self.partial_kinds: list[str] = []
        counter = 0
        for aggregate in aggregates:
            names = [f"c{counter + i}" for i in range(len(aggregate.partials or []))]
            self.partial_kinds += [p.combine for p in aggregate.partials or []]
            counter += len(names)
            self.partial_columns.append(names)
        output.partial_columns = self.partial_columns
        self.partial_types = [p.duck_type for a in aggregates for p in (a.partials or [])]
        self.python_indices = [i for i, a in enumerate(aggregates) if not a.vectorized]
        self.sessions: dict = {}       # group key tuple -> (key values, [sessions])
        self.stream_time = NO_TIME
        self.sequence = 0
        self._expired: list = []       # EMIT FINAL: sessions expired before their final row went out
        self._value_types: Optional[tuple] = None   # (key and partial types, argument types): checkpoints

    def describe(self) -> str:
        return (f"SESSION AGGREGATE [{', '.join(a.name for a in self.aggregates)}] by {len(self.groups)} key(s) "
                f"window {self.window.describe()} emit {'FINAL' if self.emit_final else 'CHANGES'}")

    def advance_time(self, stream_time_ms: int) -> Optional[pa.Table]:
        return None

    # --- checkpoints: one row per session (key, bounds, time, partials), accumulators beside ---
    def snapshot(self) -> Snapshot:
        snapshot = Snapshot().put("stream_time", self.stream_time).put("sequence", self.sequence)
        owners = [(values, session) for values, sessions in self.sessions.values() for session in sessions]
        if not owners:
            return snapshot.put_table("sessions", None)
        types, arg_types = self._value_types
        partial_names = [f"p{i}" for i in range(len(self.partial_kinds))]
        columns = {}
        for i, (name, typ) in enumerate(zip(self.groups + partial_names, types)):
            if i < len(self.groups):
                columns[name] = pa.array([values[i] for values, _ in owners], type=typ)
            else:
                columns[name] = pa.array([s.partials[i - len(self.groups)] for _, s in owners], type=typ)
        for name, attribute in (("start", "start"), ("end", "end"), ("rowtime", "rowtime")):
            columns[name] = pa.array([getattr(s, attribute) for _, s in owners], pa.int64())
        snapshot.put_table("sessions", pa.table(columns))
        for j, table in enumerate(accumulator_tables([s.accumulators for _, s in owners], arg_types)):
            snapshot.put_table(f"aggregate{j}", table)
        return snapshot

    def restore(self, state: Snapshot) -> None:
        self.stream_time, self.sequence = state.integer("stream_time"), state.integer("sequence")
        self.sessions = {}
        table = state.table("sessions", optional=True)
        if table is None:
            return
        partial_names = [f"p{i}" for i in range(len(self.partial_kinds))]
        expected = self.groups + partial_names + ["start", "end", "rowtime"]
        if table.column_names != expected:
            raise SnapshotError(f"session columns {table.column_names} are not {expected}")
        tables = [state.table(f"aggregate{j}") for j in range(len(self.python_indices))]
        owners, arg_types = load_accumulators(tables, table.num_rows,
                                              [self.aggregates[i].accumulator for i in self.python_indices])
        columns = {name: table.column(name).to_pylist() for name in expected}
        for n, accumulators in enumerate(owners):
            values = [columns[g][n] for g in self.groups]
            session = _Session(columns["start"][n], columns["end"][n], [columns[p][n] for p in partial_names],
                               accumulators, columns["rowtime"][n])
            key = tuple(_freeze(v) for v in values)
            self.sessions.setdefault(key, (values, []))[1].append(session)
        self._value_types = ([table.schema.field(name).type for name in self.groups + partial_names], arg_types)

    def _con(self) -> duckdb.DuckDBPyConnection:
        return connection()

    def process(self, batch: pa.Table) -> pa.Table:
        con = self._con()
        if batch.num_rows == 0:
            return self._empty()
        batch = batch.append_column(SEQ, pa.array(np.arange(self.sequence, self.sequence + batch.num_rows,
                                                            dtype=np.int64)))
        self.sequence += batch.num_rows
        rows = self._partials(con, batch)
        updates = self._merge_sessions(rows)
        if self.emit_final:
            return self._emit_closed(con)
        if not updates:
            return self._empty()
        return self._output(con, updates)

    def _partials(self, con, batch: pa.Table) -> pa.Table:
        cols, index = [], 0
        for i, aggregate in enumerate(self.aggregates):
            for partial in aggregate.partials or []:
                sql = partial_sql_for(partial.sql, self.arg_columns[i]).replace("__sign", "CAST(1 AS BIGINT)")
                cols.append(f"CAST({sql} AS {partial.duck_type}) AS p{index}")
                index += 1
        for i in self.python_indices:
            cols += self.arg_columns[i]
        valid = " AND ".join(f"{g} IS NOT NULL" for g in self.groups)
        select = ", ".join(self.groups + [ROWTIME_COL, SEQ] + cols)
        con.register("session_batch", batch)
        try:
            return con.sql(f"SELECT {select} FROM session_batch WHERE {valid} ORDER BY {SEQ}").to_arrow_table()
        finally:
            con.unregister("session_batch")

    def _merge_sessions(self, rows: pa.Table) -> list:
        """Per record: merge overlapping sessions; returns update tuples (key values, session, seq, tombstone)."""
        gap, grace = self.window.size_ms, self.window.grace_ms
        expire = max(self.window.retention_ms, gap + grace) if self.window.retention_ms else gap + grace
        keys = [rows.column(g).to_pylist() for g in self.groups]
        times = rows.column(ROWTIME_COL).to_pylist()
        seqs = rows.column(SEQ).to_pylist()
        partials = [rows.column(f"p{i}").to_pylist() for i in range(len(self.partial_kinds))]
        if self._value_types is None:
            self._value_types = ([rows.schema.field(name).type for name in
                                  self.groups + [f"p{i}" for i in range(len(self.partial_kinds))]],
                                 [argument_types(rows.schema, self.arg_columns[i]) for i in self.python_indices])
        args = {i: [rows.column(c).to_pylist() for c in self.arg_columns[i]] for i in self.python_indices}
        updates = []
        for n in range(rows.num_rows):
            ts, seq = times[n], seqs[n]
            self.stream_time = max(self.stream_time, ts)
            close = self.stream_time - grace - gap
            values = [k[n] for k in keys]
            key = tuple(_freeze(v) for v in values)
            entry = self.sessions.setdefault(key, (values, []))
            live = [s for s in entry[1] if s.end >= self.stream_time - expire]
            if self.emit_final and len(live) != len(entry[1]):
                self._expired += [(values, s) for s in entry[1] if s not in live]
            merged = [s for s in live if s.end >= ts - gap and s.start <= ts + gap]
            start = min([ts] + [s.start for s in merged])
            end = max([ts] + [s.end for s in merged])
            if end < close:
                entry[1][:] = live
                continue
            combined = [None] * len(self.partial_kinds)
            accs = [self.aggregates[i].accumulator() for i in self.python_indices]
            rowtime = ts
            for s in merged:
                combined = [_combine(k, a, b) for k, a, b in zip(self.partial_kinds, combined, s.partials)]
                for acc, other in zip(accs, s.accumulators):
                    acc.merge(other)
                rowtime = max(rowtime, s.rowtime)
                updates.append((values, s, seq, True))
            combined = [_combine(k, a, p[n]) for k, a, p in zip(self.partial_kinds, combined, partials)]
            for acc, i in zip(accs, self.python_indices):
                acc.add(tuple(column[n] for column in args[i]), seq)
            session = _Session(start, end, combined, accs, rowtime)
            entry[1][:] = [s for s in live if s not in merged] + [session]
            updates.append((values, session, seq, False))
        return updates

    def _rows(self, updates: list) -> pa.Table:
        n = len(updates)
        columns = {}
        for i, g in enumerate(self.groups):
            columns[g] = pa.array([u[0][i] for u in updates])
        columns[WINDOWSTART_COL] = pa.array([u[1].start for u in updates], pa.int64())
        columns[WINDOWEND_COL] = pa.array([u[1].end for u in updates], pa.int64())
        names = [c for cols in self.partial_columns for c in cols]
        for j, name in enumerate(names):
            columns[name] = pa.array([u[1].partials[j] for u in updates])
        columns[ROWTIME_COL] = pa.array([u[1].rowtime for u in updates], pa.int64())
        columns[SEQ] = pa.array(np.arange(n, dtype=np.int64))
        columns[EMIT] = pa.array(np.ones(n, dtype=bool))
        columns[LAST] = pa.array(np.ones(n, dtype=bool))
        columns[STATE_PASSED] = pa.nulls(n, pa.bool_())
        columns["__dead"] = pa.array([u[3] for u in updates], pa.bool_())
        results = [[u[1].accumulators[j].result() for u in updates] for j in range(len(self.python_indices))]
        columns.update(python_results_table(results, self.aggregates, self.python_indices))
        return pa.table(columns)

    def _typed(self, con, rows: pa.Table) -> pa.Table:
        names = [c for cols in self.partial_columns for c in cols]
        casts = [f"CAST({c} AS {t}) AS {c}" for c, t in zip(names, self.partial_types)]
        if not casts:
            return rows
        con.register("session_rows", rows)
        try:
            return con.sql(f"SELECT * REPLACE ({', '.join(casts)}) FROM session_rows").to_arrow_table()
        finally:
            con.unregister("session_rows")

    def _output(self, con, updates: list) -> pa.Table:
        rows = self._typed(con, self._rows(updates))
        evaluated = self.output.evaluate(con, rows)
        dead = evaluated.column("__dead")
        import pyarrow.compute as pc
        keep = pc.or_(dead, evaluated.column(PASSED))
        evaluated = evaluated.filter(keep)
        evaluated = evaluated.append_column(TOMBSTONE_COL, evaluated.column("__dead"))
        return conform(evaluated, self.layout)

    def _emit_closed(self, con) -> pa.Table:
        """EMIT FINAL: sessions whose end + gap + grace is at or before stream time, once."""
        gap, grace = self.window.size_ms, self.window.grace_ms
        closed = [(values, s, 0, False) for values, s in self._expired
                  if s.end + gap + grace <= self.stream_time]
        self._expired = []
        for key, (values, sessions) in self.sessions.items():
            for s in list(sessions):
                if s.end + gap + grace <= self.stream_time:
                    closed.append((values, s, 0, False))
                    sessions.remove(s)
        if not closed:
            return self._empty()
        closed.sort(key=lambda u: (u[1].end, u[1].start))
        return self._output(con, closed)

    def _empty(self) -> pa.Table:
        from pyksqlite.common.types import to_arrow
        fields = [pa.field(f.sql_name, to_arrow(f.type)) for f in self.layout.fields]
        fields += [pa.field(ROWTIME_COL, pa.int64()), pa.field(TOMBSTONE_COL, pa.bool_()),
                   pa.field(WINDOWSTART_COL, pa.int64()), pa.field(WINDOWEND_COL, pa.int64())]
        return pa.schema(fields).empty_table()
