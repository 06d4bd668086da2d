"""Table-driven tests of the QTT comparison rules (reference 6.3 "How outputs are compared")."""
from decimal import Decimal
from types import SimpleNamespace

import pytest

from pyksqlite.shell.runners.qtt_compare import (blacklist_mismatch, parse_schema, record_mismatch,
                                       records_mismatch, source_mismatch, values_match)

VALUE_CASES = [
    # (expected, actual, matches)
    (None, None, True),
    (None, 0, False),
    (0, None, False),
    (1, 1, True),
    (1, 2, False),
    (1, True, False),
    (True, True, True),
    (True, 1, False),
    (False, False, True),
    (1, 1.0, True),
    (Decimal("1.5"), 1.5000000001, True),
    (Decimal("1.5"), 1.50001, False),
    (Decimal("1.5"), 1, False),
    (3, Decimal("3"), True),
    (3, Decimal("3.0"), False),
    (Decimal("1.10"), Decimal("1.10"), True),
    (Decimal("1.10"), Decimal("1.1"), False),
    (Decimal("1.1"), Decimal("1.1"), True),
    ("1.10", Decimal("1.10"), True),
    ("1.10", Decimal("1.100"), False),
    ("abc", Decimal("1"), False),
    ("abc", "abc", True),
    ("abc", "ABC", False),
    ("AQID", b"\x01\x02\x03", True),
    ("AQIE", b"\x01\x02\x03", False),
    ("1", 1, False),
    ([1, 2], [1, 2], True),
    ([1, 2], [2, 1], False),
    ([1, 2], [1], False),
    ([1, None], [1, None], True),
    ([], [], True),
    ({"A": 1}, {"A": 1}, True),
    ({"a": 1}, {"A": 1}, True),
    ({"a": 1}, {"a": 1}, True),
    ({"A": 1}, {"A": 1, "B": 2}, False),
    ({"A": 1, "B": None}, {"A": 1}, False),
    ({"A": 1}, {"B": 1}, False),
    ({"A": {"B": [Decimal("0.5")]}}, {"A": {"B": [0.5]}}, True),
    ({"A": 1}, [1], False),
    ("100,5", "100,5", True),
]


@pytest.mark.parametrize("expected, actual, matches", VALUE_CASES)
def test_values_match(expected, actual, matches):
    assert values_match(expected, actual) is matches


def record(key=None, value=None, timestamp=0, headers=None, window=None):
    return SimpleNamespace(key=key, value=value, timestamp=timestamp, headers=headers, window=window)


RECORD_CASES = [
    # (expected, actual, had_inputs, problem substring or None)
    ({"key": 1, "value": {"V": 2}}, record(1, {"V": 2}, 99), True, None),
    ({"value": {"V": 2}}, record(None, {"V": 2}), True, None),
    ({"key": 1, "value": {"V": 2}}, record(2, {"V": 2}), True, "key"),
    ({"key": 1, "value": None}, record(1, None), True, None),
    ({"key": 1, "value": None}, record(1, {}), True, "value"),
    ({"key": 1, "value": 2, "timestamp": 5}, record(1, 2, 5), True, None),
    ({"key": 1, "value": 2, "timestamp": 5}, record(1, 2, 6), True, "timestamp"),
    ({"key": 1, "value": 2, "timestamp": 0}, record(1, 2, 6), False, None),
    ({"key": 1, "value": 2, "timestamp": 0}, record(1, 2, 6), True, "timestamp"),
    ({"key": 1, "value": 2, "window": {"start": 0, "end": 10, "type": "time"}},
     record(1, 2, window={"start": 0, "end": 10, "type": "TIME"}), True, None),
    ({"key": 1, "value": 2, "window": {"start": 0, "end": 10, "type": "time"}},
     record(1, 2, window={"start": 0, "end": 20, "type": "time"}), True, "window"),
    ({"key": 1, "value": 2, "window": {"start": 0, "end": 10, "type": "session"}},
     record(1, 2, window={"start": 0, "end": 10, "type": "time"}), True, "window"),
    ({"key": 1, "value": 2}, record(1, 2, window={"start": 0, "end": 10, "type": "time"}), True, "window"),
    ({"key": 1, "value": 2, "headers": [{"KEY": "a", "VALUE": "IQ=="}]},
     record(1, 2, headers=[{"KEY": "a", "VALUE": "IQ=="}]), True, None),
    ({"key": 1, "value": 2, "headers": [{"key": "a", "value": "IQ=="}]},
     record(1, 2, headers=[{"KEY": "a", "VALUE": b"!"}]), True, None),
    ({"key": 1, "value": 2, "headers": [{"KEY": "a", "VALUE": "IQ=="}]},
     record(1, 2, headers=[{"KEY": "b", "VALUE": "IQ=="}]), True, "headers"),
    ({"key": 1, "value": 2, "headers": []}, record(1, 2, headers=None), True, None),
    ({"key": 1, "value": 2}, record(1, 2, headers=[{"KEY": "x", "VALUE": None}]), True, None),
]


@pytest.mark.parametrize("expected, actual, had_inputs, problem", RECORD_CASES)
def test_record_mismatch(expected, actual, had_inputs, problem):
    found = record_mismatch(expected, actual, had_inputs)
    if problem is None:
        assert found is None
    else:
        assert found and problem in found


def test_records_compared_in_order_with_equal_counts():
    expected = [{"key": 1, "value": 1}, {"key": 2, "value": 2}]
    assert records_mismatch("T", expected, [record(1, 1), record(2, 2)], True) is None
    assert "record 0" in records_mismatch("T", expected, [record(2, 2), record(1, 1)], True)
    assert "expected 2 records, got 1" in records_mismatch("T", expected, [record(1, 1)], True)
    assert "got 3" in records_mismatch("T", expected, [record(1, 1), record(2, 2), record(3, 3)], True)


SCHEMA_CASES = [
    ("ID INT KEY, NAME STRING",
     [("ID", ("INTEGER",), "KEY"), ("NAME", ("STRING",), None)]),
    ("`id` VARCHAR KEY, V BIGINT",
     [("id", ("STRING",), "KEY"), ("V", ("BIGINT",), None)]),
    ("C1 STRUCT<F1 INT, `f2` ARRAY<STRING>>",
     [("C1", ("STRUCT", (("F1", ("INTEGER",)), ("f2", ("ARRAY", ("STRING",))))), None)]),
    ("FOO MAP<STRING, INT>, DEC DECIMAL(6,4)",
     [("FOO", ("MAP", ("INTEGER",)), None), ("DEC", ("DECIMAL", 6, 4), None)]),
    ("K STRING KEY, H ARRAY<STRUCT<KEY STRING, VALUE BYTES>> HEADERS, B BYTES HEADER('b')",
     [("K", ("STRING",), "KEY"),
      ("H", ("ARRAY", ("STRUCT", (("KEY", ("STRING",)), ("VALUE", ("BYTES",))))), "HEADER"),
      ("B", ("BYTES",), "HEADER")]),
    ("E STRUCT<>", [("E", ("STRUCT", ()), None)]),
]


@pytest.mark.parametrize("text, columns", SCHEMA_CASES)
def test_parse_schema(text, columns):
    parsed = [(c["name"], c["type"], c["field_type"]) for c in parse_schema(text)]
    assert parsed == columns


def field(name, schema, field_type=None):
    entry = {"name": name, "schema": schema}
    if field_type:
        entry["fieldType"] = field_type
    return entry


DESCRIPTION = {
    "name": "OUTPUT", "type": "TABLE", "keyFormat": "KAFKA", "valueFormat": "JSON",
    "windowType": "TUMBLING",
    "fields": [
        field("ID", {"type": "INTEGER"}, "KEY"),
        field("S", {"type": "STRUCT", "fields": [field("A", {"type": "STRING"})]}),
        field("M", {"type": "MAP", "memberSchema": {"type": "BIGINT"}}),
        field("D", {"type": "DECIMAL", "parameters": {"precision": 6, "scale": 4}}),
    ],
}
SCHEMA = "ID INT KEY, S STRUCT<A VARCHAR>, M MAP<STRING, BIGINT>, D DECIMAL(6,4)"

SOURCE_CASES = [
    ({"name": "OUTPUT", "type": "table", "schema": SCHEMA}, None),
    ({"name": "OUTPUT", "type": "stream", "schema": SCHEMA}, "type"),
    ({"name": "OUTPUT", "type": "table", "schema": SCHEMA.replace("ID INT KEY", "ID INT")}, "schema"),
    ({"name": "OUTPUT", "type": "table", "schema": SCHEMA.replace("A VARCHAR", "A INT")}, "schema"),
    ({"name": "OUTPUT", "type": "table", "schema": SCHEMA.replace("(6,4)", "(6,2)")}, "schema"),
    ({"name": "OUTPUT", "type": "table", "schema": "ID INT KEY"}, "schema"),
    ({"name": "OUTPUT", "type": "table", "keyFormat": {"format": "KAFKA"}}, None),
    ({"name": "OUTPUT", "type": "table", "keyFormat": {"format": "JSON"}}, "key format"),
    ({"name": "OUTPUT", "type": "table", "keyFormat": {"format": "KAFKA", "windowType": "TUMBLING"}}, None),
    ({"name": "OUTPUT", "type": "table", "keyFormat": {"format": "KAFKA", "windowType": "HOPPING"}}, "window"),
    ({"name": "OUTPUT", "type": "table", "valueFormat": "JSON"}, None),
    ({"name": "OUTPUT", "type": "table", "valueFormat": "AVRO"}, "value format"),
]


@pytest.mark.parametrize("expected, problem", SOURCE_CASES)
def test_source_mismatch(expected, problem):
    found = source_mismatch(expected, DESCRIPTION)
    if problem is None:
        assert found is None
    else:
        assert found and problem in found


def test_blacklist_matches_whole_names():
    topics = ["INPUT", "OUTPUT", "_confluent-ksql-x-Join-repartition"]
    assert blacklist_mismatch(".*-repartition", topics)
    assert blacklist_mismatch(".*-repartition", topics[:2]) is None
    assert blacklist_mismatch("PUT", topics) is None
