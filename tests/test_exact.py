"""Exact answers where they exist: each rule at its boundaries, patience to the day, every
probability knob's range, every metric finite; and the properties users rely on."""

from __future__ import annotations

import math

import numpy as np
import pytest
from helpers import run, scenario
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chainsim import knobs, rules
from chainsim.metrics import COLUMNS
from chainsim.scenarios import builtin_scenarios, load_scenario
from chainsim.schema import ScenarioError

# -- rules at their boundaries -------------------------------------------------------------


def test_a_problem_is_a_shortfall_beyond_the_zone_of_tolerance_not_at_it():
    assert not rules.is_problem(np.array([0.8]), 0.2)[0]  # exactly at the edge: tolerated
    assert rules.is_problem(np.array([0.8 - 1e-9]), 0.2)[0]  # just past it: a problem
    assert not rules.is_problem(np.array([1.0]), 0.0)[0]
    assert rules.is_problem(np.array([0.999]), 0.0)[0]  # no tolerance: any shortfall
    assert not rules.is_problem(np.array([0.0]), 1.0)[0]  # full tolerance: never


def test_satisfaction_is_clipped_to_0_and_1_exactly():
    value = np.array([1.0, 0.5, 0.0, 1.0])
    got = rules.satisfaction(value, np.array([1.0, 1.0, 1.0, 0.5]))
    assert got.tolist() == [1.0, 0.5, 0.0, 1.0]  # over-delivery does not pass 1
    assert rules.satisfaction(np.array([0.0]), 1.5).tolist() == [0.0]  # nor fall below 0
    assert rules.no_failure_satisfaction(np.array([1.0, 1.2])).tolist() == pytest.approx(
        [1.0, 0.8])
    assert rules.delivery_value(np.array([True, True]), np.array([False, True]), 0.0) \
        .tolist() == [1.0, 1.0]  # no late penalty: late is as good as on time


def test_a_quick_recovery_is_capped_at_the_paradox_above_no_failure():
    sat = np.array([0.0, 0.9])
    got = rules.recover_quickly(sat, 1.0, 0.1, before=0.9)
    assert got.tolist() == pytest.approx([1.0, 1.0])  # 0.9 + 0.1 at most
    assert rules.recover_quickly(np.array([0.2]), 0.5, 0.0, before=1.0).tolist() == \
        pytest.approx([0.6])
    assert rules.aggravate(np.array([0.6]), 0.5).tolist() == pytest.approx([0.3])


def test_conversion_is_capped_at_certainty_and_acceptance_is_linear_in_the_wait():
    assert rules.conversion_probability(0.9, 0.5) == 1.0
    assert rules.conversion_probability(0.4, 0.25) == pytest.approx(0.5)
    # past the promise the share who buy falls in a straight line to none at the patience
    shares = [rules.wait_acceptance(w, 2, 12, 1.0) for w in (2, 4.5, 7, 9.5, 12)]
    assert shares == pytest.approx([1.0, 0.75, 0.5, 0.25, 0.0])
    assert rules.wait_acceptance(2.0000001, 2, 2, 1.0) == 0.0  # no span: past the promise is past


def test_whole_days_round_half_up_and_never_fall_below_one():
    rng = np.random.default_rng(0)
    assert rules.days_to_next_order(rng, 3, 2.5, 0.0).tolist() == [3, 3, 3]
    assert rules.days_to_next_order(rng, 2, 0.2, 0.0).tolist() == [1, 1]
    assert rules.days_to_next_order(rng, 1, 7.49, 0.0).tolist() == [7]
    assert rules.everyday_loyalty(0.5, np.array([365.0, 730.0])).tolist() == pytest.approx(
        [0.5, 0.25])


@settings(max_examples=40, deadline=None)
@given(first=st.one_of(st.integers(0, 5_000).map(float), st.floats(0, 500),
                       st.just("unlimited")),
       then=st.one_of(st.integers(0, 5_000).map(float), st.floats(0, 500)),
       day=st.integers(1, 5_000))
def test_a_link_gets_the_slots_the_rule_gives_before_and_after_a_slider(first, then, day):
    """Whole capacities skip the rule's arithmetic (the same answer every day): check it
    against rules.slots_on_day, for every link, also after the capacity is changed."""
    from chainsim import ChainModel
    from chainsim.schema import capacity_value

    model = ChainModel(scenario(operations={"capacity": first}, service={"capacity": first}))
    for capacity in (first, then):
        model.set("operations.capacity", capacity)
        model.set("sales.capacity", capacity)
        for f in model.functions:
            f.open_day(day)
            assert f.slots == rules.slots_on_day(capacity_value(f.params.capacity), day)


def test_slots_spread_a_fractional_capacity_exactly():
    assert [rules.slots_on_day(2.5, d) for d in range(1, 5)] == [2.0, 3.0, 2.0, 3.0]
    assert [rules.slots_on_day(0.3, d) for d in range(1, 11)].count(1.0) == 3
    assert rules.utilization(5, 10, True) == 0.5 and rules.utilization(0, 0, True) == 1.0
    assert rules.utilization(0, 0, False) == 0.0 and rules.utilization(3, math.inf, True) == 0.0
    assert rules.utilization(12, 10, True) == 1.0


def test_function_cost_pays_capacity_whether_used_or_not():
    assert rules.function_cost(10, 0, 5.0, 0.0, 0.25) == 50.0
    assert rules.function_cost(10, 10, 5.0, 0.0, 0.25) == 50.0
    assert rules.function_cost(math.inf, 4, 5.0, 0.0, 0.25) == 20.0  # unlimited: per case
    assert rules.capacity_cost(10, 0, 5.0, 1.5) == 75.0


# -- patience, to the day ----------------------------------------------------------------------


@pytest.mark.parametrize("patience", [0, 2, 5])
def test_a_lead_not_handled_within_sales_patience_is_lost_on_the_next_day(patience):
    sc = scenario(market={"size": 100_000, "customers_at_start": 0},
                  marketing={"capacity": 50, "quality": 1.0},
                  word_of_mouth={"contact_rate": 0.0},
                  sales={"capacity": 0, "patience": patience})
    lost = run(sc, patience + 4).timeseries.set_index("day").leads_lost
    leads = run(sc, patience + 4).timeseries.set_index("day").leads_new
    # the leads of day 1 wait through day 1 + patience and are gone on the day after
    assert lost.loc[: patience + 1].sum() == 0
    assert lost.loc[patience + 2] == leads.loc[1]
    assert lost.loc[patience + 3] == leads.loc[2]


@pytest.mark.parametrize("patience", [0, 1, 4])
def test_a_complaint_not_answered_within_service_patience_counts_as_unresolved(patience):
    sc = scenario(market={"size": 10_000, "customers_at_start": 40},
                  marketing={"capacity": 0},
                  word_of_mouth={"contact_rate": 0.0},
                  operations={"capacity": 100, "quality": 0.0},  # every delivery is wrong
                  customers={"complain_probability": 1.0},
                  service={"capacity": 0, "patience": patience},
                  retention={"interval_days": 1})
    t = run(sc, patience + 4).timeseries.set_index("day")
    # every customer orders on day 1 and complains the same day
    assert t.complaints.loc[1] == 40
    assert t.complaints_unresolved.loc[: patience + 1].sum() == 0
    assert t.complaints_unresolved.loc[patience + 2] == 40
    assert t.complaints_resolved.sum() == 0


# -- every knob, every metric --------------------------------------------------------------------

PROBABILITIES = sorted(p for p, k in knobs().items() if k.kind == "probability")
NUMBERS = sorted(p for p, k in knobs().items() if k.kind in ("probability", "number", "capacity"))


@pytest.mark.parametrize("path", PROBABILITIES)
def test_every_probability_knob_refuses_1_5(path):
    with pytest.raises(ScenarioError, match=rf"^{path} = 1.5 is not allowed: must be a number "
                                             r"from 0 to 1$"):
        load_scenario("balanced").replace({path: 1.5})


@pytest.mark.parametrize("path", NUMBERS)
@pytest.mark.parametrize("value", [math.inf, math.nan, -math.inf])
def test_every_number_knob_refuses_what_is_not_a_finite_number(path, value):
    with pytest.raises(ScenarioError, match=rf"^{path} = -?(inf|nan) is not allowed"):
        load_scenario("balanced").replace({path: value})


@pytest.mark.parametrize("story", sorted(builtin_scenarios()))
def test_every_metric_of_every_story_is_finite(story):
    t = run(load_scenario(story), 60).timeseries
    for column in COLUMNS:
        assert np.isfinite(t[column].to_numpy()).all(), column


# -- properties ------------------------------------------------------------------------------------

FAST = settings(max_examples=12, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.too_slow])


@FAST
@given(ops=st.integers(5, 40), extra=st.integers(1, 30), demand=st.integers(30, 120))
def test_more_capacity_at_the_bottleneck_never_lowers_throughput_on_average(ops, extra, demand):
    """Operations is the bottleneck (demand above its capacity): more crews deliver at least
    as much, on average over replications on common random numbers."""
    def deliveries(capacity):
        sc = scenario(market={"size": 200_000, "customers_at_start": 0},
                      marketing={"capacity": demand, "quality": 1.0},
                      sales={"capacity": demand, "quality": 1.0},
                      operations={"capacity": capacity})
        return np.mean([run(sc, 60, seed=s).summary["deliveries"] for s in range(3)])

    assert deliveries(ops + extra) >= deliveries(ops)


@FAST
@given(link=st.sampled_from(["sales", "operations", "service"]),
       gains=st.lists(st.floats(-50, 500), min_size=8, max_size=8))
def test_a_perfect_link_is_never_the_weakest(link, gains):
    """A link with unlimited capacity and quality 1 cannot be strengthened: whatever the
    other moves are worth, the verdict names another link or none."""
    from chainsim.diagnose import _diagnosis, plan

    sc = load_scenario("balanced").replace({f"{link}.capacity": "unlimited",
                                            f"{link}.quality": 1.0})
    p = plan(sc)
    assert not any(m.possible for m in p.moves if m.link == link)
    reps = 3
    records = [tuple({"repeat_purchases": 100.0} for _ in range(reps))]
    for gain in gains[: len(p.moves)]:
        records.append(tuple({"repeat_purchases": 100.0 + gain + r} for r in range(reps)))
    d = _diagnosis(p, "repeat_purchases", reps, tuple(records), p.moves)
    assert d.verdict().link != link


@FAST
@given(knob=st.sampled_from(["sales.quality", "sales.capacity", "operations.capacity",
                             "operations.quality", "service.quality", "handoff.quality"]),
       value=st.floats(0.05, 0.95), seed=st.integers(0, 10_000))
def test_common_random_numbers_keep_marketings_draws_whatever_the_rest_does(knob, value, seed):
    """Each link draws from its own stream: with word of mouth off, who walks in each day
    is the same whatever is changed downstream -- a move's effect is the move's alone."""
    base = scenario(word_of_mouth={"contact_rate": 0.0})
    number = value if knob.endswith("quality") else value * 200
    moved = base.replace({knob: number})
    a = run(base, 40, seed=seed).timeseries.leads_new.to_numpy()
    b = run(moved, 40, seed=seed).timeseries.leads_new.to_numpy()
    assert a.tolist() == b.tolist()


def test_marketing_reaches_the_last_person_and_detractors_talk_as_told():
    rng = np.random.default_rng(3)
    kw = dict(size=1000, contacts=1e9, quality=1.0, promoters=0, contact_rate=0.0,
              adoption=0.0, detractors=0, detractor_talk=1.0, negative_word=0.0)
    assert rules.new_leads(rng, unreached=1, **kw) == (1, 0)  # one person left: reached
    assert rules.new_leads(rng, unreached=0, **kw) == (0, 0)
    none = dict(kw, contacts=0.0)
    assert rules.new_leads(rng, unreached=500, **none) == (0, 0)

    def put_off(talk):
        g = np.random.default_rng(11)
        args = dict(kw, contacts=0.0, detractors=100, contact_rate=0.01, negative_word=1.0,
                    detractor_talk=talk, size=1_000_000)
        return np.mean([rules.new_leads(g, unreached=1_000_000, **args)[1]
                        for _ in range(400)])

    # hazard detractors x rate x talk x negative_word / size: 1 a day per unit of talk
    assert put_off(1.0) == pytest.approx(1.0, rel=0.15)
    assert put_off(4.0) == pytest.approx(4.0, rel=0.1)


def test_the_bass_peak_is_at_zero_without_imitation():
    assert rules.bass_peak_time(0.01, 0.0) == 0.0
    assert rules.bass_peak_time(0.05, 0.01) == 0.0  # imitation weaker than innovation
    assert rules.bass_peak_time(0.01, 0.3) == pytest.approx(math.log(30) / 0.31)
    assert rules.bass_cumulative(0, 0.01, 0.3) == 0.0


def test_utilization_of_one_slot_left_unused_is_nil():
    assert rules.utilization(0, 1, True) == 0.0 and rules.utilization(1, 1, False) == 1.0


def test_the_quoted_wait_and_its_effect_at_the_smallest_sizes():
    assert rules.quoted_wait(1, 4) == 0.25  # one order ahead is a quarter day of work
    assert rules.quoted_wait(5, 0.5) == 10.0  # half an order a day: ten days
    assert rules.wait_acceptance(2.5, 2, 3, 1.0) == pytest.approx(0.5)  # a one-day span
    rng = np.random.default_rng(0)
    leads, _ = rules.new_leads(rng, unreached=1_000_000, size=1_000_000, contacts=0.5,
                               quality=1.0, promoters=0, contact_rate=0.0, adoption=0.0,
                               detractors=0, detractor_talk=1.0, negative_word=0.0)
    assert leads in (0, 1, 2, 3)  # half a contact a day reaches someone now and then
    assert sum(rules.new_leads(rng, unreached=1_000_000, size=1_000_000, contacts=0.5,
                               quality=1.0, promoters=0, contact_rate=0.0, adoption=0.0,
                               detractors=0, detractor_talk=1.0, negative_word=0.0)[0]
               for _ in range(200)) > 50
