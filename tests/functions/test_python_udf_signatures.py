"""Python UDFs declare what ksqlDB's Java UDFs can: generic parameters whose bindings give the
return type, a schema provider, a variadic parameter in any position (its arguments passed
spread, of any types with ANY), STRUCT, MAP and DECIMAL arguments and results, and per-call-site
instances (`udf_class`). A UDF that raises nulls its row and writes the processing log."""
from __future__ import annotations

from decimal import Decimal

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from pyksqlite.facade.engine import Engine, TestRecord
from pyksqlite.expressions import python_udf
from pyksqlite.udf import udf, udf_class, udf_method, udtf
from pyksqlite.grammar.ast import decimal

PROPERTIES = {"ksql.streams.auto.offset.reset": "earliest", "ksqlite.log.flush": "none"}


@pytest.fixture
def engine(tmp_path):
    e = Engine(tmp_path / "data", PROPERTIES)
    e.create_topic("input")
    e.execute("CREATE STREAM s (id INT KEY, txt STRING, n INT, big BIGINT, ints ARRAY<INT>, "
              "words ARRAY<STRING>, counts MAP<STRING, INT>, person STRUCT<NAME STRING, AGE INT>, "
              "price DECIMAL(6, 2)) WITH (kafka_topic='input', value_format='JSON');")
    yield e
    e.close()


@pytest.fixture
def cleanup():
    names = []
    yield names
    for name in names:
        python_udf.unregister_function(name)


def run(engine, sql, *rows, topic="O"):
    engine.execute(sql)
    engine.produce_test_records([TestRecord("input", i, row) for i, row in enumerate(rows)])
    engine.run_until_idle()
    return [r.value for r in engine.read_topic_records(topic)]


def column_types(engine, name):
    described = engine.execute(f"DESCRIBE {name};")[0].entity["sourceDescription"]
    return {f["name"]: f["schema"]["type"] for f in described["fields"]}


def test_generic_parameter_gives_the_return_type(engine, cleanup):
    @udf(params=["ARRAY<T>"], returns="T", per_row=True, description="The first element.")
    def t_head(items):
        return items[0] if items else None
    cleanup.append("T_HEAD")

    rows = run(engine, "CREATE STREAM o AS SELECT id, t_head(ints) AS i, t_head(words) AS w FROM s;",
               {"ints": [3, 4], "words": ["x", "y"]}, {"ints": [], "words": None})
    assert rows == [{"I": 3, "W": "x"}, {"I": None, "W": None}]
    assert column_types(engine, "O") == {"ID": "INTEGER", "I": "INTEGER", "W": "STRING"}


def test_map_generics_and_maps_as_dicts(engine, cleanup):
    @udf(params=["MAP<K, V>"], returns="ARRAY<K>", per_row=True)
    def t_keys(mapping):
        assert isinstance(mapping, dict)
        return sorted(mapping)
    cleanup.append("T_KEYS")

    assert run(engine, "CREATE STREAM o AS SELECT id, t_keys(counts) AS k FROM s;",
               {"counts": {"b": 1, "a": 2}}) == [{"K": ["a", "b"]}]


def test_schema_provider_computes_the_return_type(engine, cleanup):
    @udf(params=["DECIMAL"], returns=lambda types: decimal(types[0].precision + 1, types[0].scale),
         per_row=True, description="Doubles a decimal, one more digit of precision.")
    def t_twice(value):
        return value * 2
    cleanup.append("T_TWICE")

    assert run(engine, "CREATE STREAM o AS SELECT id, t_twice(price) AS p FROM s;",
               {"price": 9999.99}) == [{"P": Decimal("19999.98")}]
    assert engine.execute("DESCRIBE o;")[0].entity["sourceDescription"]["fields"][1]["schema"] == \
        {"type": "DECIMAL", "fields": None, "memberSchema": None, "parameters": {"precision": 7, "scale": 2}}


def test_variadic_parameter_in_the_middle(engine, cleanup):
    @udf(params=["STRING", "INT...", "STRING"], returns="STRING", per_row=True, null_on_null=False)
    def t_wrap(left, *rest):
        *numbers, right = rest
        return f"{left}{sum(n or 0 for n in numbers)}{right}"
    cleanup.append("T_WRAP")

    rows = run(engine, "CREATE STREAM o AS SELECT id, t_wrap('<', '>') AS a, t_wrap('<', n, '>') AS b, "
                       "t_wrap('[', n, n, 1, ']') AS c FROM s;", {"n": 5})
    assert rows == [{"A": "<0>", "B": "<5>", "C": "[11]"}]
    variant = engine.execute("DESCRIBE FUNCTION t_wrap;")[0].entity["functions"][0]
    assert [a["isVariadic"] for a in variant["arguments"]] == [False, True, False]


def test_vectorized_variadic_of_any_types_gets_one_array_per_argument(engine, cleanup):
    seen = []

    @udf(params=["ANY..."], returns="INT")
    def t_count_set(*arrays):
        seen.append([a.type for a in arrays])
        counts = [pc.cast(pc.is_valid(a), pa.int32()) for a in arrays]
        total = counts[0]
        for count in counts[1:]:
            total = pc.add(total, count)
        return total
    cleanup.append("T_COUNT_SET")

    rows = run(engine, "CREATE STREAM o AS SELECT id, t_count_set(txt, n, person, counts) AS c FROM s;",
               {"txt": "a", "n": 1, "person": {"NAME": "x", "AGE": 3}}, {"n": 2})
    assert rows == [{"C": 3}, {"C": 1}]
    assert [str(t) for t in seen[0][:2]] == ["string", "int32"]


def test_struct_and_decimal_arguments_and_results(engine, cleanup):
    @udf(params=["STRUCT<NAME STRING, AGE INT>", "DECIMAL(6, 2)"],
         returns="STRUCT<LABEL STRING, TOTAL DECIMAL(8, 2)>", per_row=True)
    def t_label(person, price):
        return {"LABEL": f"{person['NAME']}:{person['AGE']}", "TOTAL": price * person["AGE"]}
    cleanup.append("T_LABEL")

    rows = run(engine, "CREATE STREAM o AS SELECT id, t_label(person, price) AS l FROM s;",
               {"person": {"NAME": "ann", "AGE": 3}, "price": 1.25})
    assert rows == [{"L": {"LABEL": "ann:3", "TOTAL": Decimal("3.75")}}]


def test_function_without_arguments_runs_once_per_row(engine, cleanup):
    calls = []

    @udf(params=[], returns="STRUCT<A STRING>")
    def t_const():
        calls.append(1)
        return {"A": "foo"}
    cleanup.append("T_CONST")

    rows = run(engine, "CREATE STREAM o AS SELECT id, t_const() AS c FROM s;", {}, {})
    assert rows == [{"C": {"A": "foo"}}] * 2


def test_a_failing_row_is_null_and_in_the_processing_log(engine, cleanup):
    @udf(params=["INT"], returns="INT", per_row=True)
    def t_inverse(n):
        return 100 // n
    cleanup.append("T_INVERSE")

    rows = run(engine, "CREATE STREAM o AS SELECT id, t_inverse(n) AS q FROM s;", {"n": 4}, {"n": 0}, {"n": 5})
    assert rows == [{"Q": 25}, {"Q": None}, {"Q": 20}]
    errors = [e for e in engine.processing_log() if e.get("function") == "T_INVERSE"]
    assert len(errors) == 1 and errors[0]["type"] == "RECORD_PROCESSING_ERROR"
    assert errors[0]["query"] == "CSAS_O_0" and "ZeroDivisionError" in errors[0]["message"]


def test_udf_class_gets_an_instance_per_call_site(engine, cleanup):
    @udf_class(name="t_counter", description="Counts the rows it has seen.")
    class Counter:
        def __init__(self):
            self.seen = 0

        @udf_method(params=["STRING"], returns="INT", per_row=True, null_on_null=False)
        def count(self, _text):
            self.seen += 1
            return self.seen
    cleanup.append("T_COUNTER")

    rows = run(engine, "CREATE STREAM o AS SELECT id, t_counter(txt) AS a, t_counter(txt) AS b FROM s;",
               {"txt": "x"}, {"txt": "y"}, {})
    assert rows == [{"A": 1, "B": 1}, {"A": 2, "B": 2}, {"A": 3, "B": 3}]
    other = run(engine, "CREATE STREAM o2 AS SELECT id, t_counter(txt) AS a FROM s;", topic="O2")
    assert other == [{"A": 1}, {"A": 2}, {"A": 3}]   # another query: its own instance


def test_python_table_function_with_generic_and_variadic_parameters(engine, cleanup):
    @udtf(params=["T..."], returns="T", per_row=True, null_on_null=False)
    def t_each(*values):
        return [v for v in values if v is not None]
    cleanup.append("T_EACH")

    rows = run(engine, "CREATE STREAM o AS SELECT id, t_each(n, 7, n) AS v FROM s;", {"n": 1}, {})
    assert rows == [{"V": 1}, {"V": 7}, {"V": 1}, {"V": 7}]
