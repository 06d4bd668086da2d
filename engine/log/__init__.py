"""The partitioned log: the interface (`api`) and the embedded, file-backed implementation."""
from pyksqlite.log.api import CONSUME_SCHEMA, HEADER_TYPE, PRODUCE_SCHEMA, Consumer, Log, TopicConfig
from pyksqlite.log.embedded.log import EmbeddedLog

__all__ = ["CONSUME_SCHEMA", "HEADER_TYPE", "PRODUCE_SCHEMA", "Consumer", "EmbeddedLog", "Log", "TopicConfig"]
