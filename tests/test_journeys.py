"""The journey log against the plainest one there is: a list of (id, day, code, experience)."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from chainsim.journeys import EVENTS, JourneyLog

# each day: batches of (event, size, with experience?); asked for the columns after some days
days = st.lists(
    st.tuples(st.lists(st.tuples(st.sampled_from(list(EVENTS)), st.integers(0, 700),
                                 st.booleans()), max_size=4),
              st.booleans()),
    min_size=1, max_size=8)


@settings(max_examples=60, deadline=None, derandomize=True)
@given(plan=days)
def test_the_columns_asked_for_as_a_run_goes_on_hold_every_event_in_order(plan):
    log, naive, seen, next_id = JourneyLog(), [], [], 0
    codes = {name: i for i, name in enumerate(EVENTS)}
    for day, (batches, ask) in enumerate(plan):
        for event, size, with_experience in batches:
            ids = np.arange(next_id, next_id + size, dtype=np.int64)
            next_id += size
            experience = np.arange(size, dtype=np.int64) % 3 if with_experience else None
            log.record(day, event, ids, experience)
            naive += [(cid, day, codes[event], -1 if experience is None else int(experience[k]))
                      for k, cid in enumerate(ids.tolist())]
        if ask:  # the workshop asks again and again: each answer is the whole log so far
            columns = log.columns()
            seen.append((columns, len(naive)))
            assert [tuple(r) for r in np.column_stack(columns).tolist()] == naive
    # an answer given earlier still reads as it did, however the columns grew since
    for columns, rows in seen:
        assert [tuple(r) for r in np.column_stack(columns).tolist()] == naive[:rows]
    names = list(EVENTS)
    for cid in {r[0] for r in naive[:50]}:  # one customer's events, as follow-a-customer reads them
        assert [(day, event) for day, event, _ in log.events_of(cid)] == \
            [(day, names[code]) for who, day, code, _ in naive if who == cid]
