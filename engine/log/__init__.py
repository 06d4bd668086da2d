"""The partitioned log: the interface (`api`) and the embedded, file-backed implementation."""
from engine.log.api import CONSUME_SCHEMA, HEADER_TYPE, PRODUCE_SCHEMA, Consumer, Log, TopicConfig
from engine.log.embedded import EmbeddedLog

__all__ = ["CONSUME_SCHEMA", "HEADER_TYPE", "PRODUCE_SCHEMA", "Consumer", "EmbeddedLog", "Log", "TopicConfig"]
