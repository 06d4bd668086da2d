"""The coalesced aggregation of a stream on one integer grouping column, with its state in numpy.

`Aggregate` hands its batches here when the plan has that shape: a stream source, updates
coalesced per batch (the record cache on), no HAVING, no EMIT FINAL, and only vectorized
aggregates whose partials are numbers (COUNT, SUM, AVG, MIN/MAX of numbers, STDDEV, ...). Per batch:

1. one DuckDB GROUP BY gives each (key, window start) of the batch its partials;
2. the state rows those groups continue are found in numpy: the state is a list of fragments of
   numpy columns, each knowing its span of window starts, so a batch only matches the rows of
   the fragments and windows it can touch (with time-ordered input, the windows open at the
   previous batch's end), through a `PairIndex` built over those few rows;
3. partials combine with numpy (sums wrap as Java's longs do; MIN/MAX keep a validity mask), the
   continued rows die in their fragments and the batch's merged rows become a new fragment;
4. one DuckDB statement computes the results, the projection and the sink's encoded value
   (selecting only the columns the sink reads).

A fragment's columns never change once built, only its `alive` mask: checkpoints write the
columns once (`pyksqlite.state.checkpoint_store.Stored`) and the mask as bits each time.

SUM of INTEGER/BIGINT keeps its running sum as a wrapping int64: ksqlDB's result is the sum
narrowed to the result type, which depends only on the sum modulo 2^64.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np
import pyarrow as pa

from pyksqlite.expressions.aggregates import partial_sql_for
from pyksqlite.expressions.casts import wrap_int64
from pyksqlite.operators.aggregate_output import conform
from pyksqlite.operators.base import ENCODED_VALUE_COL, ROWTIME_COL, TOMBSTONE_COL, WINDOWEND_COL, WINDOWSTART_COL
from pyksqlite.state.snapshot import Snapshot, SnapshotError, Stored
from pyksqlite.state.pair_index import PairIndex

_DTYPES = {"BIGINT": np.int64, "HUGEINT": np.int64, "INTEGER": np.int32, "DOUBLE": np.float64}
_INTEGER_TYPES = (pa.int8(), pa.int16(), pa.int32(), pa.int64())
# Merging copies rows; many fragments only cost a range check each per batch (a batch scans just
# those whose window starts it can touch), so merging waits until there are this many.
MAX_FRAGMENTS = 32
_MIX = np.uint64(0x9E3779B97F4A7C15)
_KEY_DTYPES = (np.int8, np.int16, np.int32, np.int64)      # the grouping column's, as integer_keyed allows


@dataclass(frozen=True)
class PartialSpec:
    column: str           # c<i>, as the output stage reads it
    sql: str              # the batch's partial per group
    combine: str          # sum | min | max
    dtype: type


def partial_specs(aggregates, partial_columns, arg_columns) -> Optional[list[PartialSpec]]:
    """The numpy form of every partial, or None when one has no such form."""
    specs = []
    for aggregate, columns, args in zip(aggregates, partial_columns, arg_columns):
        if not aggregate.vectorized:
            return None
        for partial, column in zip(aggregate.partials, columns):
            dtype = _DTYPES.get(partial.duck_type)
            if dtype is None or (partial.duck_type == "HUGEINT" and partial.combine != "sum"):
                return None
            grouped = f"{partial.combine}({partial_sql_for(partial.sql, args)})"
            sql = wrap_int64(grouped) if partial.duck_type == "HUGEINT" else f"CAST({grouped} AS {partial.duck_type})"
            specs.append(PartialSpec(column, sql, partial.combine, dtype))
    return specs


def integer_keyed(deltas: pa.Table, group: str) -> bool:
    return deltas.column(group).type in _INTEGER_TYPES


def key_buckets(key: np.ndarray) -> np.ndarray:
    """A 16-bit hash of each key."""
    with np.errstate(over="ignore"):
        return ((key.astype(np.int64, copy=False).view(np.uint64) * _MIX) >> np.uint64(48)).astype(np.int32)


def bucket_set(buckets: np.ndarray) -> np.ndarray:
    present = np.zeros(1 << 16, dtype=bool)
    present[buckets] = True
    return present


@dataclass
class Fragment:
    key: np.ndarray
    start: np.ndarray                  # window start (0 when unwindowed)
    values: dict                       # column -> numpy values
    valid: dict                        # column -> bool mask (MIN/MAX only: all-null groups)
    rowtime: np.ndarray
    alive: np.ndarray
    low: int
    high: int
    buckets: np.ndarray                # key_buckets(key): a cheap first filter when matching
    stored: Optional[Stored] = None    # the immutable columns, as checkpoints keep them

    @classmethod
    def of(cls, key, start, values, valid, rowtime) -> "Fragment":
        n = len(key)
        return cls(key, start, values, valid, rowtime, np.ones(n, dtype=bool),
                   int(start.min()) if n else 0, int(start.max()) if n else 0, key_buckets(key))

    def columns(self) -> Stored:
        """Everything but the mask, which is all checkpoints rewrite of a fragment."""
        if self.stored is None:
            columns = Snapshot().put_array("key", self.key).put_array("start", self.start) \
                .put_array("rowtime", self.rowtime)
            for column, values in self.values.items():
                columns.put_array(f"value.{column}", values)
            for column, valid in self.valid.items():
                columns.put_array(f"valid.{column}", valid)
            self.stored = Stored(columns)
        return self.stored

    def taken(self, rows: np.ndarray) -> "Fragment":
        return Fragment.of(self.key[rows], self.start[rows], {c: v[rows] for c, v in self.values.items()},
                           {c: v[rows] for c, v in self.valid.items()}, self.rowtime[rows])


class NumpyAggregation:
    def __init__(self, specs: list[PartialSpec], group: str, window, output, value_encoding: Optional[str],
                 dropped_values: list[str]):
        self.specs = specs
        self.group = group
        self.window = window
        self.output = output
        self.fragments: list[Fragment] = []
        self._encoding = value_encoding
        self._dropped = dropped_values
        self._output_sql = self._output_statement()

    # --- per batch ---
    def process(self, con, deltas: pa.Table) -> pa.Table:
        groups = self._grouped(con, deltas)
        key = groups.column(self.group).to_numpy()
        start = groups.column(WINDOWSTART_COL).to_numpy() if self.window else np.zeros(len(key), np.int64)
        values, valid = {}, {}
        for spec in self.specs:
            column = groups.column(spec.column)
            filled = column if column.null_count == 0 else column.fill_null(0)
            values[spec.column] = np.array(filled.to_numpy(zero_copy_only=False), dtype=spec.dtype)
            if spec.combine != "sum":   # numpy copies: combining writes into them
                valid[spec.column] = np.array(column.is_valid().to_numpy(zero_copy_only=False), dtype=bool)
        rowtime = np.array(groups.column("__crt").to_numpy(), dtype=np.int64)
        self._merge_previous(key, start, values, valid, rowtime)
        merged = Fragment.of(key, start, values, valid, rowtime)
        self.fragments.append(merged)
        self._tidy()
        return self._emitted(con, merged)

    def _grouped(self, con, deltas: pa.Table) -> pa.Table:
        keys = [self.group] + ([WINDOWSTART_COL] if self.window else [])
        partials = ", ".join(f"{spec.sql} AS {spec.column}" for spec in self.specs)
        sql = (f"SELECT {', '.join(keys)}, max({ROWTIME_COL}) AS __crt, {partials} "
               f"FROM agg_deltas GROUP BY {', '.join(keys)}")
        con.register("agg_deltas", deltas)
        try:
            return con.sql(sql).to_arrow_table().combine_chunks()
        finally:
            con.unregister("agg_deltas")

    def _merge_previous(self, key, start, values, valid, rowtime) -> None:
        """Fold the live state rows of the batch's groups into the batch's arrays; those rows die."""
        if not len(key) or not self.fragments:
            return
        buckets = key_buckets(key)
        parts = self._candidates(int(start.min()), int(start.max()), bucket_set(buckets))
        if not parts:
            return
        old_key = np.concatenate([f.key[rows] for f, rows in parts])
        old_start = np.concatenate([f.start[rows] for f, rows in parts])
        index = PairIndex(len(old_key))
        slots, _ = index.find_or_insert(old_key, old_start)
        position_of_slot = np.empty(len(slots), dtype=np.int64)
        position_of_slot[slots] = np.arange(len(slots), dtype=np.int64)
        old_buckets = bucket_set(np.concatenate([f.buckets[rows] for f, rows in parts]))
        candidates = np.flatnonzero(old_buckets[buckets] & (start >= old_start.min()) & (start <= old_start.max()))
        found = index.lookup(key[candidates], start[candidates])
        hit = found >= 0
        new_rows, old_rows = candidates[hit], position_of_slot[found[hit]]
        if len(new_rows):
            self._combine(parts, new_rows, old_rows, values, valid, rowtime)
            self._kill(parts, old_rows)

    def _candidates(self, low: int, high: int, wanted_buckets: np.ndarray) -> list:
        """Per fragment, the live rows in the window-start range whose key's bucket is wanted."""
        parts = []
        for fragment in self.fragments:
            if fragment.high < low or fragment.low > high:
                continue
            in_range = fragment.alive & wanted_buckets[fragment.buckets]
            if fragment.low < low or fragment.high > high:
                in_range &= (fragment.start >= low) & (fragment.start <= high)
            rows = np.flatnonzero(in_range)
            if len(rows):
                parts.append((fragment, rows))
        return parts

    def _combine(self, parts, new_rows, old_rows, values, valid, rowtime) -> None:
        """Combine the matched old partials into the batch's rows `new_rows`."""
        for spec in self.specs:
            old = np.concatenate([f.values[spec.column][rows] for f, rows in parts])[old_rows]
            if spec.combine == "sum":
                with np.errstate(over="ignore"):
                    values[spec.column][new_rows] += old
                continue
            old_valid = np.concatenate([f.valid[spec.column][rows] for f, rows in parts])[old_rows]
            new, new_valid = values[spec.column][new_rows], valid[spec.column][new_rows]
            pick = np.maximum if spec.combine == "max" else np.fmin   # DuckDB: NaN is the largest
            both = np.where(old_valid & new_valid, pick(old, new), np.where(new_valid, new, old))
            values[spec.column][new_rows] = both
            valid[spec.column][new_rows] = old_valid | new_valid
        old_rowtime = np.concatenate([f.rowtime[rows] for f, rows in parts])[old_rows]
        rowtime[new_rows] = np.maximum(rowtime[new_rows], old_rowtime)

    @staticmethod
    def _kill(parts, positions: np.ndarray) -> None:
        offset = 0
        for fragment, rows in parts:
            local = positions[(positions >= offset) & (positions < offset + len(rows))] - offset
            fragment.alive[rows[local]] = False
            offset += len(rows)

    def _emitted(self, con, fragment: Fragment) -> pa.Table:
        columns = {self.group: pa.array(fragment.key)}
        if self.window:
            columns[WINDOWSTART_COL] = pa.array(fragment.start)
            columns[WINDOWEND_COL] = pa.array(fragment.start + self.window.size_ms)
        for spec in self.specs:
            valid = fragment.valid.get(spec.column)
            mask = None if valid is None or valid.all() else ~valid
            columns[spec.column] = pa.array(fragment.values[spec.column], mask=mask)
        columns[ROWTIME_COL] = pa.array(fragment.rowtime)
        con.register("agg_merged", pa.table(columns))
        try:
            evaluated = con.sql(self._output_sql).to_arrow_table()
        finally:
            con.unregister("agg_merged")
        return conform(evaluated, self.output.layout)

    def _output_statement(self) -> str:
        """Results, projection and the sink's encoded value over `agg_merged`, selecting only what
        the sink reads: the layout's columns (less the values it encodes), time and window."""
        kept = [f.sql_name for f in self.output.layout.fields if f.sql_name not in self._dropped]
        kept += [ROWTIME_COL] + ([WINDOWSTART_COL, WINDOWEND_COL] if self.window else [])
        encoded = f", {self._encoding} AS {ENCODED_VALUE_COL}" if self._encoding else ""
        return (f"SELECT {', '.join(kept)}{encoded}, FALSE AS {TOMBSTONE_COL} "
                f"FROM ({self.output.evaluate_sql('agg_merged')})")

    # --- state ---
    def _tidy(self) -> None:
        """Drop dead fragments, compact mostly-dead ones, merge the smaller half when too many."""
        kept = []
        for fragment in self.fragments:
            live = int(fragment.alive.sum())
            if live == 0:
                continue
            kept.append(fragment if live * 2 >= len(fragment.alive) else fragment.taken(np.flatnonzero(fragment.alive)))
        self.fragments = kept
        if len(kept) > MAX_FRAGMENTS:
            order = sorted(range(len(kept)), key=lambda i: len(kept[i].key))
            small = set(order[:len(order) // 2 + 1])
            merged = [kept[i].taken(np.flatnonzero(kept[i].alive)) for i in sorted(small)]
            self.fragments = [f for i, f in enumerate(kept) if i not in small] + [self._concatenated(merged)]

    def _concatenated(self, fragments: list[Fragment]) -> Fragment:
        cat = np.concatenate
        return Fragment.of(cat([f.key for f in fragments]), cat([f.start for f in fragments]),
                           {s.column: cat([f.values[s.column] for f in fragments]) for s in self.specs},
                           {c: cat([f.valid[c] for f in fragments]) for c in fragments[0].valid},
                           cat([f.rowtime for f in fragments]))

    def close_before(self, stream_time: int) -> None:
        """Drop the windows that closed: end + grace at or before stream time."""
        if not self.window:
            return
        bound = stream_time - self.window.grace_ms - self.window.size_ms   # closed: start <= bound
        for fragment in self.fragments:
            if fragment.low <= bound:
                fragment.alive &= fragment.start > bound
        self._tidy()

    def snapshot(self) -> Snapshot:
        return Snapshot().put_children("fragments", [
            Snapshot().put_stored("columns", f.columns()).put_array("alive", np.packbits(f.alive))
            for f in self.fragments])

    def restore(self, data: Snapshot) -> None:
        self.fragments = [self._restored(entry) for entry in data.children("fragments")]

    def _restored(self, entry: Optional[Snapshot]) -> Fragment:
        """A fragment from its snapshot, every column checked against this plan's partials."""
        if entry is None:
            raise SnapshotError("an empty fragment entry")
        stored = entry.stored("columns")
        columns = stored.value
        key = columns.array("key", _KEY_DTYPES)
        n = len(key)
        values = {spec.column: columns.array(f"value.{spec.column}", spec.dtype, n) for spec in self.specs}
        valid = {spec.column: columns.array(f"valid.{spec.column}", np.bool_, n)
                 for spec in self.specs if spec.combine != "sum"}
        fragment = Fragment.of(key, columns.array("start", np.int64, n), values, valid,
                               columns.array("rowtime", np.int64, n))
        fragment.alive = np.unpackbits(entry.array("alive", np.uint8, (n + 7) // 8), count=n).astype(bool)
        fragment.stored = stored
        return fragment

