"""ksqlDB's array and map functions as DuckDB list/map SQL.

ksqlDB's set functions keep the first occurrence's order and treat NULL as a value (Java's
`LinkedHashSet`), unlike DuckDB's `list_distinct`, so they are written with `list_filter` over
positions. ARRAY_JOIN prints elements as Java's `toString` does.
"""
from __future__ import annotations

from pyksqlite.common.duck import quote_string
from pyksqlite.common.errors import KsqlStatementException
from pyksqlite.expressions.builtins_common import fail_sql, literal_string
from pyksqlite.expressions.casts import bind_once, fresh_lambda_param, to_string_sql
from pyksqlite.expressions.typing_rules import duckdb_type
from pyksqlite.grammar.ast import BIGINT, BOOLEAN, INTEGER, STRING, array, map_of, struct

CATEGORY = dict(category="ARRAY")
MAP_CATEGORY = dict(category="MAP")


def _first(types):
    return types[0]


def _element(types):
    return types[0].element


# ---- set-like helpers ----------------------------------------------------------------------

def distinct_sql(items: str) -> str:
    """`items` without repeats, first occurrences in order, NULL counted as a value."""
    def render(values: str) -> str:
        i, x = fresh_lambda_param(), fresh_lambda_param()
        earlier = (f"len(list_filter({values}[:{i} - 1], lambda {x}: "
                   f"{x} IS NOT DISTINCT FROM {values}[{i}])) = 0")
        keep = f"list_filter(range(1, len({values}) + 1), lambda {i}: {earlier})"
        j = fresh_lambda_param()
        return f"list_transform({keep}, lambda {j}: {values}[{j}])"
    return bind_once(items, render)


def _contains_sql(values: str, item: str) -> str:
    x = fresh_lambda_param()
    return f"len(list_filter({values}, lambda {x}: {x} IS NOT DISTINCT FROM {item})) > 0"


def _filter_against(left: str, right: str, keep_if_present: bool) -> str:
    x = fresh_lambda_param()
    test = _contains_sql(right, x)
    filtered = f"list_filter({left}, lambda {x}: {'' if keep_if_present else 'NOT '}({test}))"
    return (f"CASE WHEN {left} IS NULL OR {right} IS NULL THEN NULL "
            f"ELSE {distinct_sql(filtered)} END")


# ---- arrays ------------------------------------------------------------------------------------

def _array_join(args, types):
    element = types[0].element
    if element.base in ("ARRAY", "MAP", "STRUCT"):
        raise KsqlStatementException(
            f"Function 'array_join' does not accept parameters ({types[0]}).")
    x = fresh_lambda_param()
    delimiter = args[1] if len(args) > 1 else "','"
    texts = f"list_transform({args[0]}, lambda {x}: coalesce({to_string_sql(x, element)}, 'null'))"
    return (f"CASE WHEN {args[0]} IS NULL THEN NULL "
            f"ELSE array_to_string({texts}, coalesce({delimiter}, '')) END")


def _array_sort(args, types):
    direction = literal_string(args[1]) if len(args) > 1 else "ASC"
    if direction is not None:
        if direction.upper() not in ("ASC", "DESC"):
            return f"CAST(NULL AS {duckdb_type(types[0])})"
        return f"list_sort({args[0]}, {quote_string(direction.upper())}, 'NULLS LAST')"
    return (f"CASE upper({args[1]}) WHEN 'ASC' THEN list_sort({args[0]}, 'ASC', 'NULLS LAST') "
            f"WHEN 'DESC' THEN list_sort({args[0]}, 'DESC', 'NULLS LAST') END")


def _array_remove(args, types):
    x = fresh_lambda_param()
    return f"list_filter({args[0]}, lambda {x}: {x} IS DISTINCT FROM {args[1]})"


def _array_concat(args, types):
    left, right = args
    return (f"CASE WHEN {left} IS NULL AND {right} IS NULL THEN NULL "
            f"ELSE list_concat({left}, {right}) END")


def _array_union(args, types):
    left, right = args
    return (f"CASE WHEN {left} IS NULL OR {right} IS NULL THEN NULL "
            f"ELSE {distinct_sql(f'list_concat({left}, {right})')} END")


def _slice(args, types):
    items, start, end = args
    return (f"CASE WHEN {start} IS NULL OR {end} IS NULL THEN NULL "
            f"ELSE list_slice({items}, greatest({start}, 1), {end}) END")


def _register_arrays(registry) -> None:
    reg = registry.register
    reg("ARRAY_CONCAT", ("ARRAY<T>", "ARRAY<T>"), _first, _array_concat,
        description="Concatenate two arrays (a NULL array counts as empty).", **CATEGORY)
    reg("ARRAY_DISTINCT", ("ARRAY<T>",), _first, lambda a, t: distinct_sql(a[0]),
        description="The distinct elements, in order of first occurrence.", **CATEGORY)
    reg("ARRAY_EXCEPT", ("ARRAY<T>", "ARRAY<T>"), _first,
        lambda a, t: _filter_against(a[0], a[1], False),
        description="The distinct elements of the first array not in the second.", **CATEGORY)
    reg("ARRAY_INTERSECT", ("ARRAY<T>", "ARRAY<T>"), _first,
        lambda a, t: _filter_against(a[0], a[1], True),
        description="The distinct elements in both arrays.", **CATEGORY)
    reg("ARRAY_UNION", ("ARRAY<T>", "ARRAY<T>"), _first, _array_union,
        description="The distinct elements of either array.", **CATEGORY)
    reg("ARRAY_JOIN", ("ARRAY<T>",), STRING, _array_join,
        description="Join the elements' text with a delimiter (default ',').", **CATEGORY)
    reg("ARRAY_JOIN", ("ARRAY<T>", STRING), STRING, _array_join, **CATEGORY)
    reg("ARRAY_MAX", ("ARRAY<T>",), _element, "list_max({0})",
        description="The largest non-NULL element.", **CATEGORY)
    reg("ARRAY_MIN", ("ARRAY<T>",), _element, "list_min({0})",
        description="The smallest non-NULL element.", **CATEGORY)
    reg("ARRAY_REMOVE", ("ARRAY<T>", "T"), _first, _array_remove,
        description="The array without every element equal to a value.", **CATEGORY)
    reg("ARRAY_SORT", ("ARRAY<T>",), _first, _array_sort,
        description="Sort an array ('ASC' or 'DESC'), NULLs last.", **CATEGORY)
    reg("ARRAY_SORT", ("ARRAY<T>", STRING), _first, _array_sort, **CATEGORY)
    reg("SLICE", ("ARRAY<T>", INTEGER, INTEGER), _first, _slice,
        description="The elements from one 1-based position to another, inclusive.", **CATEGORY)


# ---- ELT / FIELD ---------------------------------------------------------------------------

def _register_positional(registry) -> None:
    reg = registry.register
    reg("ELT", (INTEGER, STRING), STRING, lambda a, t: f"list_extract([{', '.join(a[1:])}], {a[0]})",
        variadic=True, description="The n-th of the following strings (1-based).",
        category="STRING")
    reg("FIELD", (STRING, STRING), INTEGER,
        lambda a, t: (f"CASE WHEN {a[0]} IS NULL THEN 0 ELSE CAST(coalesce(list_position("
                      f"[{', '.join(a[1:])}], {a[0]}), 0) AS INTEGER) END"),
        variadic=True, description="The 1-based position of a string among the following ones; "
                                   "0 if absent.", category="STRING")


# ---- maps ------------------------------------------------------------------------------------

def _map_value(types):
    return types[0].value


def _as_map(args, types):
    keys, values = args
    i = fresh_lambda_param()
    entries = (f"list_transform(range(1, least(len({keys}), len({values})) + 1), lambda {i}: "
               f"{{'key': {keys}[{i}], 'value': {values}[{i}]}})")
    return (f"CASE WHEN {keys} IS NULL OR {values} IS NULL THEN NULL "
            f"ELSE map_from_entries({entries}) END")


def _map_union(args, types):
    left, right = args
    empty = f"CAST(MAP() AS {duckdb_type(types[0])})"
    return (f"CASE WHEN {left} IS NULL AND {right} IS NULL THEN NULL "
            f"ELSE map_concat(coalesce({left}, {empty}), coalesce({right}, {empty})) END")


def _entries_type(types):
    return array(struct([("K", STRING), ("V", types[0].value)]))


def _entries(args, types):
    entry = fresh_lambda_param()
    pairs = f"list_transform(map_entries({args[0]}), lambda {entry}: struct_pack(\"K\" := {entry}.key, \"V\" := {entry}.value))"
    sorted_pairs = f"list_sort({pairs})"
    return f"CASE WHEN {args[1]} THEN {sorted_pairs} ELSE {pairs} END"


def _register_maps(registry) -> None:
    reg = registry.register
    reg("AS_MAP", (array(STRING), "ARRAY<T>"), lambda t: map_of(STRING, t[1].element), _as_map,
        description="A map from an array of keys and an array of values.", **MAP_CATEGORY)
    reg("MAP_KEYS", ("MAP<T>",), lambda t: array(STRING), "map_keys({0})",
        description="The keys of a map.", **MAP_CATEGORY)
    reg("MAP_VALUES", ("MAP<T>",), lambda t: array(t[0].value), "map_values({0})",
        description="The values of a map.", **MAP_CATEGORY)
    reg("MAP_UNION", ("MAP<T>", "MAP<T>"), _first, _map_union,
        description="Merge two maps; the second wins on equal keys.", **MAP_CATEGORY)
    reg("ENTRIES", ("MAP<T>", BOOLEAN), _entries_type, _entries,
        description="A map's entries as an array of STRUCT<K, V>, optionally sorted by key.",
        **MAP_CATEGORY)


def _generate_series(args, types):
    """ksqlDB's GENERATE_SERIES: start to end inclusive; without a step, 1 or -1 towards the end.
    A zero step, or one that moves away from the end, fails the record (NULL)."""
    duck = duckdb_type(types[0])
    start, end = args[0], args[1]
    step = args[2] if len(args) > 2 else f"CASE WHEN {end} >= {start} THEN 1 ELSE -1 END"
    bad = (f"{step} = 0 OR ({end} > {start} AND {step} < 0) OR ({end} < {start} AND {step} > 0)")
    return (f"CASE WHEN {bad} THEN {fail_sql('GENERATE_SERIES step has the wrong sign', duck + '[]')} "
            f"ELSE CAST(generate_series(CAST({start} AS BIGINT), CAST({end} AS BIGINT), "
            f"CAST({step} AS BIGINT)) AS {duck}[]) END")


def _register_series(registry) -> None:
    description = ("Constructs an array of values between start and end (inclusive), with an "
                   "optional step (default 1 or -1).")
    for t in (INTEGER, BIGINT):
        registry.register("GENERATE_SERIES", (t, t), array(t), _generate_series,
                          description=description, param_names=("start", "end"), **CATEGORY)
        registry.register("GENERATE_SERIES", (t, t, INTEGER), array(t), _generate_series,
                          description=description, param_names=("start", "end", "step"), **CATEGORY)


def register_collections(registry) -> None:
    _register_arrays(registry)
    _register_series(registry)
    _register_positional(registry)
    _register_maps(registry)
