"""ksqlDB emits a join result when the record that completes it is processed: results come out in
the order their completing records are processed, never re-sorted by the result's timestamp (a
stream-stream or table-table result takes the later of its two rows' timestamps, so that order
can differ)."""
from __future__ import annotations

from pyksqlite.facade.engine import Engine, TestRecord
from pyksqlite.shell.runners import test_runner

PROPS = {"ksql.streams.auto.offset.reset": "earliest", "ksqlite.log.flush": "none",
         "cache.max.bytes.buffering": 0}
DAY, HOUR = 86_400_000, 3_600_000


def emitted(engine, topic):
    """The sink's records in the order they were appended (one partition: offset order)."""
    return [(r.key, r.value, r.timestamp) for r in sorted(engine.read_topic_records(topic), key=lambda r: r.offset)]


def test_stream_stream_results_follow_the_completing_records_not_their_timestamps(tmp_path):
    engine = Engine(tmp_path, dict(PROPS))
    engine.execute("CREATE STREAM orders (id INT KEY, amount DOUBLE) "
                   "WITH (kafka_topic='orders', value_format='JSON', partitions=1);")
    engine.execute("CREATE STREAM shipments (id STRING KEY, order_id INT) "
                   "WITH (kafka_topic='shipments', value_format='JSON', partitions=1);")
    engine.execute("CREATE STREAM shipped AS SELECT o.id AS order_id, amount, s.id AS shipment "
                   "FROM orders o JOIN shipments s WITHIN 7 DAYS ON o.id = s.order_id;")
    engine.produce_test_records([TestRecord("orders", i, {"AMOUNT": 10.0 * i}, i * HOUR) for i in (1, 2, 3)])
    engine.run_until_idle()
    # One batch of shipments, in offset order 1, 2, 3, with times that do not ascend.
    engine.produce_test_records([TestRecord("shipments", "s1", {"ORDER_ID": 1}, 2 * DAY + 18 * HOUR),
                                 TestRecord("shipments", "s2", {"ORDER_ID": 2}, 2 * DAY + 2 * HOUR),
                                 TestRecord("shipments", "s3", {"ORDER_ID": 3}, 2 * DAY + 20 * HOUR)])
    engine.run_until_idle()
    assert [(key, ts) for key, _, ts in emitted(engine, "SHIPPED")] == [
        (1, 2 * DAY + 18 * HOUR), (2, 2 * DAY + 2 * HOUR), (3, 2 * DAY + 20 * HOUR)]
    engine.close()


def test_stream_table_results_follow_the_stream_records(tmp_path):
    engine = Engine(tmp_path, dict(PROPS))
    engine.execute("CREATE TABLE users (id INT PRIMARY KEY, name STRING) "
                   "WITH (kafka_topic='users', value_format='JSON', partitions=1);")
    engine.execute("CREATE STREAM clicks (id INT KEY, page STRING) "
                   "WITH (kafka_topic='clicks', value_format='JSON', partitions=1);")
    engine.execute("CREATE STREAM named AS SELECT c.id, page, name FROM clicks c JOIN users u ON c.id = u.id;")
    engine.produce_test_records([TestRecord("users", i, {"NAME": f"u{i}"}, 0) for i in (1, 2, 3)])
    engine.run_until_idle()
    engine.produce_test_records([TestRecord("clicks", 3, {"PAGE": "a"}, 30), TestRecord("clicks", 1, {"PAGE": "b"}, 10),
                                 TestRecord("clicks", 2, {"PAGE": "c"}, 20)])
    engine.run_until_idle()
    assert [value["PAGE"] for _, value, _ in emitted(engine, "NAMED")] == ["a", "b", "c"]
    engine.close()


def test_table_table_results_follow_the_updates_not_their_timestamps(tmp_path):
    engine = Engine(tmp_path, dict(PROPS))
    engine.execute("CREATE TABLE l (id INT PRIMARY KEY, a STRING) WITH (kafka_topic='l', value_format='JSON', partitions=1);")
    engine.execute("CREATE TABLE r (id INT PRIMARY KEY, b STRING) WITH (kafka_topic='r', value_format='JSON', partitions=1);")
    engine.execute("CREATE TABLE j AS SELECT l.id, a, b FROM l JOIN r ON l.id = r.id;")
    engine.produce_test_records([TestRecord("r", 1, {"B": "r1"}, 40), TestRecord("r", 2, {"B": "r2"}, 5)])
    engine.run_until_idle()
    # Results take the later timestamp: 40 for key 1, 10 for key 2, in the updates' order.
    engine.produce_test_records([TestRecord("l", 1, {"A": "x"}, 10), TestRecord("l", 2, {"A": "y"}, 10)])
    engine.run_until_idle()
    assert [(key, ts) for key, _, ts in emitted(engine, "J")] == [(1, 40), (2, 10)]
    engine.close()


def test_the_test_runner_shows_join_results_in_the_order_they_were_produced():
    # ksqlDB's stream-stream join tutorial on four partitions: the shipments complete orders 1, 2
    # and 3 in that order, though shipment 2 has the earliest time; ksql-test-runner (a
    # TopologyTestDriver) lists the results as produced.
    statements = """
        CREATE STREAM orders (id INT KEY, order_ts VARCHAR, total_amount DOUBLE, customer_name VARCHAR)
            WITH (KAFKA_TOPIC='_orders', VALUE_FORMAT='JSON', TIMESTAMP='order_ts',
                  TIMESTAMP_FORMAT='yyyy-MM-dd''T''HH:mm:ssX', PARTITIONS=4);
        CREATE STREAM shipments (id VARCHAR KEY, ship_ts VARCHAR, order_id INT, warehouse VARCHAR)
            WITH (KAFKA_TOPIC='_shipments', VALUE_FORMAT='JSON', TIMESTAMP='ship_ts',
                  TIMESTAMP_FORMAT='yyyy-MM-dd''T''HH:mm:ssX', PARTITIONS=4);
        CREATE STREAM shipped_orders AS SELECT o.id AS order_id, o.customer_name, s.id AS shipment_id,
            s.warehouse FROM orders o INNER JOIN shipments s WITHIN 7 DAYS ON o.id = s.order_id;
    """
    orders = [(1, "2019-03-29T06:01:18Z", "Ricardo Ferreira"), (2, "2019-03-29T17:02:20Z", "Tim Berglund"),
              (3, "2019-03-29T13:44:10Z", "Robin Moffatt")]
    shipments = [("ship-ch83360", "2019-03-31T18:13:39Z", 1, "UPS"), ("ship-xf72808", "2019-03-31T02:04:13Z", 2, "UPS"),
                 ("ship-kr47454", "2019-03-31T20:47:09Z", 3, "DHL")]
    inputs = [{"topic": "_orders", "key": i, "value": {"order_ts": ts, "total_amount": 1.0, "customer_name": name}}
              for i, ts, name in orders]
    inputs += [{"topic": "_shipments", "key": key, "value": {"ship_ts": ts, "order_id": order, "warehouse": w}}
               for key, ts, order, w in shipments]
    outputs = [{"topic": "SHIPPED_ORDERS", "key": order,
                "value": {"CUSTOMER_NAME": name, "SHIPMENT_ID": key, "WAREHOUSE": w}}
               for (_, _, name), (key, _, order, w) in zip(orders, shipments)]
    assert test_runner.run(statements, inputs, outputs) is None
    assert test_runner.run(statements, inputs, [outputs[1], outputs[0], outputs[2]]) is not None
