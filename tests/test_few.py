"""A handful of complaints (or of customers leaving) takes a one-by-one path: the array path's bits.

Customer Service handles a few complaints a day in a small business, and forty
numpy calls on arrays of two cost more than the arithmetic. Up to
:data:`chainsim.customers.FEW` cases the outcome is worked out customer by
customer on Python floats. These tests set up a book in an arbitrary state,
apply the same complaints both ways (the array path forced by setting ``FEW``
to 0) and compare every column, count and pending decision bit for bit.
"""

from __future__ import annotations

from unittest import mock

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from chainsim import ChainModel, Scenario, customers, service
from chainsim.customers import FEW, SATISFIED, UNRATED
from chainsim.rules import RESOLVED, RESOLVED_QUICKLY, UNRESOLVED

PEOPLE = 24
unit = st.floats(0.0, 1.0)


@st.composite
def businesses(draw):
    """A scenario with its complaint knobs drawn, and a book state to apply complaints to."""
    knobs = {
        "service.hassle": draw(unit),
        "service.recovery_quick": draw(unit),
        "service.recovery_slow": draw(unit),
        "service.recovery_paradox": draw(st.sampled_from([0.0, 0.1, draw(unit)])),
        "service.quality": draw(unit),
        "service.quick_days": draw(st.integers(0, 4)),
        "service.patience": draw(st.integers(0, 6)),
        "service.capacity": draw(st.sampled_from([10, draw(st.integers(0, 8))])),
        "customers.tolerance": draw(st.sampled_from([0.0, 0.2, draw(unit)])),
        "retention.repeat_failure_factor": draw(st.sampled_from([0.5, 1.0, draw(unit)])),
        "retention.unresolved": draw(unit),
        "retention.resolved": draw(unit),
        "retention.resolved_quickly": draw(unit),
        "market.customers_at_start": PEOPLE,
    }
    state = {
        "mood": draw(st.lists(st.integers(0, 3), min_size=PEOPLE, max_size=PEOPLE)),
        "satisfaction": draw(st.lists(unit, min_size=PEOPLE, max_size=PEOPLE)),
        "expectation": draw(st.lists(st.floats(0.5, 2.0), min_size=PEOPLE, max_size=PEOPLE)),
        # a complainer holds at least the complaint's own problem; past 64 the powers
        # are not in the table
        "problems": draw(st.lists(st.sampled_from([1, 2, 3, 64, 65, draw(st.integers(1, 200))]),
                                  min_size=PEOPLE, max_size=PEOPLE)),
    }
    state["journeys"] = draw(st.booleans())
    return Scenario().replace(knobs), state


def _book(scenario, state, rated=()) -> ChainModel:
    """A model whose first PEOPLE customers are in ``state``; those in ``rated`` have
    had a delivery (as everyone who complains has)."""
    model = ChainModel(scenario, rng=3, journeys=state["journeys"])
    book = model.customers
    mood = np.array(state["mood"], dtype=np.int8)
    mood[[i for i in rated if mood[i] == UNRATED]] = SATISFIED
    sat = np.array(state["satisfaction"])
    sat[mood == UNRATED] = np.nan
    book.mood[:PEOPLE] = mood
    book.satisfaction[:PEOPLE] = sat
    book.expectation[:PEOPLE] = state["expectation"]
    book.problems[:PEOPLE] = state["problems"]
    book.moods = np.bincount(mood, minlength=4).tolist()
    book._rated = int(np.count_nonzero(mood != UNRATED))
    book._satisfaction_sum = float(np.nansum(sat))
    book._pending.clear()
    return model


def _same_bits(a: ChainModel, b: ChainModel) -> None:
    x, y = a.customers, b.customers
    assert x.n == y.n
    for column in ("mood", "satisfaction", "expectation", "problems", "place"):
        rows = slice(0, x.n)  # past the rows in use the columns are not initialised
        assert getattr(x, column)[rows].tobytes() == getattr(y, column)[rows].tobytes(), column
    assert x.moods == y.moods
    assert x._rated == y._rated
    assert np.isfinite(x._satisfaction_sum)  # NaN == NaN would prove nothing
    assert x._satisfaction_sum.hex() == y._satisfaction_sum.hex()
    assert len(x._pending) == len(y._pending)
    for p, q in zip(x._pending, y._pending, strict=True):
        for u, v in zip(p, q, strict=True):
            assert u.dtype == v.dtype and u.tobytes() == v.tobytes()
    assert a.ledger.__dict__ == b.ledger.__dict__
    if x.log is not None:
        assert x.log.frame().equals(y.log.frame())


def _batch(data, kinds) -> tuple[np.ndarray, np.ndarray]:
    """Up to FEW distinct customers and an experience class for each."""
    n = data.draw(st.integers(1, FEW))
    ids = np.array(data.draw(st.permutations(range(PEOPLE)))[:n], dtype=np.int64)
    return ids, np.array(data.draw(st.lists(kinds, min_size=n, max_size=n)), dtype=np.int64)


@settings(max_examples=150, deadline=None)
@given(businesses(), st.data())
def test_a_few_complaint_outcomes_one_by_one_are_the_array_paths_bits(business, data):
    scenario, state = business
    ids, classes = _batch(data, st.sampled_from([UNRESOLVED, RESOLVED, RESOLVED_QUICKLY]))
    few, array = _book(scenario, state, ids.tolist()), _book(scenario, state, ids.tolist())
    few.customers.complaint_outcome(ids, classes, day=5)
    with mock.patch.object(customers, "FEW", 0):
        array.customers.complaint_outcome(ids, classes, day=5)
    _same_bits(few, array)


@settings(max_examples=100, deadline=None)
@given(businesses(), st.data())
def test_a_few_complaints_handled_one_by_one_are_the_array_paths_bits(business, data):
    """Service's own one-by-one path: the same draws give the same outcomes and counts."""
    scenario, state = business
    day = 10
    n = data.draw(st.integers(1, FEW))
    ids = data.draw(st.permutations(range(PEOPLE)))[:n]
    # some may have waited past the patience (the array path then takes them all)
    arrived = sorted(data.draw(st.lists(st.integers(day - 6, day), min_size=n, max_size=n)))
    models = _book(scenario, state, ids), _book(scenario, state, ids)
    for model in models:
        model.day = day
        for cid, a in zip(ids, arrived, strict=True):
            model.service.receive(np.array([cid], dtype=np.int64), a)
    models[0].service.step()
    with mock.patch.object(service, "FEW", 0), mock.patch.object(customers, "FEW", 0):
        models[1].service.step()
    assert models[0].service.handled == models[1].service.handled
    _same_bits(*models)


def test_the_one_by_one_path_is_the_one_a_small_business_takes():
    """balanced's service desk sees a few complaints a day: the path tested above is used."""
    calls = []
    original = customers.CustomerBook._few_outcomes

    def spy(self, *args):
        calls.append(len(args[0]))
        return original(self, *args)

    with mock.patch.object(customers.CustomerBook, "_few_outcomes", spy):
        ChainModel(Scenario(), rng=1).run(60)
    assert calls and max(calls) <= FEW


@settings(max_examples=100, deadline=None)
@given(businesses(), st.data())
def test_a_few_customers_leaving_one_by_one_are_the_array_paths_bits(business, data):
    scenario, state = business
    ids, classes = _batch(data, st.integers(0, 5))
    few, array = _book(scenario, state), _book(scenario, state)
    few.customers._churn(ids, 7, classes)
    with mock.patch.object(customers, "FEW", 0):
        array.customers._churn(ids, 7, classes)
    _same_bits(few, array)
    x, y = few.customers, array.customers
    assert (x.active, x.left_unhappy, x._talk_ends) == (y.active, y.left_unhappy, y._talk_ends)
