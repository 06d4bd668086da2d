"""The builder's rules for statements: DDL and DML (CREATE, DROP, ALTER, INSERT), metadata and
administration (SHOW, DESCRIBE, EXPLAIN, TERMINATE, PRINT, SET, DEFINE...) and the test-only
ASSERT statements, with the checks ksqlDB's AstBuilder makes on them (KEY vs PRIMARY KEY per
source kind, window properties, literal property values).
"""
from __future__ import annotations

import dataclasses
import re
from typing import Any, Optional

from lark import Token, Transformer, v_args

from pyksqlite.grammar import ast
from pyksqlite.grammar.builder.tokens import AllQueries, TokenList, bounded_int, present, raw_name, string_text
from pyksqlite.grammar.errors import ParseError, semantic_error

_EXPLAIN_PREFIX = re.compile(r"^EXPLAIN\s+", re.IGNORECASE)


@v_args(inline=True)
class StatementRules(Transformer):
    """Rules of statements (mixed into `AstBuilder`, whose `_text` is the statement's text)."""

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
        return ast.InsertValues(str(target), columns, tuple(present(values)))

    def drop_source(self, kind, if_exists, name, delete_topic):
        return ast.DropSource(kind, str(name), bool(if_exists), bool(delete_topic))

    def create_type(self, if_not_exists, name, sql_type):
        return ast.CreateType(str(name), sql_type, bool(if_not_exists))

    def drop_type(self, if_exists, name):
        return ast.DropType(str(name), bool(if_exists))

    def alter_source(self, kind, name, *options):
        return ast.AlterSource(kind, str(name), tuple(options))

    def alter_option(self, *children):
        name, sql_type = present(children)
        return ast.ColumnDef(str(name), sql_type)

    def table_elements(self, *columns):
        return present(columns)

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
        return "HEADER", string_text(key)

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
        return TokenList(tokens)

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
        name = string_text(topic) if isinstance(topic, Token) else raw_name(topic)
        return ast.Print(name, bool(from_beginning), interval, limit)

    def print_interval(self, count):
        return bounded_int(count.value, 31, "Invalid INTERVAL")

    def set_property(self, name, value):
        return ast.SetProperty(string_text(name), string_text(value))

    def unset_property(self, name):
        return ast.UnsetProperty(string_text(name))

    def define_variable(self, name, value):
        return ast.DefineVariable(str(name), string_text(value))

    def undefine_variable(self, name):
        return ast.UndefineVariable(str(name))

    def run_script(self, path):
        return ast.RunScript(string_text(path))

    def assert_values(self, source, columns, *values):
        return ast.AssertValues(str(source), columns, tuple(present(values)))

    def assert_null_values(self, source, columns, *keys):
        return ast.AssertNullValues(str(source), columns, tuple(present(keys)))

    def assert_source(self, kind, name, elements, props):
        columns = tuple(column for column, _ in elements)
        return ast.AssertSource(kind, str(name), columns, props or ())

    def assert_topic(self, not_exists, topic, props, timeout):
        name = string_text(topic) if isinstance(topic, Token) else raw_name(topic)
        return ast.AssertTopic(name, not not_exists, props or (), timeout)

    def timeout(self, duration):
        return duration


def _query_id(target) -> Optional[str]:
    if isinstance(target, AllQueries):
        return None
    return str(target) if target.quoted else target.raw.upper()


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
