"""Same scenario and seed, same result; another seed, another result."""

from __future__ import annotations

import numpy as np
import pandas as pd
from helpers import run, scenario

from chainsim import ChainModel, Scenario

BUSY = scenario(
    market={"size": 5_000},
    sales={"capacity": 8, "overpromise": 0.1},
    operations={"capacity": 12, "quality": 0.85},
    service={"capacity": 2, "quality": 0.6},
    retention={"interval_days": 10},
)


def test_same_seed_gives_identical_metrics_and_journeys():
    a = run(BUSY, 120, seed=11, journeys=True)
    b = run(BUSY, 120, seed=11, journeys=True)
    pd.testing.assert_frame_equal(a.timeseries, b.timeseries)
    pd.testing.assert_frame_equal(a.journeys, b.journeys)
    assert a.summary == b.summary


def test_different_seeds_give_different_results():
    a = run(BUSY, 120, seed=11)
    b = run(BUSY, 120, seed=12)
    assert not a.timeseries.equals(b.timeseries)


def test_seed_sequence_and_generator_are_accepted_and_reproducible():
    seq = np.random.SeedSequence(2024)
    a = ChainModel(BUSY, rng=np.random.default_rng(seq.spawn(1)[0])).run(60)
    b = ChainModel(BUSY, rng=np.random.default_rng(np.random.SeedSequence(2024).spawn(1)[0])).run(60)
    pd.testing.assert_frame_equal(a.timeseries, b.timeseries)


def test_default_seed_comes_from_the_scenario():
    sc = Scenario.from_dict({"run": {"seed": 5}})
    pd.testing.assert_frame_equal(ChainModel(sc).run(30).timeseries,
                                  ChainModel(sc, rng=5).run(30).timeseries)


def test_journey_recording_does_not_change_the_run():
    pd.testing.assert_frame_equal(run(BUSY, 90, seed=3).timeseries,
                                  run(BUSY, 90, seed=3, journeys=True).timeseries)
