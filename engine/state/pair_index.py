"""A vectorized hash index from pairs of int64 (a group key and a window start) to dense row slots.

Open addressing with linear probing over a numpy table of slot numbers (-1: empty), kept at most
half full. A lookup of a batch of pairs runs in probing rounds, each a handful of numpy operations
over the pairs still unresolved: a pair whose position holds its own key is found, one whose
position is empty claims it (when several claim one position, the last write wins and the others
probe on), one whose position holds another key moves to the next position. The keys themselves
are stored per slot, so lookups compare real keys and never depend on the hash being unique.
Slots are dense (0..count-1) so the caller keeps its values in parallel numpy arrays.
"""
from __future__ import annotations

import numpy as np

_MIX_A = np.uint64(0x9E3779B97F4A7C15)
_MIX_B = np.uint64(0xC2B2AE3D27D4EB4F)
_EMPTY = -1


def _grown(array: np.ndarray, size: int) -> np.ndarray:
    out = np.zeros(size, dtype=array.dtype)
    out[:len(array)] = array
    return out


class PairIndex:
    def __init__(self, capacity: int = 1 << 12):
        self.count = 0
        self.first = np.zeros(capacity, dtype=np.int64)     # key parts per slot
        self.second = np.zeros(capacity, dtype=np.int64)
        self._bits = 13
        self._table = np.full(1 << self._bits, _EMPTY, dtype=np.int64)

    @property
    def capacity(self) -> int:
        return len(self.first)

    def find_or_insert(self, first: np.ndarray, second: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Slots of the (distinct) pairs, inserting those not present; returns (slots, inserted)."""
        n = len(first)
        self._reserve(self.count + n)
        first, second = first.astype(np.int64, copy=False), second.astype(np.int64, copy=False)
        slots = np.full(n, _EMPTY, dtype=np.int64)
        before = self.count
        position = self._positions(first, second)
        pending = np.arange(n, dtype=np.int64)
        mask = len(self._table) - 1
        while len(pending):
            at = position[pending]
            occupant = self._table[at]
            empty = occupant == _EMPTY
            losers = self._claim(pending[empty], at[empty], first, second, slots)
            others = pending[~empty]
            occupant = occupant[~empty]
            same = (self.first[occupant] == first[others]) & (self.second[occupant] == second[others])
            slots[others[same]] = occupant[same]
            others = others[~same]                     # another key's position: probe the next one
            position[others] = (position[others] + 1) & mask
            pending = np.concatenate([losers, others])   # a lost claim retries its position
        return slots, slots >= before

    def lookup(self, first: np.ndarray, second: np.ndarray) -> np.ndarray:
        """Slots of the pairs, -1 where absent."""
        first, second = first.astype(np.int64, copy=False), second.astype(np.int64, copy=False)
        slots = np.full(len(first), _EMPTY, dtype=np.int64)
        position = self._positions(first, second)
        pending = np.arange(len(first), dtype=np.int64)
        mask = len(self._table) - 1
        while len(pending):
            occupant = self._table[position[pending]]
            present = occupant != _EMPTY
            pending, occupant = pending[present], occupant[present]
            same = (self.first[occupant] == first[pending]) & (self.second[occupant] == second[pending])
            slots[pending[same]] = occupant[same]
            pending = pending[~same]
            position[pending] = (position[pending] + 1) & mask
        return slots

    def _claim(self, pending: np.ndarray, at: np.ndarray, first, second, slots) -> np.ndarray:
        """Pairs at empty positions take them (the last write per position wins); returns the losers."""
        marker = -2 - pending
        self._table[at] = marker
        won = self._table[at] == marker
        winners = pending[won]
        new_slots = np.arange(self.count, self.count + len(winners), dtype=np.int64)
        self.first[new_slots] = first[winners]
        self.second[new_slots] = second[winners]
        self.count += len(winners)
        self._table[at[won]] = new_slots
        slots[winners] = new_slots
        return pending[~won]

    def _place(self) -> None:
        """Put every slot 0..count-1 (distinct keys) into an empty table."""
        self._table = np.full(1 << self._bits, _EMPTY, dtype=np.int64)
        mask = len(self._table) - 1
        pending = np.arange(self.count, dtype=np.int64)
        position = self._positions(self.first[:self.count], self.second[:self.count])
        while len(pending):
            at = position[pending]
            empty = self._table[at] == _EMPTY
            claimants, at_empty = pending[empty], at[empty]
            self._table[at_empty] = claimants
            won = self._table[at_empty] == claimants
            taken = pending[~empty]
            position[taken] = (position[taken] + 1) & mask
            pending = np.concatenate([claimants[~won], taken])

    def _positions(self, first: np.ndarray, second: np.ndarray) -> np.ndarray:
        with np.errstate(over="ignore"):
            mixed = first.view(np.uint64) * _MIX_A ^ second.view(np.uint64) * _MIX_B
            mixed ^= mixed >> np.uint64(31)
            mixed *= _MIX_A
        return (mixed >> np.uint64(64 - self._bits)).astype(np.int64)

    def _reserve(self, needed: int) -> None:
        if needed > self.capacity:
            size = max(needed, 2 * self.capacity)
            self.first, self.second = _grown(self.first, size), _grown(self.second, size)
        if 2 * needed > len(self._table):
            while (1 << self._bits) < 2 * needed:
                self._bits += 1
            self._place()

    def keep(self, live: np.ndarray) -> np.ndarray:
        """Drop the slots where `live` is false, renumbering the rest densely (in order); returns
        the kept slots' old numbers, for the caller to compact its value arrays the same way."""
        kept = np.flatnonzero(live[:self.count])
        self.first[:len(kept)] = self.first[kept]
        self.second[:len(kept)] = self.second[kept]
        self.count = len(kept)
        self._place()
        return kept
