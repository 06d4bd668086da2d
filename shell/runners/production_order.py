"""The order ksqlDB's test tools show a topic's records in: the order they were produced.

ksqlDB's TopologyTestDriver-based tools (QTT, ksql-test-runner, the SQL test runner) feed inputs
one at a time and keep one list of output records per topic, in the order the query produced
them, whatever their partitions. The log keeps order within a partition only, so a runner notes,
after each input it feeds, how far each topic's partitions reached (`mark`); a record then sorts
by the input that produced it first, and only among one input's outputs spread over several
partitions by timestamp, partition and offset (a join result comes out when the record that
completes it is processed, not sorted by its timestamp among later inputs' results).
"""
from __future__ import annotations

import bisect
from typing import Any


class ProductionOrder:
    def __init__(self, engine: Any):
        self._engine = engine
        self._ends: dict[str, list[list[int]]] = {}   # topic -> per mark, each partition's end offset

    def mark(self) -> None:
        """Note how far every topic has been written (call after each input is processed)."""
        for topic in self._engine.topic_names():
            self._ends.setdefault(topic, []).append(self._engine.log.end_offsets(topic))

    def records(self, topic: str) -> list[Any]:
        """The topic's records (TestRecords) in the order they were produced."""
        records = self._engine.read_topic_records(topic)
        marks = self._ends.get(topic, [])
        if len({r.partition for r in records}) <= 1:
            return sorted(records, key=lambda r: r.offset)
        by_partition = {p: [ends[p] if p < len(ends) else 0 for ends in marks]
                        for p in {r.partition for r in records}}

        def produced(record):
            step = bisect.bisect_right(by_partition[record.partition], record.offset)
            return step, record.timestamp, record.partition, record.offset
        return sorted(records, key=produced)
