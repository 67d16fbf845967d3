"""chainsim against a second implementation written the way a Mesa user would.

``benchmarks/mesa_reference.py`` shares the rule formulas and none of the
engine (no customer book, cohort queues, calendar or end-of-day settlement):
every person is an agent stepped every day, queues are lists, chance is drawn
person by person. The two use different random numbers, so they are compared in
distribution: for each figure, the difference of the means over replications
against its standard error (Welch). With fixed seeds the test is deterministic;
the bound of 4.5 standard errors would be crossed by chance in under 1 % of
such comparisons, while a wrong rule moves figures by tens of standard errors
(see the last test).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from chainsim.scenarios import load_scenario

sys.path.insert(0, str(Path(__file__).parents[1] / "benchmarks"))
from mesa_reference import ReferenceModel, chainsim_summary  # noqa: E402

BOUND = 4.5  # standard errors of the difference


def _disagreements(scenario, reps: int, days: int, seed: int = 0,
                   reference_scenario=None) -> dict[str, float]:
    ref_sc = scenario if reference_scenario is None else reference_scenario
    ref = [ReferenceModel(ref_sc, seed=seed + r).run(days) for r in range(reps)]
    ours = [chainsim_summary(scenario, seed + r, days) for r in range(reps)]
    bad = {}
    for key in ref[0]:
        a = np.array([x[key] for x in ref])
        b = np.array([x[key] for x in ours])
        se = np.sqrt(a.var(ddof=1) / reps + b.var(ddof=1) / reps)
        if se == 0:  # a figure that never varies (no late deliveries, say) must be equal
            if a.mean() != b.mean():
                bad[key] = np.inf
            continue
        z = (a.mean() - b.mean()) / se
        if abs(z) > BOUND:
            bad[key] = float(z)
    return bad


@pytest.mark.parametrize("story", ["balanced", "weak_operations"])
def test_chainsim_and_a_plain_mesa_model_agree_in_distribution(story):
    assert _disagreements(load_scenario(story), reps=6, days=120, seed=1) == {}


@pytest.mark.full
@pytest.mark.parametrize("story", ["balanced", "weak_operations", "weak_service"])
def test_chainsim_and_a_plain_mesa_model_agree_over_a_year(story):
    assert _disagreements(load_scenario(story), reps=30, days=365, seed=1000) == {}


def test_the_comparison_sees_a_wrong_rule():
    """A reference that converts more leads (Sales quality 0.6 instead of 0.5) or fails
    more deliveries (a hand-off at 0.9 instead of 0.95) is told apart, on the figures
    those rules drive (by 10 and 15 standard errors)."""
    sc = load_scenario("balanced")
    bad = _disagreements(sc, reps=6, days=120, seed=1,
                         reference_scenario=sc.replace({"sales.quality": 0.6}))
    assert "first_purchases" in bad, bad
    bad = _disagreements(sc, reps=6, days=120, seed=1,
                         reference_scenario=sc.replace({"handoff.quality": 0.9}))
    assert "failed_deliveries" in bad, bad
