"""A keyed state store held as Arrow tables, merged per batch with DuckDB.

Operators keep their per-key state (aggregation partials, a table source's last rows) as columns
of Arrow tables whose first columns are the key. A batch's updates are merged in one statement
(anti-join the updated keys, append the new rows), so the hot path stays vectorized whatever the
number of keys. Keys compare with IS NOT DISTINCT FROM, so struct and array keys work.

A time-windowed store is split into buckets by window start (`bucket_column` // `bucket_width`):
a batch reads and rewrites only the buckets its windows fall in, so the cost of a batch follows
the batch, not the whole state (streams mostly move forward in time), and closing windows looks
only at the buckets old enough to hold closed ones. Checkpoints store each bucket as Arrow IPC
bytes, re-serialized only when the bucket changed since the last snapshot.
"""
from __future__ import annotations

from typing import Callable, Optional

import duckdb
import numpy as np
import pyarrow as pa


class KeyedTable:
    def __init__(self, key_columns: list[str], bucket_column: Optional[str] = None, bucket_width: int = 0):
        self.key_columns = list(key_columns)
        self.bucket_column = bucket_column if bucket_width > 0 else None
        self.bucket_width = bucket_width
        self.buckets: dict[int, pa.Table] = {}
        self._serialized: dict[int, bytes] = {}     # bucket -> IPC bytes of its current table

    def __len__(self) -> int:
        return sum(t.num_rows for t in self.buckets.values())

    # --- whole-table view (small states, tests, table sources) ---
    @property
    def table(self) -> Optional[pa.Table]:
        tables = [self.buckets[b] for b in sorted(self.buckets) if self.buckets[b].num_rows]
        if not tables:
            return next(iter(self.buckets.values()), None)
        return tables[0] if len(tables) == 1 else pa.concat_tables(tables)

    @table.setter
    def table(self, value: Optional[pa.Table]) -> None:
        self.buckets, self._serialized = {}, {}
        if value is not None:
            self._store(value)

    # --- buckets ---
    def _bucket_ids(self, table: pa.Table) -> Optional[np.ndarray]:
        if self.bucket_column is None:
            return None
        values = table.column(self.bucket_column).to_numpy(zero_copy_only=False)
        return np.floor_divide(values.astype(np.int64), self.bucket_width)

    def _store(self, table: pa.Table) -> None:
        """Put `table`'s rows into their buckets (replacing those buckets)."""
        ids = self._bucket_ids(table)
        if ids is None:
            self._set(0, table)
            return
        if table.num_rows == 0:
            return
        order = np.argsort(ids, kind="stable")
        sorted_ids = ids[order]
        if len(order) > 1 and np.any(np.diff(ids) < 0):
            table = table.take(pa.array(order))
        bounds = np.flatnonzero(np.diff(sorted_ids)) + 1
        starts = np.concatenate([[0], bounds])
        ends = np.concatenate([bounds, [len(sorted_ids)]])
        for start, end in zip(starts, ends):
            self._set(int(sorted_ids[start]), table.slice(int(start), int(end - start)))

    def _set(self, bucket: int, table: pa.Table) -> None:
        self._serialized.pop(bucket, None)
        if table.num_rows == 0 and self.bucket_column is not None:
            self.buckets.pop(bucket, None)
        else:
            self.buckets[bucket] = table

    def touched(self, rows: pa.Table) -> tuple[list[int], Optional[pa.Table]]:
        """The buckets `rows` fall in and their current state rows (None when empty)."""
        ids = self._bucket_ids(rows)
        keys = [0] if ids is None else [int(b) for b in np.unique(ids)]
        tables = [self.buckets[b] for b in keys if b in self.buckets]
        if not tables:
            return keys, None
        return keys, tables[0] if len(tables) == 1 else pa.concat_tables(tables)

    def merge(self, con: duckdb.DuckDBPyConnection, rows: pa.Table, keep: Optional[pa.ChunkedArray] = None) -> None:
        """Replace the rows of the keys in `rows` (one row per key); rows with keep=False are deleted."""
        if rows.num_rows == 0:
            return
        keys, old = self.touched(rows)
        if old is None or old.num_rows == 0:
            new = rows.filter(keep) if keep is not None else rows
            schema = self._schema()
            self._store(new.cast(schema) if schema is not None and new.schema != schema else new)
            return
        con.register("state_old", old)
        con.register("state_new", rows if keep is None else rows.append_column("__keep_row", keep))
        try:
            on = " AND ".join(f"o.{k} IS NOT DISTINCT FROM n.{k}" for k in self.key_columns)
            columns = ", ".join(old.column_names)
            new_rows = f"SELECT {columns} FROM state_new" + (" WHERE __keep_row" if keep is not None else "")
            sql = (f"SELECT o.* FROM state_old o ANTI JOIN state_new n ON {on} "
                   f"UNION ALL {new_rows}")
            merged = con.sql(sql).to_arrow_table()
        finally:
            con.unregister("state_old")
            con.unregister("state_new")
        merged = merged.cast(old.schema) if merged.schema != old.schema else merged
        for bucket in keys:
            self.buckets.pop(bucket, None)
            self._serialized.pop(bucket, None)
        self._store(merged)

    def _schema(self) -> Optional[pa.Schema]:
        return next(iter(self.buckets.values())).schema if self.buckets else None

    def remove_where(self, mask: pa.ChunkedArray | pa.Array) -> pa.Table:
        """Drop the rows of the whole table where `mask` is true; returns them."""
        import pyarrow.compute as pc
        table = self.table
        removed = table.filter(mask)
        self.table = table.filter(pc.invert(mask))
        return removed

    def extract(self, before: int, mask: Callable[[pa.Table], pa.Array]) -> Optional[pa.Table]:
        """Remove and return the rows where `mask(rows)` holds, looking only at the buckets whose
        smallest possible bucket value is below `before` (all rows when unbucketed)."""
        import pyarrow.compute as pc
        if self.bucket_column is None:
            candidates = list(self.buckets)
        else:
            candidates = [b for b in self.buckets if b * self.bucket_width < before]
        removed = []
        for bucket in sorted(candidates):
            table = self.buckets[bucket]
            if table.num_rows == 0:
                continue
            selected = mask(table)
            if not pc.any(selected).as_py():
                continue
            removed.append(table.filter(selected))
            self._set(bucket, table.filter(pc.invert(selected)))
        if not removed:
            return None
        return removed[0] if len(removed) == 1 else pa.concat_tables(removed)

    # --- checkpoints ---
    def snapshot(self) -> dict:
        """{bucket: Arrow IPC bytes}; unchanged buckets reuse their bytes from the last snapshot."""
        for bucket, table in self.buckets.items():
            if bucket not in self._serialized:
                sink = pa.BufferOutputStream()
                with pa.ipc.new_stream(sink, table.schema) as writer:
                    writer.write_table(table)
                self._serialized[bucket] = sink.getvalue().to_pybytes()
        return dict(self._serialized)

    def restore(self, data) -> None:
        if data is None or isinstance(data, pa.Table):     # older checkpoints: one table
            self.table = data
            return
        self.buckets, self._serialized = {}, {}
        for bucket, payload in data.items():
            self.buckets[bucket] = pa.ipc.open_stream(payload).read_all()
            self._serialized[bucket] = payload
