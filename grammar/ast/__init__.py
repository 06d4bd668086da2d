"""The typed AST of ksqlDB's SQL: one frozen dataclass per construct.

The parser (`pyksqlite.grammar.parser`) builds these nodes from text; the engine's planner reads them and
never mutates them. Every node is immutable and hashable, so a planner can use expressions as
dictionary keys (for example to find a GROUP BY expression again in the projection).

Naming follows ksqlDB: unquoted identifiers are upper-cased by the parser, quoted ones keep their
case, so a name in the AST is already the name the catalog uses.

The nodes live in one module per kind (`positions`, `sql_types`, `expressions`, `queries`,
`statements`); this package is their one namespace: `from pyksqlite.grammar import ast`.
"""
from __future__ import annotations

from pyksqlite.grammar.ast.positions import (Position, position_field, location_prefix)
from pyksqlite.grammar.ast.sql_types import (SqlType, BOOLEAN, INTEGER, BIGINT, DOUBLE, STRING,
                                             BYTES, DATE, TIME, TIMESTAMP, decimal, decimal_parameter_error,
                                             array, map_of,
                                             struct)
from pyksqlite.grammar.ast.expressions import (Expr, NullLiteral, BooleanLiteral, IntegerLiteral,
                                               DecimalLiteral, DoubleLiteral, StringLiteral,
                                               ColumnRef, Dereference, Subscript, ArithmeticUnary,
                                               ArithmeticBinary, Comparison, LogicalBinary, Not,
                                               IsNull, Between, InList, Like, Cast, WhenClause,
                                               SearchedCase, SimpleCase, TimeUnitArg, FunctionCall,
                                               Lambda, ArrayConstructor, MapConstructor,
                                               StructConstructor)
from pyksqlite.grammar.ast.queries import (Duration, WindowSpec, SelectItem, SelectExpr, SelectAll,
                                           SelectStructAll, SourceRef, WithinSpec, JoinClause,
                                           Query)
from pyksqlite.grammar.ast.statements import (Statement, PropertyValue, ColumnDef, CreateSource,
                                              CreateAsSelect, InsertInto, InsertValues,
                                              QueryStatement, DropSource, CreateType, DropType,
                                              AlterSource, Show, Describe, DescribeFunction,
                                              Explain, Terminate, PauseResume, Print, SetProperty,
                                              UnsetProperty, DefineVariable, UndefineVariable,
                                              RunScript, AssertValues, AssertNullValues,
                                              AssertSource, AssertTopic)

__all__ = ["Position", "position_field", "location_prefix", "SqlType", "BOOLEAN", "INTEGER",
           "BIGINT", "DOUBLE", "STRING", "BYTES", "DATE", "TIME", "TIMESTAMP", "decimal", "decimal_parameter_error", "array",
           "map_of", "struct", "Expr", "NullLiteral", "BooleanLiteral", "IntegerLiteral",
           "DecimalLiteral", "DoubleLiteral", "StringLiteral", "ColumnRef", "Dereference",
           "Subscript", "ArithmeticUnary", "ArithmeticBinary", "Comparison", "LogicalBinary", "Not",
           "IsNull", "Between", "InList", "Like", "Cast", "WhenClause", "SearchedCase",
           "SimpleCase", "TimeUnitArg", "FunctionCall", "Lambda", "ArrayConstructor",
           "MapConstructor", "StructConstructor", "Duration", "WindowSpec", "SelectItem",
           "SelectExpr", "SelectAll", "SelectStructAll", "SourceRef", "WithinSpec", "JoinClause",
           "Query", "Statement", "PropertyValue", "ColumnDef", "CreateSource", "CreateAsSelect",
           "InsertInto", "InsertValues", "QueryStatement", "DropSource", "CreateType", "DropType",
           "AlterSource", "Show", "Describe", "DescribeFunction", "Explain", "Terminate",
           "PauseResume", "Print", "SetProperty", "UnsetProperty", "DefineVariable",
           "UndefineVariable", "RunScript", "AssertValues", "AssertNullValues", "AssertSource",
           "AssertTopic"]
