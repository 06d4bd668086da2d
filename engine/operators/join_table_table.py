"""TableTableJoin: two tables joined on their primary key; the result is a table.

Every update of either side is joined with the other side's current row, as Kafka Streams'
KTable-KTable join processors do: INNER emits only when both rows exist (a delete of either
side then emits a tombstone); LEFT/RIGHT keep the outer side's rows, null-padded; FULL keeps
both. A delete of a key that had no row, with no row on the other side, emits nothing. The
result's timestamp is the later of the two rows'. A run of updates from one side is probed
against the other side's state at once; whether each update replaced a live row is computed
for the whole run (`previous_alive`).
"""
from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from pyksqlite.operators.base import ROWTIME_COL, TOMBSTONE_COL
from pyksqlite.operators.join_common import (TwoSidedJoinStep, HASH_COL, hash_type, JOIN_KEY_COL, SideSpec, empty_output, max_time, meta_from,
                                          output_schema, output_table, take_columns)
from pyksqlite.state.join_state import KeyedRows


def previous_alive(hashes: pa.Array, tombstones: np.ndarray, state: KeyedRows) -> np.ndarray:
    """For each update of a run: did its key have a live row just before it?"""
    n = len(hashes)
    if n == 0:
        return np.zeros(0, dtype=bool)
    in_state = state.lookup(hashes).is_valid().to_numpy(zero_copy_only=False)
    codes = pc.dictionary_encode(hashes).indices.to_numpy(zero_copy_only=False)
    order = np.lexsort((np.arange(n), codes))
    result = in_state.copy()
    sorted_codes = codes[order]
    same = np.zeros(n, dtype=bool)
    same[1:] = sorted_codes[1:] == sorted_codes[:-1]
    prev_alive_sorted = np.zeros(n, dtype=bool)
    prev_alive_sorted[1:] = ~tombstones[order][:-1]
    result[order[same]] = prev_alive_sorted[same]
    return result


class TableTableJoin(TwoSidedJoinStep):
    def __init__(self, step, left: SideSpec, right: SideSpec):
        self.step = step
        self.left, self.right = left, right
        self.output_schema = output_schema(left, right, step.key_type, table_result=True)
        self.data_schema = list(left.schema) + list(right.schema)
        extra = [(ROWTIME_COL, pa.int64()), (HASH_COL, hash_type(step))]
        self.left_rows = KeyedRows(pa.schema(list(left.schema) + extra))
        self.right_rows = KeyedRows(pa.schema(list(right.schema) + extra))
        kind = step.kind
        self.left_outer = kind in ("LEFT", "FULL")
        self.right_outer = kind in ("RIGHT", "FULL")

    def describe(self) -> str:
        return f"JOIN table-table {self.step.kind} ON {self.step.text}"

    def process_left(self, rows: pa.Table) -> pa.Table:
        return self._process(rows, self.left, self.left_rows, self.right, self.right_rows,
                             self.left_outer, self.right_outer)

    def process_right(self, rows: pa.Table) -> pa.Table:
        return self._process(rows, self.right, self.right_rows, self.left, self.left_rows,
                             self.right_outer, self.left_outer)

    def _process(self, rows, this: SideSpec, this_rows: KeyedRows, other: SideSpec, other_rows: KeyedRows,
                 this_outer: bool, other_outer: bool) -> pa.Table:
        key, hashes = this.key(rows)
        valid = hashes.is_valid()
        if valid.false_count:
            rows, key, hashes = rows.filter(valid), key.filter(valid), hashes.filter(valid)
        if rows.num_rows == 0:
            return empty_output(self.output_schema)
        tomb = rows.column(TOMBSTONE_COL).combine_chunks()
        tombstones = pc.fill_null(tomb, False).to_numpy(zero_copy_only=False)
        had_row = previous_alive(hashes, tombstones, this_rows)
        other_index = other_rows.lookup(hashes)
        other_found = other_index.is_valid().to_numpy(zero_copy_only=False)
        if this_outer:
            emit = other_found | ~tombstones | had_row
        else:
            emit = other_found.copy()
        # The joined row: this side's columns unless deleted; the other's if present.
        this_present = ~tombstones
        result_dead = ~((this_present & (other_found | this_outer)) | (other_found & other_outer))
        this_rows.upsert(rows.append_column(HASH_COL, hashes), tomb)
        if not emit.any():
            return empty_output(self.output_schema)
        pick = pa.array(np.flatnonzero(emit))
        rows, key, other_index = rows.take(pick), key.take(pick), other_index.take(pick)
        this_present, result_dead = this_present[emit], result_dead[emit]
        columns = {}
        for name, typ in this.schema:
            columns[name] = pc.if_else(pa.array(this_present), rows.column(name).combine_chunks(),
                                       pa.nulls(rows.num_rows, typ))
        columns.update(take_columns(other_rows.rows, other.schema, other_index))
        columns.update(meta_from(rows))
        other_time = other_rows.rows.column(ROWTIME_COL).take(other_index)
        columns[ROWTIME_COL] = max_time(rows.column(ROWTIME_COL).combine_chunks(), other_time)
        columns[JOIN_KEY_COL] = key
        columns[TOMBSTONE_COL] = pa.array(result_dead)
        return output_table(self.output_schema, columns, True)

