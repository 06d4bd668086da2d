"""The engine's errors. Messages follow ksqlDB's wording where its tests show it.

`KsqlException` is the base: a statement that fails raises one, and nothing it would have
changed is changed. `kind` carries the name of ksqlDB's exception class, which the QTT runner
reports and matches against a case's `expectedException.type`.
"""
from __future__ import annotations

from typing import Optional


class KsqlException(Exception):
    """A statement was rejected or a query failed, with a message for the user."""
    kind = "io.confluent.ksql.util.KsqlException"

    def __init__(self, message: str, statement_text: Optional[str] = None):
        super().__init__(message)
        self.message = message
        self.statement_text = statement_text


class KsqlStatementException(KsqlException):
    """A statement is invalid (ksqlDB's KsqlStatementException)."""
    kind = "io.confluent.ksql.util.KsqlStatementException"


class ParseFailedException(KsqlStatementException):
    """The text is not valid SQL; the message names line, column, token and what was expected."""
    kind = "io.confluent.ksql.parser.exception.ParseFailedException"

    def __init__(self, message: str, line: int = 0, column: int = 0, token: str = "",
                 expected: tuple[str, ...] = (), statement_text: Optional[str] = None):
        super().__init__(message, statement_text)
        self.line = line
        self.column = column
        self.token = token
        self.expected = expected


class SchemaException(KsqlStatementException):
    """An invalid schema or type (ksqlDB's KsqlSchemaException)."""
    kind = "io.confluent.ksql.schema.ksql.KsqlSchemaException"


class TypeMismatchException(KsqlStatementException):
    """An expression's types do not fit (ksqlDB's KsqlStatementException with a type message)."""


class FunctionException(KsqlStatementException):
    """Unknown function, or no overload for the argument types (ksqlDB's KsqlFunctionException)."""
    kind = "io.confluent.ksql.function.KsqlFunctionException"


class SerializationException(KsqlException):
    """A record could not be serialized or deserialized (per record: logged, not raised to users)."""
    kind = "org.apache.kafka.common.errors.SerializationException"


class TopicException(KsqlStatementException):
    """A topic is missing or does not match the statement (partitions, config)."""
    kind = "io.confluent.ksql.exception.KafkaTopicExistsException"


class LogWriteException(KsqlException):
    """The log could not store a statement's records (a full disk, an I/O error); none of them
    was stored. A server error, not the statement's fault: the server answers HTTP 500."""
