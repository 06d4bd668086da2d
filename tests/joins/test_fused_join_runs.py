"""The fused stream-table join on a fetch that mixes table updates and stream records: the rows
are cut into runs in processing order (event-time order across partitions), table runs update
the state, stream runs are probed in one statement; the rows are those of the unfused operators."""
from __future__ import annotations

import pytest

from pyksqlite.facade.engine import Engine, TestRecord
from pyksqlite.operators.join_fused import FusedStreamTableJoin

PROPS = {"ksql.streams.auto.offset.reset": "earliest", "ksqlite.log.flush": "none"}

ENRICH = [
    "CREATE STREAM bids (id BIGINT KEY, auction BIGINT, price BIGINT, ts BIGINT) "
    "WITH (kafka_topic='bids', value_format='JSON', timestamp='ts');",
    "CREATE TABLE auctions (id BIGINT PRIMARY KEY, seller STRING) WITH (kafka_topic='auctions', value_format='JSON');",
    "CREATE STREAM enriched AS SELECT b.auction, b.id AS bid, price, seller FROM bids b "
    "{join} JOIN auctions a ON b.auction = a.id WHERE price > 5;",
]


def bid(key: int, auction, price: int, ts: int, headers=None) -> TestRecord:
    # The record's own timestamp disagrees with `ts`, the event time the stream reads.
    return TestRecord("bids", key, {"auction": auction, "price": price, "ts": ts}, 1_000 - ts, headers=headers)


def auction(key: int, seller, ts: int) -> TestRecord:
    return TestRecord("auctions", key, None if seller is None else {"SELLER": seller}, ts)


# One poll: table updates between bids in event time, in an order of production that differs.
MIXED = [
    bid(1, 1, 10, 5), auction(1, "ann", 0), bid(2, 1, 11, 15), auction(1, "amy", 10),
    auction(2, "bob", 20), bid(3, 2, 12, 25), bid(4, 1, 13, 35), auction(1, None, 30),
    bid(5, 2, 3, 45), bid(6, 2, 14, 55, headers=[{"KEY": "h", "VALUE": "dg=="}]), auction(2, "bea", 50),
    bid(7, 3, 15, 65),
]


def enriched(path, join: str, fused: bool, batches: list[list[TestRecord]], monkeypatch) -> tuple[list, list]:
    """The sink's rows, and the sizes of the stream runs the fused operator sent the exact way."""
    if not fused:
        monkeypatch.setattr(FusedStreamTableJoin, "applies_to", staticmethod(lambda joins: False))
    fallbacks = []
    exact = FusedStreamTableJoin._exact_run
    monkeypatch.setattr(FusedStreamTableJoin, "_exact_run",
                        lambda self, rows: fallbacks.append(rows.num_rows) or exact(self, rows))
    engine = Engine(str(path), dict(PROPS))
    for topic in ("bids", "auctions"):
        engine.create_topic(topic, partitions=2)
    for statement in ENRICH:
        engine.execute(statement.format(join=join))
    for batch in batches:
        engine.produce_test_records(batch)
        engine.run_until_idle()
    rows = [(r.key, r.value, r.timestamp, r.headers) for r in engine.read_topic_records("ENRICHED")]
    engine.close()
    monkeypatch.undo()
    return rows, fallbacks


@pytest.mark.parametrize("join", ["LEFT", "INNER"])
def test_mixed_batch_runs_give_the_rows_of_the_exact_path(tmp_path, monkeypatch, join):
    fused, fallbacks = enriched(tmp_path / "fused", join, True, [MIXED], monkeypatch)
    assert fallbacks == []
    assert fused == enriched(tmp_path / "exact", join, False, [MIXED], monkeypatch)[0]
    by_bid = {row[1]["BID"]: row[1]["SELLER"] for row in fused}
    if join == "LEFT":
        # Each bid sees the table as of its event time; bid 5 fails the WHERE.
        assert by_bid == {1: "ann", 2: "amy", 3: "bob", 4: None, 6: "bea", 7: None}
    else:
        assert by_bid == {1: "ann", 2: "amy", 3: "bob", 6: "bea"}
    assert [row[3] for row in fused if row[1]["BID"] == 6] == [[{"KEY": "h", "VALUE": "dg=="}]]


def test_mixed_batch_then_stream_batches(tmp_path, monkeypatch):
    batches = [MIXED, [bid(8, 1, 20, 70), bid(9, 2, 21, 75)], [auction(1, "cat", 80), bid(10, 1, 22, 85)]]
    fused, fallbacks = enriched(tmp_path / "fused", "LEFT", True, batches, monkeypatch)
    assert fallbacks == []
    assert fused == enriched(tmp_path / "exact", "LEFT", False, batches, monkeypatch)[0]
    assert [(row[1]["BID"], row[1]["SELLER"]) for row in fused[-3:]] == [(8, None), (9, "bea"), (10, "cat")]


def test_a_doubtful_stream_record_sends_the_stream_records_of_its_fetch_the_exact_way(tmp_path, monkeypatch):
    doubtful = [*MIXED, TestRecord("bids", 11, {"auction": 2, "price": 7.5, "ts": 90}, 0)]
    fused, fallbacks = enriched(tmp_path / "fused", "LEFT", True, [doubtful], monkeypatch)
    assert sum(fallbacks) == sum(1 for record in doubtful if record.topic == "bids")
    assert fused == enriched(tmp_path / "exact", "LEFT", False, [doubtful], monkeypatch)[0]
