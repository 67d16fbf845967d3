"""First-in-first-out queues of customers, kept as day cohorts.

A queue is a plain ``collections.deque`` whose entries are ``(arrival_day, ids)``:
everyone who joined on the same day, as one numpy array. Taking the next ``n``
cases or dropping those whose patience ran out touches a few cohorts, never a
Python object per customer, so a queue of a million costs what a queue of ten does.

Each queue keeps the tallies Little's law needs: arrivals, departures and the
total days departed customers spent in it. A customer who joins on day ``a`` and
leaves on day ``d`` is counted in ``d - a`` end-of-day queue lengths, so
``sum of end-of-day lengths == total wait`` (plus those still waiting) exactly.
"""

from __future__ import annotations

from collections import deque

import numpy as np

_EMPTY = np.empty(0, dtype=np.int64)


class CohortQueue:
    """A FIFO queue of customer ids with arrival days."""

    __slots__ = ("_cohorts", "length", "arrivals", "departures", "total_wait")

    def __init__(self) -> None:
        self._cohorts: deque[tuple[int, np.ndarray]] = deque()
        self.length = 0
        self.arrivals = 0
        self.departures = 0
        self.total_wait = 0  # days, summed over departed customers

    def __len__(self) -> int:
        return self.length

    def push(self, day: int, ids: np.ndarray) -> None:
        """Customers ``ids`` join the back of the queue on ``day``."""
        n = len(ids)
        if n:
            cohorts = self._cohorts
            if cohorts and cohorts[-1][0] == day:  # joins today's cohort (one slice to take)
                cohorts[-1] = (day, np.concatenate((cohorts[-1][1], ids)))
            else:
                cohorts.append((day, ids))
            self.length += n
            self.arrivals += n

    def expire(self, day: int, patience: int) -> np.ndarray:
        """Remove and return those who have waited longer than ``patience`` days.

        Called before the day's work: someone who joined on day ``a`` can still be
        handled on day ``a + patience`` and is gone on the day after.
        """
        cohorts = self._cohorts
        gone = []
        while cohorts and day - cohorts[0][0] > patience:
            arrived, ids = cohorts.popleft()
            gone.append(ids)
            self._depart(len(ids), (day - arrived) * len(ids))
        return np.concatenate(gone) if gone else _EMPTY

    def pop(self, n: float, day: int, waits: bool = True) -> tuple[np.ndarray, np.ndarray | None]:
        """Take up to ``n`` customers from the front (all of them if ``n`` is inf).

        Returns:
            ``(ids, waits)``: who was taken, and how many days each had waited
            (``None`` with ``waits=False``, for a caller that does not need them).
        """
        ids, waited = self._take(n, day, waits)
        if waited is None or isinstance(waited, np.ndarray):
            return ids, waited
        one = np.empty(len(ids), dtype=np.int64)  # one cohort: everyone waited as long
        one.fill(waited)  # np.full's Python wrapper costs more than the work
        return ids, one

    def take(self, n: float, day: int) -> tuple[np.ndarray, int | np.ndarray]:
        """:meth:`pop`, with the waits as one number when everyone taken joined on the
        same day (the usual case: no array to build), else an array, one per customer."""
        return self._take(n, day, True)

    def _take(self, n: float, day: int, waits: bool) -> tuple[np.ndarray, int | np.ndarray | None]:
        cohorts = self._cohorts
        length = self.length
        n = length if n >= length else int(n)  # inf >= anything
        if n <= 0:
            return _EMPTY, (0 if waits else None)
        arrived, ids = cohorts[0]
        size = len(ids)
        if size >= n:  # one cohort: the usual case
            if size == n:
                cohorts.popleft()
            else:
                cohorts[0] = (arrived, ids[n:])
                ids = ids[:n]
            waited = day - arrived
            self._depart(n, waited * n)
            return ids, (waited if waits else None)
        taken, waited, sizes = [], [], []
        left = n
        while left:
            arrived, ids = cohorts[0]
            size = len(ids)
            if size <= left:
                cohorts.popleft()
                part = ids
            else:
                size = left
                part, cohorts[0] = ids[:left], (arrived, ids[left:])
            taken.append(part)
            waited.append(day - arrived)
            sizes.append(size)
            left -= size
        self._depart(n, sum([w * s for w, s in zip(waited, sizes, strict=True)]))
        return np.concatenate(taken), (np.repeat(np.array(waited, dtype=np.int64), sizes)
                                       if waits else None)

    def _depart(self, n: int, wait_days: int) -> None:
        self.length -= n
        self.departures += n
        self.total_wait += wait_days

    def ids(self) -> np.ndarray:
        """Everyone in the queue, front first (for checks and the UI)."""
        return np.concatenate([ids for _, ids in self._cohorts]) if self._cohorts else _EMPTY

    def waiting_days(self, day: int) -> int:
        """End-of-day counts so far of those still in the queue after ``day``.

        Someone who joined on day ``a`` has been counted on days ``a .. day``.
        """
        return sum((day - arrived + 1) * len(ids) for arrived, ids in self._cohorts)
