"""FusedStreamTableJoin: decode + stream-table probe + projection + encode in one DuckDB statement.

Operator fusion for the most common join: a JSON stream enriched from a table. For a polled batch
of stream records, parsing their values (the fast path of `engine.serde.json_fast`, only the
columns the query reads), probing the table's state (a hash join against the state's Arrow table),
the query's WHERE and projection and the sink's value encoding run as a single statement, with no
Arrow copy of the decoded or joined columns in between. The statement is prepared once per
connection and reused for every batch (`PlannedStatement`).

A batch that mixes table and stream records (the first poll of a query started over existing
topics) is cut into runs in Kafka Streams' processing order (`join_driver.processing_runs`): the
stream records are decoded by the fast path in one statement, each table run updates the state
through the unfused join, and each stream run is probed and projected in one statement.

The fast decode flags rows it cannot vouch for; a batch with any such row, or a key that does not
decode, goes through the unfused operators (`JoinOperators`, then the `Select`), which apply
ksqlDB's rules exactly. Both paths give the same rows in the same order.
"""
from __future__ import annotations

from typing import Optional

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from engine.duck import connection, run_sql
from engine.log.api import HEADER_TYPE
from engine.log.arrays import contiguous
from engine.operators.base import (HEADERS_COL, OFFSET_COL, PARTITION_COL, ROWTIME_COL, SUSPECT_COL,
                                   BatchLayout, Operator)
from engine.operators.fused import FusedJsonProjection, decoded_select_list
from engine.operators.join_common import HASH_COL, JOIN_KEY_COL
from engine.operators.join_driver import SEQ_COL, processing_runs
from engine.operators.planned import PlannedStatement
from engine.operators.select import Select
from engine.serde import json_fast

# Key types whose equality is the same in DuckDB's hash join and in Arrow's `index_in`.
FUSABLE_KEY_TYPES = ("BIGINT", "INTEGER", "STRING", "BOOLEAN")
STREAM, TABLE = 0, 1     # the join's leaves: the stream probes, the table is the state
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
        self._whole_batch = PlannedStatement("records")   # decode + probe + project
        self._stream_run = PlannedStatement("decoded")    # probe + project of decoded rows

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

    def process(self, records: pa.Table | pa.RecordBatch) -> pa.Table:
        if isinstance(records, pa.RecordBatch):
            records = pa.Table.from_batches([records])
        fused = self._process_fused(records) if records.num_rows else None
        return fused if fused is not None else self._exact(records)

    def _exact(self, records: pa.Table) -> pa.Table:
        return self.select.process(self.joins.process(records))

    def _process_fused(self, records: pa.Table) -> Optional[pa.Table]:
        from_stream = pc.equal(records.column("topic"), self.leaf.source.topic)
        count = pc.sum(from_stream).as_py() or 0
        if count == records.num_rows:
            return self._stream_batch(records)
        if count == 0:
            return None                          # table updates only: the state takes them
        return self._mixed_batch(records, from_stream.to_numpy(zero_copy_only=False))

    # --- a batch of stream records: one statement ---
    def _stream_batch(self, records: pa.Table) -> Optional[pa.Table]:
        prepared = self._prepared_inputs(records, np.arange(records.num_rows, dtype=np.int64))
        if prepared is None:
            return None
        inputs, spellings = prepared
        in_order = _in_position_order(inputs)
        decoding = self._decoding_sql(spellings, HEADERS_COL in inputs.column_names)
        statement = self._probing_sql("decoded", not in_order, f"decoded AS ({decoding}), ")
        try:
            result = self._with_state(self._whole_batch, statement, inputs)
        except duckdb.Error:
            return None
        if pc.any(result.column(SUSPECT_COL)).as_py():
            return None
        return self._finished(result, in_order)

    # --- a batch mixing table and stream records: runs in processing order ---
    def _mixed_batch(self, records: pa.Table, from_stream: np.ndarray) -> Optional[pa.Table]:
        stream_positions = np.flatnonzero(from_stream)
        decoded = self._decoded_stream(records.take(pa.array(stream_positions)), stream_positions)
        if decoded is None:
            return None
        table_positions = np.flatnonzero(~from_stream)
        table_rows = self.joins.decode_leaf(TABLE, records.take(pa.array(table_positions)), table_positions)
        # From here on the state changes: every stream run is answered, by the exact path if need be.
        events = [(STREAM, decoded)] + ([(TABLE, table_rows)] if table_rows.num_rows else [])
        outputs = []
        for leaf, run in processing_runs(events):
            if leaf == TABLE:
                self.join.process_right(run)
            else:
                outputs.append(self._probed_run(run, records))
        return pa.concat_tables(outputs, promote_options="permissive")

    def _decoded_stream(self, records: pa.Table, positions: np.ndarray) -> Optional[pa.Table]:
        """The stream records decoded by the fast path (SEQ_COL: their positions in the poll), or
        None if it cannot vouch for every one of them."""
        prepared = self._prepared_inputs(records, positions)
        if prepared is None:
            return None
        inputs, spellings = prepared
        try:
            decoded = run_sql(self._decoding_sql(spellings, HEADERS_COL in inputs.column_names), records=inputs)
        except duckdb.Error:
            return None
        if decoded.num_rows == 0 or pc.any(decoded.column(SUSPECT_COL)).as_py():
            return None
        return _with_header_lists(decoded)  # one input schema for every run's prepared statement

    def _probed_run(self, run: pa.Table, records: pa.Table) -> pa.Table:
        """A run of decoded stream records joined with the state and projected."""
        poll_positions = run.column(SEQ_COL)
        # The run's rows are in processing order: SEQ_COL now says so.
        run = run.set_column(run.schema.get_field_index(SEQ_COL), SEQ_COL,
                             pa.array(np.arange(run.num_rows, dtype=np.int64)))
        in_order = _in_position_order(run)
        try:
            result = self._with_state(self._stream_run, self._probing_sql("decoded", not in_order), run)
        except duckdb.Error:
            return self._exact(records.take(poll_positions))
        return self._finished(result, in_order)

    # --- statements ---
    def _with_state(self, statement: PlannedStatement, sql: str, table: pa.Table) -> pa.Table:
        con = connection()
        con.register(self._state_name, self.join.table.rows)
        try:
            return statement.run(sql, table)
        finally:
            con.unregister(self._state_name)

    @staticmethod
    def _finished(result: pa.Table, in_position_order: bool) -> pa.Table:
        result = _with_header_lists(result.drop_columns([SUSPECT_COL]))
        return _sorted_by_position(result) if in_position_order else result

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

    def _probing_sql(self, source: str, sort_in_sql: bool, ctes: str = "") -> str:
        """The probe of the state, WHERE, projection and encoding over the decoded rows `source`."""
        right = ", ".join(f"s.{name}" for name, _ in self.join.right.schema)
        keyed = f"SELECT *, TRY({self.step.left_sql}) AS {JOIN_KEY_COL} FROM {source}"
        # Every row the fast path doubts comes out, so that the batch can be sent the exact way.
        matched = f"{JOIN_KEY_COL} IS NOT NULL" if self.step.kind == "LEFT" else f"s.{HASH_COL} IS NOT NULL"
        joined = (f"SELECT d.*, {right} FROM keyed d LEFT JOIN {self._state_name} s "
                  f"ON d.{JOIN_KEY_COL} = s.{HASH_COL} WHERE d.{SUSPECT_COL} OR {matched}")
        if sort_in_sql:
            joined += f" ORDER BY d.{SEQ_COL}"
        return f"WITH {ctes}keyed AS ({keyed}), batch AS ({joined}) {self.select.sql_keeping_suspects}"

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


def _record_positions(rows: pa.Table) -> np.ndarray:
    """(partition, offset) of each row as one sortable number: a record's place in its topic."""
    partitions = rows.column(PARTITION_COL).to_numpy().astype(np.int64)
    return (partitions << 40) | rows.column(OFFSET_COL).to_numpy()


def _in_position_order(rows: pa.Table) -> bool:
    """Whether the rows come in their records' positions' order. Polled records usually come
    partition by partition in offset order: then the output order can be checked (and mended) on
    its positions, cheaper than sorting in the statement."""
    return bool(np.all(np.diff(_record_positions(rows)) > 0))


def _sorted_by_position(rows: pa.Table) -> pa.Table:
    """The rows sorted by their records' positions (DuckDB's join may give another order)."""
    if _in_position_order(rows):
        return rows
    return rows.take(pa.array(np.argsort(_record_positions(rows), kind="stable")))
