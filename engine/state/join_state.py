"""Join state: a table side's latest row per key, and a stream side's rows inside the join window.

Both keep their rows in one Arrow table, so a probe is an array operation: `KeyedRows.lookup`
finds the row of every probe key at once (`index_in`), `WindowedRows.matches` joins a whole run
against the buffered rows with their time bounds in one DuckDB statement. Snapshots hold the
rows as an Arrow table (`Stored`: a checkpoint rewrites a side only if it changed since the last
one) and are restored, cast to the side's schema, after a restart.
"""
from __future__ import annotations

from typing import Optional

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from pyksqlite.state.snapshot import Snapshot, Stored

HASH_COL = "__jh"
TIME_COL = "__rowtime"
ORDER_COL = "__order"


def last_per_key(hashes: pa.Array) -> np.ndarray:
    """Positions of the last occurrence of each distinct key, in order of position."""
    n = len(hashes)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    codes = pc.dictionary_encode(hashes).indices.to_numpy(zero_copy_only=False)
    reversed_codes = codes[::-1]
    _, first_in_reversed = np.unique(reversed_codes, return_index=True)
    return np.sort(n - 1 - first_in_reversed)


class KeyedRows:
    """The latest row per key of a table side (a row holds the side's columns and its time)."""

    def __init__(self, schema: pa.Schema):
        self.schema = schema
        self.rows: pa.Table = schema.empty_table()
        self._index_cache: Optional[pa.Array] = None
        self._stored: Optional[Stored] = None     # `rows` as the last checkpoint stored them

    def __len__(self) -> int:
        return self.rows.num_rows

    @property
    def keys(self) -> pa.Array:
        if self._index_cache is None:
            self._index_cache = self.rows.column(HASH_COL).combine_chunks()
        return self._index_cache

    def lookup(self, hashes: pa.Array) -> pa.Array:
        """For each probe key, the index of its row, or null."""
        if self.rows.num_rows == 0 or len(hashes) == 0:
            return pa.nulls(len(hashes), pa.int32())
        return pc.index_in(hashes, value_set=self.keys)

    def upsert(self, rows: pa.Table, deleted: pa.Array) -> None:
        """Apply a run of updates in order: the last one per key wins, `deleted` rows remove."""
        if rows.num_rows == 0:
            return
        last = last_per_key(rows.column(HASH_COL).combine_chunks())
        latest = rows.take(pa.array(last))
        alive = pc.invert(pc.fill_null(deleted.take(pa.array(last)), False))
        keep = pc.invert(pc.is_in(self.keys, value_set=latest.column(HASH_COL).combine_chunks())) \
            if self.rows.num_rows else None
        current = self.rows.filter(keep) if keep is not None else self.rows
        added = latest.filter(alive).select(self.schema.names).cast(self.schema)
        self.rows = pa.concat_tables([current, added]).combine_chunks()
        self._index_cache = None
        self._stored = None

    def take(self, indices) -> pa.Table:
        return self.rows.take(indices)

    def snapshot(self) -> Snapshot:
        return Snapshot().put_stored("rows", _stored(self))

    def restore(self, state: Snapshot) -> None:
        stored = state.stored("rows")
        self.rows = stored.value.table("rows", self.schema)
        self._index_cache = None
        self._stored = stored


class WindowedRows:
    """A stream side's buffered rows for a windowed join, expiring with the side's stream time."""

    def __init__(self, schema: pa.Schema, retention_ms: int):
        self.schema = schema
        self.retention_ms = retention_ms
        self.rows: pa.Table = schema.empty_table()
        self.observed_time = -1          # the largest timestamp put into this side's store
        self.next_order = 0
        self._stored: Optional[Stored] = None     # `rows` as the last checkpoint stored them

    def put(self, rows: pa.Table) -> None:
        """Store a run: each record is dropped if already expired at its put (ts <= observed - retention)."""
        if rows.num_rows == 0:
            return
        times = rows.column(TIME_COL).to_numpy(zero_copy_only=False).astype(np.int64)
        observed = np.maximum.accumulate(np.maximum(times, self.observed_time))
        live = times > observed - self.retention_ms
        keep = live & rows.column(HASH_COL).is_valid().to_numpy(zero_copy_only=False)
        self.observed_time = int(observed[-1])
        if keep.any():
            kept = rows.filter(pa.array(keep))
            kept = kept.append_column(ORDER_COL, pa.array(
                np.arange(self.next_order, self.next_order + kept.num_rows, dtype=np.int64)))
            self.next_order += kept.num_rows
            self.rows = pa.concat_tables([self.rows, kept.select(self.schema.names).cast(self.schema)])
        self._expire()

    def _expire(self) -> None:
        self._stored = None
        if self.rows.num_rows == 0:
            return
        oldest = pc.min(self.rows.column(TIME_COL)).as_py()
        if oldest is not None and oldest <= self.observed_time - self.retention_ms:
            self.rows = self.rows.filter(pc.greater(self.rows.column(TIME_COL),
                                                    self.observed_time - self.retention_ms))
        self.rows = self.rows.combine_chunks()

    def matches(self, hashes: pa.Array, lower: np.ndarray, upper: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Pairs (probe index, buffered row index) with equal keys and time in [lower, upper], in
        probe order, then buffered time, then insertion order (a window store fetch's order)."""
        if self.rows.num_rows == 0 or len(hashes) == 0:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
        from pyksqlite.operators.join_common import run_sql
        floor = self.observed_time - self.retention_ms + 1
        probe = pa.table({"i": pa.array(np.arange(len(hashes), dtype=np.int64)), "h": hashes,
                          "lo": pa.array(np.maximum(lower, floor)), "hi": pa.array(upper)})
        buffered = pa.table({"j": pa.array(np.arange(self.rows.num_rows, dtype=np.int64)),
                             "h": self.rows.column(HASH_COL), "t": self.rows.column(TIME_COL),
                             "o": self.rows.column(ORDER_COL)})
        out = run_sql("SELECT p.i, b.j FROM probe p JOIN buffered b ON p.h = b.h AND b.t >= p.lo AND b.t <= p.hi "
                      "ORDER BY p.i, b.t, b.o", probe=probe, buffered=buffered)
        return (out.column("i").to_numpy(zero_copy_only=False).astype(np.int64),
                out.column("j").to_numpy(zero_copy_only=False).astype(np.int64))

    def snapshot(self) -> Snapshot:
        return Snapshot().put_stored("rows", _stored(self)).put("observed_time", self.observed_time) \
            .put("next_order", self.next_order)

    def restore(self, state: Snapshot) -> None:
        stored = state.stored("rows")
        self.rows = stored.value.table("rows", self.schema)
        self.observed_time, self.next_order = state.integer("observed_time"), state.integer("next_order")
        self._stored = stored


def _stored(rows) -> Stored:
    """A side's rows as a `Stored` value, made again only after they changed."""
    if rows._stored is None:
        rows._stored = Stored(Snapshot().put_table("rows", rows.rows))
    return rows._stored
