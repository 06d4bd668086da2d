"""Session windows and the record cache, as ksqlDB (Kafka Streams) emits them.

- When sessions merge, the merged-away session is retracted with a tombstone for its own key
  and window: its value is null, so a push query shows no old values for it.
- With `cache.max.bytes.buffering` > 0 (ksqlDB's default, 10 MB), updates are coalesced and
  flushed at commit least recently updated first; a session that never left the cache emits
  nothing when merged away. With the cache off (QTT sets 0) every update is emitted."""
from __future__ import annotations

import time

from pyksqlite.facade.engine import Engine, TestRecord

DDL = "CREATE STREAM clicks (user STRING KEY, page STRING) WITH (kafka_topic='clicks', value_format='JSON', partitions=1);"
SESSIONS = "SELECT user, COUNT(*) AS n FROM clicks WINDOW SESSION (10 SECONDS) GROUP BY user"


def _engine(tmp_path, cache_bytes):
    return Engine(tmp_path, {"ksqlite.log.flush": "none", "auto.offset.reset": "earliest",
                             "cache.max.bytes.buffering": cache_bytes})


def _changelog(engine, topic):
    return [(r.key, r.value) for r in engine.read_topic_records(topic)]


def _records(*rows):
    return [TestRecord("clicks", user, {"page": "p"}, ts) for user, ts in rows]


def test_cache_off_emits_every_update_and_a_tombstone_for_the_merged_session(tmp_path):
    engine = _engine(tmp_path, 0)
    try:
        engine.execute(DDL)
        engine.execute(f"CREATE TABLE s AS {SESSIONS};")
        for record in _records(("a", 0), ("a", 20_000), ("a", 10_000)):   # the third bridges both
            engine.produce_test_records([record])
            engine.run_until_idle()
        values = [v for _, v in _changelog(engine, "S")]
        assert values == [{"N": 1}, {"N": 1}, None, None, {"N": 3}]
    finally:
        engine.close()


def test_cache_on_coalesces_and_orders_least_recently_updated_first(tmp_path):
    engine = _engine(tmp_path, 10_000_000)
    try:
        engine.execute(DDL)
        engine.execute(f"CREATE TABLE s AS {SESSIONS};")
        # one batch: b, a, b again, then a session of c merged with a later one of c
        engine.produce_test_records(_records(("b", 0), ("a", 0), ("b", 1000), ("c", 0), ("c", 20_000),
                                             ("c", 10_000)))
        engine.run_until_idle()
        assert [(k["user"] if isinstance(k, dict) else k, v) for k, v in _changelog(engine, "S")] == [
            ("a", {"N": 1}), ("b", {"N": 2}), ("c", {"N": 3})]
    finally:
        engine.close()


def test_cache_on_retracts_a_session_emitted_in_an_earlier_flush(tmp_path):
    engine = _engine(tmp_path, 10_000_000)
    try:
        engine.execute(DDL)
        engine.execute(f"CREATE TABLE s AS {SESSIONS};")
        engine.produce_test_records(_records(("a", 0), ("a", 20_000)))
        engine.run_until_idle()
        engine.produce_test_records(_records(("a", 10_000)))
        engine.run_until_idle()
        assert [v for _, v in _changelog(engine, "S")] == [{"N": 1}, {"N": 1}, None, None, {"N": 3}]
    finally:
        engine.close()


def test_a_push_query_shows_the_merged_away_session_as_a_tombstone(tmp_path):
    engine = _engine(tmp_path, 0)
    try:
        engine.execute(DDL)
        query = engine.push_query("SELECT user, WINDOWSTART AS ws, COUNT(*) AS n FROM clicks "
                                  "WINDOW SESSION (10 SECONDS) GROUP BY user EMIT CHANGES LIMIT 5;")
        engine.start()
        engine.produce_test_records(_records(("a", 0), ("a", 20_000), ("a", 10_000)))
        rows, deadline = [], time.monotonic() + 20
        while len(rows) < 5 and time.monotonic() < deadline:
            rows += query.poll(timeout=0.2)
        tombstones = [r for r in rows if r.tombstone]
        assert len(tombstones) == 2
        names = [c.name for c in query.columns]
        for row in tombstones:
            shown = dict(zip(names, row.values))
            assert shown["N"] is None and shown["USER"] == "a" and shown["WS"] in (0, 20_000)
        query.close()
    finally:
        engine.close()


def test_coalesced_aggregations_flush_least_recently_updated_first(tmp_path):
    """Both the general path (a string key) and the numpy path (an integer key)."""
    engine = _engine(tmp_path, 10_000_000)
    try:
        engine.execute("CREATE STREAM v (id INT KEY, name STRING, amount INT) "
                       "WITH (kafka_topic='v', value_format='JSON', partitions=1);")
        engine.execute("CREATE TABLE by_name AS SELECT name, COUNT(*) AS n FROM v GROUP BY name;")
        engine.execute("CREATE TABLE by_amount AS SELECT amount, COUNT(*) AS n FROM v GROUP BY amount;")
        rows = [("x", 1), ("y", 2), ("x", 1), ("z", 3), ("y", 2), ("w", 4)]
        engine.produce_test_records([TestRecord("v", i, {"name": n, "amount": a}, i) for i, (n, a) in enumerate(rows)])
        engine.run_until_idle()
        assert [k for k, _ in _changelog(engine, "BY_NAME")] == ["x", "z", "y", "w"]
        assert [k for k, _ in _changelog(engine, "BY_AMOUNT")] == [1, 3, 2, 4]
    finally:
        engine.close()
