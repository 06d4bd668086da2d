"""A signal that records were appended to the log, so idle readers wake at once instead of polling;
and a consumer for transient queries, which never commit.

Writers call `notify()` after an append; a reader notes `generation` before it polls the log and,
if the poll found nothing, calls `wait(seen, timeout)`, which returns as soon as anything was
appended since `seen` (an append during the poll is not missed). The timeout is a fallback for
writers that do not notify (another process writing to Kafka).
"""
from __future__ import annotations

import threading


class AppendSignal:
    def __init__(self):
        self._condition = threading.Condition()
        self._generation = 0

    @property
    def generation(self) -> int:
        return self._generation

    def notify(self) -> None:
        with self._condition:
            self._generation += 1
            self._condition.notify_all()

    def wait(self, seen: int, timeout: float) -> bool:
        """Block until an append after generation `seen`, or `timeout` seconds; True if woken."""
        with self._condition:
            return self._condition.wait_for(lambda: self._generation != seen, timeout)


class UncommittedConsumer:
    """A consumer whose commits are dropped: a transient push query starts from `latest` or
    `earliest` each time, so writing its offsets durably (an fsync per batch) buys nothing."""

    def __init__(self, consumer):
        self._consumer = consumer

    def commit(self, offsets=None) -> None:
        pass

    def __getattr__(self, name: str):
        return getattr(self._consumer, name)
