"""ForeignKeyJoin: a table joined to another table's primary key from a column (or expression)
of its rows (`ON left.fk = right.pk`); INNER or LEFT. The result is keyed by the left table's key.

A left update is joined with the right row of its foreign key (INNER: a left row whose key no
longer joins emits a tombstone if it had a row before; LEFT: null-padded). A right update
re-emits every left row that references it (a right delete: tombstones for INNER, null-padded
rows for LEFT). Timestamps are the later of the two rows'. Runs are probed at once: left updates
with `index_in` on the right rows, right updates with one DuckDB join against the left rows'
foreign keys.
"""
from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from pyksqlite.operators.base import ROWTIME_COL, TOMBSTONE_COL
from pyksqlite.operators.join_common import (hash_type, TwoSidedJoinStep, HASH_COL, JOIN_KEY_COL, SideSpec, empty_output, max_time, meta_from,
                                          output_schema, output_table, run_sql, take_columns)
from pyksqlite.operators.join_table_table import previous_alive
from pyksqlite.state.join_state import KeyedRows

FK_COL = "__fk"


class ForeignKeyJoin(TwoSidedJoinStep):
    def __init__(self, step, left: SideSpec, right: SideSpec):
        self.step = step
        self.left, self.right = left, right
        self.output_schema = output_schema(left, right, step.key_type, table_result=True)
        self.data_schema = list(left.schema) + list(right.schema)
        self.left_outer = step.kind == "LEFT"
        leaf = step.left_leaves[0]
        self.left_key_columns = [f.sql_name for f in leaf.fields if f.namespace == "KEY"] \
            if len(step.left_leaves) == 1 else None
        fk = hash_type(step)
        self.left_rows = KeyedRows(pa.schema(list(left.schema) + [(ROWTIME_COL, pa.int64()), (HASH_COL, pa.string()),
                                                                  (FK_COL, fk)]))
        self.right_rows = KeyedRows(pa.schema(list(right.schema) + [(ROWTIME_COL, pa.int64()), (HASH_COL, fk)]))

    def describe(self) -> str:
        return f"JOIN foreign-key {self.step.kind} ON {self.step.text}"

    def _left_primary_key(self, rows: pa.Table) -> tuple[pa.Array, pa.Array]:
        """The left row's key (the result's key) and its text form for matching."""
        if self.left_key_columns is None:
            key = rows.column(JOIN_KEY_COL).combine_chunks()
            parts = [key]
        else:
            parts = [rows.column(c).combine_chunks() for c in self.left_key_columns]
            key = parts[0]
        texts = [pc.fill_null(pc.cast(p, pa.string()) if not pa.types.is_nested(p.type) else
                              pa.array([str(v) for v in p.to_pylist()], pa.string()), "\x00") for p in parts]
        text = texts[0] if len(texts) == 1 else pc.binary_join_element_wise(*texts, "\x1f")
        valid = parts[0].is_valid() if len(parts) == 1 else pa.array(np.ones(len(key), dtype=bool))
        return key, pc.if_else(valid, text, pa.nulls(len(key), pa.string()))

    def process_left(self, rows: pa.Table) -> pa.Table:
        key, pk = self._left_primary_key(rows)
        valid = pk.is_valid()
        if valid.false_count:
            rows, key, pk = rows.filter(valid), key.filter(valid), pk.filter(valid)
        if rows.num_rows == 0:
            return empty_output(self.output_schema)
        _, fk = self.left.key(rows)
        tomb = rows.column(TOMBSTONE_COL).combine_chunks()
        tombstones = pc.fill_null(tomb, False).to_numpy(zero_copy_only=False)
        had_row = previous_alive(pk, tombstones, self.left_rows)
        right_index = self.right_rows.lookup(fk)
        found = right_index.is_valid().to_numpy(zero_copy_only=False) & ~tombstones
        if self.left_outer:
            emit = ~tombstones | had_row
            dead = tombstones
        else:
            emit = found | had_row
            dead = ~found
        self.left_rows.upsert(rows.append_column(HASH_COL, pk).append_column(FK_COL, fk), tomb)
        if not emit.any():
            return empty_output(self.output_schema)
        pick = pa.array(np.flatnonzero(emit))
        rows, key, right_index = rows.take(pick), key.take(pick), right_index.take(pick)
        columns = {name: rows.column(name) for name, _ in self.left.schema}
        columns.update(take_columns(self.right_rows.rows, self.right.schema, right_index))
        columns.update(meta_from(rows))
        columns[ROWTIME_COL] = max_time(rows.column(ROWTIME_COL).combine_chunks(),
                                        self.right_rows.rows.column(ROWTIME_COL).take(right_index))
        columns[JOIN_KEY_COL] = key
        columns[TOMBSTONE_COL] = pa.array(dead[emit])
        return output_table(self.output_schema, columns, True)

    def process_right(self, rows: pa.Table) -> pa.Table:
        _, pk = self.right.key(rows)
        valid = pk.is_valid()
        if valid.false_count:
            rows, pk = rows.filter(valid), pk.filter(valid)
        if rows.num_rows == 0:
            return empty_output(self.output_schema)
        tomb = rows.column(TOMBSTONE_COL).combine_chunks()
        pairs = None
        if self.left_rows.rows.num_rows:
            probe = pa.table({"i": pa.array(np.arange(rows.num_rows, dtype=np.int64)), "h": pk})
            lefts = pa.table({"j": pa.array(np.arange(self.left_rows.rows.num_rows, dtype=np.int64)),
                              "h": self.left_rows.rows.column(FK_COL)})
            pairs = run_sql("SELECT p.i, l.j FROM probe p JOIN lefts l ON p.h = l.h ORDER BY p.i, l.j",
                            probe=probe, lefts=lefts)
        out = empty_output(self.output_schema)
        if pairs is not None and pairs.num_rows:
            i, j = pairs.column("i"), pairs.column("j")
            deleted = pc.fill_null(tomb, False).take(i).to_numpy(zero_copy_only=False)
            left = self.left_rows.rows
            columns = {name: left.column(name).take(j) for name, _ in self.left.schema}
            right_index = pa.array(i.to_numpy(), mask=deleted)
            for name, _ in self.right.schema:
                columns[name] = rows.column(name).take(right_index)
            columns.update(meta_from(rows, i))
            columns[ROWTIME_COL] = max_time(rows.column(ROWTIME_COL).take(i), left.column(ROWTIME_COL).take(j))
            key, _ = self._left_primary_key(left.take(j)) if self.left_key_columns else (
                left.column(HASH_COL).take(j), None)
            columns[JOIN_KEY_COL] = key
            columns[TOMBSTONE_COL] = pa.array(deleted & (not self.left_outer))
            out = output_table(self.output_schema, columns, True)
        self.right_rows.upsert(rows.append_column(HASH_COL, pk), tomb)
        return out

