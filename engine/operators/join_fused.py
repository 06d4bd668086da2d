"""FusedStreamTableJoin: decode + stream-table probe + projection + encode in one DuckDB statement.

Operator fusion for the most common join: a JSON stream enriched from a table. When a polled
batch holds only stream records, parsing their values (the fast path of `engine.serde.json_fast`,
only the columns the query reads), probing the table's state (a hash join against the state's
Arrow table), the query's WHERE and projection and the sink's value encoding run as a single
statement, with no Arrow copy of the decoded or joined columns in between.

The fast decode flags rows it cannot vouch for; a batch with any such row, a key that does not
decode, or table records in it, goes through the unfused operators (`JoinOperators`, then the
`Select`), which apply ksqlDB's rules exactly. Both paths give the same rows in the same order.
"""
from __future__ import annotations

from typing import Optional

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from engine.duck import connection, run_sql
from engine.expressions.typing_rules import duckdb_type
from engine.operators.base import (HEADERS_COL, OFFSET_COL, PARTITION_COL, ROWTIME_COL, SUSPECT_COL,
                                   BatchLayout, Operator)
from engine.operators.fused import FusedJsonProjection
from engine.operators.join_common import HASH_COL, JOIN_KEY_COL
from engine.operators.select import Select
from engine.serde import json_fast

SEQ_COL = "__seq"
# Key types whose equality is the same in DuckDB's hash join and in Arrow's `index_in`.
FUSABLE_KEY_TYPES = ("BIGINT", "INTEGER", "STRING", "BOOLEAN")
_state_names = iter(range(1 << 62))


class FusedStreamTableJoin:
    """The relation side of a plan whose stream-table join and Select run fused (see module doc)."""

    def __init__(self, joins, select: Select):
        self.joins = joins                      # the unfused JoinOperators, which own the state
        self.select = select
        self.layout: BatchLayout = select.layout
        self.leaf = joins.relation.leaves[0]
        self.decode = joins.decoders[0]
        self.step = joins.relation.steps[0]
        self.join = joins.joins[0]
        self._state_name = f"join_state_{next(_state_names)}"

    @staticmethod
    def applies_to(joins) -> bool:
        relation = joins.relation
        if len(relation.steps) != 1 or relation.steps[0].join_type != "stream-table":
            return False
        step = relation.steps[0]
        return (step.key_type.base in FUSABLE_KEY_TYPES and step.kind in ("INNER", "LEFT")
                and FusedJsonProjection.applies_to(joins.decoders[0]))

    def operators(self) -> list[Operator]:
        return [*self.joins.operators(), self.select]

    def process(self, records: pa.Table | pa.RecordBatch) -> pa.Table:
        if isinstance(records, pa.RecordBatch):
            records = pa.Table.from_batches([records])
        fused = self._process_fused(records) if self._only_stream_records(records) else None
        if fused is not None:
            return fused
        return self.select.process(self.joins.process(records))

    # --- the fused statement ---
    def _only_stream_records(self, records: pa.Table) -> bool:
        topics = records.column("topic")
        return records.num_rows > 0 and pc.all(pc.equal(topics, self.leaf.source.topic)).as_py()

    def _process_fused(self, records: pa.Table) -> Optional[pa.Table]:
        records = self.decode.drop_unusable(records)
        if records.num_rows == 0:
            return None
        # No UTF-8 check here: DuckDB rejects invalid text, and the exact path then reports it.
        text = pc.cast(records.column("value").combine_chunks(),
                       options=pc.CastOptions(target_type=pa.string(), allow_invalid_utf8=True))
        spellings = json_fast.spellings_of(text, self.decode.decoded_value_columns)
        keys = self.decode.key_serde.deserialize(records.column("key").combine_chunks())
        if spellings is None or keys.errors:
            return None
        inputs = self._inputs(records, text, keys.columns)
        positions = _record_positions(inputs)
        # Polled records usually come partition by partition in offset order: then the output
        # order can be checked (and mended) on its positions, cheaper than sorting in the statement.
        in_position_order = bool(np.all(np.diff(positions) > 0))
        statement = self._statement(spellings, HEADERS_COL in inputs.column_names, not in_position_order)
        con = connection()
        con.register(self._state_name, self.join.table.rows)
        try:
            result = run_sql(statement, records=inputs)
        except duckdb.Error:
            return None
        finally:
            con.unregister(self._state_name)
        if pc.any(result.column(SUSPECT_COL)).as_py():
            return None
        result = result.drop_columns([SUSPECT_COL])
        return _in_position_order(result) if in_position_order else result

    def _inputs(self, records: pa.Table, text: pa.Array, keys: pa.Table) -> pa.Table:
        key_fields = [f for f in self.leaf.fields if f.namespace == "KEY"]
        columns = {f.sql_name: keys.column(i) for i, f in enumerate(key_fields)}
        columns.update({"doc": text, ROWTIME_COL: records.column("timestamp"),
                        PARTITION_COL: records.column("partition"), OFFSET_COL: records.column("offset"),
                        SEQ_COL: pa.array(np.arange(records.num_rows, dtype=np.int64))})
        headers = records.column("headers")
        if headers.null_count < len(headers):  # most streams carry no headers: don't ship nulls
            columns[HEADERS_COL] = headers
        return pa.table(columns)

    def _statement(self, spellings: list[str], has_headers: bool, ordered: bool) -> str:
        decoded = self._decoding_sql(spellings, has_headers)
        right = ", ".join(f"s.{name}" for name, _ in self.join.right.schema)
        keyed = f"SELECT *, TRY({self.step.left_sql}) AS {JOIN_KEY_COL} FROM decoded"
        # Every row the fast path doubts comes out, so that the batch can be sent the exact way.
        matched = f"{JOIN_KEY_COL} IS NOT NULL" if self.step.kind == "LEFT" else f"s.{HASH_COL} IS NOT NULL"
        joined = (f"SELECT d.*, {right} FROM keyed d LEFT JOIN {self._state_name} s "
                  f"ON d.{JOIN_KEY_COL} = s.{HASH_COL} WHERE d.{SUSPECT_COL} OR {matched}")
        if ordered:
            joined += f" ORDER BY d.{SEQ_COL}"
        return (f"WITH decoded AS ({decoded}), keyed AS ({keyed}), batch AS ({joined}) "
                f"{self.select.sql_keeping_suspects}")

    def _decoding_sql(self, spellings: list[str], has_headers: bool) -> str:
        columns = self.decode.decoded_value_columns
        decoded = json_fast.decode_sql(columns, spellings, "doc")
        by_name = dict(zip((c.name for c in columns), decoded.values))
        fields = [f.sql_name for f in self.leaf.fields if f.namespace == "KEY"]
        for field in self.leaf.fields:
            if field.namespace != "KEY":
                value = by_name.get(field.name, f"NULL::{duckdb_type(field.type)}")
                fields.append(f"{value} AS {field.sql_name}")
        rowtime, suspect = ROWTIME_COL, decoded.suspect
        if self.leaf.source.timestamp_column:
            # Event time from a BIGINT column; an invalid one is left to the exact path to log.
            rowtime = by_name[self.leaf.source.timestamp_column]
            suspect = f"({suspect} OR {rowtime} < 0)"
        headers = HEADERS_COL if has_headers else f"NULL::STRUCT(key VARCHAR, value BLOB)[] AS {HEADERS_COL}"
        fields += [f"{rowtime} AS {ROWTIME_COL}", f"{rowtime} AS {self.leaf.rowtime_col}", PARTITION_COL,
                   OFFSET_COL, headers, f"{suspect} AS {SUSPECT_COL}", SEQ_COL]
        return f"SELECT {', '.join(fields)} FROM (SELECT *, {decoded.transform} AS j FROM records)"


def _record_positions(rows: pa.Table) -> np.ndarray:
    """(partition, offset) of each row as one sortable number: a record's place in its topic."""
    partitions = rows.column(PARTITION_COL).to_numpy().astype(np.int64)
    return (partitions << 40) | rows.column(OFFSET_COL).to_numpy()


def _in_position_order(rows: pa.Table) -> pa.Table:
    """The rows sorted by their records' positions (DuckDB's join may give another order)."""
    positions = _record_positions(rows)
    if np.all(np.diff(positions) > 0):
        return rows
    return rows.take(pa.array(np.argsort(positions, kind="stable")))
