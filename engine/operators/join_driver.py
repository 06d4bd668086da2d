"""JoinOperators: the physical side of a join relation.

A batch mixes records of every joined topic, already in the order Kafka Streams processes a
task's partitions in (`pyksqlite.runtime.partition_group` merges them: lowest timestamp first). Each
source's records are decoded by its own `SourceDecode`, then cut, in that order, into runs of
consecutive records from the same source. A run goes, whole, to the join it feeds (its left or
right side); that join's output run goes on as the left side of the next join. Inside a run every
operator works on whole Arrow arrays and emits in the run's order, so a batch gives the same
results, in the same order, as feeding its records one at a time: a result comes out when the
record that completes it is processed.

Rows between joins carry each source's columns under the names `s<i>_<col>`, each source's
ROWTIME as `s<i>_rt`, and the meta columns `__rowtime` (the result timestamp), `__partition`,
`__offset`, `__headers`, `__tombstone` (table results), `__jkey` (the join key value).
"""
from __future__ import annotations

from typing import Optional

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from pyksqlite.catalog.metastore import TABLE
from pyksqlite.operators.base import (HEADERS_COL, OFFSET_COL, PARTITION_COL, ROWTIME_COL, TOMBSTONE_COL,
                                   WINDOW_BOUNDS, Operator)
from pyksqlite.operators.join_common import JOIN_KEY_COL, SideSpec, key_evaluator
from pyksqlite.operators.source import SourceDecode
from pyksqlite.planner.joins import STREAM_STREAM, STREAM_TABLE, TABLE_TABLE, JoinRelation
from pyksqlite.common.processing_log import ProcessingLog
from pyksqlite.common.types import to_arrow

SEQ_COL = "__seq"


class JoinOperators:
    def __init__(self, relation: JoinRelation, processing_log: ProcessingLog, query_id: Optional[str]):
        self.relation = relation
        self.decoders = [SourceDecode(leaf.source, leaf.alias, processing_log, query_id,
                                      needed_columns=relation.needed_columns)
                         for leaf in relation.leaves]
        self.joins: list[Operator] = []
        left_schema = _leaf_schema(relation.leaves[0], relation.leaves[0].source.is_table)
        for step in relation.steps:
            right_schema = _leaf_schema(step.right, step.right.source.is_table)
            left = SideSpec(left_schema, key_evaluator(step.left_sql, step.left_column, step.key_type,
                                                       step.left_window))
            right = SideSpec(right_schema, key_evaluator(step.right_sql, step.right_column, step.key_type,
                                                         step.right_window))
            operator = _make_join(step, left, right)
            self.joins.append(operator)
            left_schema = operator.data_schema
        self.output_schema = self.joins[-1].output_schema
        self.window_bounds = _result_window_bounds(relation)
        self.output_schema = self.output_schema + [(sql_name, pa.int64()) for sql_name in self.window_bounds]
        self.layout = relation.layout
        self.result_filter = _result_filter(relation)

    # --- RelationOperators ---
    def fused_with(self, select):
        """This relation and the projection's `select` as one operator, when they can run fused
        (`pyksqlite.operators.join_fused`); else None."""
        from pyksqlite.operators.join_fused import FusedStreamTableJoin
        return FusedStreamTableJoin(self, select) if FusedStreamTableJoin.applies_to(self) else None

    def operators(self) -> list[Operator]:
        return [*self.decoders, *self.joins, *([self.result_filter] if self.result_filter else [])]

    def process(self, records: pa.Table | pa.RecordBatch) -> pa.Table:
        """A batch of raw records, whole, in its own order."""
        if isinstance(records, pa.RecordBatch):
            records = pa.Table.from_batches([records])
        return self.process_runs(processing_runs(self._decoded_events(records)))

    def prepare(self, records: pa.Table) -> list[tuple[int, str, pa.Table]]:
        """Each source's records decoded (the tag is the source's index among the leaves)."""
        return [(index, self.relation.leaves[index].source.topic, rows)
                for index, rows in self._decoded_events(records)]

    def process_runs(self, runs: list[tuple[int, pa.Table]]) -> pa.Table:
        """Decoded runs, in processing order, through the joins: results in the same order."""
        outputs = [self._feed(leaf_index, run) for leaf_index, run in runs]
        outputs = [o for o in outputs if o is not None and o.num_rows]
        if not outputs:
            return self._empty()
        result = pa.concat_tables(outputs) if len(outputs) > 1 else outputs[0]
        result = self._with_window(result)
        return self.result_filter.process(result) if self.result_filter else result

    # --- steps ---
    def _decoded_events(self, records: pa.Table) -> list[tuple[int, pa.Table]]:
        topics = records.column("topic")
        decoded = []
        for index, leaf in enumerate(self.relation.leaves):
            mask = pc.equal(topics, leaf.source.topic)
            count = pc.sum(mask).as_py() or 0
            if count == 0:
                continue
            if count == records.num_rows:
                rows = self.decode_leaf(index, records, np.arange(count, dtype=np.int64))
            else:
                positions = np.flatnonzero(mask.to_numpy(zero_copy_only=False))
                rows = self.decode_leaf(index, records.take(pa.array(positions)), positions)
            if rows.num_rows:
                decoded.append((index, rows))
        return decoded

    def decode_leaf(self, index: int, records: pa.Table, positions: np.ndarray) -> pa.Table:
        """Records of source `index` decoded as that source's rows, each with its position in the
        poll (`positions`, one per record) as SEQ_COL: it keeps per-partition order through decoding."""
        mine = records.append_column(SEQ_COL, pa.array(positions, pa.int64()))
        rows = _decode_with_seq(self.decoders[index], mine)
        return _as_leaf_rows(self.relation.leaves[index], rows)

    def _feed(self, leaf_index: int, run: pa.Table) -> Optional[pa.Table]:
        if leaf_index == 0:
            out = self.joins[0].process_left(run)
            start = 1
        else:
            out = self.joins[leaf_index - 1].process_right(run)
            start = leaf_index
        for join in self.joins[start:]:
            if out is None or out.num_rows == 0:
                return None
            out = join.process_left(out)
        return out

    def _with_window(self, rows: pa.Table) -> pa.Table:
        """A windowed result's window: the first (left-most) joined source's that has a row."""
        for sql_name, candidates in self.window_bounds.items():
            bound = rows.column(candidates[0])
            if len(candidates) > 1:
                bound = pc.coalesce(*(rows.column(c) for c in candidates))
            rows = rows.append_column(sql_name, bound)
        return rows

    def _empty(self) -> pa.Table:
        return pa.schema(self.output_schema).empty_table()


def processing_runs(events: list[tuple[int, pa.Table]]) -> list[tuple[int, pa.Table]]:
    """Runs of consecutive records from one source, in processing order: the batch's own order
    (SEQ_COL, each record's position in it). `events` are each source's decoded rows."""
    if not events:
        return []
    if len(events) == 1:
        return [events[0]]
    leaf_ids = np.concatenate([np.full(t.num_rows, i, dtype=np.int64) for i, t in events])
    rows = np.concatenate([np.arange(t.num_rows, dtype=np.int64) for _, t in events])
    seqs = np.concatenate([t.column(SEQ_COL).to_numpy() for _, t in events])
    order = np.argsort(seqs, kind="stable")
    by_leaf = dict(events)
    ordered_leaves = leaf_ids[order]
    ordered_rows = rows[order]
    cuts = np.flatnonzero(np.diff(ordered_leaves)) + 1
    runs = []
    for start, end in zip(np.concatenate([[0], cuts]), np.concatenate([cuts, [len(order)]])):
        leaf = int(ordered_leaves[start])
        piece = ordered_rows[start:end]
        table = by_leaf[leaf]
        if np.all(np.diff(piece) == 1):   # consecutive rows of that source: a zero-copy slice
            runs.append((leaf, table.slice(int(piece[0]), len(piece))))
        else:
            runs.append((leaf, table.take(pa.array(piece))))
    return runs


def _decode_with_seq(decoder: SourceDecode, records: pa.Table) -> pa.Table:
    """Decode, keeping each record's position in the poll (decoding may drop records)."""
    seq = records.column(SEQ_COL)
    offsets = records.column("offset")
    # SourceDecode keeps `offset`; records of one topic are unique by (partition, offset).
    rows = decoder.process(records.drop_columns([SEQ_COL]))
    if rows.num_rows == records.num_rows:
        return rows.append_column(SEQ_COL, seq)
    parts = records.column("partition").to_numpy(zero_copy_only=False).astype(np.int64)
    keys = parts * (1 << 40) + offsets.to_numpy(zero_copy_only=False)
    row_keys = (rows.column(PARTITION_COL).to_numpy(zero_copy_only=False).astype(np.int64) * (1 << 40)
                + rows.column(OFFSET_COL).to_numpy(zero_copy_only=False))
    sorter = np.argsort(keys, kind="stable")
    found = sorter[np.searchsorted(keys[sorter], row_keys)]
    return rows.append_column(SEQ_COL, pa.array(seq.to_numpy()[found], pa.int64()))


def _as_leaf_rows(leaf, rows: pa.Table) -> pa.Table:
    """Decoded rows of one source, renamed to that source's internal names."""
    columns = {}
    for f in leaf.fields:
        base = f.sql_name.split("_", 1)[1]
        columns[f.sql_name] = rows.column(base)
    columns[leaf.rowtime_col] = rows.column(ROWTIME_COL)
    for meta in (ROWTIME_COL, PARTITION_COL, OFFSET_COL, HEADERS_COL):
        columns[meta] = rows.column(meta)
    if leaf.source.is_table:
        columns[TOMBSTONE_COL] = rows.column(TOMBSTONE_COL)
    columns[SEQ_COL] = rows.column(SEQ_COL)
    return pa.table(columns)


def _result_window_bounds(relation: JoinRelation) -> dict[str, list[str]]:
    """For a windowed result, each window bound and the windowed sources' columns that give it."""
    if relation.window is None:
        return {}
    windowed = [leaf for leaf in relation.leaves if leaf.source.window is not None]
    return {sql_name: [f"s{leaf.index}_{sql_name}" for leaf in windowed] for _, sql_name in WINDOW_BOUNDS}


def _result_filter(relation: JoinRelation):
    """The change filter of a table result with a WHERE (see `pyksqlite.operators.join_filter`)."""
    if relation.where is None or relation.result_kind != TABLE:
        return None
    from pyksqlite.expressions.compiler import ExpressionCompiler
    from pyksqlite.operators.join_filter import JoinResultFilter
    from pyksqlite.grammar.formatter import format_expression
    predicate = ExpressionCompiler(relation.layout.scope()).compile_predicate(relation.where, clause="WHERE")
    if relation.foreign_key_columns:
        fields = [relation._field(ref) for ref in relation.foreign_key_columns]
        keys = [(f.sql_name, to_arrow(f.type)) for f in fields]
    else:
        keys = [(JOIN_KEY_COL, to_arrow(relation.key_type))]
    return JoinResultFilter(predicate.sql, format_expression(relation.where), keys)


def _leaf_schema(leaf, is_table: bool) -> list[tuple[str, pa.DataType]]:
    schema = [(f.sql_name, to_arrow(f.type)) for f in leaf.fields]
    schema.append((leaf.rowtime_col, pa.int64()))
    return schema


def _make_join(step, left: SideSpec, right: SideSpec):
    if step.join_type == STREAM_TABLE:
        from pyksqlite.operators.join_stream_table import StreamTableJoin
        return StreamTableJoin(step, left, right)
    if step.join_type == STREAM_STREAM:
        from pyksqlite.operators.join_stream_stream import StreamStreamJoin
        return StreamStreamJoin(step, left, right)
    if step.join_type == TABLE_TABLE:
        from pyksqlite.operators.join_table_table import TableTableJoin
        return TableTableJoin(step, left, right)
    from pyksqlite.operators.join_foreign_key import ForeignKeyJoin
    return ForeignKeyJoin(step, left, right)
