"""The embedded datagen connector: the quickstarts' fields and types, reproducible runs with a
seed, positions that survive a restart, registry formats, and the demo's bounded runs."""
from __future__ import annotations

import orjson
import pytest

from pyksqlite.common.errors import KsqlException
from pyksqlite.connect.quickstarts import QUICKSTARTS
from tests.connect.conftest import datagen, restart

FIELDS = {
    "users": ["registertime", "userid", "regionid", "gender"],
    "pageviews": ["viewtime", "userid", "pageid"],
    "orders": ["ordertime", "orderid", "itemid", "orderunits", "address"],
    "ratings": ["rating_id", "user_id", "stars", "route_id", "rating_time", "channel", "message"],
    "clickstream": ["ip", "userid", "remote_user", "_time", "time", "request", "status", "bytes", "referrer", "agent"],
    "clickstream_users": ["user_id", "username", "registered_at", "first_name", "last_name", "city", "level"],
    "stock_trades": ["side", "quantity", "symbol", "price", "account", "userid"],
    "inventory": ["id", "quantity", "productid"],
    "product": ["id", "name", "description", "price"],
    "purchases": ["id", "quantity", "productid", "total"],
    "transactions": ["transaction_id", "card_id", "user_id", "purchase_id", "store_id"],
    "credit_cards": ["card_id", "card_number", "cvv", "expiration_date"],
    "stores": ["store_id", "city", "country"],
    "campaign_finance": ["time", "cand_id", "party_affiliation", "contribution"],
}


def values(engine, topic):
    return [r.value for r in engine.read_topic_records(topic)]


@pytest.mark.parametrize("quickstart", sorted(FIELDS))
def test_each_quickstart_writes_its_published_fields(make_engine, quickstart):
    engine = make_engine()
    engine.execute(datagen("gen", "t", quickstart, 20))
    engine.run_until_idle(timeout=30)
    records = engine.log.read("t", 0, 0)
    assert records.num_rows == 20
    import orjson
    first = orjson.loads(records.column("value")[0].as_py())
    assert list(first) == FIELDS[quickstart]
    key_field = QUICKSTARTS[quickstart][1]
    assert records.column("key")[0].as_py().decode() == str(first[key_field])


def test_a_stream_reads_pageviews_with_its_types(make_engine):
    engine = make_engine()
    engine.execute(datagen("gen", "pageviews", "pageviews", 30))
    engine.execute("CREATE STREAM pv (viewtime BIGINT, userid STRING, pageid STRING) "
                   "WITH (kafka_topic='pageviews', value_format='JSON');")
    engine.execute("CREATE TABLE per_user AS SELECT userid, COUNT(*) AS n FROM pv GROUP BY userid;")
    engine.run_until_idle(timeout=30)
    rows = values(engine, "pageviews")
    assert [r["viewtime"] for r in rows] == [1 + 10 * i for i in range(30)]
    assert all(r["userid"].startswith("User_") and r["pageid"].startswith("Page_") for r in rows)
    assert sum(n for _, n in engine.pull_query("SELECT * FROM per_user;").rows) == 30


def test_a_seed_makes_a_run_reproducible(make_engine, tmp_path):
    first = make_engine()
    first.execute(datagen("a", "one", "orders", 2500, seed=7))
    first.execute(datagen("b", "two", "orders", 2500, seed=7))
    first.execute(datagen("c", "three", "orders", 2500, seed=8))
    first.run_until_idle(timeout=30)
    one, two, three = (first.log.read(t, 0, 0, 10_000).column("value") for t in ("one", "two", "three"))
    assert len(one) == 2500
    assert one.to_pylist() == two.to_pylist()
    assert one.to_pylist() != three.to_pylist()


def test_a_restart_resumes_from_the_stored_position(make_engine, monkeypatch):
    from pyksqlite.connect import datagen as datagen_module
    monkeypatch.setattr(datagen_module, "MAX_PER_STEP", 700)   # stop part-way, across a block
    engine = make_engine()
    engine.execute(datagen("gen", "t", "ratings", 3000, seed=3))
    engine.scheduler.step_all()
    engine.scheduler.step_all()
    written = engine.log.end_offsets("t")[0]
    assert 0 < written < 3000
    engine = restart(engine, make_engine)
    engine.run_until_idle(timeout=30)
    ids = [orjson.loads(v)["rating_id"] for v in engine.log.read("t", 0, 0, 10_000).column("value").to_pylist()]
    assert ids == list(range(1, 3001))       # nothing lost, nothing twice


def test_dropping_forgets_the_position(make_engine):
    engine = make_engine()
    engine.execute(datagen("gen", "t", "inventory", 10))
    engine.run_until_idle(timeout=10)
    engine.execute("DROP CONNECTOR gen;")
    engine.execute(datagen("gen", "t", "inventory", 10))
    engine.run_until_idle(timeout=10)
    assert engine.log.end_offsets("t")[0] == 20


def test_avro_values_go_through_the_schema_registry(make_engine):
    engine = make_engine()
    engine.execute(datagen("gen", "users_avro", "users", 10,
                           extra=", 'value.converter'='io.confluent.connect.avro.AvroConverter'"))
    engine.execute("CREATE TABLE users (id STRING PRIMARY KEY) WITH (kafka_topic='users_avro', value_format='AVRO');")
    engine.execute("CREATE TABLE q AS SELECT * FROM users;")
    engine.run_until_idle(timeout=30)
    described = engine.describe_source("USERS")
    assert [f["name"] for f in described["fields"]] == ["ID", "REGISTERTIME", "USERID", "REGIONID", "GENDER"]
    rows = engine.pull_query("SELECT * FROM q;").rows
    assert rows and all(row[4] in ("MALE", "FEMALE", "OTHER") and row[0] == row[2] for row in rows)


@pytest.mark.parametrize("value_format", ["PROTOBUF", "JSON_SR"])
def test_other_registry_formats(make_engine, value_format):
    engine = make_engine()
    engine.execute(datagen("gen", "t", "stock_trades", 5, extra=f", 'value.format'='{value_format}'"))
    engine.execute(f"CREATE STREAM trades WITH (kafka_topic='t', value_format='{value_format}');")
    engine.run_until_idle(timeout=30)
    assert len(engine.read_topic_records("t")) == 5
    assert {f["name"] for f in engine.describe_source("TRADES")["fields"]} >= {"SIDE", "QUANTITY", "SYMBOL"}


def test_a_custom_schema_with_arg_properties(make_engine):
    engine = make_engine()
    schema = ('{"type":"record","name":"r","fields":[{"name":"id","type":{"type":"int",'
              '"arg.properties":{"iteration":{"start":5}}}},{"name":"code","type":{"type":"string",'
              '"arg.properties":{"regex":"[A-C]{2}-[0-9]"}}}]}')
    engine.execute(datagen("gen", "t", "", 4, extra=f", 'schema.string'='{schema}', 'schema.keyfield'='id'")
                   .replace("'quickstart'='', ", ""))
    engine.run_until_idle(timeout=10)
    import orjson
    rows = [orjson.loads(v) for v in engine.log.read("t", 0, 0).column("value").to_pylist()]
    assert [r["id"] for r in rows] == [5, 6, 7, 8]
    assert all(len(r["code"]) == 4 and r["code"][2] == "-" and r["code"][:2] <= "CC" for r in rows)


@pytest.mark.parametrize("config, message", [
    ("'quickstart'='nope', 'kafka.topic'='t'", "Invalid value nope for configuration quickstart"),
    ("'quickstart'='users'", 'Missing required configuration .*kafka.topic'),
    ("'quickstart'='users', 'kafka.topic'='t', 'iterations'='many'", "Invalid value many for configuration iterations"),
    ("'kafka.topic'='t', 'schema.string'='{\"type\":\"record\",\"name\":\"r\",\"fields\":[{\"name\":\"a\",\"type\":{\"type\":\"string\",\"arg.properties\":{\"regex\":\"(a|b)\"}}}]}'",
     "Unsupported regex"),
    ("'quickstart'='users', 'kafka.topic'='bad topic'", "illegal"),
])
def test_bad_configs_are_the_statements_error(make_engine, config, message):
    engine = make_engine()
    with pytest.raises(KsqlException, match=message):
        engine.execute(f"CREATE SOURCE CONNECTOR gen WITH ('connector.class'='DatagenConnector', {config});")
    assert engine.execute("SHOW CONNECTORS;")[0].entity["connectors"] == []


def test_run_until_idle_waits_for_a_bounded_paced_source(make_engine):
    engine = make_engine()
    engine.execute(datagen("gen", "t", "pageviews", 5).replace("'max.interval'=0", "'max.interval'=20"))
    assert engine.run_until_idle(timeout=30)
    assert engine.log.end_offsets("t")[0] == 5
