"""What an aggregate call resolves to (`BoundAggregate`), in either of the two forms the
aggregation operators run: vectorized partials, or an `Accumulator` per group.

The built-in aggregates (`aggregates`) and Python UDAFs (`python_udaf`) both bind to these.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Optional

from pyksqlite.grammar.ast import SqlType

SIGN = "__sign"  # +1 adds a row, -1 retracts it (table sources)


@dataclass(frozen=True)
class Partial:
    """One running quantity: `sql` per row (over the argument columns and SIGN), combined by `combine`."""
    sql: str
    combine: str          # sum | min | max
    duck_type: str


@dataclass
class BoundAggregate:
    """One aggregate call resolved against its argument types."""
    name: str
    result_type: SqlType
    arg_count: int                              # non-literal arguments, read from columns
    undo: bool = True                           # may aggregate a table (retractions)
    complex_intermediate: bool = False          # needs a structured intermediate (not DELIMITED)
    partials: Optional[list[Partial]] = None    # vectorized form ...
    final: Optional[Callable[[list[str]], str]] = None
    accumulator: Optional[Callable[[], "Accumulator"]] = None  # ... or the accumulator form

    @property
    def vectorized(self) -> bool:
        return self.partials is not None


def partial_sql_for(template: str, args: list[str]) -> str:
    return template.format(*args, sign=SIGN)


# --- accumulators -------------------------------------------------------------------------------

class Accumulator:
    """Python state of one group for one aggregate call; values are argument tuples.

    State as rows: `state_columns()` names each column of `state_rows()`: "arg<i>" (argument i's
    type), "seq" and "count" (BIGINT) or "json" (JSON text); `load_rows` takes them back."""

    def state_columns(self) -> tuple[str, ...]:
        return ("arg0",)

    def state_rows(self) -> list[tuple]:
        raise NotImplementedError

    def load_rows(self, rows: list[tuple]) -> None:
        raise NotImplementedError

    def add(self, args: tuple, seq: int) -> None:
        raise NotImplementedError

    def remove(self, args: tuple, seq: int) -> None:
        pass

    def merge(self, other: "Accumulator") -> None:
        raise NotImplementedError

    def result(self) -> Any:
        raise NotImplementedError
