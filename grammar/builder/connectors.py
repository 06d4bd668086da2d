"""The builder rules of ksqlDB's connector statements (see `pyksqlite.grammar.ast.connectors`)."""
from __future__ import annotations

from lark import Token, Transformer, v_args

from pyksqlite.grammar.ast import (BooleanLiteral, DecimalLiteral, DoubleLiteral, IntegerLiteral,
                                   NullLiteral, StringLiteral)
from pyksqlite.grammar.ast.connectors import (CreateConnector, DescribeConnector, DropConnector,
                                              ListConnectorPlugins, ListConnectors)
from pyksqlite.grammar.errors import ParseError


@v_args(inline=True)
class ConnectorRules(Transformer):
    """The builder rules of the connector statements (mixed into `AstBuilder`)."""

    def create_connector(self, connector_type, if_not_exists, name, config):
        return CreateConnector(str(name), connector_type, tuple(config), bool(if_not_exists))

    def drop_connector(self, if_exists, name):
        return DropConnector(str(name), bool(if_exists))

    def list_connectors(self, scope):
        return ListConnectors(scope)

    def list_connector_plugins(self):
        return ListConnectorPlugins()

    def describe_connector(self, name):
        return DescribeConnector(str(name))

    def connector_type(self, token):
        return token.value.upper()

    def connector_properties(self, *properties):
        config = {}
        for key, value in properties:
            config[key] = value     # a key given twice: the last wins, as in a Java map
        return tuple(config.items())

    def connector_property(self, key, value):
        return _config_key(key), _config_value(value)


def _config_key(key) -> str:
    """A quoted key as written; an unquoted one upper-cased, as ksqlDB reads identifiers."""
    if isinstance(key, Token):                       # 'kafka.topic'
        return key.value[1:-1].replace("''", "'")
    return str(key)


def _config_value(value) -> str:
    """A literal as the string Kafka Connect's config holds."""
    if isinstance(value, BooleanLiteral):
        return "true" if value.value else "false"
    if isinstance(value, (StringLiteral, IntegerLiteral)):
        return str(value.value)
    if isinstance(value, (DecimalLiteral, DoubleLiteral)):
        return str(getattr(value, "text", None) or value.value)
    if isinstance(value, NullLiteral):
        return ""
    raise ParseError(f"Connector config values must be literals, got: {type(value).__name__}")
