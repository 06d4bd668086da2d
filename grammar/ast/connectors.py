"""ksqlDB's connector statements as AST nodes.

    CREATE SOURCE|SINK CONNECTOR [IF NOT EXISTS] name WITH ("connector.class"='...', ...)
    DROP CONNECTOR [IF EXISTS] name
    SHOW|LIST [SOURCE|SINK] CONNECTORS
    SHOW|LIST CONNECTOR PLUGINS
    DESCRIBE CONNECTOR name

A connector's config is Kafka Connect's: string keys that keep their case when quoted (as
ksqlDB keeps them), string values (numbers and booleans as Kafka Connect writes them).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

from pyksqlite.grammar.ast.statements import Statement


@dataclass(frozen=True)
class CreateConnector(Statement):
    """CREATE SOURCE|SINK CONNECTOR [IF NOT EXISTS] name WITH (...)."""
    name: str
    connector_type: str                                # SOURCE | SINK
    config: tuple[tuple[str, str], ...] = ()
    if_not_exists: bool = False
    text: str = field(default="", compare=False)

    def config_map(self) -> dict[str, str]:
        return dict(self.config)


@dataclass(frozen=True)
class DropConnector(Statement):
    name: str
    if_exists: bool = False
    text: str = field(default="", compare=False)


@dataclass(frozen=True)
class ListConnectors(Statement):
    """SHOW|LIST [SOURCE|SINK] CONNECTORS; `scope` is None for all."""
    scope: Optional[str] = None
    text: str = field(default="", compare=False)


@dataclass(frozen=True)
class ListConnectorPlugins(Statement):
    text: str = field(default="", compare=False)


@dataclass(frozen=True)
class DescribeConnector(Statement):
    name: str
    text: str = field(default="", compare=False)


CONNECTOR_STATEMENTS = (CreateConnector, DropConnector, ListConnectors, ListConnectorPlugins,
                        DescribeConnector)
