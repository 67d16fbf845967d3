"""The wake-up calendar: customers waiting for their next order, by the day it falls due.

A customer between orders costs nothing per day: they sit in the calendar until
the day they order again. The calendar keeps, for each day, the arrays of ids
due that day; scheduling a batch sorts it by day once and files each run of one
day as a slice, and taking a day's orders is one dictionary lookup.
"""

from __future__ import annotations

import numpy as np

_EMPTY = np.empty(0, dtype=np.int64)


class WakeCalendar:
    """Customer ids filed under the day they order again."""

    __slots__ = ("_days", "size")

    def __init__(self) -> None:
        self._days: dict[int, list[np.ndarray]] = {}
        self.size = 0

    def __len__(self) -> int:
        return self.size

    def schedule(self, ids: np.ndarray, days: np.ndarray) -> None:
        """File each customer in ``ids`` under their day in ``days``."""
        n = len(ids)
        if not n:
            return
        self.size += n
        book = self._days
        first = int(days[0])
        if n == 1 or (days == first).all():
            book.setdefault(first, []).append(ids)
            return
        order = np.argsort(days, kind="stable")
        when, who = days[order], ids[order]
        cuts = np.flatnonzero(when[1:] != when[:-1]) + 1
        starts = [0, *cuts.tolist()]
        ends = [*starts[1:], n]
        for day, a, b in zip(when[starts].tolist(), starts, ends, strict=True):
            book.setdefault(day, []).append(who[a:b])

    def due(self, day: int) -> np.ndarray:
        """Take out everyone due on ``day``."""
        batches = self._days.pop(day, None)
        if not batches:
            return _EMPTY
        ids = batches[0] if len(batches) == 1 else np.concatenate(batches)
        self.size -= len(ids)
        return ids

    def ids(self) -> np.ndarray:
        """Everyone waiting (for checks)."""
        parts = [ids for batches in self._days.values() for ids in batches]
        return np.concatenate(parts) if parts else _EMPTY
