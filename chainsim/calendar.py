"""The wake-up calendar: customers waiting for their next order, by the day it falls due.

A customer between orders costs nothing per day: they sit in the calendar until
the day they order again. The calendar keeps, for each day, the customers due
that day in the order they were filed, and taking a day's orders is one
dictionary lookup.

Two ways of filing give the same calendar. A small batch (a small business
settles a few dozen customers a day, spread over as many days) is filed id by
id into plain lists: a numpy call per distinct day would cost more than the
whole batch. A large batch is sorted by day once and filed as one array slice
per day.
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np

_EMPTY = np.empty(0, dtype=np.int64)

#: Batches up to this size are filed id by id (measured: faster below about 500).
SMALL_BATCH = 256


class WakeCalendar:
    """Customer ids filed under the day they order again.

    Each day's entry is a list holding ids (small batches) and arrays of ids
    (slices of large batches), in the order they were filed.
    """

    __slots__ = ("_days", "size")

    def __init__(self) -> None:
        self._days: defaultdict[int, list] = defaultdict(list)
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
        if n <= SMALL_BATCH:
            for day, cid in zip(days.tolist(), ids.tolist(), strict=True):
                book[day].append(cid)
            return
        order = np.argsort(days, kind="stable")
        when, who = days[order], ids[order]
        cuts = np.flatnonzero(when[1:] != when[:-1]) + 1
        starts = [0, *cuts.tolist()]
        ends = [*starts[1:], n]
        for day, a, b in zip(when[starts].tolist(), starts, ends, strict=True):
            book[day].append(who[a:b])

    def due(self, day: int) -> np.ndarray:
        """Take out everyone due on ``day``, in the order they were filed."""
        entry = self._days.pop(day, None)
        if not entry:
            return _EMPTY
        first = entry[0]
        if type(first) is int:
            try:  # ids only (the usual case for a small business)
                ids = np.array(entry, dtype=np.int64)
            except (TypeError, ValueError):  # numpy refuses ids mixed with arrays
                ids = _mixed(entry)
        elif len(entry) == 1:
            ids = first
        else:
            try:  # slices only (a large business)
                ids = np.concatenate(entry)
            except ValueError:
                ids = _mixed(entry)
        self.size -= len(ids)
        return ids

    def ids(self) -> np.ndarray:
        """Everyone waiting (for checks)."""
        parts = [_mixed(entry) for entry in self._days.values()]
        return np.concatenate(parts) if parts else _EMPTY


def _mixed(entry: list) -> np.ndarray:
    """One day's ids from an entry holding both single ids and arrays, in filing order."""
    return np.concatenate([np.atleast_1d(np.asarray(p, dtype=np.int64)) for p in entry])
