"""Turn lark parse trees of `ksql.lark` into the frozen AST nodes of `pyksqlite.grammar.ast`.

One method per grammar rule (or rule alias), named like it. Besides building nodes, the builder
applies the rules ksqlDB's own AstBuilder applies after parsing: identifier case folding, numeric
literal ranges, KEY vs PRIMARY KEY per source kind, lambda parameter lists.
"""
from __future__ import annotations

import dataclasses
import re
from typing import Any, Optional

from lark import Token, Transformer, v_args

from pyksqlite.grammar import ast
from pyksqlite.grammar.connector_statements import ConnectorRules
from pyksqlite.grammar.errors import ParseError, semantic_error

_LONG_MIN, _LONG_MAX = -(2 ** 63), 2 ** 63 - 1

_TIME_UNITS = {"MILLISECOND", "SECOND", "MINUTE", "HOUR", "DAY"}
_INTERVAL_UNIT_FUNCTIONS = {"TIMESTAMPADD", "TIMESTAMPSUB", "DATEADD", "DATESUB", "TIMEADD", "TIMESUB"}

_EXPLAIN_PREFIX = re.compile(r"^EXPLAIN\s+", re.IGNORECASE)

_TYPE_ALIASES = {"INT": "INTEGER", "VARCHAR": "STRING"}
_SIMPLE_TYPES = {"BOOLEAN", "INTEGER", "BIGINT", "DOUBLE", "STRING", "BYTES", "DATE", "TIME",
                 "TIMESTAMP"}


class Name(str):
    """An identifier as the AST wants it (upper-cased unless quoted), remembering how it was
    written: `raw` is the source text, `quoted` whether it was quoted."""

    quoted: bool
    raw: str
    pos: Optional[ast.Position]

    def __new__(cls, value: str, raw: str, quoted: bool, token: Optional[Token] = None) -> "Name":
        name = super().__new__(cls, value)
        name.raw, name.quoted = raw, quoted
        name.pos = ast.Position(token.line, token.column) if token is not None else None
        return name


_POSITIONED = (ast.Expr, ast.SelectItem, ast.SourceRef, ast.JoinClause, ast.WindowSpec, ast.Statement)


class _All:
    """Marker for `ALL` in TERMINATE / PAUSE / RESUME."""


def _present(items) -> list:
    """Children of an optional repetition, without lark's None placeholders."""
    return [item for item in items if item is not None]


def _singular_unit(word: str) -> str:
    word = word.upper()
    return word[:-1] if word.endswith("S") else word


def _flag(*_children) -> bool:
    return True


@v_args(inline=True)
class AstBuilder(ConnectorRules):
    """Lark transformer producing `pyksqlite.grammar.ast` nodes from a tree of one parse."""

    def __init__(self, text: str):
        super().__init__()
        self._text = text
        # ColumnRefs written with quotes: never read as a bare time unit argument.
        self._quoted_columns: set[int] = set()

    def _call_userfunc(self, tree, new_children=None):
        """Every node built from a rule starts where the rule's first token is (ksqlDB's node
        location), unless the rule returned a node that already knows its own start."""
        node = super()._call_userfunc(tree, new_children)
        if isinstance(node, _POSITIONED) and node.pos is None and not tree.meta.empty:
            object.__setattr__(node, "pos", ast.Position(tree.meta.line, tree.meta.column))
        return node

    # ---- entry points -------------------------------------------------------------------------

    def start(self, statement):
        return statement

    def expression_only(self, expr):
        return expr

    def type_only(self, sql_type):
        return sql_type

    # ---- identifiers and tokens ---------------------------------------------------------------

    def plain_identifier(self, token):
        return Name(token.value.upper(), token.value, quoted=False, token=token)

    def quoted_identifier(self, token):
        return Name(_checked_name(token.value[1:-1].replace('""', '"'), token), token.value,
                    quoted=True, token=token)

    def backquoted_identifier(self, token):
        return Name(_checked_name(token.value[1:-1].replace("``", "`"), token), token.value,
                    quoted=True, token=token)

    def keyword_identifier(self, token):
        return Name(token.value.upper(), token.value, quoted=False, token=token)

    def nonreserved(self, token):
        return token

    def _string(self, token: Token) -> str:
        return token.value[1:-1].replace("''", "'")

    or_replace = source_flag = if_not_exists = if_exists = delete_topic = _flag
    extended = negation = distinct = from_beginning = not_exists = _flag

    def all_queries(self):
        return _All()

    def source_kind(self, token):
        return token.value.upper()

    plural_kind = source_kind

    # ---- DDL / DML ----------------------------------------------------------------------------

    def create_source(self, or_replace, is_source, kind, if_not_exists, name, elements, props):
        columns = self._checked_columns(kind, elements or [])
        _check_window_properties(props or ())
        return ast.CreateSource(kind, str(name), columns, props or (), bool(or_replace),
                                bool(if_not_exists), bool(is_source))

    def create_as_select(self, or_replace, kind, if_not_exists, name, props, query):
        return ast.CreateAsSelect(kind, str(name), query, props or (), bool(or_replace),
                                  bool(if_not_exists))

    def insert_into(self, target, props, query):
        return ast.InsertInto(str(target), query, props or (), target_pos=target.pos)

    def insert_values(self, target, columns, *values):
        return ast.InsertValues(str(target), columns, tuple(_present(values)))

    def drop_source(self, kind, if_exists, name, delete_topic):
        return ast.DropSource(kind, str(name), bool(if_exists), bool(delete_topic))

    def create_type(self, if_not_exists, name, sql_type):
        return ast.CreateType(str(name), sql_type, bool(if_not_exists))

    def drop_type(self, if_exists, name):
        return ast.DropType(str(name), bool(if_exists))

    def alter_source(self, kind, name, *options):
        return ast.AlterSource(kind, str(name), tuple(options))

    def alter_option(self, *children):
        name, sql_type = _present(children)
        return ast.ColumnDef(str(name), sql_type)

    def table_elements(self, *columns):
        return _present(columns)

    @v_args(meta=True, inline=True)
    def column_def(self, meta, name, sql_type, constraint):
        header_key = None
        if isinstance(constraint, tuple):
            constraint, header_key = constraint
        return ast.ColumnDef(str(name), sql_type, constraint, header_key), meta

    def key_constraint(self):
        return "KEY"

    def primary_key_constraint(self):
        return "PRIMARY KEY"

    def headers_constraint(self):
        return "HEADERS"

    def header_constraint(self, key):
        return "HEADER", self._string(key)

    def _checked_columns(self, kind: str, elements: list) -> tuple[ast.ColumnDef, ...]:
        for column, meta in elements:
            misplaced, proper, kinds = (("KEY", "PRIMARY KEY", "tables") if kind == "TABLE"
                                        else ("PRIMARY KEY", "KEY", "streams"))
            if column.constraint == misplaced:
                raise semantic_error(
                    f"Column `{column.name}` is a '{misplaced}' column: "
                    f"please use '{proper}' for {kinds}.", meta.line, meta.column, column.name)
        return tuple(column for column, _ in elements)

    def column_names(self, *names):
        return tuple(str(name) for name in names)

    def with_properties(self, *properties):
        return tuple(properties)

    def property(self, name, value):
        return name.upper(), _property_value(value)

    # ---- metadata and administration ----------------------------------------------------------

    def show(self, target, extended):
        words = [token.value.upper() for token in target.children]
        return ast.Show(words[-1], bool(extended), all=words[0] == "ALL")

    def show_target(self, *tokens):
        return _TokenList(tokens)

    def describe_source(self, name, extended):
        return ast.Describe(str(name), bool(extended))

    def describe_sources(self, kind, extended):
        return ast.Describe(None, bool(extended), what=kind + "S" if not kind.endswith("S") else kind)

    def describe_function(self, name):
        return ast.DescribeFunction(name.upper())

    def explain_statement(self, statement):
        text = _EXPLAIN_PREFIX.sub("", self._text.strip()).rstrip(";").rstrip()
        return ast.Explain(statement=dataclasses.replace(statement, text=text))

    def explain_query_id(self, query_id):
        return ast.Explain(query_id=query_id.raw if not query_id.quoted else str(query_id))

    def terminate(self, target):
        return ast.Terminate(_query_id(target))

    def pause_resume(self, action, target):
        return ast.PauseResume(action.value.upper(), _query_id(target))

    def print_topic(self, topic, from_beginning, interval, limit):
        name = self._string(topic) if isinstance(topic, Token) else _raw_name(topic)
        return ast.Print(name, bool(from_beginning), interval, limit)

    def print_interval(self, count):
        return int(count)

    def set_property(self, name, value):
        return ast.SetProperty(self._string(name), self._string(value))

    def unset_property(self, name):
        return ast.UnsetProperty(self._string(name))

    def define_variable(self, name, value):
        return ast.DefineVariable(str(name), self._string(value))

    def undefine_variable(self, name):
        return ast.UndefineVariable(str(name))

    def run_script(self, path):
        return ast.RunScript(self._string(path))

    def assert_values(self, source, columns, *values):
        return ast.AssertValues(str(source), columns, tuple(_present(values)))

    def assert_null_values(self, source, columns, *keys):
        return ast.AssertNullValues(str(source), columns, tuple(_present(keys)))

    def assert_source(self, kind, name, elements, props):
        columns = tuple(column for column, _ in elements)
        return ast.AssertSource(kind, str(name), columns, props or ())

    def assert_topic(self, not_exists, topic, props, timeout):
        name = self._string(topic) if isinstance(topic, Token) else _raw_name(topic)
        return ast.AssertTopic(name, not not_exists, props or (), timeout)

    def timeout(self, duration):
        return duration

    # ---- queries ------------------------------------------------------------------------------

    def query_statement(self, query):
        return ast.QueryStatement(query)

    def query(self, select, from_, *rest):
        joins, (window, where, group_by, partition_by, having, emit, limit) = rest[:-7], rest[-7:]
        return ast.Query(select, from_, tuple(joins), window, where, group_by or (),
                         partition_by or (), having, emit, limit)

    def select_items(self, *items):
        return tuple(items)

    def select_all(self):
        return ast.SelectAll()

    def select_source_all(self, source):
        return ast.SelectAll(str(source))

    def select_struct_all(self, expr):
        return ast.SelectStructAll(expr)

    def select_expr(self, expr, alias):
        return ast.SelectExpr(expr, None if alias is None else str(alias))

    def aliased_source(self, name, alias):
        return ast.SourceRef(str(name), None if alias is None else str(alias))

    def join(self, join_type, source, within, on):
        return ast.JoinClause(join_type or "INNER", source, on, within)

    def join_type(self, *tokens):
        return _present(tokens)[0].value.upper()

    def within_symmetric(self, duration, grace):
        return ast.WithinSpec(duration, duration, grace)

    def within_asymmetric(self, before, after, grace):
        return ast.WithinSpec(before, after, grace)

    def grace_period(self, duration):
        return duration

    def window(self, spec):
        return spec

    def tumbling(self, size, *options):
        return ast.WindowSpec("TUMBLING", size=size, **dict(options))

    def hopping(self, size, advance, *options):
        return ast.WindowSpec("HOPPING", size=size, advance=advance, **dict(options))

    def session(self, gap, *options):
        return ast.WindowSpec("SESSION", gap=gap, **dict(options))

    def retention(self, duration):
        return "retention", duration

    def grace(self, duration):
        return "grace", duration

    def where(self, expr):
        return expr

    having = where

    def grouping(self, *exprs):
        return tuple(exprs)

    def group_by(self, grouping):
        return grouping

    partition_by = group_by

    def emit(self, _emit, kind):
        return kind.value.upper()

    def limit(self, *tokens):
        # ksqlDB parses any number here and rejects what Integer.parseInt does not take.
        text = "".join(str(t) for t in tokens if t is not None)
        if not re.fullmatch(r"-?\d+", text):
            raise semantic_error("Failed to prepare statement: Value must be integer for command: LIMIT")
        return int(text)

    def duration(self, value, unit):
        return ast.Duration(int(value), unit)

    def time_unit(self, token):
        return _singular_unit(token.value)

    # ---- expressions --------------------------------------------------------------------------

    def or_expr(self, left, right):
        return ast.LogicalBinary("OR", left, right)

    def and_expr(self, left, right):
        return ast.LogicalBinary("AND", left, right)

    def not_expr(self, operand):
        return ast.Not(operand)

    def comparison(self, left, operator, right):
        op = operator.children[0].value
        return ast.Comparison("<>" if op == "!=" else op, left, right)

    def is_null(self, operand, negated):
        return ast.IsNull(operand, bool(negated))

    def is_distinct_from(self, left, negated, right):
        op = "IS NOT DISTINCT FROM" if negated else "IS DISTINCT FROM"
        return ast.Comparison(op, left, right)

    def between(self, value, negated, low, high):
        return ast.Between(value, low, high, bool(negated))

    def in_list(self, value, negated, *items):
        return ast.InList(value, tuple(items), bool(negated))

    def like(self, value, negated, pattern, escape):
        return ast.Like(value, pattern, None if escape is None else self._string(escape),
                        bool(negated))

    def concatenation(self, left, right):
        return ast.ArithmeticBinary("||", left, right)

    def arithmetic_binary(self, left, operator, right):
        return ast.ArithmeticBinary(operator.children[0].value, left, right)

    def arithmetic_unary(self, operator, operand):
        return ast.ArithmeticUnary(operator.children[0].value, operand)

    def negative_integer(self, token):
        return _integer_literal("-" + token.value)

    def negative_decimal(self, token):
        return ast.DecimalLiteral("-" + token.value)

    def negative_double(self, token):
        return _double_literal("-" + token.value)

    def subscript(self, base, index):
        return ast.Subscript(base, index)

    def dereference(self, base, field):
        return ast.Dereference(base, str(field))

    def column(self, name):
        ref = ast.ColumnRef(str(name))
        if name.quoted:
            self._quoted_columns.add(id(ref))
        return ref

    def qualified_column(self, source, name):
        return ast.ColumnRef(str(name), str(source))

    def cast(self, operand, sql_type):
        return ast.Cast(operand, sql_type)

    def simple_case(self, operand, *whens_and_default):
        *whens, default = whens_and_default
        return ast.SimpleCase(operand, tuple(whens), default)

    def searched_case(self, *whens_and_default):
        *whens, default = whens_and_default
        return ast.SearchedCase(tuple(whens), default)

    def when_clause(self, condition, result):
        return ast.WhenClause(condition, result)

    def else_clause(self, expr):
        return expr

    def array_constructor(self, *items):
        return ast.ArrayConstructor(tuple(_present(items)))

    def map_constructor(self, *entries):
        return ast.MapConstructor(tuple(_present(entries)))

    def map_entry(self, key, value):
        return key, value

    def struct_constructor(self, *fields):
        return ast.StructConstructor(tuple(_present(fields)))

    def struct_entry(self, name, value):
        return str(name), value

    def count_star(self, name):
        return ast.FunctionCall(name.upper(), star=True)

    def function_call(self, name, distinct, *arguments):
        args = tuple(_present(arguments))
        if name.upper() in _INTERVAL_UNIT_FUNCTIONS and args:
            # Only these take a time unit (ksqlDB's INTERVALUNIT), as their first argument;
            # elsewhere SECOND and the like are columns (VAR_ARG(FIRST, SECOND)).
            args = (self._time_unit_or_expr(args[0]),) + args[1:]
        return ast.FunctionCall(name.upper(), args, distinct=bool(distinct))

    def function_argument(self, expr, body):
        if body is None:
            return expr
        if not isinstance(expr, ast.ColumnRef) or expr.source is not None:
            raise ParseError("Syntax Error: invalid lambda parameter list")
        return ast.Lambda((expr.name,), body)

    def multi_parameter_lambda(self, *params_and_body):
        *params, body = params_and_body
        return ast.Lambda(tuple(str(param) for param in params), body)

    def _time_unit_or_expr(self, expr: ast.Expr) -> ast.Expr:
        if (isinstance(expr, ast.ColumnRef) and expr.source is None
                and id(expr) not in self._quoted_columns
                and _singular_unit(expr.name) in _TIME_UNITS):
            return ast.TimeUnitArg(_singular_unit(expr.name))
        return expr

    # ---- literals -----------------------------------------------------------------------------

    def null_literal(self):
        return ast.NullLiteral()

    def true_literal(self):
        return ast.BooleanLiteral(True)

    def false_literal(self):
        return ast.BooleanLiteral(False)

    def string_literal(self, token):
        return ast.StringLiteral(self._string(token))

    def integer_literal(self, token):
        return _integer_literal(token.value)

    def decimal_literal(self, token):
        return ast.DecimalLiteral(token.value)

    def double_literal(self, token):
        return _double_literal(token.value)

    # ---- types --------------------------------------------------------------------------------

    def array_type(self, element):
        return ast.array(element)

    def map_type(self, key, value):
        return ast.map_of(key, value)

    def struct_type(self, *fields):
        return ast.struct(_present(fields))

    def struct_field(self, name, sql_type):
        return str(name), sql_type

    def named_type(self, name, *parameters):
        return _named_type(name, _present(parameters))

    def type_parameter(self, token):
        return token.value


class _TokenList(list):
    """The keyword tokens of a `!rule` kept for the parent to read."""

    @property
    def children(self):
        return self


def _query_id(target) -> Optional[str]:
    if isinstance(target, _All):
        return None
    return str(target) if target.quoted else target.raw.upper()


def _checked_name(name: str, token: Token) -> str:
    """A quoted name may hold any character but NUL, which no SQL engine keeps in a name, and
    an unpaired UTF-16 surrogate, which is not a character."""
    if "\x00" in name:
        raise semantic_error("Names cannot contain the NUL character (\\u0000).",
                             token.line, token.column)
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        raise semantic_error("Names cannot contain an unpaired UTF-16 surrogate.",
                             token.line, token.column) from None
    return name


def _raw_name(name: Name) -> str:
    return str(name) if name.quoted else name.raw


def _integer_literal(text: str) -> ast.IntegerLiteral:
    value = int(text)
    if not _LONG_MIN <= value <= _LONG_MAX:
        raise ParseError(f"Invalid numeric literal: {text}")
    return ast.IntegerLiteral(value)


def _double_literal(text: str) -> ast.DoubleLiteral:
    value = float(text)
    if value in (float("inf"), float("-inf")):
        raise ParseError(f"Number overflows DOUBLE: {text}")
    return ast.DoubleLiteral(value)


def _named_type(name: Name, parameters: list[str]) -> ast.SqlType:
    base = _TYPE_ALIASES.get(name.upper(), name.upper()) if not name.quoted else str(name)
    if base == "DECIMAL":
        if len(parameters) != 2 or not all(p.isdigit() for p in parameters):
            raise ParseError("DECIMAL requires precision and scale, e.g. DECIMAL(4, 2)")
        return ast.decimal(int(parameters[0]), int(parameters[1]))
    # ksqlDB accepts and ignores parameters on other types, e.g. VARCHAR(STRING).
    return ast.SqlType(base)


def _check_window_properties(properties) -> None:
    values = dict(properties)
    window_type = values.get("WINDOW_TYPE")
    if isinstance(window_type, str) and window_type.upper() == "SESSION" and "WINDOW_SIZE" in values:
        raise ParseError("'WINDOW_SIZE' should not be set for SESSION windows.")


def _property_value(expr: ast.Expr) -> Any:
    if isinstance(expr, ast.StringLiteral):
        return expr.value
    if isinstance(expr, ast.IntegerLiteral):
        return expr.value
    if isinstance(expr, ast.DecimalLiteral):
        return float(expr.text)
    if isinstance(expr, (ast.DoubleLiteral, ast.BooleanLiteral)):
        return expr.value
    if isinstance(expr, ast.NullLiteral):
        return None
    raise ParseError(f"Property values must be literals, got: {type(expr).__name__}")
