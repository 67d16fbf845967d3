"""The FIFO cohort queue: order, patience, and Little's law bookkeeping."""

from __future__ import annotations

import copy
import math

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from chainsim.queues import CohortQueue

day_plan = st.lists(
    st.tuples(st.integers(0, 30), st.one_of(st.integers(0, 40), st.just(math.inf)),
              st.integers(0, 6)),
    min_size=1, max_size=60,
)


@given(day_plan)
def test_queue_is_fifo_keeps_patience_and_satisfies_littles_identity(plan):
    queue = CohortQueue()
    mirror: list[tuple[int, int]] = []  # (id, arrival day), a plain-Python model of the queue
    next_id = 0
    end_of_day_lengths = 0
    for day, (arrivals, capacity, patience) in enumerate(plan, start=1):
        ids = np.arange(next_id, next_id + arrivals)
        next_id += arrivals
        queue.push(day, ids)
        mirror += [(int(i), day) for i in ids]

        gone = queue.expire(day, patience)
        expected_gone = [i for i, a in mirror if day - a > patience]
        mirror = [(i, a) for i, a in mirror if day - a <= patience]
        assert gone.tolist() == expected_gone

        twin = copy.deepcopy(queue)  # take() must do what pop() does, waits aside
        taken, waits = queue.pop(capacity, day)
        twin_taken, waited = twin.take(capacity, day)
        assert twin_taken.tolist() == taken.tolist()
        if isinstance(waited, np.ndarray):  # from several days: one wait each
            assert waited.tolist() == waits.tolist() and len(set(waited.tolist())) > 1
        else:  # from one day (or nobody): one number for all
            assert [waited] * len(taken) == waits.tolist() and type(waited) is int
        assert (twin.length, twin.departures, twin.total_wait, twin.ids().tolist()) == (
            queue.length, queue.departures, queue.total_wait, queue.ids().tolist())
        k = len(mirror) if math.isinf(capacity) else min(int(capacity), len(mirror))
        assert taken.tolist() == [i for i, _ in mirror[:k]]
        assert waits.tolist() == [day - a for _, a in mirror[:k]]
        assert (waits <= patience).all()
        mirror = mirror[k:]

        assert len(queue) == len(mirror) == len(queue.ids()) >= 0
        end_of_day_lengths += len(queue)

    last = len(plan)
    # Little's law, exactly: every end-of-day count is a day someone spent waiting.
    assert end_of_day_lengths == queue.total_wait + queue.waiting_days(last)
    assert queue.arrivals == queue.departures + len(queue)
