"""Each shipped story teaches its lesson, checked with replications.

Comparisons use common random numbers (replication k runs on the same seed on
both sides) and assert on the mean over replications, with a margin the
replication spread cannot reach: every assertion below held with room to spare
when the scenarios were tuned (see the numbers in each test's comment).
"""

from __future__ import annotations

import numpy as np
import pytest

from chainsim import ChainModel, FUNCTIONS
from chainsim.diagnose import diagnose
from chainsim.scenarios import builtin_scenarios, load_scenario

REPS = 4


def _runs(sc, reps=REPS):
    return [ChainModel(sc, rng=k).run(sc.run.days) for k in range(reps)]


def test_every_builtin_scenario_loads_tells_its_story_and_runs():
    stories = builtin_scenarios()
    assert {"balanced", "lawn_care", "car_dealership", "call_in_test", "silo_handoff",
            *(f"weak_{f}" for f in FUNCTIONS)} <= set(stories)
    for name, info in stories.items():
        text = info.path.read_text()
        assert text.startswith(f"# {name} --"), f"{name}: header comment should name the story"
        assert "Lesson:" in text, f"{name}: header should state the lesson"
        assert info.description, f"{name}: needs a one-line description"
        sc = load_scenario(name)
        result = ChainModel(sc, rng=0).run(30)
        assert len(result.timeseries) == 30 and result.summary["orders"] > 0


@pytest.mark.parametrize("function", FUNCTIONS)
def test_weak_link_stories_name_their_link(function):
    """The chain breaks at its weakest link: the best 20 % move is at the weak function."""
    d = diagnose(load_scenario(f"weak_{function}"), reps=REPS, days=365)
    best = d.best
    assert best.function == function, [(m.path, round(m.mean)) for m in d.ranking]
    # and clearly so: its gain beats every other function's best move (measured
    # with these seeds: 1.8x for marketing, 6.4x sales, 14x operations, 1.7x
    # service), and its 95 % interval excludes zero
    others = max(m.mean for m in d.moves if m.function != function)
    assert best.mean > 1.4 * max(others, 0)
    assert best.ci[0] > 0


def test_balanced_extra_capacity_buys_little_better_conversion_pays():
    d = diagnose(load_scenario("balanced"), reps=REPS)
    gains = {m.path: m.mean for m in d.moves}
    # measured with these seeds: sales quality +209 a month, marketing +106..+138,
    # sales/operations/service capacity +3..+18 (intervals around zero)
    assert d.best.path in ("sales.quality", "marketing.quality", "marketing.capacity")
    for path in ("sales.capacity", "operations.capacity", "service.capacity"):
        assert gains[path] < 0.25 * d.best.mean, path


def test_call_in_test_loses_most_people_at_the_front_door():
    for result in _runs(load_scenario("call_in_test")):
        detail = result.summary["losses_detail"]
        assert max(detail, key=detail.get) == "leads_lost"
        assert result.summary["weakest_link"] == "sales"


def test_car_dealership_workshop_matters_more_than_the_service_desk():
    """A 20 % larger workshop adds more repeat purchases than 20 % better service."""
    base = load_scenario("car_dealership")
    d = diagnose(base, reps=REPS, moves=["operations.capacity", "service.quality"])
    gains = {m.path: m for m in d.moves}
    workshop, desk = gains["operations.capacity"], gains["service.quality"]
    # measured: +27 (95 % CI 23-32) vs +3 (-1-7) repeat purchases a month
    assert workshop.mean > 3 * max(desk.mean, 0)
    assert workshop.ci[0] > desk.ci[1]


def _renewal_and_word(sc):
    """Share of orders after which the customer came back; put-offs; detractor share."""
    out = []
    for r in _runs(sc):
        t, ts = r.timeseries.sum(), r.timeseries
        decisions = t.deliveries - t.complaints + t.complaints_resolved + t.complaints_unresolved
        share = (ts.detractors / (ts.promoters + ts.detractors)).mean()
        out.append((1 - t.churned / decisions, t.put_off, share))
    return np.array(out).mean(axis=0)


def test_lawn_care_renewals_fall_and_bad_word_spreads_until_both_links_are_fixed():
    balanced = _renewal_and_word(load_scenario("balanced"))
    lawn = load_scenario("lawn_care")
    as_is = _renewal_and_word(lawn)
    crews = _renewal_and_word(lawn.replace({"operations.capacity": 40}))
    manner = _renewal_and_word(lawn.replace({"service.quality": 0.8}))
    both = _renewal_and_word(lawn.replace({"operations.capacity": 40, "service.quality": 0.8}))
    renewal, put_off, detractor_share = 0, 1, 2
    # tuned: renewals 0.84 vs 0.91 balanced; detractors 31 % vs 11 % of those who talk
    assert as_is[renewal] < balanced[renewal] - 0.04
    assert as_is[detractor_share] > 2 * balanced[detractor_share]
    # tuned: fixed together, renewals 0.92 and detractors 7 %; put-offs fall by 60 %
    assert both[renewal] >= balanced[renewal] - 0.01
    assert both[detractor_share] < 0.5 * as_is[detractor_share]
    assert both[put_off] < 0.5 * as_is[put_off]
    # and neither fix alone does it
    for alone in (crews, manner):
        assert both[renewal] > alone[renewal] and both[put_off] < alone[put_off]


def test_silo_handoff_fixing_the_connection_beats_a_bigger_or_better_service_desk():
    silo = load_scenario("silo_handoff")

    def repeats_and_complaints(sc):
        sums = [r.timeseries.sum() for r in _runs(sc)]
        return np.mean([s.repeat_purchases for s in sums]), np.mean([s.complaints for s in sums])

    base = repeats_and_complaints(silo)
    handoff = repeats_and_complaints(silo.replace({"handoff.quality": 0.95}))
    bigger_desk = repeats_and_complaints(silo.replace({"service.capacity": 28}))
    better_desk = repeats_and_complaints(silo.replace({"service.quality": 0.95}))
    # measured: +6,200 repeat purchases and 57 % fewer complaints, vs +0 and +530
    assert handoff[1] < 0.6 * base[1]
    assert handoff[0] - base[0] > 5 * max(bigger_desk[0] - base[0], better_desk[0] - base[0], 1)
