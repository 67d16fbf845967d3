"""The wake-up calendar against the plainest one there is: a dict of lists."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from chainsim.calendar import SMALL_BATCH, WakeCalendar

batches = st.lists(
    st.tuples(st.integers(0, 2 * SMALL_BATCH + 5), st.integers(1, 6)),  # (size, days spread)
    min_size=1, max_size=6)


@settings(max_examples=60, deadline=None, derandomize=True)
@given(plan=batches, seed=st.integers(0, 1000))
def test_the_calendar_files_and_returns_everyone_in_filing_order(plan, seed):
    rng = np.random.default_rng(seed)
    calendar, naive = WakeCalendar(), {}
    next_id = 0
    for size, spread in plan:  # small batches id by id, large ones as sorted slices
        ids = np.arange(next_id, next_id + size, dtype=np.int64)
        rng.shuffle(ids)
        next_id += size
        days = rng.integers(1, 1 + spread, size=size)
        calendar.schedule(ids, days)
        for cid, day in zip(ids.tolist(), days.tolist(), strict=True):
            naive.setdefault(day, []).append(cid)
        assert len(calendar) == sum(len(v) for v in naive.values())
    assert sorted(calendar.ids().tolist()) == sorted(c for v in naive.values() for c in v)
    for day in range(0, 9):
        got = calendar.due(day)
        assert got.dtype == np.int64 and got.ndim == 1
        assert got.tolist() == naive.pop(day, [])
        assert len(calendar) == sum(len(v) for v in naive.values())
    assert len(calendar) == 0 and calendar.ids().tolist() == []


def test_a_day_holding_single_ids_and_slices_keeps_their_order():
    calendar = WakeCalendar()
    calendar.schedule(np.array([7, 8]), np.array([3, 3]))  # small: ids
    big = np.arange(100, 100 + SMALL_BATCH + 1)
    calendar.schedule(big, np.full(len(big), 3))  # large: one slice
    calendar.schedule(np.array([9]), np.array([3]))
    assert calendar.due(3).tolist() == [7, 8, *big.tolist(), 9]
    calendar.schedule(big, np.full(len(big), 4))
    calendar.schedule(np.array([1, 2]), np.array([4, 4]))
    assert calendar.due(4).tolist() == [*big.tolist(), 1, 2]
    assert calendar.due(5).tolist() == [] and len(calendar) == 0
