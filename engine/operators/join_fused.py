"""FusedStreamTableJoin: a stream-table join with its projection in two DuckDB statements.

Operator fusion for the most common join: a JSON stream enriched from a table. A task runs it in
the two halves of its step (`pyksqlite.planner.physical`): as records are buffered, the stream's
values are parsed in one statement (the fast path of `pyksqlite.serde.json_fast`, only the columns
the query reads), which gives each record its event time for the merge of the task's partitions
(`pyksqlite.runtime.partition_group`); the table's records are decoded exactly. Then, in processing order,
each table run updates the state through the unfused join, and each run of stream rows is probed
against the table's state (a hash join against the state's Arrow table), filtered, projected and
encoded for the sink in one statement, prepared once per connection (`PlannedStatement`).
Results come out in the order of the stream records that made them.

The fast decode flags rows it cannot vouch for; records with any such row or a key that does not
decode, or a statement that fails in any way (invalid UTF-8, numbers out of range...), go through
the unfused operators (`SourceDecode`, `JoinOperators`, then the `Select`), which apply ksqlDB's
rules exactly and send a bad record to the processing log. Both paths give the same rows in the
same order.
"""
from __future__ import annotations

from typing import Optional

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from pyksqlite.common.duck import connection
from pyksqlite.log.api import HEADER_TYPE
from pyksqlite.log.arrays import contiguous
from pyksqlite.operators.base import (HEADERS_COL, OFFSET_COL, PARTITION_COL, ROWTIME_COL, SUSPECT_COL,
                                   BatchLayout, Operator)
from pyksqlite.operators.fused import FusedJsonProjection, decoded_select_list
from pyksqlite.operators.join_common import HASH_COL, JOIN_KEY_COL
from pyksqlite.operators.join_driver import SEQ_COL, processing_runs
from pyksqlite.operators.planned import PlannedStatement
from pyksqlite.operators.select import Select
from pyksqlite.serde import json_fast

# Key types whose equality is the same in DuckDB's hash join and in Arrow's `index_in`.
FUSABLE_KEY_TYPES = ("BIGINT", "INTEGER", "STRING", "BOOLEAN")
STREAM, TABLE = 0, 1     # the join's leaves: the stream probes, the table is the state
FAST_STREAM, EXACT_STREAM = 2, 3   # tags of stream rows decoded by the fast path / exactly
_state_names = iter(range(1 << 62))


class FusedStreamTableJoin:
    """The relation side of a plan whose stream-table join and Select run fused (see module doc)."""

    def __init__(self, joins, select: Select):
        self.joins = joins                      # the unfused JoinOperators, which own the state
        self.select = select
        self.layout: BatchLayout = select.layout
        self.leaf = joins.relation.leaves[STREAM]
        self.decode = joins.decoders[STREAM]
        self.step = joins.relation.steps[0]
        self.join = joins.joins[0]
        self._state_name = f"join_state_{next(_state_names)}"
        self._stream_decoding = PlannedStatement("records")  # the fast decode of stream records
        self._stream_run = PlannedStatement("decoded")       # probe + project of decoded rows

    @staticmethod
    def applies_to(joins) -> bool:
        relation = joins.relation
        if len(relation.steps) != 1 or relation.steps[0].join_type != "stream-table":
            return False
        step = relation.steps[0]
        return (step.key_type.base in FUSABLE_KEY_TYPES and step.kind in ("INNER", "LEFT")
                and step.right.source.topic != relation.leaves[STREAM].source.topic
                and not joins.window_bounds and joins.result_filter is None
                and FusedJsonProjection.applies_to(joins.decoders[STREAM]))

    def operators(self) -> list[Operator]:
        return [*self.joins.operators(), self.select]

    # --- the two halves of a task's step (engine.partition_group merges in between) ---
    def process(self, records: pa.Table | pa.RecordBatch) -> pa.Table:
        """A batch of raw records, whole, in its own order."""
        if isinstance(records, pa.RecordBatch):
            records = pa.Table.from_batches([records])
        prepared = [(tag, rows) for tag, _, rows in self.prepare(records)]
        return self.process_runs(processing_runs(prepared))

    def prepare(self, records: pa.Table) -> list[tuple[int, str, pa.Table]]:
        """Stream records decoded by the fast path in one statement (else exactly, if it cannot
        vouch for them all, or fails in any way), table records decoded exactly."""
        from_stream = pc.equal(records.column("topic"), self.leaf.source.topic).to_numpy(zero_copy_only=False)
        prepared = []
        if from_stream.any():
            positions = np.flatnonzero(from_stream)
            stream = records if len(positions) == records.num_rows else records.take(pa.array(positions))
            try:
                decoded = self._decoded_stream(stream, positions)
            except Exception:  # noqa: BLE001 - whatever a bad record raises, the exact path isolates it
                decoded = None
            if decoded is not None:
                prepared.append((FAST_STREAM, self.leaf.source.topic, decoded))
            else:
                prepared.append((EXACT_STREAM, self.leaf.source.topic, self.joins.decode_leaf(STREAM, stream, positions)))
        if not from_stream.all():
            positions = np.flatnonzero(~from_stream)
            table_rows = self.joins.decode_leaf(TABLE, records.take(pa.array(positions)), positions)
            prepared.append((TABLE, self.step.right.source.topic, table_rows))
        return [p for p in prepared if p[2].num_rows]

    def process_runs(self, runs: list[tuple[int, pa.Table]]) -> pa.Table:
        """Table runs update the state; each stream run is probed and projected in one statement
        (the exact operators if that fails). Results in the order of their stream records."""
        outputs = []
        for tag, run in runs:
            if tag == TABLE:
                self.join.process_right(run)
            elif tag == FAST_STREAM:
                outputs.append(self._probed_run(run))
            else:
                outputs.append(self._exact_run(run))
        if not outputs:   # table updates only
            return self.select.process(self.joins.process_runs([]))
        return outputs[0] if len(outputs) == 1 else pa.concat_tables(outputs, promote_options="permissive")

    def _exact_run(self, run: pa.Table) -> pa.Table:
        """A run of decoded stream rows through the unfused join and the Select."""
        return self.select.process(self.joins.process_runs([(STREAM, run)]))

    def _decoded_stream(self, records: pa.Table, positions: np.ndarray) -> Optional[pa.Table]:
        """The stream records decoded by the fast path (SEQ_COL: their positions in the poll), or
        None if it cannot vouch for every one of them."""
        prepared = self._prepared_inputs(records, positions)
        if prepared is None:
            return None
        inputs, spellings = prepared
        try:
            decoded = self._stream_decoding.run(self._decoding_sql(spellings, HEADERS_COL in inputs.column_names),
                                                inputs)
        except Exception:  # noqa: BLE001 - any failure: the exact path isolates the bad record
            return None
        if decoded.num_rows == 0 or pc.any(decoded.column(SUSPECT_COL)).as_py():
            return None
        return _with_header_lists(decoded)  # one input schema for every run's prepared statement

    def _probed_run(self, run: pa.Table) -> pa.Table:
        """A run of fast-decoded stream rows joined with the state and projected. The statement
        sees each row's place in the run as its offset, which its result keeps: that puts the
        results in the run's order (DuckDB's join may give another) before the offsets go back."""
        offsets = run.column(OFFSET_COL)
        numbered = run.set_column(run.schema.get_field_index(OFFSET_COL), OFFSET_COL,
                                  pa.array(np.arange(run.num_rows, dtype=np.int64)))
        try:
            result = self._with_state(self._stream_run, self._probing_sql("decoded"), numbered)
        except Exception:  # noqa: BLE001 - whatever a bad record raises, the exact path isolates it
            return self._exact_run(run.drop_columns([SUSPECT_COL]))
        return _in_run_order(_with_header_lists(result.drop_columns([SUSPECT_COL])), offsets)

    # --- statements ---
    def _with_state(self, statement: PlannedStatement, sql: str, table: pa.Table) -> pa.Table:
        con = connection()
        con.register(self._state_name, self.join.table.rows)
        try:
            return statement.run(sql, table)
        finally:
            con.unregister(self._state_name)

    def _prepared_inputs(self, records: pa.Table, positions: np.ndarray) -> Optional[tuple[pa.Table, list[str]]]:
        """The fast decode's input table and the spellings of the value's members, or None."""
        records = self.decode.drop_unusable(records.append_column(SEQ_COL, pa.array(positions, pa.int64())))
        if records.num_rows == 0:
            return None
        # No UTF-8 check here: DuckDB rejects invalid text, and the exact path then reports it.
        # The values stay as they came (chunked or not): DuckDB scans them without a copy.
        text = pc.cast(records.column("value"),
                       options=pc.CastOptions(target_type=pa.string(), allow_invalid_utf8=True))
        spellings = json_fast.spellings_of(text, self.decode.decoded_value_columns)
        keys = self.decode.key_serde.deserialize(contiguous(records.column("key")))
        if spellings is None or keys.errors:
            return None
        return self._inputs(records, text, keys.columns), spellings

    def _inputs(self, records: pa.Table, text: pa.Array, keys: pa.Table) -> pa.Table:
        key_fields = [f for f in self.leaf.fields if f.namespace == "KEY"]
        columns = {f.sql_name: keys.column(i) for i, f in enumerate(key_fields)}
        columns.update({"doc": text, ROWTIME_COL: records.column("timestamp"),
                        PARTITION_COL: records.column("partition"), OFFSET_COL: records.column("offset"),
                        SEQ_COL: records.column(SEQ_COL)})
        headers = records.column("headers")
        if headers.null_count < len(headers):  # most streams carry no headers: don't ship nulls
            columns[HEADERS_COL] = headers
        return pa.table(columns)

    def _probing_sql(self, source: str) -> str:
        """The probe of the state, WHERE, projection and encoding over the decoded rows `source`."""
        right = ", ".join(f"s.{name}" for name, _ in self.join.right.schema)
        keyed = f"SELECT *, TRY({self.step.left_sql}) AS {JOIN_KEY_COL} FROM {source}"
        # Every row the fast path doubts comes out, so that the batch can be sent the exact way.
        matched = f"{JOIN_KEY_COL} IS NOT NULL" if self.step.kind == "LEFT" else f"s.{HASH_COL} IS NOT NULL"
        joined = (f"SELECT d.*, {right} FROM keyed d LEFT JOIN {self._state_name} s "
                  f"ON d.{JOIN_KEY_COL} = s.{HASH_COL} WHERE d.{SUSPECT_COL} OR {matched}")
        return f"WITH keyed AS ({keyed}), batch AS ({joined}) {self.select.sql_keeping_suspects}"

    def _decoding_sql(self, spellings: list[str], has_headers: bool) -> str:
        columns = self.decode.decoded_value_columns
        decoded = json_fast.decode_sql(columns, spellings, "doc")
        by_name = dict(zip((c.name for c in columns), decoded.values))
        fields, rowtime, suspect = decoded_select_list(
            [f.sql_name for f in self.leaf.fields if f.namespace == "KEY"],
            [f for f in self.leaf.fields if f.namespace != "KEY"], by_name,
            self.leaf.source.timestamp_column, decoded.suspect)
        headers = HEADERS_COL if has_headers else f"NULL::BOOLEAN AS {HEADERS_COL}"
        fields += [f"{rowtime} AS {ROWTIME_COL}", f"{rowtime} AS {self.leaf.rowtime_col}", PARTITION_COL,
                   OFFSET_COL, headers, f"{suspect} AS {SUSPECT_COL}", SEQ_COL]
        return f"SELECT {', '.join(fields)} FROM (SELECT *, {decoded.transform} AS j FROM records)"


def _with_header_lists(rows: pa.Table) -> pa.Table:
    """`rows` with their headers as lists: where no record had headers, the statements carry a
    NULL boolean instead (cheaper than null lists)."""
    index = rows.schema.get_field_index(HEADERS_COL)
    if rows.schema.field(index).type == HEADER_TYPE:
        return rows
    return rows.set_column(index, HEADERS_COL, pa.nulls(rows.num_rows, HEADER_TYPE))


def _in_run_order(result: pa.Table, offsets: pa.ChunkedArray) -> pa.Table:
    """The result, whose offset column holds each row's place in its run, in the run's order and
    with the records' own offsets back."""
    places = result.column(OFFSET_COL).to_numpy()
    if len(places) > 1 and not np.all(places[1:] > places[:-1]):
        order = np.argsort(places, kind="stable")
        result, places = result.take(pa.array(order)), places[order]
    return result.set_column(result.schema.get_field_index(OFFSET_COL), OFFSET_COL, offsets.take(pa.array(places)))
