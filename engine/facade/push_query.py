"""A running transient push query, as `Engine.push_query` returns it."""
from __future__ import annotations

import threading
from typing import Iterator, Optional

from pyksqlite.facade.results import PushRow, QueryColumn
from pyksqlite.runtime.wakeup import AppendSignal

PUSH_POLL_SECONDS = 0.01     # how often an idle push query looks at a log that does not signal


class PushQuery:
    """A running transient push query. Iterate for rows (blocks until the next row arrives or the
    query ends at its LIMIT); `poll` returns what has arrived; `close()` stops it."""

    def __init__(self, query_id: str, columns: list[QueryColumn], task, sink, on_close,
                 appended: Optional[AppendSignal] = None):
        self.query_id = query_id
        self.columns = columns
        self._task = task
        self._sink = sink
        self._on_close = on_close
        self._appended = appended or AppendSignal()
        self._closed = threading.Event()
        self._listeners: list = []
        self._thread = threading.Thread(target=self._run, name=f"push-{query_id}", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._closed.is_set() and not self._sink.done:
            seen = self._appended.generation
            if self._task.step():
                self._notify()
            else:  # woken by the next append; the timeout covers writers that do not signal
                self._appended.wait(seen, PUSH_POLL_SECONDS)
        with self._sink.condition:
            self._sink.condition.notify_all()
        self._notify()

    def add_listener(self, callback) -> None:
        """Call `callback()` (from the query's thread) whenever rows arrive or the query ends, so
        an event loop can wait for rows instead of polling (the server wakes its writer with it)."""
        self._listeners.append(callback)
        if self._sink.rows or self.done:
            callback()

    def _notify(self) -> None:
        for callback in list(self._listeners):
            try:
                callback()
            except Exception:  # noqa: BLE001 - e.g. the listener's event loop has closed
                pass

    @property
    def pending(self) -> int:
        """Rows produced but not yet taken by `poll` (a server bounds this per client)."""
        return len(self._sink.rows)

    @property
    def overflowed(self) -> bool:
        """The row buffer filled up and rows were dropped (the client read too slowly)."""
        return bool(getattr(self._sink, "overflowed", False))

    @property
    def done(self) -> bool:
        """The query ended (LIMIT reached, closed or failed) and every row has been taken."""
        finished = self._sink.done or self._closed.is_set() or self._task.state != "RUNNING"
        return finished and not self._sink.rows

    @property
    def limit_reached(self) -> bool:
        return self._sink.done

    @property
    def error(self) -> Optional[str]:
        return self._task.error

    def poll(self, timeout: float = 0.0, max_rows: Optional[int] = None) -> list[PushRow]:
        with self._sink.condition:
            if not self._sink.rows and timeout > 0 and not self.done:
                self._sink.condition.wait(timeout)
            buffered = self._sink.rows
            count = len(buffered) if max_rows is None else min(max_rows, len(buffered))
            rows = [PushRow(*buffered.popleft()) for _ in range(count)]
        return rows

    def __iter__(self) -> Iterator[PushRow]:
        while True:
            rows = self.poll(timeout=0.1)
            yield from rows
            if not rows and self.done:
                return

    def close(self) -> None:
        if not self._closed.is_set():
            self._closed.set()
            self._appended.notify()
            self._thread.join(timeout=5)
            self._task.close()
            self._on_close(self.query_id)
