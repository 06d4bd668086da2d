"""CREATE OR REPLACE upgrades a query in place, as ksqlDB does: the query keeps its id (so its
consumer group and state) and continues from the committed offsets without reprocessing earlier
input; compatible changes (the projection, WHERE, HAVING) are accepted, changes of the source,
the key, the window, the aggregation or the sink's topic, formats or partitions are rejected and
change nothing; a restart replays both statements to the same query id and position."""
from __future__ import annotations

import pytest

from pyksqlite.facade.engine import Engine, TestRecord
from pyksqlite.common.errors import KsqlException

PROPS = {"ksqlite.log.flush": "none", "auto.offset.reset": "earliest", "cache.max.bytes.buffering": 0}
DDL = ("CREATE STREAM purchases (id INT KEY, cost DOUBLE, quantity INT) "
       "WITH (kafka_topic='purchases', value_format='JSON', partitions=1);")


def _produce(engine, *rows):
    engine.produce_test_records([TestRecord("purchases", i, {"cost": c, "quantity": q}) for i, c, q in rows])
    engine.run_until_idle()


def _values(engine, topic):
    return [(r.key, r.value) for r in engine.read_topic_records(topic)]


def test_replace_keeps_the_query_id_and_does_not_reprocess(tmp_path):
    engine = Engine(tmp_path, PROPS)
    try:
        engine.execute(DDL)
        created = engine.execute("CREATE STREAM valid AS SELECT * FROM purchases WHERE cost > 0 AND quantity > 0;")
        query_id = created[0].entity["commandStatus"]["queryId"] if "commandStatus" in created[0].entity else None
        _produce(engine, (1, 5.0, 1), (2, 0.0, 1))
        assert _values(engine, "VALID") == [(1, {"COST": 5.0, "QUANTITY": 1})]
        engine.execute("CREATE OR REPLACE STREAM valid AS SELECT * FROM purchases WHERE quantity > 0;")
        assert list(engine.catalog.queries) == ["CSAS_VALID_0"] and (query_id in (None, "CSAS_VALID_0"))
        _produce(engine, (3, 0.0, 2))
        # record 2 is not reprocessed under the new filter; record 3 is processed by it
        assert _values(engine, "VALID") == [(1, {"COST": 5.0, "QUANTITY": 1}), (3, {"COST": 0.0, "QUANTITY": 2})]
    finally:
        engine.close()


def test_projection_columns_may_be_added_and_removed(tmp_path):
    engine = Engine(tmp_path, PROPS)
    try:
        engine.execute(DDL)
        engine.execute("CREATE STREAM out AS SELECT id, cost FROM purchases;")
        _produce(engine, (1, 1.0, 1))
        engine.execute("CREATE OR REPLACE STREAM out AS SELECT id, cost, quantity FROM purchases;")
        _produce(engine, (2, 2.0, 2))
        engine.execute("CREATE OR REPLACE STREAM out AS SELECT id, quantity FROM purchases;")
        _produce(engine, (3, 3.0, 3))
        assert _values(engine, "OUT") == [(1, {"COST": 1.0}), (2, {"COST": 2.0, "QUANTITY": 2}), (3, {"QUANTITY": 3})]
        assert list(engine.catalog.queries) == ["CSAS_OUT_0"]
    finally:
        engine.close()


@pytest.mark.parametrize("replacement, message", [
    ("CREATE OR REPLACE STREAM out AS SELECT id, cost FROM other;", "its source cannot change in place"),
    ("CREATE OR REPLACE STREAM out AS SELECT id, cost FROM purchases PARTITION BY cost;", "Cannot upgrade data source"),
    ("CREATE OR REPLACE STREAM out WITH (kafka_topic='elsewhere') AS SELECT id, cost FROM purchases;",
     "has topic = OUT which is not upgrade compatible with elsewhere"),
    ("CREATE OR REPLACE STREAM out WITH (value_format='DELIMITED') AS SELECT id, cost FROM purchases;",
     "has valueFormat = JSON which is not upgrade compatible with DELIMITED"),
    ("CREATE OR REPLACE STREAM out WITH (partitions=3) AS SELECT id, cost FROM purchases;",
     "has partitions = 1 which is not upgrade compatible with 3"),
    ("CREATE OR REPLACE STREAM out AS SELECT id, CAST(cost AS STRING) AS cost FROM purchases;",
     "has schema ="),
])
def test_incompatible_changes_are_rejected_and_change_nothing(tmp_path, replacement, message):
    engine = Engine(tmp_path, PROPS)
    try:
        engine.execute(DDL)
        engine.execute("CREATE STREAM other (id INT KEY, cost DOUBLE) WITH (kafka_topic='other', value_format='JSON', partitions=1);")
        engine.execute("CREATE STREAM out AS SELECT id, cost FROM purchases;")
        with pytest.raises(KsqlException, match=message):
            engine.execute(replacement)
        assert engine.catalog.queries["CSAS_OUT_0"].statement_text.startswith("CREATE STREAM out")
        _produce(engine, (1, 1.0, 1))
        assert _values(engine, "OUT") == [(1, {"COST": 1.0})]
    finally:
        engine.close()


def test_aggregations_keep_their_state_and_reject_shape_changes(tmp_path):
    engine = Engine(tmp_path, PROPS)
    try:
        engine.execute(DDL)
        engine.execute("CREATE TABLE totals AS SELECT id, COUNT(*) AS n FROM purchases GROUP BY id;")
        _produce(engine, (1, 1.0, 1), (1, 1.0, 1))
        engine.execute("CREATE OR REPLACE TABLE totals AS SELECT id, COUNT(*) AS n FROM purchases "
                       "GROUP BY id HAVING COUNT(*) > 2;")
        _produce(engine, (1, 1.0, 1))
        assert _values(engine, "TOTALS")[-1] == (1, {"N": 3})       # the count went on from 2
        for changed, what in (("COUNT(quantity) AS n", "aggregations"), ("COUNT(*) AS n FROM purchases "
                              "WINDOW TUMBLING (SIZE 1 HOUR)", "window")):
            statement = (f"CREATE OR REPLACE TABLE totals AS SELECT id, {changed} "
                         + ("FROM purchases " if "FROM" not in changed else "") + "GROUP BY id;")
            with pytest.raises(KsqlException, match=what):
                engine.execute(statement)
    finally:
        engine.close()


def test_restart_replays_to_the_same_query_and_position(tmp_path):
    engine = Engine(tmp_path, PROPS)
    engine.execute(DDL)
    engine.execute("CREATE STREAM valid AS SELECT * FROM purchases WHERE cost > 0;")
    _produce(engine, (1, 5.0, 1))
    engine.execute("CREATE OR REPLACE STREAM valid AS SELECT * FROM purchases WHERE quantity > 0;")
    _produce(engine, (2, 0.0, 1))
    engine.close()
    restarted = Engine(tmp_path, PROPS)
    try:
        assert list(restarted.catalog.queries) == ["CSAS_VALID_0"]
        assert "quantity > 0" in restarted.catalog.queries["CSAS_VALID_0"].statement_text
        _produce(restarted, (3, 0.0, 3))
        assert [k for k, _ in _values(restarted, "VALID")] == [1, 2, 3]   # nothing processed twice
    finally:
        restarted.close()
