"""A keyed state store held as Arrow tables, merged per batch with DuckDB.

Operators keep their per-key state (aggregation partials, a table source's last rows) as columns
of Arrow tables whose first columns are the key. A batch's updates are merged in one statement
(anti-join the updated keys, append the new rows), so the hot path stays vectorized whatever the
number of keys. Keys compare with IS NOT DISTINCT FROM, so struct and array keys work.

A time-windowed store is split into ranges of buckets by window start (`bucket_column` //
`bucket_width`): a batch reads and rewrites only the ranges its windows fall in, merging them
into one range (no sort, no split), so while a stream moves forward in time the cost of a batch
follows the batch, not the whole state, and closing windows looks only at the ranges old enough
to hold closed ones. Snapshots are the Arrow tables themselves (immutable; pickled straight to
the checkpoint file).
"""
from __future__ import annotations

from typing import Callable, Optional

import duckdb
import pyarrow as pa
import pyarrow.compute as pc


Range = tuple[int, int]          # [first bucket, last bucket] of a state part


class KeyedTable:
    def __init__(self, key_columns: list[str], bucket_column: Optional[str] = None, bucket_width: int = 0):
        self.key_columns = list(key_columns)
        self.bucket_column = bucket_column if bucket_width > 0 else None
        self.bucket_width = bucket_width
        self.buckets: dict[Range, pa.Table] = {}     # disjoint ranges -> their rows

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
        self.buckets = {}
        if value is not None:
            self._store(self._span(value), value)

    # --- ranges ---
    def _span(self, table: pa.Table) -> Optional[Range]:
        """The range of buckets `table`'s rows fall in (None: no rows)."""
        if self.bucket_column is None:
            return (0, 0)
        if table.num_rows == 0:
            return None
        bounds = pc.min_max(table.column(self.bucket_column))
        low, high = bounds["min"].as_py(), bounds["max"].as_py()
        if low is None:
            return (0, 0)
        return (low // self.bucket_width, high // self.bucket_width)

    def _overlapping(self, span: Optional[Range]) -> list[Range]:
        if span is None:
            return []
        return [r for r in self.buckets if r[0] <= span[1] and span[0] <= r[1]]

    def _store(self, span: Optional[Range], table: pa.Table) -> None:
        if span is None:
            return
        if table.num_rows == 0 and self.bucket_column is not None:
            self.buckets.pop(span, None)
        else:
            self.buckets[span] = table

    def touched(self, rows: pa.Table) -> tuple[list[Range], Optional[pa.Table]]:
        """The ranges `rows` fall in and their current state rows (None when empty)."""
        keys = self._overlapping(self._span(rows))
        if self.bucket_column is None:
            keys = [(0, 0)]
        tables = [self.buckets[b] for b in keys if b in self.buckets]
        if not tables:
            return keys + [self._span(rows)], None
        return keys + [self._span(rows)], tables[0] if len(tables) == 1 else pa.concat_tables(tables)

    def replace(self, ranges: list[Range], rows: pa.Table) -> None:
        """The state rows of `ranges` (as `touched` returned them) are now exactly `rows`."""
        schema = self._schema()
        for r in ranges:
            if r is not None:
                self.buckets.pop(r, None)
        if schema is not None and rows.schema != schema:
            rows = rows.cast(schema)
        spans = [r for r in ranges if r is not None]
        if spans:
            self._store((min(r[0] for r in spans), max(r[1] for r in spans)), rows)

    def merge(self, con: duckdb.DuckDBPyConnection, rows: pa.Table, keep: Optional[pa.ChunkedArray] = None) -> None:
        """Replace the rows of the keys in `rows` (one row per key); rows with keep=False are deleted."""
        if rows.num_rows == 0:
            return
        ranges, old = self.touched(rows)
        if old is None or old.num_rows == 0:
            self.replace(ranges, rows.filter(keep) if keep is not None else rows)
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
        self.replace(ranges, merged)

    def _schema(self) -> Optional[pa.Schema]:
        return next(iter(self.buckets.values())).schema if self.buckets else None

    def remove_where(self, mask: pa.ChunkedArray | pa.Array) -> pa.Table:
        """Drop the rows of the whole table where `mask` is true; returns them."""
        table = self.table
        removed = table.filter(mask)
        self.table = table.filter(pc.invert(mask))
        return removed

    def extract(self, before: int, mask: Callable[[pa.Table], pa.Array]) -> Optional[pa.Table]:
        """Remove and return the rows where `mask(rows)` holds, looking only at the ranges whose
        smallest possible bucket value is below `before` (all rows when unbucketed)."""
        if self.bucket_column is None:
            candidates = list(self.buckets)
        else:
            candidates = [r for r in self.buckets if r[0] * self.bucket_width < before]
        removed = []
        for span in sorted(candidates):
            table = self.buckets[span]
            if table.num_rows == 0:
                continue
            selected = mask(table)
            if not pc.any(selected).as_py():
                continue
            removed.append(table.filter(selected))
            self._store(span, table.filter(pc.invert(selected)))
        if not removed:
            return None
        return removed[0] if len(removed) == 1 else pa.concat_tables(removed)

    # --- checkpoints ---
    def snapshot(self) -> dict:
        """{range: Arrow table}: immutable tables, which pickle (protocol 5) by writing their
        buffers straight to the checkpoint file, with no serialized copy in between."""
        return dict(self.buckets)

    def restore(self, data) -> None:
        if data is None or isinstance(data, pa.Table):     # older checkpoints: one table
            self.table = data
            return
        self.buckets = {span: (pa.ipc.open_stream(t).read_all() if isinstance(t, (bytes, pa.Buffer)) else t)
                        for span, t in data.items()}
