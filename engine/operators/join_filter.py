"""JoinResultFilter: a WHERE on a table join result drops the changes nobody has seen.

A table join's result is filtered as Kafka Streams filters a table that sends old values: a
row that fails the WHERE becomes a tombstone only if the key's last emitted row was a live one
(the old value passed the filter); a key that never passed emits nothing. The `Select` after the
join still applies the WHERE (turning the remaining failing rows into tombstones); this step only
removes the changes that would be tombstones of keys never emitted, or emitted already deleted.

The state is the set of keys whose last emitted row is live, an Arrow table (a snapshot section).
"""
from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

from pyksqlite.common.duck import run_sql
from pyksqlite.operators.base import TOMBSTONE_COL
from pyksqlite.operators.join_common import HASH_COL
from pyksqlite.operators.join_table_table import previous_alive
from pyksqlite.state.join_state import KeyedRows
from pyksqlite.state.snapshot import Snapshot


class JoinResultFilter:
    def __init__(self, predicate_sql: str, predicate_text: str, key_columns: list[tuple[str, pa.DataType]]):
        self.predicate_text = predicate_text
        self._statement = _live_and_key_sql(predicate_sql, key_columns)
        key_type = key_columns[0][1] if _key_is_plain(key_columns) else pa.string()
        self.emitted = KeyedRows(pa.schema([(HASH_COL, key_type)]))

    def describe(self) -> str:
        return f"FILTER table changes of emitted keys WHERE {self.predicate_text}"

    def process(self, rows: pa.Table) -> pa.Table:
        if rows.num_rows == 0:
            return rows
        computed = run_sql(self._statement, batch=rows)
        live = pc.fill_null(computed.column("live").combine_chunks(), False).to_numpy(zero_copy_only=False)
        keys = computed.column(HASH_COL).combine_chunks()
        was_live = previous_alive(keys, ~live, self.emitted)
        self.emitted.upsert(pa.table({HASH_COL: keys}), pa.array(~live))
        emit = live | was_live
        return rows if emit.all() else rows.filter(pa.array(emit))

    def advance_time(self, stream_time_ms: int):
        return None

    def snapshot(self) -> Snapshot:
        return Snapshot().put_child("emitted", self.emitted.snapshot())

    def restore(self, state: Snapshot) -> None:
        self.emitted.restore(state.child("emitted"))


def _key_is_plain(key_columns: list[tuple[str, pa.DataType]]) -> bool:
    return len(key_columns) == 1 and not pa.types.is_nested(key_columns[0][1])


def _live_and_key_sql(predicate_sql: str, key_columns: list[tuple[str, pa.DataType]]) -> str:
    """Per row: is it a live row that passes the WHERE, and its key (text for composite keys)."""
    if _key_is_plain(key_columns):
        key = key_columns[0][0]
    else:
        key = f"CAST(row({', '.join(name for name, _ in key_columns)}) AS VARCHAR)"
    live = f"NOT {TOMBSTONE_COL} AND coalesce(TRY({predicate_sql}), false)"
    return f"SELECT {live} AS live, {key} AS {HASH_COL} FROM batch"
