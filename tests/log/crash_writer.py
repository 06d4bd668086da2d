"""Subprocess for the crash tests: appends batches forever with flush="batch", printing each ack.

Usage: python crash_writer.py <log dir> <seed>. Each acknowledged append prints
`<partition> <end offset after it> <batch id> <record count>`.
"""
import random
import sys

import pyarrow as pa

from pyksqlite.log import EmbeddedLog


def main() -> None:
    directory, seed = sys.argv[1], int(sys.argv[2])
    rng = random.Random(seed)
    log = EmbeddedLog(directory, flush="batch")
    for batch_number in range(10**9):
        batch_id = f"{seed}.{batch_number}"
        count = rng.randint(1, 3000)
        partition = rng.randrange(2)
        values = [f"{batch_id}:{i}:".encode() + b"x" * 100 for i in range(count)]
        table = pa.table({"key": pa.array([b"k"] * count), "value": pa.array(values),
                          "timestamp": pa.array([batch_number] * count, pa.int64())})
        log.append("t", table, partition=partition)
        print(partition, log.end_offsets("t")[partition], batch_id, count, flush=True)


if __name__ == "__main__":
    main()
