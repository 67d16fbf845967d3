"""What the engine works out once per scenario: the same bits, and it follows a knob moved mid-run.

A day's work reads some of the scenario as ready-made numbers: each link's
capacity and price, the chance a delivery is right, the problem threshold, and
tables of the chances of staying by whole numbers (days to the next order,
problems already held). These tests hold the tables to the rules' own
functions, and a run whose knobs move mid-run (as a workshop's sliders do) to
the same run with every cache thrown away each day.
"""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from chainsim import ChainModel, Scenario, rules
from chainsim.customers import _ScenarioTable

unit = st.floats(0.0, 1.0)


@settings(max_examples=200, deadline=None)
@given(churn=st.floats(0.0, 0.99), interval=st.floats(0.01, 700.0),
       no_problem=st.one_of(st.none(), unit), silent=unit, factor=unit,
       gaps=st.lists(st.one_of(st.integers(1, 80), st.integers(1, 6000)), min_size=1,
                     max_size=60),
       prior=st.lists(st.integers(-3, 200), min_size=1, max_size=60))
def test_the_retention_lookups_are_the_rules_bits(churn, interval, no_problem, silent, factor,
                                                  gaps, prior):
    table = _ScenarioTable(Scenario().replace({"retention.churn_per_year": churn,
                                               "retention.interval_days": interval,
                                               "retention.no_problem": no_problem,
                                               "retention.silent_problem": silent,
                                               "retention.repeat_failure_factor": factor}))
    gaps = np.array(gaps, dtype=np.int64)  # past the table's end too (it holds at most 4096)
    assert table.everyday_loyalty(gaps).tobytes() == rules.everyday_loyalty(
        churn, gaps, no_problem).tobytes()
    prior = np.array(prior, dtype=np.int32)  # negative and past 64: worked out, not looked up
    with np.errstate(all="ignore"):  # 0 ** -1 is inf on both sides
        assert table.after_silent(prior).tobytes() == rules.episode_retention(
            silent, prior, factor).tobytes()


#: Knobs a workshop moves mid-run, each read by one of the engine's caches.
MOVES = {
    30: {"customers.tolerance": 0.05, "customers.complain_probability": 0.9,
         "retention.churn_per_year": 0.6, "operations.quality": 0.6, "sales.quality": 0.9},
    60: {"retention.silent_problem": 0.9, "retention.repeat_failure_factor": 1.0,
         "retention.interval_days": 12.0, "handoff.quality": 0.7, "sales.capacity": 3,
         "operations.promised_days": 0},
    90: {"retention.no_problem": 0.5, "operations.capacity": 9.5, "service.cost": 500.0,
         "sales.overpromise": 0.2, "marketing.quality": 0.3},
}


def _forget(model: ChainModel) -> None:
    """Throw away everything worked out for the current scenario (a new cache goes here)."""
    model.customers._table = None
    model._handoff_for = None
    for function in model.functions:
        function._read_for = function._section = None


def _run(forget: bool, moves=MOVES) -> tuple[bytes, dict]:
    scenario = Scenario().replace({"market.customers_at_start": 200,
                                   "operations.capacity": 12, "operations.patience": 6})
    model = ChainModel(scenario, rng=5)
    for day in range(1, 121):
        for path, value in moves.get(day, {}).items():
            model.set(path, value)
        if forget:
            _forget(model)
        model.step()
    return model.timeseries().to_csv().encode(), model.census()


def test_a_knob_moved_mid_run_is_read_as_if_nothing_were_cached():
    kept, census = _run(forget=False)
    assert (kept, census) == _run(forget=True)
    assert kept != _run(forget=False, moves={})[0]  # the moves changed the run
