"""Joins of windowed sources (matched on key and window, windowed results), a WHERE on a table
join result (tombstones only for keys emitted before), and the fused stream-table path (the same
rows as the unfused operators), on the real engine and log."""
from __future__ import annotations

from pyksqlite.facade.engine import Engine, TestRecord

PROPS = {"ksql.streams.auto.offset.reset": "earliest", "ksqlite.log.flush": "none"}


def open_engine(path) -> Engine:
    return Engine(str(path), dict(PROPS))


def outputs(engine: Engine, topic: str) -> list[tuple]:
    return [(r.key, r.value, r.timestamp, r.window and (r.window["start"], r.window["end"]))
            for r in engine.read_topic_records(topic)]


def run(engine: Engine, statements: list[str], records: list[TestRecord], one_at_a_time: bool = False):
    for statement in statements:
        engine.execute(statement)
    batches = [[r] for r in records] if one_at_a_time else [records]
    for batch in batches:
        engine.produce_test_records(batch)
        engine.run_until_idle()


WINDOWED_AGGREGATE_JOIN = [
    "CREATE STREAM clicks (user STRING KEY, page STRING) WITH (kafka_topic='clicks', value_format='JSON');",
    "CREATE TABLE counts AS SELECT user, COUNT(*) AS n FROM clicks WINDOW TUMBLING (SIZE 10 SECONDS) GROUP BY user;",
    "CREATE STREAM alerts (user STRING KEY, level INT) WITH (kafka_topic='alerts', value_format='JSON', "
    "window_type='TUMBLING', window_size='10 SECONDS');",
    "CREATE STREAM enriched AS SELECT a.user, a.level, c.n, c.WINDOWSTART AS counted_from "
    "FROM alerts a JOIN counts c ON a.user = c.user;",
]
WINDOWED_AGGREGATE_RECORDS = [
    TestRecord("clicks", "u1", {"page": "a"}, 1000),
    TestRecord("clicks", "u1", {"page": "b"}, 2000),
    TestRecord("clicks", "u1", {"page": "c"}, 12000),
    TestRecord("alerts", "u1", {"level": 1}, 3000, window={"start": 0, "end": 10000, "type": "time"}),
    TestRecord("alerts", "u1", {"level": 2}, 13000, window={"start": 10000, "end": 20000, "type": "time"}),
    TestRecord("alerts", "u1", {"level": 3}, 23000, window={"start": 20000, "end": 30000, "type": "time"}),
]


def test_windowed_stream_joins_windowed_aggregate_on_key_and_window(tmp_path):
    for one_at_a_time in (False, True):
        engine = open_engine(tmp_path / str(one_at_a_time))
        for topic in ("clicks", "alerts"):
            engine.create_topic(topic)
        run(engine, WINDOWED_AGGREGATE_JOIN, WINDOWED_AGGREGATE_RECORDS, one_at_a_time)
        assert outputs(engine, "ENRICHED") == [
            ("u1", {"LEVEL": 1, "N": 2, "COUNTED_FROM": 0}, 3000, (0, 10000)),
            ("u1", {"LEVEL": 2, "N": 1, "COUNTED_FROM": 10000}, 13000, (10000, 20000)),
        ]
        assert engine.describe_source("ENRICHED")["windowType"] == "TUMBLING"
        engine.close()


def test_stream_stream_join_of_session_windowed_streams_needs_the_same_session(tmp_path):
    engine = open_engine(tmp_path)
    for topic in ("left_topic", "right_topic"):
        engine.create_topic(topic)
    statements = [
        "CREATE STREAM s1 (id INT KEY, v BIGINT) WITH (kafka_topic='left_topic', value_format='JSON', "
        "window_type='SESSION');",
        "CREATE STREAM s2 (id INT KEY, v BIGINT) WITH (kafka_topic='right_topic', value_format='JSON', "
        "window_type='SESSION');",
        "CREATE STREAM output AS SELECT * FROM s1 JOIN s2 WITHIN 1 MINUTE ON s1.id = s2.id;",
    ]
    session = lambda start, end: {"start": start, "end": end, "type": "session"}  # noqa: E731
    run(engine, statements, [
        TestRecord("left_topic", 1, {"V": 1}, 765, window=session(234, 765)),
        TestRecord("right_topic", 1, {"V": 2}, 567, window=session(234, 567)),
        TestRecord("right_topic", 1, {"V": 3}, 765, window=session(234, 765)),
    ])
    assert outputs(engine, "OUTPUT") == [
        (1, {"S1_WINDOWSTART": 234, "S1_WINDOWEND": 765, "S1_V": 1, "S2_ID": 1, "S2_WINDOWSTART": 234,
             "S2_WINDOWEND": 765, "S2_V": 3}, 765, (234, 765))]
    engine.close()


TABLE_JOIN_WITH_WHERE = [
    "CREATE TABLE l (id BIGINT PRIMARY KEY, name VARCHAR, value BIGINT) WITH (kafka_topic='l', value_format='JSON');",
    "CREATE TABLE r (id BIGINT PRIMARY KEY, f BIGINT) WITH (kafka_topic='r', value_format='JSON');",
    "CREATE TABLE output AS SELECT l.id, name, f FROM l JOIN r ON l.id = r.id WHERE l.value > 10 AND r.f > 5;",
]
TABLE_JOIN_RECORDS = [
    TestRecord("l", 0, {"NAME": "zero", "VALUE": 0}, 0),
    TestRecord("r", 0, {"F": 4}, 1),           # joins, fails the WHERE, never emitted: nothing
    TestRecord("l", 0, {"NAME": "foo", "VALUE": 100}, 2),
    TestRecord("r", 0, {"F": 10}, 3),          # passes: emitted
    TestRecord("l", 0, {"NAME": "bar", "VALUE": 1}, 4),   # stops passing: a tombstone
    TestRecord("l", 0, {"NAME": "baz", "VALUE": 2}, 5),   # still failing, already deleted: nothing
    TestRecord("r", 0, None, 6),               # the join row goes, nothing was emitted live: nothing
    TestRecord("l", 7, {"NAME": "seven", "VALUE": 70}, 7),
    TestRecord("r", 7, {"F": 70}, 8),          # emitted
    TestRecord("r", 7, None, 9),               # the join deletes an emitted row: a tombstone
]
TABLE_JOIN_EXPECTED = [
    (0, {"NAME": "foo", "F": 10}, 3, None),
    (0, None, 4, None),
    (7, {"NAME": "seven", "F": 70}, 8, None),
    (7, None, 9, None),
]


def test_where_on_table_join_emits_tombstones_only_for_emitted_keys(tmp_path):
    for one_at_a_time in (False, True):
        engine = open_engine(tmp_path / str(one_at_a_time))
        for topic in ("l", "r"):
            engine.create_topic(topic)
        run(engine, TABLE_JOIN_WITH_WHERE, TABLE_JOIN_RECORDS, one_at_a_time)
        assert outputs(engine, "OUTPUT") == TABLE_JOIN_EXPECTED
        engine.close()


def test_where_on_table_join_remembers_emitted_keys_across_restart(tmp_path):
    engine = open_engine(tmp_path)
    for topic in ("l", "r"):
        engine.create_topic(topic)
    run(engine, TABLE_JOIN_WITH_WHERE, TABLE_JOIN_RECORDS[:4])
    engine.close()
    engine = open_engine(tmp_path)
    engine.produce_test_records(TABLE_JOIN_RECORDS[4:])
    engine.run_until_idle()
    assert outputs(engine, "OUTPUT") == TABLE_JOIN_EXPECTED
    engine.close()


ENRICH = [
    "CREATE STREAM bids (id BIGINT KEY, auction BIGINT, price BIGINT, note STRING) "
    "WITH (kafka_topic='bids', value_format='JSON');",
    "CREATE TABLE auctions (id BIGINT PRIMARY KEY, seller STRING) WITH (kafka_topic='auctions', value_format='JSON');",
    "CREATE STREAM enriched AS SELECT b.auction, b.id AS bid, price, seller FROM bids b "
    "LEFT JOIN auctions a ON b.auction = a.id WHERE price > 5;",
]


BID_RECORDS = [
    # Clean records: the fused statement.
    [TestRecord("bids", i, {"auction": 1 + i % 3, "price": i, "note": "x"}, 10 + i) for i in range(10)],
    # Records it cannot vouch for (a fractional number, a null join key, other spellings): the
    # batch goes the exact way.
    [TestRecord("bids", 20, {"auction": 2, "price": 7.5}, 30), TestRecord("bids", 21, {"auction": None, "price": 9}, 31),
     TestRecord("bids", 22, {"AUCTION": 1, "PRICE": 8}, 32)],
    # A batch mixing table updates and stream records: the exact way, in timestamp order.
    [TestRecord("auctions", 3, {"SELLER": "cy"}, 40), TestRecord("bids", 23, {"auction": 3, "price": 6}, 41)],
    [TestRecord("bids", 24, {"auction": 3, "price": 60}, 50)],
]


def _enriched_rows(path, fused: bool, monkeypatch) -> list[tuple]:
    from pyksqlite.operators.join_fused import FusedStreamTableJoin
    if not fused:
        monkeypatch.setattr(FusedStreamTableJoin, "applies_to", staticmethod(lambda joins: False))
    engine = open_engine(path)
    for topic in ("bids", "auctions"):
        engine.create_topic(topic)
    run(engine, ENRICH, [TestRecord("auctions", 1, {"SELLER": "ann"}, 0),
                         TestRecord("auctions", 2, {"SELLER": "bob"}, 0)])
    assert isinstance(_plan_relation(engine), FusedStreamTableJoin) == fused
    for batch in BID_RECORDS:
        engine.produce_test_records(batch)
        engine.run_until_idle()
    rows = [(r.key, r.value, r.timestamp) for r in engine.read_topic_records("ENRICHED")]
    engine.close()
    monkeypatch.undo()
    return rows


def test_fused_stream_table_join_gives_the_rows_of_the_exact_path(tmp_path, monkeypatch):
    fused = _enriched_rows(tmp_path / "fused", True, monkeypatch)
    assert fused == _enriched_rows(tmp_path / "exact", False, monkeypatch)
    # WHERE price > 5; a null join key joins nothing; the LEFT join keeps bids of unknown auctions.
    assert [row[1]["BID"] for row in fused] == [6, 7, 8, 9, 20, 22, 23, 24]
    assert fused[2] == (3, {"BID": 8, "PRICE": 8, "SELLER": None}, 18)
    assert fused[-1] == (3, {"BID": 24, "PRICE": 60, "SELLER": "cy"}, 50)


def _plan_relation(engine: Engine):
    (task,) = engine.scheduler.tasks.values()
    return task.plan.relation
