"""A keyed state store held as Arrow fragments, upserted per batch with DuckDB joins.

Operators keep their per-key state (aggregation partials, a table source's last rows) as columns
of Arrow tables whose first columns are the key. The store is a list of immutable fragments, each
with a numpy `alive` mask. Upserting a batch joins the batch's keys against the live rows (a
DuckDB hash join built on the batch), marks the old versions of its keys dead and appends the
batch's rows as a new fragment: the cost follows the batch, and no fragment is rewritten. Small
fragments are merged, and a fragment that is mostly dead is compacted, so the store stays a few
fragments of mostly live rows. Keys compare with IS NOT DISTINCT FROM, so struct and array keys
work.

A time-windowed store (`bucket_column` = the window start) also records each fragment's span of
window starts, so a batch joins only the fragments its windows can be in, and closing windows
looks only at fragments old enough to hold closed ones. Snapshots are the fragments themselves
(immutable Arrow tables, which checkpoint files write once: `Stored`) with their masks as bits;
a restored fragment must have the store's columns and a mask of its length.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from pyksqlite.state.snapshot import Snapshot, SnapshotError, Stored

ROWID, ALIVE = "__rowid", "__alive"
MAX_FRAGMENTS = 8


@dataclass
class Fragment:
    table: pa.Table
    alive: np.ndarray                 # bool per row
    low: int = 0                      # smallest / largest bucket value (window start) it holds
    high: int = 0
    stored: Optional[Stored] = None   # the table, as checkpoints keep it (written once)

    @property
    def live_rows(self) -> int:
        return int(self.alive.sum())

    def stored_table(self) -> Stored:
        if self.stored is None:
            self.stored = Stored(Snapshot().put_table("rows", self.table))
        return self.stored


class KeyedTable:
    def __init__(self, key_columns: list[str], bucket_column: Optional[str] = None, bucket_width: int = 0):
        self.key_columns = list(key_columns)
        self.bucket_column = bucket_column
        self.fragments: list[Fragment] = []
        self._schema: Optional[pa.Schema] = None

    def __len__(self) -> int:
        return sum(f.live_rows for f in self.fragments)

    # --- whole-table view (small states, tests, table sources) ---
    @property
    def table(self) -> Optional[pa.Table]:
        if not self.fragments:
            return None if self._schema is None else self._schema.empty_table()
        parts = [f.table if f.alive.all() else f.table.filter(pa.array(f.alive)) for f in self.fragments]
        return parts[0] if len(parts) == 1 else pa.concat_tables(parts)

    @table.setter
    def table(self, value: Optional[pa.Table]) -> None:
        self.fragments = []
        self._schema = value.schema if value is not None else None
        if value is not None and value.num_rows:
            self._append(value)

    # --- fragments ---
    def _span(self, table: pa.Table) -> tuple[int, int]:
        if self.bucket_column is None or table.num_rows == 0:
            return (0, 0)
        bounds = pc.min_max(table.column(self.bucket_column))
        low, high = bounds["min"].as_py(), bounds["max"].as_py()
        return (0, 0) if low is None else (low, high)

    def _append(self, table: pa.Table) -> None:
        if table.num_rows == 0:
            return
        if self._schema is None:
            self._schema = table.schema
        elif table.schema != self._schema:
            table = table.cast(self._schema)
        low, high = self._span(table)
        self.fragments.append(Fragment(table, np.ones(table.num_rows, dtype=bool), low, high))
        self._tidy()

    def _tidy(self) -> None:
        """Drop dead fragments, compact mostly-dead ones, merge small ones."""
        kept = []
        for fragment in self.fragments:
            live = fragment.live_rows
            if live == 0:
                continue
            if live * 2 < len(fragment.alive):
                table = fragment.table.filter(pa.array(fragment.alive))
                low, high = self._span(table)
                fragment = Fragment(table, np.ones(table.num_rows, dtype=bool), low, high)
            kept.append(fragment)
        self.fragments = kept
        if len(self.fragments) > MAX_FRAGMENTS:
            # Merge the smaller half: each row is merged O(log n) times over its life.
            order = sorted(range(len(self.fragments)), key=lambda i: self.fragments[i].table.num_rows)
            small = sorted(order[:len(order) // 2 + 1])
            merged = pa.concat_tables([self.fragments[i].table.filter(pa.array(self.fragments[i].alive))
                                       for i in small]).combine_chunks()
            low, high = self._span(merged)
            rest = [f for i, f in enumerate(self.fragments) if i not in set(small)]
            self.fragments = rest + [Fragment(merged, np.ones(merged.num_rows, dtype=bool), low, high)]

    def _candidates(self, rows: Optional[pa.Table]) -> list[int]:
        if rows is None or self.bucket_column is None:
            return list(range(len(self.fragments)))
        low, high = self._span(rows)
        return [i for i, f in enumerate(self.fragments) if f.low <= high and low <= f.high]

    def touched(self, rows: Optional[pa.Table]) -> tuple[list[int], Optional[pa.Table]]:
        """The fragments `rows` can have keys in, as one table with `__rowid` (a position among
        them) and `__alive` columns (join against `WHERE __alive`); None when there are none."""
        indices = self._candidates(rows)
        if not indices:
            return indices, None
        parts, offset = [], 0
        for i in indices:
            fragment = self.fragments[i]
            n = fragment.table.num_rows
            part = fragment.table.append_column(ROWID, pa.array(np.arange(offset, offset + n, dtype=np.int64)))
            parts.append(part.append_column(ALIVE, pa.array(fragment.alive)))
            offset += n
        return indices, parts[0] if len(parts) == 1 else pa.concat_tables(parts)

    def kill(self, indices: list[int], rowids: np.ndarray) -> None:
        """Mark the rows at these `__rowid`s (positions among `touched`'s fragments) dead."""
        rowids = rowids[rowids >= 0]
        if not len(rowids):
            return
        sizes = np.array([self.fragments[i].table.num_rows for i in indices], dtype=np.int64)
        starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
        owner = np.searchsorted(starts, rowids, side="right") - 1
        for position, i in enumerate(indices):
            local = rowids[owner == position] - starts[position]
            if len(local):
                self.fragments[i].alive[local] = False

    def upsert(self, indices: list[int], old_rowids: Optional[pa.ChunkedArray], rows: pa.Table) -> None:
        """`rows` replace their keys: the rows at `old_rowids` (from a join with `touched`, null
        where the key is new) die, `rows` are appended."""
        if old_rowids is not None and old_rowids.null_count < len(old_rowids):
            self.kill(indices, old_rowids.to_numpy(zero_copy_only=False)
                      if old_rowids.null_count == 0 else pc.fill_null(old_rowids, -1).to_numpy())
        self._append(rows)
        if old_rowids is not None and rows.num_rows == 0:
            self._tidy()

    def merge(self, con: duckdb.DuckDBPyConnection, rows: pa.Table, keep: Optional[pa.ChunkedArray] = None) -> None:
        """Replace the rows of the keys in `rows` (one row per key); rows with keep=False are deleted."""
        if rows.num_rows == 0:
            return
        indices, old = self.touched(rows)
        old_rowids = None
        if old is not None:
            con.register("state_old", old)
            con.register("state_new", rows.select(self.key_columns) if self.key_columns else rows)
            try:
                on = " AND ".join(f"o.{k} IS NOT DISTINCT FROM n.{k}" for k in self.key_columns) or "TRUE"
                old_rowids = con.sql(f"SELECT o.{ROWID} FROM state_new n JOIN "
                                     f"(SELECT * FROM state_old WHERE {ALIVE}) o ON {on}").to_arrow_table().column(0)
            finally:
                con.unregister("state_old")
                con.unregister("state_new")
        self.upsert(indices, old_rowids, rows.filter(keep) if keep is not None else rows)

    def remove_where(self, mask: pa.ChunkedArray | pa.Array) -> pa.Table:
        """Drop the rows of the whole table where `mask` is true; returns them."""
        table = self.table
        removed = table.filter(mask)
        self.table = table.filter(pc.invert(mask))
        return removed

    def extract(self, before: int, mask: Callable[[pa.Table], pa.Array]) -> Optional[pa.Table]:
        """Remove and return the live rows where `mask(rows)` holds, looking only at fragments
        whose smallest bucket value is below `before` (all of them when unbucketed)."""
        removed = []
        for fragment in self.fragments:
            if self.bucket_column is not None and fragment.low >= before:
                continue
            selected = mask(fragment.table)
            selected = np.asarray(selected.to_numpy(zero_copy_only=False), dtype=bool) & fragment.alive
            if not selected.any():
                continue
            removed.append(fragment.table.filter(pa.array(selected)))
            fragment.alive &= ~selected
        self._tidy()
        if not removed:
            return None
        return removed[0] if len(removed) == 1 else pa.concat_tables(removed)

    # --- checkpoints ---
    def snapshot(self) -> Snapshot:
        """The fragments (immutable Arrow tables, which a checkpoint file writes once) with their
        masks as bits."""
        fragments = [Snapshot().put_stored("rows", f.stored_table()).put_array("alive", np.packbits(f.alive))
                     .put("low", f.low).put("high", f.high) for f in self.fragments]
        return Snapshot().put_table("schema", None if self._schema is None else self._schema.empty_table()) \
            .put_children("fragments", fragments)

    def restore(self, data: Snapshot) -> None:
        schema = data.table("schema", optional=True)
        self._schema = None if schema is None else schema.schema
        fragments = []
        for entry in data.children("fragments"):
            if entry is None or self._schema is None:
                raise SnapshotError("a fragment without a schema")
            stored = entry.stored("rows")
            table = stored.value.table("rows", self._schema)
            packed = entry.array("alive", np.uint8, (table.num_rows + 7) // 8)
            alive = np.unpackbits(packed, count=table.num_rows).astype(bool)
            fragments.append(Fragment(table, alive, entry.integer("low"), entry.integer("high"),
                                      stored if table is stored.value.table("rows") else None))
        self.fragments = fragments
