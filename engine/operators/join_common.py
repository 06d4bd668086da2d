"""What every join operator shares: join key evaluation and assembling joined rows.

A join side is a run of rows (Arrow) with its columns (`SideSpec.schema`) and the join key
expression, evaluated once per run: the plain column when the condition names one, else the
compiled expression in one DuckDB statement (an evaluation error gives a NULL key, which joins
nothing). Keys of nested types are matched by their text form.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional

import pyarrow as pa
import pyarrow.compute as pc

from pyksqlite.common.duck import run_sql
from pyksqlite.log.api import HEADER_TYPE
from pyksqlite.operators.base import HEADERS_COL, OFFSET_COL, PARTITION_COL, ROWTIME_COL, TOMBSTONE_COL
from pyksqlite.state.snapshot import Snapshot
from pyksqlite.common.types import to_arrow

JOIN_KEY_COL = "__jkey"
HASH_COL = "__jh"
META_SCHEMA = [(ROWTIME_COL, pa.int64()), (PARTITION_COL, pa.int32()), (OFFSET_COL, pa.int64()),
               (HEADERS_COL, HEADER_TYPE)]





@dataclass
class SideSpec:
    schema: list[tuple[str, pa.DataType]]     # the side's data columns
    key: Callable[[pa.Table], tuple[pa.Array, pa.Array]]  # rows -> (key, hashable key)


def hash_type(step) -> pa.DataType:
    """The type keys are matched by: the key itself, or its text when nested or windowed."""
    typ = to_arrow(step.key_type)
    return pa.string() if pa.types.is_nested(typ) or step.left_window else typ


def key_evaluator(sql: str, column: Optional[str], key_type, window: tuple[str, ...] = ()):
    """rows -> (key, hashable key). With `window` (the bounds columns that are part of a windowed
    key), the hashable key is the text of the key and its window, so both must match."""
    arrow_type = to_arrow(key_type)
    as_text = pa.types.is_nested(arrow_type) or bool(window)

    def evaluate(rows: pa.Table) -> tuple[pa.Array, pa.Array]:
        if rows.num_rows == 0:
            empty = pa.array([], arrow_type)
            return empty, (pa.array([], pa.string()) if as_text else empty)
        if column is not None and not as_text:
            key = rows.column(column).combine_chunks()
            return key, key
        text = f", CAST(row(__k, {', '.join(window)}) AS VARCHAR)" if window else ", CAST(__k AS VARCHAR)"
        hashed = f", CASE WHEN __k IS NULL THEN NULL ELSE {text[2:]} END AS __h" if as_text else ""
        bounds = "".join(f", {name}" for name in window)
        out = run_sql(f"SELECT __k{hashed} FROM (SELECT TRY({sql}) AS __k{bounds} FROM batch)", batch=rows)
        key = out.column("__k").combine_chunks().cast(arrow_type)
        return key, (out.column("__h").combine_chunks() if as_text else key)

    return evaluate


def null_columns(schema: list[tuple[str, pa.DataType]], n: int) -> dict[str, pa.Array]:
    return {name: pa.nulls(n, typ) for name, typ in schema}


def take_columns(rows: pa.Table, schema: list[tuple[str, pa.DataType]], indices) -> dict[str, pa.Array]:
    """The side's columns of `rows` at `indices` (null indices give null rows)."""
    return {name: rows.column(name).take(indices) for name, _ in schema}


def output_table(schema: list[tuple[str, pa.DataType]], columns: dict, table_result: bool) -> pa.Table:
    """Columns in the join's output order, cast to their declared types."""
    arrays, names = [], []
    for name, typ in schema:
        array = columns[name]
        if isinstance(array, pa.ChunkedArray):
            array = array.combine_chunks()
        if array.type != typ:
            array = array.cast(typ)
        arrays.append(array)
        names.append(name)
    return pa.Table.from_arrays(arrays, names=names)


def output_schema(left: SideSpec, right: SideSpec, key_type, table_result: bool) -> list[tuple[str, pa.DataType]]:
    schema = list(left.schema) + list(right.schema) + list(META_SCHEMA)
    schema.append((JOIN_KEY_COL, to_arrow(key_type)))
    if table_result:
        schema.append((TOMBSTONE_COL, pa.bool_()))
    return schema


def empty_output(schema) -> pa.Table:
    return pa.schema(schema).empty_table()


def is_null_key(hashes: pa.Array):
    return hashes.is_null()


def meta_from(rows: pa.Table, indices=None) -> dict[str, pa.Array]:
    cols = {}
    for name, _ in META_SCHEMA:
        column = rows.column(name)
        cols[name] = column.take(indices) if indices is not None else column
    return cols


def max_time(a: pa.Array, b: pa.Array) -> pa.Array:
    """max(a, b), or the one that is not null."""
    return pc.max_element_wise(a, b, skip_nulls=True)


class JoinStep:
    """The operator surface of a join step. The join driver (`join_driver`) feeds a step runs of
    records from one side; as an Operator, a step passes batches on and has no timers."""

    def process(self, batch):
        return batch

    def advance_time(self, stream_time_ms):
        return None


class TwoSidedJoinStep(JoinStep):
    """A join step that keeps the rows of both sides (table-table, foreign key)."""

    def snapshot(self) -> Snapshot:
        return Snapshot().put_child("left", self.left_rows.snapshot()).put_child("right", self.right_rows.snapshot())

    def restore(self, state: Snapshot) -> None:
        self.left_rows.restore(state.child("left"))
        self.right_rows.restore(state.child("right"))
