"""How much one statement may ask of the parser and of the layers below it.

A statement comes from anyone who can reach the server, so its size is bounded before the work
that size costs: its length before lexing, its number of tokens while lexing (LALR parsing costs
time per token), and, before the parse tree is turned into the AST, its expression nesting (every
layer below walks expressions recursively) and the length of its expression lists (a 100k-item
IN list costs seconds in every layer). Each limit is an engine property:

    ksqlite.limits.statement.chars       1048576  characters of one statement (after ${variables})
    ksqlite.limits.statement.tokens        25000  tokens of one statement (about a second of parsing)
    ksqlite.limits.expression.depth           64  nesting of expressions
    ksqlite.limits.type.depth                  6  nesting of ARRAY/STRUCT/MAP (a MAP counts twice), in types
                                                  and constructors, and in the columns of a new stream or table
    ksqlite.limits.expression.list.items   10000  items of an IN list, ARRAY/MAP/STRUCT constructor,
                                                  function call or VALUES list

A statement over a limit fails with `LimitExceeded` (a ParseError) naming the property to raise.
The defaults follow ksqlDB where it has a bound: its statements travel in a command-topic
record, whose default maximum size is 1 MiB. Otherwise they follow what the layers below
bear: an expression level becomes up to ten levels of DuckDB SQL (integer arithmetic checks for
overflow) and DuckDB refuses nesting past 1000, so 64 keeps every expression within it (and far
below Python's recursion limit). Nested types cost more per level: DuckDB takes about twice as
long (and as much memory) to plan the JSON decoding of each further ARRAY or STRUCT level, three
to four times for a MAP level; 6 keeps that near a second and its memory under a gigabyte.
"""
from __future__ import annotations

import contextvars
import dataclasses
from typing import Any, Iterator, Mapping

from lark import Token, Tree

from pyksqlite.grammar.errors import ParseError

PREFIX = "ksqlite.limits."


class LimitExceeded(ParseError):
    """A statement (or request) is over one of the limits; `prop` names the property."""

    def __init__(self, what: str, size: int, limit: int, prop: str):
        message = f"{what} exceeds the limit: {size} > {limit} (set {prop} to change it)."
        super().__init__(message)
        self.size, self.limit, self.prop = size, limit, prop


@dataclasses.dataclass(frozen=True)
class Limits:
    statement_chars: int = 1_048_576
    statement_tokens: int = 25_000
    expression_depth: int = 64
    list_items: int = 10_000
    type_depth: int = 6

    @classmethod
    def from_properties(cls, properties: Mapping[str, Any]) -> "Limits":
        """The limits the `ksqlite.limits.*` properties set (the defaults for the others).
        A value that is not a positive integer raises ValueError."""
        values = {}
        for field, prop in _PROPERTIES.items():
            if prop in properties:
                values[field] = positive_int(properties[prop], prop)
        return cls(**values)

    def check_length(self, text: str) -> None:
        self.check_size(len(text))

    def check_size(self, chars: int) -> None:
        if chars > self.statement_chars:
            raise LimitExceeded("Statement length", chars, self.statement_chars,
                                _PROPERTIES["statement_chars"])


_PROPERTIES = {
    "statement_chars": PREFIX + "statement.chars",
    "statement_tokens": PREFIX + "statement.tokens",
    "expression_depth": PREFIX + "expression.depth",
    "list_items": PREFIX + "expression.list.items",
    "type_depth": PREFIX + "type.depth",
}
PROPERTY_NAMES = tuple(_PROPERTIES.values())

DEFAULT_LIMITS = Limits()


def positive_int(value: Any, prop: str) -> int:
    text = str(value).strip()
    if isinstance(value, bool) or not text.isdigit() or len(text) > 18 or int(text) <= 0:
        raise ValueError(f"Invalid value {value!s:.40} for {prop}: expected a positive integer")
    return int(text)


# --- tokens: counted while lark lexes -------------------------------------------------------------

_token_budget: contextvars.ContextVar[int] = contextvars.ContextVar("ksqlite_token_budget",
                                                                    default=DEFAULT_LIMITS.statement_tokens)


def token_budget(limits: Limits) -> contextvars.Token:
    """Set the token budget of the parses that follow in this context (reset it with the
    returned token)."""
    return _token_budget.set(limits.statement_tokens)


def counted(stream: Iterator[Token]) -> Iterator[Token]:
    """The tokens of `stream`, failing as soon as there are more than the budget allows."""
    budget = _token_budget.get()
    for count, token in enumerate(stream, 1):
        if count > budget:
            raise LimitExceeded("Statement token count", count, budget, _PROPERTIES["statement_tokens"])
        yield token


# --- the parse tree: nesting and list lengths, walked without recursion ---------------------------

# Rules (after aliasing) that are one level of expression or type nesting. Wrapper rules such
# as function_argument or when_clause are not counted: they vanish in the AST.
_NESTING_RULES = frozenset({
    "or_expr", "and_expr", "not_expr", "comparison", "is_null", "is_distinct_from", "between",
    "in_list", "like", "concatenation", "arithmetic_binary", "arithmetic_unary", "subscript",
    "dereference", "cast", "simple_case", "searched_case", "array_constructor",
    "map_constructor", "struct_constructor", "function_call", "multi_parameter_lambda",
    "select_struct_all", "array_type", "map_type", "struct_type",
})
# Rules that are a level of type nesting (a constructor's value has its type one level deeper),
# and what the level counts.
_TYPE_RULES = {"array_constructor": 1, "struct_constructor": 1, "array_type": 1, "struct_type": 1,
               "map_constructor": 2, "map_type": 2}

# Rules holding a list, and how many of their children are not items.
_LIST_RULES = {"in_list": 2, "function_call": 2, "array_constructor": 0, "map_constructor": 0,
               "struct_constructor": 0, "insert_values": 2, "assert_values": 2,
               "assert_null_values": 2, "struct_type": 0}


def check_tree(tree: Tree, limits: Limits) -> None:
    """Raise LimitExceeded if the tree nests expressions or types deeper than the limit, or
    holds a longer list than the limit. Iterative: a deep tree cannot exhaust the stack here."""
    pending: list[tuple[Tree, int, int]] = [(tree, 0, 0)]
    while pending:
        node, depth, type_depth = pending.pop()
        if node.data in _NESTING_RULES:
            depth += 1
            if depth > limits.expression_depth:
                raise LimitExceeded("Expression nesting depth", depth, limits.expression_depth,
                                    _PROPERTIES["expression_depth"])
        if node.data in _TYPE_RULES:
            type_depth += _TYPE_RULES[node.data]
            if type_depth > limits.type_depth:
                raise LimitExceeded("Type nesting depth", type_depth, limits.type_depth,
                                    _PROPERTIES["type_depth"])
        offset = _LIST_RULES.get(node.data)
        if offset is not None:
            items = len(node.children) - offset
            if items > limits.list_items:
                raise LimitExceeded("List length", items, limits.list_items, _PROPERTIES["list_items"])
        pending.extend((child, depth, type_depth) for child in node.children if isinstance(child, Tree))


def type_depth(sql_type) -> int:
    """The nesting of a grammar.ast.SqlType as the type depth limit counts it (a MAP twice)."""
    deepest, pending = 0, [(sql_type, 0)]
    while pending:
        current, depth = pending.pop()
        if current is None:
            continue
        base = current.base
        depth += 2 if base == "MAP" else 1 if base in ("ARRAY", "STRUCT") else 0
        deepest = max(deepest, depth)
        pending += [(current.element, depth), (current.key, depth), (current.value, depth)]
        pending += [(field_type, depth) for _, field_type in current.fields or ()]
    return deepest


def check_type_depth(name: str, sql_type, limits: Limits) -> None:
    """LimitExceeded if column `name`'s type nests deeper than the limit."""
    depth = type_depth(sql_type)
    if depth > limits.type_depth:
        raise LimitExceeded(f"Type nesting depth of column {name}", depth, limits.type_depth,
                            _PROPERTIES["type_depth"])
