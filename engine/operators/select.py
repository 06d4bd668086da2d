"""Select: WHERE, projection and re-keying (PARTITION BY) of a batch in one DuckDB statement.

The planner compiles the predicate and every output expression once, to DuckDB SQL over the
batch's internal column names; this operator runs that one statement per batch. For a table,
rows that fail the predicate become tombstones of their key (as ksqlDB's table filter emits),
and input tombstones stay tombstones.

If DuckDB rejects a whole batch (an evaluation error the compiled SQL could not turn into NULL),
the batch is split to isolate the failing records, which go to the processing log.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import pyarrow as pa

from pyksqlite.operators.base import (ENCODED_VALUE_COL, HEADERS_COL, OFFSET_COL, PARTITION_COL,
                                   ROWTIME_COL, SUSPECT_COL, TOMBSTONE_COL, WINDOW_BOUNDS,
                                   BatchLayout, StatelessOperator)
from pyksqlite.operators.sql_batch import run_isolating_errors
from pyksqlite.common.processing_log import ProcessingLog


@dataclass(frozen=True)
class OutputColumn:
    """One column the select produces: its internal name, its SQL, and a readable form for EXPLAIN."""
    sql_name: str
    sql: str
    text: str
    from_key: bool = False   # reads only key columns: a tombstone row keeps it (its key)


class Select(StatelessOperator):
    def __init__(self, outputs: list[OutputColumn], predicate_sql: Optional[str],
                 predicate_text: Optional[str], input_layout: BatchLayout, output_layout: BatchLayout,
                 processing_log: ProcessingLog, query_id: Optional[str] = None,
                 rowtime_sql: Optional[str] = None, input_is_table: bool = True,
                 value_encoding_sql: Optional[str] = None, sink_reads: frozenset[str] = frozenset()):
        self.outputs = outputs
        self.predicate_sql = predicate_sql
        self.predicate_text = predicate_text
        self.input_layout = input_layout
        self.layout = output_layout
        self.processing_log = processing_log
        self.query_id = query_id
        self.input_is_table = input_is_table
        self.sink_reads = sink_reads  # value columns the sink reads itself (its TIMESTAMP column)
        self.sql = self._encoded(self._build_sql(rowtime_sql), value_encoding_sql)
        # The same statement over rows decoded inside it (engine.operators.fused): rows flagged
        # SUSPECT_COL always come out, so the caller can see that the batch needs the exact path.
        self.sql_keeping_suspects = self._encoded(self._build_sql(rowtime_sql, keep=SUSPECT_COL),
                                                  value_encoding_sql)

    def _encoded(self, sql: str, value_encoding_sql: Optional[str]) -> str:
        if not value_encoding_sql:
            return sql
        # Encoding the sink's value in the same statement saves a round trip per batch, and the
        # value columns, already encoded, need not be exported (but what the sink reads itself).
        dropped = [f.sql_name for f in self.layout.value_fields if f.name not in self.sink_reads]
        exclude = f" EXCLUDE ({', '.join(dropped)})" if dropped else ""
        return f"SELECT *{exclude}, {value_encoding_sql} AS {ENCODED_VALUE_COL} FROM ({sql})"

    def describe(self) -> str:
        parts = [f"{o.text} AS {o.sql_name}" for o in self.outputs]
        where = f" WHERE {self.predicate_text}" if self.predicate_text else ""
        return f"SELECT {', '.join(parts)}{where}"

    def _build_sql(self, rowtime_sql: Optional[str], keep: Optional[str] = None) -> str:
        """The statement over `batch`; with `keep`, rows where that column is true are kept
        whatever the WHERE says, and the column is passed on."""
        keys = [o for o in self.outputs if o.sql_name.startswith("k")]
        select = [f"{o.sql} AS {o.sql_name}" for o in self.outputs]
        select.append(f"{rowtime_sql or ROWTIME_COL} AS {ROWTIME_COL}")
        # A windowed input's bounds travel on to a windowed sink (they are part of its key).
        bounds = [sql for _, sql in WINDOW_BOUNDS
                  if any(f.sql_name == sql for f in self.input_layout.fields)]
        select += [PARTITION_COL, OFFSET_COL, HEADERS_COL] + bounds + ([keep] if keep else [])
        kept = f"{keep} OR " if keep else ""
        if not self.input_layout.has_tombstones:
            where = f" WHERE {kept}({self.predicate_sql})" if self.predicate_sql else ""
            return f"SELECT {', '.join(select)} FROM batch{where}"
        if self.predicate_sql and not self.input_is_table:
            # A stream's null-value records never pass a WHERE.
            select.append(f"false AS {TOMBSTONE_COL}")
            return (f"SELECT {', '.join(select)} FROM batch "
                    f"WHERE {kept}(NOT {TOMBSTONE_COL} AND ({self.predicate_sql}))")
        # A table row that stops matching becomes a tombstone of its key.
        dead = TOMBSTONE_COL
        if self.predicate_sql:
            dead = f"({TOMBSTONE_COL} OR NOT coalesce(({self.predicate_sql}), false))"
        values = [f"{o.sql} AS {o.sql_name}" if o.from_key else f"CASE WHEN {dead} THEN NULL ELSE {o.sql} END AS {o.sql_name}"
                  for o in self.outputs if o not in keys]
        select = [f"{o.sql} AS {o.sql_name}" for o in keys] + values + select[len(self.outputs):]
        select.append(f"{dead} AS {TOMBSTONE_COL}")
        return f"SELECT {', '.join(select)} FROM batch"

    def process(self, batch: pa.Table) -> pa.Table:
        return run_isolating_errors(self.sql, batch, self.processing_log, self.query_id)
