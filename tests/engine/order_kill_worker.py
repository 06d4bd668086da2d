"""Run a stream-table join created over topics that already hold data, in small batches, printing
how many records each step consumed; the test kills it (SIGKILL) part of the way through."""
import sys

from pyksqlite.facade.engine import Engine

data_dir, checkpoint_ms = sys.argv[1], int(sys.argv[2])
engine = Engine(data_dir, {"ksql.streams.auto.offset.reset": "earliest", "ksqlite.log.flush": "none",
                           "ksqlite.checkpoint.interval.ms": checkpoint_ms})
engine.execute("CREATE STREAM joined AS SELECT e.uid, e.v, u.name FROM events e LEFT JOIN users u "
               "ON e.uid = u.id;")
for task in engine.scheduler.tasks.values():
    task.max_batch = 500
while True:   # until SIGKILL
    print(engine.scheduler.step_all(), flush=True)
