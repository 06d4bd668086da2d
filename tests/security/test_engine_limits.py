"""What a statement within the limits may still cost the engine, and the statement errors the fuzz
suite found raised as internal errors. A real engine on real files.

- An expression as deep as the default limit allows goes through every layer that walks it
  (builder, planner, compiler, formatter, DuckDB) in a pull query, a push query, a persistent
  query and EXPLAIN, without RecursionError or DuckDB's own depth limit.
- Compilation is linear in the expression: nested CASE compiled each branch twice per level
  (2^depth); functions that repeat their argument's SQL (ROUND of a DECIMAL, MASK) made nested
  calls exponential in SQL size, gigabytes at eight levels.
- Names and values from a statement that the log or the registry refuse are statement errors.
"""
from __future__ import annotations

import pytest

from pyksqlite.facade.engine import Engine
from pyksqlite.common.errors import KsqlException, KsqlStatementException
from pyksqlite.grammar.limits import DEFAULT_LIMITS

DEPTH = DEFAULT_LIMITS.expression_depth
EARLIEST = {"auto.offset.reset": "earliest"}


@pytest.fixture
def engine(tmp_path):
    engine = Engine(tmp_path / "data", properties={"ksqlite.log.flush": "none"})
    engine.execute("CREATE STREAM s (id INT KEY, x INT, d DOUBLE, dc DECIMAL(10, 2), str STRING, a ARRAY<INT>) "
                   "WITH (kafka_topic='s', partitions=1, value_format='JSON');"
                   "INSERT INTO s (id, x, d, dc, str, a) VALUES (1, 5, 1.5, 2.25, 'q', ARRAY[1, 2]);")
    yield engine
    engine.close()


SHAPES = {
    "integer arithmetic": " - ".join(["x"] * DEPTH),
    "unary minus": "- " * (DEPTH - 1) + "x",
    "modulo": " % ".join(["x"] * DEPTH),
    "decimal addition": " + ".join(["dc"] * DEPTH),
    "concatenation": " || ".join(["str"] * DEPTH),
    "function calls": "ABS(" * DEPTH + "x" + ")" * DEPTH,
    "casts through text": "CAST(CAST(" * (DEPTH // 2) + "x" + " AS STRING) AS INT)" * (DEPTH // 2),
    "searched CASE": "CASE WHEN x = 1 THEN " * (DEPTH // 2) + "1" + " ELSE 0 END" * (DEPTH // 2),
    "COALESCE": "COALESCE(" * DEPTH + "x" + ", 1)" * DEPTH,
    "lambdas": "TRANSFORM(" * (DEPTH // 2) + "a" + ", v => v + 1)" * (DEPTH // 2),
    "timestamps": "TIMESTAMPADD(SECONDS, 1, " * (DEPTH - 1) + "FROM_UNIXTIME(x)" + ")" * (DEPTH - 1),
    "boolean chain": " OR ".join(["x = 1"] * (DEPTH // 2)),
    "negations": "NOT " * (DEPTH - 1) + "(x = 1)",
}


@pytest.mark.parametrize("shape", list(SHAPES))
def test_an_expression_as_deep_as_allowed_runs_everywhere(engine, shape):
    expression = SHAPES[shape]
    predicate = shape in ("boolean chain", "negations")
    select = f"SELECT * FROM s WHERE {expression}" if predicate else f"SELECT id, {expression} AS y FROM s"
    engine.pull_query(select + ";")
    query = engine.push_query(select + " EMIT CHANGES LIMIT 1;", EARLIEST)
    try:
        query.poll(timeout=10, max_rows=1)
        assert query.error is None
    finally:
        query.close()
    engine.execute(f"CREATE STREAM out AS {select};")
    assert "out".upper() in engine.catalog.sources
    assert engine.execute(f"EXPLAIN {select} EMIT CHANGES;")


def test_nested_case_compiles_in_linear_time(engine):
    """40 levels were 2^40 compilations."""
    levels = 40
    nested = "CASE WHEN x = 1 THEN " * levels + "1" + " ELSE 0 END" * levels
    assert engine.pull_query(f"SELECT {nested} AS y FROM s;").rows == [[0]]
    depth = DEFAULT_LIMITS.type_depth
    constructors = "ARRAY[" * depth + "CASE WHEN x = 1 THEN 1 ELSE 2 END" + "]" * depth
    assert engine.pull_query(f"SELECT {constructors} AS y FROM s;").rows


@pytest.mark.parametrize("expression", ["ROUND(" * 12 + "dc" + ", 1)" * 12, "MASK(" * 6 + "str" + ")" * 6])
def test_an_expression_whose_sql_explodes_is_refused(engine, expression):
    with pytest.raises(KsqlStatementException, match="too complex"):
        engine.pull_query(f"SELECT {expression} AS y FROM s;")


@pytest.mark.parametrize("topic", ["../../outside", "/tmp/x", "a b", "x" * 250, "..", "${var}"])
def test_an_illegal_topic_name_is_a_statement_error(engine, topic):
    # Kafka's wording (engine.names): 'Topic name "..." is illegal, ...' / 'Topic name cannot be ...'
    with pytest.raises(KsqlStatementException, match="Topic name"):
        engine.execute(f"CREATE STREAM t1 (a INT) WITH (kafka_topic='{topic}', partitions=1, value_format='JSON');")
    with pytest.raises(KsqlStatementException, match="Topic name"):
        engine.execute(f"CREATE STREAM t2 WITH (kafka_topic='{topic}') AS SELECT * FROM s;")


@pytest.mark.parametrize("partitions", ["0", "-1", "'abc'", "1000000000", "'99999999999999999999999'"])
def test_a_partition_count_out_of_range_is_a_statement_error(engine, partitions):
    with pytest.raises(KsqlStatementException, match="PARTITIONS"):
        engine.execute(f"CREATE STREAM t1 (a INT) WITH (kafka_topic='t1', partitions={partitions}, value_format='JSON');")
    assert not engine.log.topic_exists("t1")


def test_retention_must_be_a_number(engine):
    with pytest.raises(KsqlStatementException, match="RETENTION_MS"):
        engine.execute("CREATE STREAM t1 (a INT) WITH (kafka_topic='t1', partitions=1, retention_ms='soon', "
                       "value_format='JSON');")


@pytest.mark.parametrize("schema_id", ["1", "99999999999999999999", "'x'"])
def test_an_unknown_schema_id_is_a_statement_error(engine, schema_id):
    with pytest.raises(KsqlStatementException):
        engine.execute(f"CREATE STREAM t1 WITH (kafka_topic='t1', partitions=1, format='AVRO', "
                       f"VALUE_SCHEMA_ID={schema_id});")


def test_a_schema_of_another_type_is_a_statement_error(engine):
    engine.execute("CREATE STREAM avro WITH (kafka_topic='avro', partitions=1, value_format='AVRO') AS "
                   "SELECT id, x FROM s;")
    schema_id = engine.schema_registry.latest("avro-value").id
    with pytest.raises(KsqlException, match="not in the expected format"):
        engine.execute("CREATE STREAM p WITH (kafka_topic='avro', format='PROTOBUF', "
                       f"VALUE_SCHEMA_ID={schema_id});")


def test_a_sink_fixed_to_a_schema_of_another_type_is_a_statement_error(engine):
    """Found by the fuzz suite: the Protobuf schema parser ran off the end of an Avro schema."""
    engine.execute("CREATE STREAM avro WITH (kafka_topic='avro', partitions=1, value_format='AVRO') AS "
                   "SELECT id, x FROM s;")
    schema_id = engine.schema_registry.latest("avro-value").id
    with pytest.raises(KsqlException):
        engine.execute(f"CREATE STREAM p WITH (kafka_topic='p', value_format='PROTOBUF', VALUE_SCHEMA_ID={schema_id}) "
                       "AS SELECT id, x FROM s;")


def test_the_protobuf_schema_parser_reports_a_truncated_schema():
    from pyksqlite.serde.protobuf_parser import parse_proto
    for text in ('syntax = "proto3"; message M { int32 a = 1;', '{"type": "record"', "message"):
        with pytest.raises(ValueError):
            parse_proto(text)


def test_a_query_cannot_make_a_column_type_deeper_than_the_limit(engine):
    """Each statement is within the limit, the stream the second one makes is not: JSON decoding
    of every further level costs DuckDB twice the time and memory to plan."""
    depth = DEFAULT_LIMITS.type_depth
    engine.execute(f"CREATE STREAM deep AS SELECT id, {'ARRAY[' * depth}x{']' * depth} AS a FROM s;")
    with pytest.raises(KsqlStatementException, match="ksqlite.limits.type.depth"):
        engine.execute("CREATE STREAM deeper AS SELECT id, ARRAY[a] AS a FROM deep;")


def test_sources_made_under_larger_limits_come_back_after_a_restart(tmp_path):
    data = tmp_path / "data"
    nested = "ARRAY<" * 10 + "INT" + ">" * 10
    roomy = Engine(data, properties={"ksqlite.limits.type.depth": "10"})
    roomy.execute(f"CREATE STREAM wide (id INT KEY, a {nested}) WITH (kafka_topic='wide', partitions=1, "
                  "value_format='AVRO');")
    roomy.close()
    strict = Engine(data)
    try:
        assert "WIDE" in strict.catalog.sources
        with pytest.raises(KsqlException):
            strict.execute(f"CREATE STREAM again (id INT KEY, a {nested}) WITH (kafka_topic='again', partitions=1, "
                           "value_format='AVRO');")
    finally:
        strict.close()


def test_a_pull_query_stops_once_cancelled(engine):
    """The server sets the event when the query's client disconnects; the query stops between
    the batches it reads instead of holding the engine for a result nobody reads."""
    import threading
    cancelled = threading.Event()
    assert engine.pull_query("SELECT * FROM s;", cancelled=cancelled).rows
    cancelled.set()
    with pytest.raises(KsqlException, match="cancelled"):
        engine.pull_query("SELECT * FROM s;", cancelled=cancelled)


def test_every_function_called_with_untyped_nulls_compiles_or_is_a_statement_error():
    """Found by the fuzz suite: ARRAY_JOIN(COALESCE(NULL, ...)) was an internal error (the
    function's type rule read the element type of a NULL)."""
    from pyksqlite.expressions.compiler import ExpressionCompiler
    from pyksqlite.expressions.default_functions import default_registry
    from pyksqlite.expressions.scope import ColumnBinding, Scope
    from pyksqlite.grammar import ast
    from pyksqlite.grammar.parser import parse_expression
    registry = default_registry()
    compiler = ExpressionCompiler(Scope({"X": ColumnBinding('"v1"', ast.INTEGER)}))
    crashes = []
    for name in sorted({name for name, *_ in registry.list_functions()}):
        info = registry.get(name)
        if info.kind != "scalar":
            continue
        for arity in sorted({len(variant.params) for variant in info.variants})[:4]:
            for args in (["NULL"] * arity, ["X"] + ["NULL"] * (arity - 1) if arity else []):
                try:
                    compiler.compile(parse_expression(f"{name}({', '.join(args)})"))
                except KsqlException:
                    pass
                except Exception as error:  # noqa: BLE001 - what the test looks for
                    crashes.append(f"{name}({', '.join(args)}): {type(error).__name__}")
    assert crashes == []
