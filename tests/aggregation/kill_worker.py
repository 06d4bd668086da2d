"""Run an aggregation over a data dir, processing in small batches; killed mid-way by the test.

`create` makes the stream and the table, inserts ROWS, prints "ready" and processes until
SIGKILL; `resume` restarts the engine on the same data dir and processes what is left. (The
worker inserts the rows itself: a data dir belongs to one process at a time.)
"""
import sys
import time

from pyksqlite.facade.engine import Engine

ROWS = [(f"k{i % 7}", i) for i in range(400)]

data_dir, mode = sys.argv[1], sys.argv[2]
engine = Engine(data_dir, properties={"ksqlite.checkpoint.interval.ms": 0})
if mode == "create":
    engine.execute("CREATE STREAM s (k STRING KEY, v INT) WITH (kafka_topic='s', value_format='JSON', partitions=1);")
    engine.execute("CREATE TABLE t AS SELECT k, COUNT(*) AS n, SUM(v) AS total FROM s GROUP BY k;")
    for k, v in ROWS:
        engine.execute(f"INSERT INTO s (k, v) VALUES ('{k}', {v});")
    for task in engine.scheduler.tasks.values():
        task.max_batch = 50
    print("ready", flush=True)
    while True:   # runs until SIGKILL
        engine.run_until_idle()
        time.sleep(0.001)
else:
    engine.run_until_idle()
    engine.close()
