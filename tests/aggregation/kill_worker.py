"""Run a windowed aggregation over a data dir, processing in small batches; killed mid-way by the test."""
import sys
import time

from engine.engine import Engine

data_dir, mode = sys.argv[1], sys.argv[2]
engine = Engine(data_dir, properties={"ksqlite.checkpoint.interval.ms": 0})
if mode == "create":
    engine.execute("CREATE STREAM s (k STRING KEY, v INT) WITH (kafka_topic='s', value_format='JSON', partitions=1);")
    engine.execute("CREATE TABLE t AS SELECT k, COUNT(*) AS n, SUM(v) AS total FROM s GROUP BY k;")
    for task in engine.scheduler.tasks.values():
        task.max_batch = 50
    print("ready", flush=True)
    while True:   # runs until SIGKILL
        engine.run_until_idle()
        time.sleep(0.001)
else:
    engine.run_until_idle()
    engine.close()
