"""Python scalar and table functions inside DuckDB: one DuckDB function per concrete signature.

A DuckDB function has fixed parameter and return types, while a Python UDF may be generic (T,
ANY, DECIMAL), variadic, or have its return type computed from its arguments. So a call site
asks `instance_name` for the DuckDB function of its resolved types; the first request creates it
(under an internal name: the UDF's own name may hold any character) and every connection
installs it before its next statement. Variadic arguments travel as separate DuckDB arguments, so
any number of them, of any types, in any position.

Kernels: **vectorized** ones call the UDF once per DuckDB vector with one `pyarrow.Array` per
argument; **per-row** ones call it once per row with Python values. A call that raises gives NULL
for its row (ksqlDB logs the error to the processing log and nulls the column): a vectorized
call that raises is retried row by row to find the failing rows. Failures are written to the
processing log of the query running on this thread (`reporting_errors`).

A UDF declared on a class (`udf_class`) gets an instance per call site: the call passes the
instance's id as a leading constant argument, as ksqlDB instantiates a UDF class per expression.
A function without arguments gets a placeholder constant there: DuckDB sizes a vector by its
arguments. Instances live as long as the process, as small as the classes make them.
"""
from __future__ import annotations

import contextlib
import inspect
import itertools
import logging
import re
import threading
from dataclasses import dataclass
from typing import Any, Callable, Iterator, Optional

import pyarrow as pa

from pyksqlite.expressions.python_udf_types import column_to_python
from pyksqlite.expressions.typing_rules import duckdb_type
from pyksqlite.common.types import to_arrow
from pyksqlite.grammar.ast import STRING, SqlType

logger = logging.getLogger("ksqlite.udf")

_lock = threading.Lock()
_instances: dict[str, "DuckFunction"] = {}         # DuckDB name -> function
_by_signature: dict[tuple, str] = {}               # (function id, types) -> DuckDB name
_names = itertools.count(1)
_generation = 0
_installed = threading.local()
_failed: dict[str, str] = {}                       # DuckDB name -> why DuckDB refused it
_owners: dict[int, Any] = {}                        # instance id -> the UDF class's instance
_owner_ids = itertools.count(1)
_context = threading.local()


@dataclass
class DuckFunction:
    """A Python function at concrete types, as one DuckDB function."""
    name: str                           # the SQL name, for messages
    impl: Callable
    params: tuple[SqlType, ...]         # concrete, one per argument
    returns: SqlType                    # for a table function: the list's element type
    table: bool = False
    per_row: bool = False
    null_on_null: bool = True
    deterministic: bool = True
    owned: bool = False                 # the instance id of its class is passed first (udf_class)

    @property
    def leading_argument(self) -> bool:
        """Whether calls pass a hidden leading constant: the instance id of an owned function,
        or a placeholder for one without arguments (a vector's length comes from its arguments)."""
        return self.owned or not self.params


# ---- instances --------------------------------------------------------------------------------

def instance_name(key: Any, make: Callable[[], DuckFunction]) -> str:
    """The DuckDB name of the function identified by `key` (its declaration and concrete types),
    created by `make()` on first use."""
    global _generation
    with _lock:
        name = _by_signature.get(key)
        if name is None:
            function = make()
            plain = re.sub(r"[^a-z0-9_]", "_", function.name.lower())
            name = f"__py_{plain}_{next(_names)}"
            _instances[name] = function
            _by_signature[key] = name
            _generation += 1
    _ensure_hook()
    return name


def register_fixed(duck_name: str, function: DuckFunction) -> str:
    """An internal kernel under a fixed DuckDB name (built-ins implemented in Python)."""
    global _generation
    with _lock:
        if duck_name not in _instances:
            _instances[duck_name] = function
            _generation += 1
    _ensure_hook()
    return duck_name


def forget(key_prefix: Any) -> None:
    """Drop the instances of a declaration (unregistered or replaced): calls compiled from now
    on get new ones. DuckDB functions already installed stay, unreachable from new SQL."""
    with _lock:
        for key in [k for k in _by_signature if k[0] == key_prefix]:
            _by_signature.pop(key)


def has_side_effects(sql: str) -> bool:
    """Whether compiled SQL calls a Python function with state or side effects (a `udf_class`
    method, `deterministic=False`): such a statement must run once per record, so plans keep
    it out of paths that may evaluate a batch twice (a fused attempt, then the exact path)."""
    return any(f"{name}(" in sql for name, function in list(_instances.items())
               if function.owned or not function.deterministic)


def new_owner(cls: type) -> int:
    """An instance of a UDF class for one call site; its id goes into the compiled call."""
    owner_id = next(_owner_ids)
    _owners[owner_id] = cls()
    return owner_id


def _ensure_hook() -> None:
    from pyksqlite.common.duck import on_connection
    on_connection(install)


def install(con) -> None:
    """Create the functions this connection lacks (cheap when there is nothing new)."""
    states = _installed.__dict__.setdefault("states", {})
    state = states.get(id(con))
    if state is None or state["con"] is not con:
        state = states[id(con)] = {"con": con, "names": set(), "generation": -1}
    if state["generation"] == _generation:
        return
    for duck_name, function in list(_instances.items()):
        if duck_name not in state["names"]:
            state["names"].add(duck_name)
            try:
                _create(con, duck_name, function)
            except Exception as error:  # noqa: BLE001 - one bad UDF must not break the connection
                _failed[duck_name] = str(error)
                logger.warning("Python function %s could not be created in DuckDB: %s", function.name, error)
    state["generation"] = _generation


def _create(con, duck_name: str, function: DuckFunction) -> None:
    params = [con.sqltype(duckdb_type(p)) for p in function.params]
    if function.leading_argument:
        params.insert(0, con.sqltype("BIGINT"))
    returns = SqlType("ARRAY", element=function.returns) if function.table else function.returns
    kernel = _per_row_kernel(function, returns) if function.per_row else _vectorized_kernel(function, returns)
    # DuckDB checks the Python arity against the parameter list.
    kernel.__signature__ = inspect.Signature([
        inspect.Parameter(f"a{i}", inspect.Parameter.POSITIONAL_ONLY) for i in range(len(params))])
    con.create_function(duck_name, kernel, params, con.sqltype(duckdb_type(returns)), type="arrow",
                        null_handling="special", side_effects=not function.deterministic or function.owned)


# ---- the processing log -----------------------------------------------------------------------

@contextlib.contextmanager
def reporting_errors(processing_log, query_id: Optional[str]) -> Iterator[None]:
    """Failures of Python functions on this thread go to this query's processing log."""
    previous = getattr(_context, "target", None)
    _context.target = (processing_log, query_id)
    try:
        yield
    finally:
        _context.target = previous


def _report(function: DuckFunction, error: BaseException) -> None:
    report_failure(function.name, error)


def report_failure(function_name: str, error: BaseException) -> None:
    """A Python function raised on a row: into the processing log of the query on this thread."""
    message = f"Error computing function {function_name}: {type(error).__name__}: {error}"
    target = getattr(_context, "target", None)
    if target is None or target[0] is None:
        logger.warning("%s", message)
        return
    processing_log, query_id = target
    processing_log.record(query_id, "RECORD_PROCESSING_ERROR", message, function=function_name)


# ---- kernels ----------------------------------------------------------------------------------

def _split_owner(function: DuckFunction, arrays: list) -> tuple[tuple, list]:
    """(leading arguments for the Python call, the SQL arguments) of one kernel call."""
    if not function.leading_argument:
        return (), arrays
    if not function.owned:
        return (), arrays[1:]
    owner_id = arrays[0][0].as_py() if len(arrays[0]) else None
    return (_owners[owner_id],), arrays[1:]


def _vectorized_kernel(function: DuckFunction, returns: SqlType) -> Callable:
    arrow_type = to_arrow(returns)

    def kernel(*arrays):
        arrays = [_plain(a) for a in arrays]
        length = len(arrays[0])
        if length == 0:
            return pa.array([], arrow_type)
        owner, arrays = _split_owner(function, arrays)
        try:
            return _conform(function.impl(*owner, *arrays), arrow_type, length)
        except Exception as error:  # noqa: BLE001 - a user function failed: find the failing rows
            if length <= 1:
                _report(function, error)
                return pa.nulls(length, arrow_type)
            return _row_by_row(function, owner, arrays, arrow_type, length)
    return kernel


def _row_by_row(function: DuckFunction, owner: tuple, arrays: list, arrow_type, length: int) -> pa.Array:
    """Evaluate a vectorized function on one-row slices: each failing row becomes NULL."""
    parts = []
    for i in range(length):
        try:
            parts.append(_conform(function.impl(*owner, *[a.slice(i, 1) for a in arrays]), arrow_type, 1))
        except Exception as error:  # noqa: BLE001
            _report(function, error)
            parts.append(pa.nulls(1, arrow_type))
    return pa.concat_arrays(parts)


def _per_row_kernel(function: DuckFunction, returns: SqlType) -> Callable:
    """Per-row Python: named so; the function is called once per row."""
    arrow_type = to_arrow(returns)

    def per_row_kernel(*arrays):
        arrays = [_plain(a) for a in arrays]
        length = len(arrays[0])
        if length == 0:
            return pa.array([], arrow_type)
        owner, arrays = _split_owner(function, arrays)
        columns = [column_to_python(a.to_pylist(), t) for a, t in zip(arrays, function.params)]
        rows = zip(*columns) if columns else [()] * length
        out = []
        for row in rows:
            if function.null_on_null and any(v is None for v in row):
                out.append(None)
                continue
            try:
                out.append(function.impl(*owner, *row))
            except Exception as error:  # noqa: BLE001 - ksqlDB nulls the column of a failing row
                _report(function, error)
                out.append(None)
        return _typed_array(function, out, arrow_type)
    return per_row_kernel


def _typed_array(function: DuckFunction, values: list, arrow_type: pa.DataType) -> pa.Array:
    """The per-row results as one array; a value that does not fit the type is NULL (logged)."""
    try:
        return pa.array(values, arrow_type)
    except (pa.ArrowException, TypeError, ValueError, OverflowError):
        fitted = []
        for value in values:
            try:
                fitted.append(pa.array([value], arrow_type))
            except (pa.ArrowException, TypeError, ValueError, OverflowError) as error:
                _report(function, error)
                fitted.append(pa.nulls(1, arrow_type))
        return pa.concat_arrays(fitted) if fitted else pa.array([], arrow_type)


def _plain(array):
    return array.combine_chunks() if isinstance(array, pa.ChunkedArray) else array


def _conform(result, arrow_type: pa.DataType, length: Optional[int]) -> pa.Array:
    if isinstance(result, pa.ChunkedArray):
        result = result.combine_chunks()
    if not isinstance(result, pa.Array):
        result = pa.array(list(result) if not isinstance(result, (list, tuple)) else result, arrow_type)
    if result.type != arrow_type:
        result = result.cast(arrow_type)
    if length is not None and len(result) != length:
        raise ValueError(f"a vectorized function returned {len(result)} values for {length} rows")
    return result


def null_type(t: Optional[SqlType]) -> SqlType:
    """The DuckDB parameter type for an argument of unknown type (an untyped NULL)."""
    return t if t is not None else STRING
