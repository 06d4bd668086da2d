"""A keyed state store held as one Arrow table, merged per batch with DuckDB.

Operators keep their per-key state (aggregation partials, a table source's last rows) as columns
of an Arrow table whose first columns are the key. A batch's updates are merged in one statement
(anti-join the updated keys, append the new rows), so the hot path stays vectorized whatever the
number of keys. Keys compare with IS NOT DISTINCT FROM, so struct and array keys work. The
table pickles as Arrow data, which is what checkpoints store.
"""
from __future__ import annotations

from typing import Optional

import duckdb
import pyarrow as pa


class KeyedTable:
    def __init__(self, key_columns: list[str]):
        self.key_columns = list(key_columns)
        self.table: Optional[pa.Table] = None

    def __len__(self) -> int:
        return 0 if self.table is None else self.table.num_rows

    def merge(self, con: duckdb.DuckDBPyConnection, rows: pa.Table, keep: Optional[pa.ChunkedArray] = None) -> None:
        """Replace the rows of the keys in `rows` (one row per key); rows with keep=False are deleted."""
        if rows.num_rows == 0:
            return
        if self.table is None or self.table.num_rows == 0:
            self.table = rows.filter(keep) if keep is not None else rows
            return
        con.register("state_old", self.table)
        con.register("state_new", rows if keep is None else rows.append_column("__keep_row", keep))
        try:
            on = " AND ".join(f"o.{k} IS NOT DISTINCT FROM n.{k}" for k in self.key_columns)
            columns = ", ".join(self.table.column_names)
            new_rows = f"SELECT {columns} FROM state_new" + (" WHERE __keep_row" if keep is not None else "")
            sql = (f"SELECT o.* FROM state_old o ANTI JOIN state_new n ON {on} "
                   f"UNION ALL {new_rows}")
            merged = con.sql(sql).to_arrow_table()
        finally:
            con.unregister("state_old")
            con.unregister("state_new")
        self.table = merged.cast(self.table.schema) if merged.schema != self.table.schema else merged

    def remove_where(self, mask: pa.ChunkedArray | pa.Array) -> pa.Table:
        """Drop the rows where `mask` is true; returns them."""
        import pyarrow.compute as pc
        removed = self.table.filter(mask)
        self.table = self.table.filter(pc.invert(mask))
        return removed
