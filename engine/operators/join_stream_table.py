"""StreamTableJoin: each stream record joined with the table row of its key at that point.

Only stream records emit (INNER: when the table has the key; LEFT: always, null-padded); table
updates and tombstones only change the state. A run of stream records is probed against the
table state in one `index_in`; the result keeps the stream record's timestamp, partition and
headers. Stream records with a NULL join key join nothing and are dropped, as ksqlDB does.
"""
from __future__ import annotations

import pyarrow as pa

from pyksqlite.operators.base import ROWTIME_COL, TOMBSTONE_COL
from pyksqlite.operators.join_common import (JoinStep, HASH_COL, hash_type, JOIN_KEY_COL, SideSpec, empty_output,
                                          meta_from, output_schema, output_table, take_columns)
from pyksqlite.state.join_state import KeyedRows
from pyksqlite.state.snapshot import Snapshot


class StreamTableJoin(JoinStep):
    def __init__(self, step, left: SideSpec, right: SideSpec):
        self.step = step
        self.left, self.right = left, right
        self.output_schema = output_schema(left, right, step.key_type, table_result=False)
        self.data_schema = list(left.schema) + list(right.schema)
        self.table = KeyedRows(pa.schema(list(right.schema) + [(ROWTIME_COL, pa.int64()), (HASH_COL, hash_type(step))]))

    def describe(self) -> str:
        return f"JOIN stream-table {self.step.kind} ON {self.step.text}"

    def process_left(self, rows: pa.Table) -> pa.Table:
        key, hashes = self.left.key(rows)
        valid = hashes.is_valid()
        if valid.false_count:
            rows, key, hashes = rows.filter(valid), key.filter(valid), hashes.filter(valid)
        indices = self.table.lookup(hashes)
        if self.step.kind == "INNER":
            found = indices.is_valid()
            if found.false_count:
                rows, key, indices = rows.filter(found), key.filter(found), indices.filter(found)
        if rows.num_rows == 0:
            return empty_output(self.output_schema)
        columns = {name: rows.column(name) for name, _ in self.left.schema}
        columns.update(take_columns(self.table.rows, self.right.schema, indices))
        columns.update(meta_from(rows))
        columns[JOIN_KEY_COL] = key
        return output_table(self.output_schema, columns, False)

    def process_right(self, rows: pa.Table) -> pa.Table:
        _, hashes = self.right.key(rows)
        valid = hashes.is_valid()
        rows, hashes = rows.filter(valid), hashes.filter(valid)
        self.table.upsert(rows.append_column(HASH_COL, hashes), rows.column(TOMBSTONE_COL).combine_chunks())
        return empty_output(self.output_schema)

    # --- state ---
    def snapshot(self) -> Snapshot:
        return Snapshot().put_child("table", self.table.snapshot())

    def restore(self, state: Snapshot) -> None:
        self.table.restore(state.child("table"))
