"""Changes of a table source as aggregation deltas: retract the old row, add the new one.

Aggregating a table must undo: when a source row is updated, its previous version's
contribution is subtracted before the new one is added, and a tombstone only subtracts (Kafka
Streams' KTable groupBy sends the old and new values; ksqlDB's undo aggregators apply them). This
keeps the last row of every source key (`k0..` -> group values and aggregate arguments) in an
Arrow table and turns a batch into delta rows with a sign, in one DuckDB statement:

* a retraction (sign -1) of the previous row when it existed and had a non-null group;
* an addition (sign +1) of the new row when it is not a tombstone and its group is not null.

When both land in the same group they form one update (one output row), as ksqlDB emits.
"""
from __future__ import annotations

import duckdb
import pyarrow as pa

from pyksqlite.operators.base import ROWTIME_COL, TOMBSTONE_COL
from pyksqlite.state.keyed import KeyedTable
from pyksqlite.state.snapshot import Snapshot, SnapshotError

SEQ, EMIT = "__seq", "__emit"


class TableDeltas:
    def __init__(self, source_keys: int, groups: int, args: int):
        self.source_keys = [f"k{i}" for i in range(source_keys)]
        self.groups = [f"g{i}" for i in range(groups)]
        self.args = [f"a{i}" for i in range(args)]
        self.previous = KeyedTable(self.source_keys)

    def deltas(self, con: duckdb.DuckDBPyConnection, batch: pa.Table) -> pa.Table:
        """Delta rows: g*, a*, __rowtime, __sign, __seq (2n / 2n+1 for input row n), __emit."""
        con.register("table_batch", batch)
        prev = self.previous.table if self.previous.table is not None else self._empty_previous(con)
        con.register("table_prev", prev)
        try:
            sql = self._sql()
            result = con.sql(sql).to_arrow_table()
            latest = con.sql(self._latest_sql()).to_arrow_table()
        finally:
            con.unregister("table_batch")
            con.unregister("table_prev")
        self.previous.merge(con, latest.drop_columns(["__keep"]), latest.column("__keep"))
        return result

    def _empty_previous(self, con) -> pa.Table:
        cols = ", ".join(self.source_keys + self.groups + self.args)
        return con.sql(f"SELECT {cols} FROM table_batch LIMIT 0").to_arrow_table()

    def _valid(self, prefix: str = "") -> str:
        checks = [f"NOT {TOMBSTONE_COL}"] + [f"{prefix}{g} IS NOT NULL" for g in self.groups]
        return " AND ".join(checks)

    def _sql(self) -> str:
        keys = ", ".join(self.source_keys) or "NULL"
        on = " AND ".join(f"b.{k} IS NOT DISTINCT FROM p.{k}" for k in self.source_keys) or "TRUE"
        carried = self.groups + self.args
        lags = ", ".join(f"lag({c}) OVER w AS __l_{c}" for c in carried)
        olds = ", ".join(f"CASE WHEN __rn = 1 THEN __p_{c} ELSE __l_{c} END AS __o_{c}" for c in carried)
        prev_cols = ", ".join(f"p.{c} AS __p_{c}" for c in carried)
        same = " AND ".join(f"__o_{g} IS NOT DISTINCT FROM {g}" for g in self.groups) or "TRUE"
        old_select = ", ".join([f"__o_{g} AS {g}" for g in self.groups] + [f"__o_{a} AS {a}" for a in self.args])
        new_select = ", ".join(self.groups + self.args)
        sep = ", " if carried else ""
        return f"""
WITH b AS (SELECT *, ({self._valid()}) AS __valid FROM table_batch),
j AS (SELECT b.*{sep}{prev_cols}, (p.__present IS NOT NULL) AS __p_valid
      FROM b LEFT JOIN (SELECT *, TRUE AS __present FROM table_prev) p ON {on}),
l AS (SELECT *, row_number() OVER w AS __rn, lag(__valid) OVER w AS __l_valid{sep}{lags}
      FROM j WINDOW w AS (PARTITION BY {keys} ORDER BY {SEQ})),
o AS (SELECT *, CASE WHEN __rn = 1 THEN __p_valid ELSE coalesce(__l_valid, FALSE) END AS __o_valid{sep}{olds}
      FROM l)
SELECT {old_select}{sep}{ROWTIME_COL}, CAST(-1 AS BIGINT) AS __sign, 2 * {SEQ} AS {SEQ},
       NOT (__valid AND {same}) AS {EMIT}
FROM o WHERE __o_valid
UNION ALL
SELECT {new_select}{sep}{ROWTIME_COL}, CAST(1 AS BIGINT) AS __sign, 2 * {SEQ} + 1 AS {SEQ}, TRUE AS {EMIT}
FROM o WHERE __valid
ORDER BY {SEQ}"""

    def _latest_sql(self) -> str:
        keys = ", ".join(self.source_keys) or "NULL"
        cols = ", ".join(self.source_keys + self.groups + self.args)
        return (f"SELECT {cols}, ({self._valid()}) AS __keep FROM table_batch "
                f"QUALIFY row_number() OVER (PARTITION BY {keys} ORDER BY {SEQ} DESC) = 1")

    def snapshot(self) -> Snapshot:
        return self.previous.snapshot()

    def restore(self, state: Snapshot) -> None:
        self.previous.restore(state)
        expected = self.source_keys + self.groups + self.args
        table = self.previous.table
        if table is not None and table.column_names != expected:
            raise SnapshotError(f"a table source's rows have columns {table.column_names}, not {expected}")
