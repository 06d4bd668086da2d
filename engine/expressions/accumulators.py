"""The aggregates whose state is a collection, as `Accumulator`s: a small Python object per
group with add / remove / merge / result (COLLECT_LIST/SET, HISTOGRAM, COUNT_DISTINCT, TOPK,
TOPKDISTINCT, EARLIEST/LATEST_BY_OFFSET, ATTR). The operators call them once per distinct group
per batch with that group's values. For checkpoints an accumulator states its contents as rows
of typed columns (`state_columns` / `state_rows` / `load_rows`): argument values keep their
column's Arrow type, counters and sequence numbers are BIGINT; its parameters (limits, k) come
from the query, not from the checkpoint.
"""
from __future__ import annotations

from typing import Any, Optional

from pyksqlite.expressions.aggregate_call import Accumulator


def freeze(value):
    """A hashable form of a value (lists, dicts and maps as tuples)."""
    if isinstance(value, dict):
        return tuple((k, freeze(v)) for k, v in value.items())
    if isinstance(value, list):
        return tuple(freeze(v) for v in value)
    return value


class CollectList(Accumulator):
    def __init__(self, limit: int):
        self.limit, self.items = limit, []

    def add(self, args, seq):
        if len(self.items) < self.limit:
            self.items.append(args[0])

    def remove(self, args, seq):
        key = freeze(args[0])
        for i, item in enumerate(self.items):
            if freeze(item) == key:
                del self.items[i]
                return

    def merge(self, other):
        self.items = (self.items + other.items)[:self.limit]

    def result(self):
        return list(self.items)

    def state_rows(self):
        return [(item,) for item in self.items]

    def load_rows(self, rows):
        self.items = [row[0] for row in rows]


class CollectSet(Accumulator):
    def __init__(self, limit: int):
        self.limit, self.items = limit, {}

    def add(self, args, seq):
        key = freeze(args[0])
        if key not in self.items and len(self.items) < self.limit:
            self.items[key] = args[0]

    def remove(self, args, seq):
        self.items.pop(freeze(args[0]), None)

    def merge(self, other):
        for key, value in other.items.items():
            if key not in self.items and len(self.items) < self.limit:
                self.items[key] = value

    def result(self):
        return list(self.items.values())

    def state_rows(self):
        return [(item,) for item in self.items.values()]

    def load_rows(self, rows):
        self.items = {freeze(row[0]): row[0] for row in rows}


class Histogram(Accumulator):
    LIMIT = 1000

    def __init__(self):
        self.counts: dict = {}

    def add(self, args, seq):
        value = args[0]
        if value is None:
            return
        if value in self.counts or len(self.counts) < self.LIMIT:
            self.counts[value] = self.counts.get(value, 0) + 1

    def remove(self, args, seq):
        value = args[0]
        if value in self.counts:
            self.counts[value] -= 1
            if self.counts[value] <= 0:
                del self.counts[value]

    def merge(self, other):
        for value, count in other.counts.items():
            self.counts[value] = self.counts.get(value, 0) + count

    def result(self):
        return list(self.counts.items())

    def state_columns(self):
        return ("arg0", "count")

    def state_rows(self):
        return list(self.counts.items())

    def load_rows(self, rows):
        self.counts = {value: count for value, count in rows}


class CountDistinct(Accumulator):
    def __init__(self):
        self.values: dict = {}      # the frozen value -> the value (so that checkpoints keep values)

    def add(self, args, seq):
        if args[0] is not None:
            self.values.setdefault(freeze(args[0]), args[0])

    def merge(self, other):
        for key, value in other.values.items():
            self.values.setdefault(key, value)

    def result(self):
        return len(self.values)

    def state_rows(self):
        return [(value,) for value in self.values.values()]

    def load_rows(self, rows):
        self.values = {freeze(row[0]): row[0] for row in rows}


class TopK(Accumulator):
    """The k largest values (nulls ignored), ties in arrival order; with extra columns, structs."""

    def __init__(self, k: int, distinct: bool, extra: int):
        self.k, self.distinct, self.extra = k, distinct, extra
        self.items: list[tuple] = []   # (value, seq, args)

    def add(self, args, seq):
        if args[0] is None:
            return
        if self.distinct and any(item[0] == args[0] for item in self.items):
            return
        self.items.append((args[0], seq, args))
        self._trim()

    def _trim(self):
        self.items.sort(key=lambda item: item[1])
        self.items.sort(key=lambda item: item[0], reverse=True)
        del self.items[self.k:]

    def merge(self, other):
        for item in other.items:
            if not (self.distinct and any(i[0] == item[0] for i in self.items)):
                self.items.append(item)
        self._trim()

    def result(self):
        if not self.extra:
            return [item[0] for item in self.items]
        return [dict([("SORT_COL", item[2][0])] + [(f"COL{i}", item[2][i + 1]) for i in range(self.extra)])
                for item in self.items]

    def state_columns(self):
        return ("seq",) + tuple(f"arg{i}" for i in range(self.extra + 1))

    def state_rows(self):
        return [(seq, *args) for _, seq, args in self.items]

    def load_rows(self, rows):
        self.items = [(row[1], row[0], tuple(row[1:])) for row in rows]


class ByOffset(Accumulator):
    """EARLIEST_BY_OFFSET / LATEST_BY_OFFSET, optionally the n first/last values."""

    def __init__(self, latest: bool, n: Optional[int], ignore_nulls: bool):
        self.latest, self.n, self.ignore_nulls = latest, n, ignore_nulls
        self.items: list[tuple[int, Any]] = []  # (seq, value), in seq order

    def add(self, args, seq):
        value = args[0]
        if value is None and self.ignore_nulls:
            return
        self.items.append((seq, value))
        self._trim()

    def _trim(self):
        limit = self.n or 1
        if len(self.items) > limit:
            self.items = self.items[-limit:] if self.latest else self.items[:limit]

    def merge(self, other):
        self.items = sorted(self.items + other.items, key=lambda item: item[0])
        self._trim()

    def result(self):
        if self.n is None:
            return self.items[-1][1] if self.items else None
        return [value for _, value in self.items]

    def state_columns(self):
        return ("seq", "arg0")

    def state_rows(self):
        return list(self.items)

    def load_rows(self, rows):
        self.items = [(seq, value) for seq, value in rows]


class Attr(Accumulator):
    """The value when every row agrees on it, else NULL (counts per value, so retractions work)."""

    def __init__(self):
        self.counts: dict = {}
        self.values: dict = {}

    def add(self, args, seq):
        key = freeze(args[0])
        self.counts[key] = self.counts.get(key, 0) + 1
        self.values[key] = args[0]

    def remove(self, args, seq):
        key = freeze(args[0])
        if key in self.counts:
            self.counts[key] -= 1
            if self.counts[key] <= 0:
                del self.counts[key]
                del self.values[key]

    def merge(self, other):
        for key, count in other.counts.items():
            self.counts[key] = self.counts.get(key, 0) + count
            self.values[key] = other.values[key]

    def result(self):
        return next(iter(self.values.values())) if len(self.values) == 1 else None

    def state_columns(self):
        return ("arg0", "count")

    def state_rows(self):
        return [(self.values[key], count) for key, count in self.counts.items()]

    def load_rows(self, rows):
        self.counts, self.values = {}, {}
        for value, count in rows:
            key = freeze(value)
            self.counts[key], self.values[key] = count, value
