"""Accumulators (collection aggregates, Python UDAFs) in snapshots, as Arrow tables of typed rows.

Every owner (a group, a session) has one accumulator per accumulator aggregate. Per aggregate j,
the state of all owners is one table: `__owner` (the owner's position) and the accumulator's state
columns (`Accumulator.state_columns`): "arg<i>" keeps argument i's Arrow type, so values come
back as the same Python values (decimals, timestamps, structs, maps); "seq" and "count" are
BIGINT; "json" is a UDAF's accumulator as JSON text. Restoring checks the columns against the
aggregate the plan has and builds fresh accumulators from the plan's factories, so parameters
(limits, k) and classes come from the query, never from the checkpoint.
"""
from __future__ import annotations

from typing import Callable

import pyarrow as pa

from pyksqlite.state.snapshot import SnapshotError

OWNER = "__owner"
_FIXED_TYPES = {"seq": pa.int64(), "count": pa.int64(), "json": pa.string()}


def argument_types(schema: pa.Schema, arg_columns: list[str]) -> dict[str, pa.DataType]:
    """The types of an aggregate's arguments, by state column name (arg0, arg1...)."""
    return {f"arg{n}": schema.field(column).type for n, column in enumerate(arg_columns)}


def accumulator_tables(owners: list[list], arg_types: list[dict[str, pa.DataType]]) -> list[pa.Table]:
    """Per accumulator aggregate, the state of every owner's accumulator (see the module)."""
    tables = []
    for j, types in enumerate(arg_types):
        if not owners:
            tables.append(pa.table({OWNER: pa.array([], pa.int64())}))
            continue
        columns = owners[0][j].state_columns()
        positions, rows = [], []
        for position, accumulators in enumerate(owners):
            for row in accumulators[j].state_rows():
                positions.append(position)
                rows.append(row)
        arrays = {OWNER: pa.array(positions, pa.int64())}
        for c, name in enumerate(columns):
            arrays[name] = pa.array([row[c] for row in rows], type=_column_type(name, types))
        tables.append(pa.table(arrays))
    return tables


def _column_type(name: str, types: dict[str, pa.DataType]) -> pa.DataType:
    typ = _FIXED_TYPES.get(name) or types.get(name)
    if typ is None:
        raise SnapshotError(f"an accumulator state column {name} has no type")
    return typ


def load_accumulators(tables: list[pa.Table], owner_count: int,
                      factories: list[Callable[[], object]]) -> tuple[list[list], list[dict[str, pa.DataType]]]:
    """Fresh accumulators per owner, loaded from `tables`; and the argument types they hold."""
    if len(tables) != len(factories):
        raise SnapshotError(f"{len(tables)} accumulator tables for {len(factories)} aggregates")
    owners = [[factory() for factory in factories] for _ in range(owner_count)]
    arg_types = []
    for j, (table, factory) in enumerate(zip(tables, factories)):
        if owner_count == 0:
            arg_types.append({})
            continue
        columns = owners[0][j].state_columns()
        if table.column_names != [OWNER, *columns]:
            raise SnapshotError(f"accumulator state columns {table.column_names} are not {[OWNER, *columns]}")
        arg_types.append({name: table.schema.field(name).type for name in columns if name.startswith("arg")})
        per_owner: dict[int, list[tuple]] = {}
        values = [table.column(name).to_pylist() for name in columns]
        for position, row in zip(table.column(OWNER).to_pylist(), zip(*values)):
            if not isinstance(position, int) or not 0 <= position < owner_count:
                raise SnapshotError(f"an accumulator row of owner {position} (of {owner_count})")
            per_owner.setdefault(position, []).append(row)
        for position, accumulators in enumerate(owners):
            accumulators[j].load_rows(per_owner.get(position, []))
    return owners, arg_types
