"""Turn lark parse trees of `ksql.lark` into the frozen AST nodes of `pyksqlite.grammar.ast`.

One method per grammar rule (or rule alias), named like it, in one class per part of the grammar
(`statements`, `queries`, `expressions`) that `AstBuilder` puts together. Besides building nodes,
the builder applies the rules ksqlDB's own AstBuilder applies after parsing: identifier case
folding, numeric literal ranges, KEY vs PRIMARY KEY per source kind, lambda parameter lists.
"""
from __future__ import annotations

from lark import Transformer_NonRecursive, v_args

from pyksqlite.grammar import ast
from pyksqlite.grammar.builder.connectors import ConnectorRules
from pyksqlite.grammar.builder.expressions import ExpressionRules
from pyksqlite.grammar.builder.queries import QueryRules
from pyksqlite.grammar.builder.statements import StatementRules
from pyksqlite.grammar.builder.tokens import AllQueries, Name, checked_name

_POSITIONED = (ast.Expr, ast.SelectItem, ast.SourceRef, ast.JoinClause, ast.WindowSpec, ast.Statement)


def _flag(*_children) -> bool:
    return True


@v_args(inline=True)
class AstBuilder(StatementRules, QueryRules, ExpressionRules, ConnectorRules, Transformer_NonRecursive):
    """Lark transformer producing `pyksqlite.grammar.ast` nodes from a tree of one parse (bottom-up
    without recursion, so a deeply nested statement fails on its limit, never on Python's stack)."""

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
        return Name(checked_name(token.value[1:-1].replace('""', '"'), token), token.value,
                    quoted=True, token=token)

    def backquoted_identifier(self, token):
        return Name(checked_name(token.value[1:-1].replace("``", "`"), token), token.value,
                    quoted=True, token=token)

    def keyword_identifier(self, token):
        return Name(token.value.upper(), token.value, quoted=False, token=token)

    def nonreserved(self, token):
        return token

    or_replace = source_flag = if_not_exists = if_exists = delete_topic = _flag
    extended = negation = distinct = from_beginning = not_exists = _flag

    def all_queries(self):
        return AllQueries()

    def source_kind(self, token):
        return token.value.upper()

    plural_kind = source_kind
