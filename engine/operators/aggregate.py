"""Aggregate: GROUP BY without a window or with TUMBLING / HOPPING windows, on streams and tables.

Per batch, vectorized:

1. deltas: one row per contribution (`__sign` +1, or -1 to retract a table source's old row,
   see `aggregate_table_input`); windows assigned (a hopping record lands in size/advance
   windows) and late records dropped: a record is late when its window end + grace is at or
   before the stream time (the largest timestamp seen so far, including the records before it
   in the batch, across all keys).
2. running values: each vectorized aggregate is partials combined by SUM/MIN/MAX; DuckDB window
   functions give, for every delta, the running partials of its group within the batch, which
   are merged with the group's state (`pyksqlite.state.keyed.KeyedTable`, an Arrow table joined in
   the same statement). Accumulator aggregates (collections) are updated in Python once per
   delta, which is the named per-row exception.
3. output: `AggregateOutput` computes results, the projection and HAVING.

Emission: with the record cache off (`cache.max.bytes.buffering=0`, as in ksqlDB's tests) every
delta that changes a group emits its running row; otherwise (the default: the cache is on unless
set to 0) updates are coalesced per batch to the last value of each group, as ksqlDB's cache
coalesces them per commit. Coalesced without HAVING, the running values, the output columns and
the state rows they replace come out of one statement, and the state takes them as an upsert
(`KeyedTable.upsert`: old versions marked dead, the batch's rows appended). With EMIT FINAL,
nothing is emitted until stream time passes a window's end + grace; then its final row is
emitted once (timestamp: the largest record timestamp in the window) and its state dropped.

Coalesced aggregations of a stream on one integer grouping column with numeric partials only (no
HAVING, no EMIT FINAL) run in numpy instead (`pyksqlite.operators.aggregate_fast`): same windows,
late-record dropping and window expiry, state in numpy fragments.
"""
from __future__ import annotations

from typing import Optional

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from pyksqlite.common.duck import connection
from pyksqlite.expressions.aggregates import BoundAggregate, _freeze, partial_sql_for
from pyksqlite.operators.aggregate_fast import NumpyAggregation, integer_keyed, partial_specs
from pyksqlite.operators.aggregate_output import (EMIT, LAST, PASSED, SEQ, STATE_PASSED, AggregateOutput,
                                               conform, python_results_table)
from pyksqlite.operators.aggregate_table_input import TableDeltas
from pyksqlite.operators.base import ROWTIME_COL, TOMBSTONE_COL, WINDOWEND_COL, WINDOWSTART_COL, BatchLayout
from pyksqlite.state.accumulator_state import accumulator_tables, argument_types, load_accumulators
from pyksqlite.state.keyed import ALIVE, ROWID, KeyedTable
from pyksqlite.state.snapshot import Snapshot, SnapshotError

NO_TIME = -(2 ** 62)
OLD_ROW = "__old_row"       # the state row a merged row replaces


class Aggregate:
    def __init__(self, aggregates: list[BoundAggregate], arg_columns: list[list[str]], group_count: int,
                 arg_count: int, source_key_count: Optional[int], window, output: AggregateOutput,
                 emit_final: bool, per_record: bool, value_encoding: Optional[str] = None,
                 dropped_values: tuple[str, ...] = ()):
        self.aggregates = aggregates
        self.arg_columns = arg_columns
        self.group_count = group_count
        self.arg_count = arg_count
        self.window = window                    # WindowPlan (TUMBLING/HOPPING) or None
        self.output = output
        self.layout: BatchLayout = output.layout
        self.emit_final = emit_final
        self.per_record = per_record and not emit_final
        self.table_deltas = TableDeltas(source_key_count, group_count, arg_count) \
            if source_key_count is not None else None
        self.partial_columns: list[list[str]] = []
        counter = 0
        for aggregate in aggregates:
            names = [f"c{counter + i}" for i in range(len(aggregate.partials or []))]
            counter += len(names)
            self.partial_columns.append(names)
        output.partial_columns = self.partial_columns
        self.python_indices = [i for i, a in enumerate(aggregates) if not a.vectorized]
        self.groups = [f"g{i}" for i in range(group_count)]
        self.keys = self.groups + ([WINDOWSTART_COL, WINDOWEND_COL] if window else [])
        # Windowed state knows each fragment's window starts: a batch joins those it can touch.
        self.state = KeyedTable(self.keys, WINDOWSTART_COL if window is not None else None)
        self.accumulators: dict = {}            # group key tuple -> [Accumulator per python aggregate]
        self.group_values: dict = {}            # group key tuple -> the key's values (for checkpoints)
        self._value_types: Optional[tuple] = None   # (key types, argument types per python aggregate)
        self.stream_time = NO_TIME
        self._closes = np.array([], dtype=np.int64)
        self.sequence = 0
        self.fast = self._numpy_aggregation(value_encoding, dropped_values)
        self._fast_checked = False

    def _numpy_aggregation(self, value_encoding, dropped_values) -> Optional[NumpyAggregation]:
        """The numpy form of this aggregation, when the plan has its shape (see aggregate_fast)."""
        if self.per_record or self.emit_final or self.python_indices or self.output.having_sql \
                or self.table_deltas is not None or len(self.groups) != 1:
            return None
        specs = partial_specs(self.aggregates, self.partial_columns, self.arg_columns)
        if specs is None:
            return None
        return NumpyAggregation(specs, self.groups[0], self.window, self.output, value_encoding,
                                list(dropped_values))

    # --- Operator interface ---
    def describe(self) -> str:
        aggs = ", ".join(a.name for a in self.aggregates)
        window = ""
        if self.window is not None:
            window = f" window {self.window.describe()}"
        mode = "FINAL" if self.emit_final else ("CHANGES" if self.per_record else "CHANGES (coalesced per batch)")
        source = " table source (undo)" if self.table_deltas else ""
        return f"AGGREGATE [{aggs}] by {len(self.groups)} key(s){window}{source} emit {mode}"

    def advance_time(self, stream_time_ms: int) -> Optional[pa.Table]:
        return None

    def snapshot(self) -> Snapshot:
        return Snapshot().put_child("state", self.state.snapshot()).put("stream_time", self.stream_time) \
            .put("sequence", self.sequence) \
            .put_child("fast", self.fast.snapshot() if self.fast is not None else None) \
            .put_child("table", self.table_deltas.snapshot() if self.table_deltas else None) \
            .put_child("accumulators", self._accumulators_snapshot())

    def restore(self, data: Snapshot) -> None:
        self.state.restore(data.child("state"))
        self.stream_time = data.integer("stream_time")
        self.sequence = data.integer("sequence")
        if self.table_deltas is not None:
            self.table_deltas.restore(data.child("table"))
        fast = data.child("fast", optional=True)
        if self.fast is not None and fast is not None:
            self.fast.restore(fast)
            self._fast_checked = True
        self._restore_accumulators(data.child("accumulators", optional=True))

    def _accumulators_snapshot(self) -> Optional[Snapshot]:
        """The groups' keys (a table) and their accumulators (engine.state.accumulator_state)."""
        if not self.python_indices or not self.accumulators:
            return None
        key_types, arg_types = self._value_types
        keys = list(self.accumulators)
        values = [self.group_values[key] for key in keys]
        groups = pa.table({name: pa.array([v[i] for v in values], type=typ)
                           for i, (name, typ) in enumerate(zip(self.keys, key_types))})
        tables = accumulator_tables([self.accumulators[key] for key in keys], arg_types)
        snapshot = Snapshot().put_table("groups", groups)
        for j, table in enumerate(tables):
            snapshot.put_table(f"aggregate{j}", table)
        return snapshot

    def _restore_accumulators(self, data: Optional[Snapshot]) -> None:
        self.accumulators, self.group_values = {}, {}
        if data is None:
            return
        if not self.python_indices:
            raise SnapshotError("accumulators for an aggregation without accumulator aggregates")
        groups = data.table("groups")
        if groups.column_names != self.keys:
            raise SnapshotError(f"group columns {groups.column_names} are not {self.keys}")
        tables = [data.table(f"aggregate{j}") for j in range(len(self.python_indices))]
        owners, arg_types = load_accumulators(tables, groups.num_rows,
                                              [self.aggregates[i].accumulator for i in self.python_indices])
        values = [list(row) for row in zip(*[groups.column(k).to_pylist() for k in self.keys])]
        for key_values, accumulators in zip(values, owners):
            key = self._group_key(key_values)
            self.accumulators[key], self.group_values[key] = accumulators, key_values
        self._value_types = ([field.type for field in groups.schema], arg_types)

    def _con(self) -> duckdb.DuckDBPyConnection:
        return connection()

    # --- processing ---
    def process(self, batch: pa.Table) -> pa.Table:
        if batch.num_rows == 0:
            return self._empty()
        con = self._con()
        seq = pa.array(np.arange(self.sequence, self.sequence + batch.num_rows, dtype=np.int64))
        self.sequence += batch.num_rows
        batch = batch.append_column(SEQ, seq)
        if self.fast is not None and not self._fast_checked:
            self._fast_checked = True
            if not integer_keyed(batch, self.groups[0]):
                self.fast = None
        deltas = self._deltas(con, batch)
        if self.fast is not None:     # it reads neither (a hopping window copies every column)
            deltas = deltas.drop_columns([SEQ, EMIT])
        if self.window is not None:
            deltas = self._assign_windows(con, deltas)
        if self.fast is not None:
            emitted = self.fast.process(con, deltas) if deltas.num_rows else self._empty()
            self.fast.close_before(self.stream_time)
            return emitted
        if deltas.num_rows == 0:
            return self._close_windows(con) if self.window is not None else self._empty()
        outputs = []
        if self._upsert:
            # Coalesced, no HAVING: one statement merges the batch's groups with their state
            # rows; the state takes the merged rows in place of the old ones, which are emitted.
            touched, rows = self._running(con, deltas, upsert=True)
            state_cols = [c for columns in self.partial_columns for c in columns]
            self.state.upsert(touched, rows.column(OLD_ROW),
                              rows.select(self.keys + state_cols + [ROWTIME_COL, STATE_PASSED])
                              .rename_columns(self.keys + state_cols + ["__rt", "__passed"]))
            outputs.append(self.output.emitted(con, rows.drop_columns([OLD_ROW]), False))
            if self.window is not None:
                closed = self._close_windows(con)
                if closed.num_rows:
                    outputs.append(closed)
            return outputs[0] if len(outputs) == 1 else pa.concat_tables(outputs, promote_options="permissive")
        _, rows = self._running(con, deltas)
        if self.python_indices:
            rows = self._with_python_results(deltas, rows)
        if self.emit_final:
            self._merge_state(con, rows, None)
        else:
            evaluated = self.output.evaluate(con, rows)
            self._merge_state(con, rows, evaluated)
            outputs.append(self.output.emitted(con, evaluated, self.per_record))
        if self.window is not None:
            closed = self._close_windows(con)
            if closed.num_rows:
                outputs.append(closed)
        if not outputs:
            return self._empty()
        return outputs[0] if len(outputs) == 1 else pa.concat_tables(outputs, promote_options="permissive")

    def _deltas(self, con, batch: pa.Table) -> pa.Table:
        if self.table_deltas is not None:
            return self.table_deltas.deltas(con, batch)
        # A stream row adds once; rows with a null grouping value are dropped. Arrow selections
        # only (the batch is already in __seq order).
        cols = self.groups + [f"a{i}" for i in range(self.arg_count)]
        deltas = batch.select(cols + [ROWTIME_COL])
        deltas = deltas.set_column(len(cols), ROWTIME_COL, pc.cast(deltas.column(ROWTIME_COL), pa.int64()))
        n = batch.num_rows
        deltas = deltas.append_column("__sign", pa.array(np.ones(n, dtype=np.int64)))
        deltas = deltas.append_column(SEQ, batch.column(SEQ))
        deltas = deltas.append_column(EMIT, pa.array(np.ones(n, dtype=bool)))
        if any(batch.column(g).null_count for g in self.groups):
            valid = pc.is_valid(batch.column(self.groups[0]))
            for g in self.groups[1:]:
                valid = pc.and_(valid, pc.is_valid(batch.column(g)))
            deltas = deltas.filter(valid)
        return deltas

    def _assign_windows(self, con, deltas: pa.Table) -> pa.Table:
        """Each delta once per window it falls in (in `__seq`, then window start, order), late
        ones dropped; vectorized with numpy (a hopping delta repeats size/advance times)."""
        w = self.window
        size, advance, grace = w.size_ms, w.advance_ms, w.grace_ms
        n = deltas.num_rows
        times = deltas.column(ROWTIME_COL).to_numpy(zero_copy_only=False).astype(np.int64)
        progress = np.maximum.accumulate(np.concatenate([[self.stream_time], times]))[1:]
        if w.kind == "HOPPING":
            first = (np.maximum(0, times - size + advance) // advance) * advance
            last = times - np.mod(times, advance)
            counts = np.maximum((last - first) // advance + 1, 0)
            index = np.repeat(np.arange(n, dtype=np.int64), counts)
            offsets = np.arange(len(index), dtype=np.int64) - np.repeat(np.cumsum(counts) - counts, counts)
            starts = first[index] + offsets * advance
        else:
            index = None
            starts = times - np.mod(times, size)
        stream_times = progress if index is None else progress[index]
        live = starts + size + grace > stream_times
        if index is None:
            index = np.flatnonzero(live) if not live.all() else None
        else:
            index = index[live] if not live.all() else index
        starts = starts[live] if not live.all() else starts
        result = deltas if index is None else deltas.take(pa.array(index))
        result = result.append_column(WINDOWSTART_COL, pa.array(starts, pa.int64()))
        result = result.append_column(WINDOWEND_COL, pa.array(starts + size, pa.int64()))
        if n:
            rising = progress[progress > self.stream_time]   # non-decreasing: distinct = where it rises
            self._closes = rising[np.concatenate([[True], rising[1:] != rising[:-1]])] - grace if len(rising) \
                else rising
            self.stream_time = max(self.stream_time, int(progress[-1]))
        return result

    @property
    def _upsert(self) -> bool:
        return not (self.per_record or self.emit_final or self.python_indices or self.output.having_sql)

    def _running(self, con, deltas: pa.Table, upsert: bool = False) -> tuple[list, pa.Table]:
        """Per delta (or per group's last delta when coalescing): merged partials and timestamp.
        With `upsert`, each row also names the state row it replaces (`__old_row`); returns (the
        state fragments joined, rows)."""
        keys = ", ".join(self.keys)
        partials, windows, combined, state_cols, empty_cols = [], [], [], [], []
        for index, (aggregate, columns) in enumerate(zip(self.aggregates, self.partial_columns)):
            if not aggregate.vectorized:
                continue
            args = self.arg_columns[index]
            for partial, column in zip(aggregate.partials, columns):
                partials.append(f"CAST({partial_sql_for(partial.sql, args)} AS {partial.duck_type}) AS p_{column}")
                windows.append(f"CAST({partial.combine}(p_{column}) OVER w AS {partial.duck_type}) AS r_{column}")
                if partial.combine == "sum":
                    combined.append(f"CAST(coalesce(s.{column}, 0) AS {partial.duck_type}) + r.r_{column} AS {column}")
                else:
                    fn = "least" if partial.combine == "min" else "greatest"
                    combined.append(f"CAST({fn}(s.{column}, r.r_{column}) AS {partial.duck_type}) AS {column}")
                state_cols.append(column)
                empty_cols.append(f"r_{column} AS {column}")
        sep = lambda xs: (", " + ", ".join(xs)) if xs else ""
        only_last = "" if self.per_record else "WHERE __last"
        on = " AND ".join(f"r.{k} IS NOT DISTINCT FROM s.{k}" for k in self.keys)
        touched, state_rows = self.state.touched(deltas)
        state_sql = f"(SELECT * FROM state_table WHERE {ALIVE})" if state_rows is not None else \
            (f"(SELECT {keys}{sep(empty_cols)}, __crt AS __rt, FALSE AS __passed, "
             f"CAST(NULL AS BIGINT) AS {ROWID} FROM r LIMIT 0)")
        running = f"""r AS (SELECT {keys}, {SEQ}, {EMIT}{sep(windows)}, max({ROWTIME_COL}) OVER w AS __crt,
             row_number() OVER (PARTITION BY {keys} ORDER BY {SEQ} DESC) = 1 AS {LAST}
      FROM i WINDOW w AS (PARTITION BY {keys} ORDER BY {SEQ} ROWS UNBOUNDED PRECEDING))"""
        if not self.per_record:
            # Coalesced: one row per group, a plain GROUP BY instead of running window functions.
            grouped = [w.replace(" OVER w", "") for w in windows]
            running = (f"r AS (SELECT {keys}, max({SEQ}) AS {SEQ}, TRUE AS {EMIT}{sep(grouped)}, "
                       f"max({ROWTIME_COL}) AS __crt, TRUE AS {LAST} FROM i GROUP BY ALL)")
        sql = f"""
WITH i AS (SELECT {keys}, {SEQ}, {EMIT}, {ROWTIME_COL}{sep(partials)} FROM agg_deltas),
{running}
SELECT {', '.join('r.' + k for k in self.keys)}, r.{SEQ}, r.{EMIT}, r.{LAST}{sep(combined)},
       greatest(s.__rt, r.__crt) AS {ROWTIME_COL}, s.__passed AS {STATE_PASSED}
FROM (SELECT * FROM r {only_last}) r LEFT JOIN {state_sql} s ON {on}"""
        if upsert:   # ... and the output stage's columns, computed in the same statement
            sql = sql.replace(f"s.__passed AS {STATE_PASSED}",
                              f"coalesce(s.__passed, TRUE) AS {STATE_PASSED}, s.{ROWID} AS {OLD_ROW}")
            head, select = sql.split("\nSELECT ", 1)
            sql = f"{head}\n{self.output.evaluate_sql('(SELECT ' + select + ')')}"
        if self.per_record:                        # emitted in input order
            sql += f"\nORDER BY r.{SEQ}" + (f", r.{WINDOWSTART_COL}" if self.window else "")
        con.register("agg_deltas", deltas)
        if state_rows is not None:
            con.register("state_table", state_rows)
        try:
            return touched, con.sql(sql).to_arrow_table()
        finally:
            con.unregister("agg_deltas")
            if state_rows is not None:
                con.unregister("state_table")

    # --- accumulator aggregates (per-row Python, collections only) ---
    def _group_key(self, values: list) -> tuple:
        return tuple(_freeze(v) for v in values)

    def _with_python_results(self, deltas: pa.Table, rows: pa.Table) -> pa.Table:
        if self._value_types is None or not self.accumulators:
            self._value_types = ([deltas.schema.field(k).type for k in self.keys],
                                 [argument_types(deltas.schema, self.arg_columns[i]) for i in self.python_indices])
        key_lists = [deltas.column(k).to_pylist() for k in self.keys]
        signs = deltas.column("__sign").to_pylist()
        seqs = deltas.column(SEQ).to_pylist()
        args = {i: [deltas.column(c).to_pylist() for c in self.arg_columns[i]] for i in self.python_indices}
        wanted = set(zip(rows.column(SEQ).to_pylist(),
                         map(self._group_key, zip(*[rows.column(k).to_pylist() for k in self.keys]))))
        results: dict = {}
        for n in range(deltas.num_rows):
            key_values = [column[n] for column in key_lists]
            key = self._group_key(key_values)
            accs = self.accumulators.get(key)
            if accs is None:
                accs = self.accumulators[key] = [self.aggregates[i].accumulator() for i in self.python_indices]
                self.group_values[key] = key_values
            for acc, i in zip(accs, self.python_indices):
                values = tuple(column[n] for column in args[i])
                if signs[n] > 0:
                    acc.add(values, seqs[n])
                else:
                    acc.remove(values, seqs[n])
            if (seqs[n], key) in wanted:
                results[(seqs[n], key)] = [acc.result() for acc in accs]
        row_keys = list(zip(rows.column(SEQ).to_pylist(),
                            map(self._group_key, zip(*[rows.column(k).to_pylist() for k in self.keys]))))
        columns = [[results[k][j] for k in row_keys] for j in range(len(self.python_indices))]
        for name, array in python_results_table(columns, self.aggregates, self.python_indices).items():
            rows = rows.append_column(name, array)
        return rows

    # --- state ---
    def _merge_state(self, con, rows: pa.Table, evaluated: Optional[pa.Table]) -> None:
        state_cols = [c for columns in self.partial_columns for c in columns]
        if not self.per_record and (evaluated is None or self.output.having_sql is None):
            # Coalesced: one row per group already; select the state columns without a copy.
            latest = rows.select(self.keys + state_cols + [ROWTIME_COL]).rename_columns(
                self.keys + state_cols + ["__rt"])
            latest = latest.append_column("__passed", pa.array(np.ones(latest.num_rows, dtype=bool)))
            self.state.merge(con, latest)
            return
        con.register("agg_rows", rows)
        try:
            passed = "TRUE"
            if evaluated is not None:
                con.register("agg_eval", evaluated)
            if evaluated is not None and self.output.having_sql is not None:
                sql = (f"SELECT {', '.join(self.keys + state_cols)}, {ROWTIME_COL} AS __rt, "
                       f"{PASSED} AS __passed FROM agg_eval WHERE {LAST}")
            else:
                sql = (f"SELECT {', '.join(self.keys + state_cols)}, {ROWTIME_COL} AS __rt, "
                       f"{passed} AS __passed FROM agg_rows WHERE {LAST}")
            latest = con.sql(sql).to_arrow_table()
        finally:
            con.unregister("agg_rows")
            if evaluated is not None:
                con.unregister("agg_eval")
        self.state.merge(con, latest)

    def _close_windows(self, con) -> pa.Table:
        """EMIT FINAL: emit windows that closed; in any mode, drop their state."""
        grace = self.window.grace_ms
        # A bucket can hold a closed window only if its first window start + size + grace has passed.
        closed = self.state.extract(self.stream_time - grace - self.window.size_ms + 1,
                                    lambda t: pc.less_equal(pc.add(t.column(WINDOWEND_COL), grace),
                                                            self.stream_time))
        if closed is None or closed.num_rows == 0:
            return self._empty()
        ends = closed.column(WINDOWEND_COL)
        emitted_mask = None
        if self.emit_final:
            # ksqlDB's final emission (Kafka Streams' emit-on-window-close) emits, each time the
            # close time (stream time - grace) advances to c, the windows ending in (c - advance, c].
            end_values = ends.to_numpy().astype(np.int64)
            closes = getattr(self, "_closes", np.array([], dtype=np.int64))
            position = np.searchsorted(closes, end_values, side="left")
            found = position < len(closes)
            first_close = np.where(found, closes[np.minimum(position, max(len(closes) - 1, 0))] if len(closes) else 0, 0)
            emitted_mask = found & (first_close < end_values + self.window.advance_ms)
        if emitted_mask is not None:
            closed = closed.filter(pa.array(emitted_mask))
        keys = None
        if self.python_indices or self.accumulators:
            keys = list(map(self._group_key, zip(*[closed.column(k).to_pylist() for k in self.keys])))
        if not self.emit_final:
            for key in keys or ():
                self.accumulators.pop(key, None)
                self.group_values.pop(key, None)
            return self._empty()
        order = [(WINDOWEND_COL, "ascending")] + [(g, "ascending") for g in self.groups] + \
                [(WINDOWSTART_COL, "ascending")]
        try:
            closed = closed.sort_by(order)
        except (pa.ArrowNotImplementedError, pa.ArrowInvalid):
            closed = closed.sort_by([(WINDOWEND_COL, "ascending"), (WINDOWSTART_COL, "ascending")])
        if keys is not None:
            keys = list(map(self._group_key, zip(*[closed.column(k).to_pylist() for k in self.keys])))
        rows = closed.rename_columns([ROWTIME_COL if c == "__rt" else c for c in closed.column_names])
        n = rows.num_rows
        rows = rows.append_column(SEQ, pa.array(np.arange(n, dtype=np.int64)))
        rows = rows.append_column(EMIT, pa.array(np.ones(n, dtype=bool)))
        rows = rows.append_column(LAST, pa.array(np.ones(n, dtype=bool)))
        rows = rows.append_column(STATE_PASSED, pa.nulls(n, pa.bool_()))
        if self.python_indices:
            columns = [[] for _ in self.python_indices]
            for key in keys:
                accs = self.accumulators.pop(key, None)
                self.group_values.pop(key, None)
                for j, acc in enumerate(accs or [None] * len(self.python_indices)):
                    columns[j].append(acc.result() if acc is not None else None)
            for name, array in python_results_table(columns, self.aggregates, self.python_indices).items():
                rows = rows.append_column(name, array)
        evaluated = self.output.evaluate(con, rows.drop_columns(["__passed"]))
        evaluated = evaluated.filter(evaluated.column(PASSED))
        evaluated = evaluated.append_column(TOMBSTONE_COL, pa.array(np.zeros(evaluated.num_rows, dtype=bool)))
        return conform(evaluated, self.layout)

    def _empty(self) -> pa.Table:
        from pyksqlite.common.types import to_arrow
        fields = [pa.field(f.sql_name, to_arrow(f.type)) for f in self.layout.fields]
        fields += [pa.field(ROWTIME_COL, pa.int64()), pa.field(TOMBSTONE_COL, pa.bool_()),
                   pa.field(WINDOWSTART_COL, pa.int64()), pa.field(WINDOWEND_COL, pa.int64())]
        return pa.schema(fields).empty_table()
