"""Struct field names with quotes, as the fuzz suite's attacks write them: a name is data, never SQL
(issue 12 item 1: every name reaches DuckDB SQL through engine.duck's quoting)."""
from __future__ import annotations

import pytest

from pyksqlite.facade.engine import Engine

@pytest.fixture
def engine(tmp_path):
    engine = Engine(tmp_path / "data", properties={"ksqlite.log.flush": "none"})
    yield engine
    engine.close()


@pytest.mark.parametrize("name", ["a'", "a''b", "x') || ('y", "a;b", "a--b"])
def test_a_quoted_struct_field_name_is_only_a_name(engine, name):
    quoted = name.replace("`", "``")
    engine.execute(f"CREATE STREAM x (id INT KEY, s STRUCT<`{quoted}` INT>) "
                   "WITH (kafka_topic='x', partitions=1, value_format='JSON');"
                   f"INSERT INTO x (id, s) VALUES (1, STRUCT(`{quoted}` := 5));")
    assert engine.pull_query(f"SELECT s->`{quoted}` AS v FROM x;").rows == [[5]]


def test_a_struct_field_name_cannot_read_a_file(engine, tmp_path):
    canary = tmp_path / "canary.txt"
    canary.write_text("CANARY-CONTENT")
    name = f"a') || (SELECT content FROM read_text('{canary}')) || ('"
    quoted = name.replace("`", "``")
    engine.execute(f"CREATE STREAM x (id INT KEY, s STRUCT<`{quoted}` STRING>) "
                   "WITH (kafka_topic='x', partitions=1, value_format='JSON');"
                   f"INSERT INTO x (id, s) VALUES (1, STRUCT(`{quoted}` := 'v'));")
    rows = engine.pull_query(f"SELECT s->`{quoted}` AS v FROM x;").rows
    assert rows == [["v"]] and "CANARY" not in str(rows)
