"""The business rules, each on its own."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from chainsim import rules


@given(capacity=st.floats(0, 500, allow_nan=False), days=st.integers(1, 400))
def test_fractional_capacity_adds_up_over_days(capacity, days):
    slots = [rules.slots_on_day(capacity, d) for d in range(1, days + 1)]
    assert all(s >= 0 and float(s).is_integer() for s in slots)
    assert sum(slots) == pytest.approx(math.floor(capacity * days + 1e-9))
    assert max(slots) - min(slots) <= 1  # spread evenly, never bunched


def test_unlimited_capacity_stays_unlimited():
    assert rules.slots_on_day(math.inf, 3) == math.inf
    assert rules.utilization(10_000, math.inf, True) == 0.0


@given(handled=st.integers(0, 100), slots=st.integers(0, 100), waiting=st.booleans())
def test_utilization_is_a_share(handled, slots, waiting):
    handled = min(handled, slots)
    u = rules.utilization(handled, float(slots), waiting)
    assert 0.0 <= u <= 1.0
    if slots == 0:
        assert u == (1.0 if waiting else 0.0)


def _lead_args(**kw):
    args = dict(unreached=50_000, size=100_000, contacts=300.0, quality=0.5, promoters=2_000,
                contact_rate=0.1, adoption=0.2, detractors=0, detractor_talk=2.0,
                negative_word=0.0)
    args.update(kw)
    return args


def test_new_leads_match_the_bass_hazard_on_average():
    rng = np.random.default_rng(3)
    a = _lead_args()
    hazard = (a["contacts"] * a["quality"] + a["promoters"] * a["contact_rate"] * a["adoption"]) / a["size"]
    expected = a["unreached"] * -math.expm1(-hazard)  # 99.5 a day
    draws = [rules.new_leads(rng, **a)[0] for _ in range(4_000)]
    # standard error of the mean is about sqrt(99.5 / 4000) = 0.16; allow 5 of them
    assert np.mean(draws) == pytest.approx(expected, abs=0.8)


def test_detractors_put_people_off_and_take_leads_away():
    rng = np.random.default_rng(4)
    calm = [rules.new_leads(rng, **_lead_args()) for _ in range(500)]
    angry = [rules.new_leads(rng, **_lead_args(detractors=5_000, negative_word=0.5)) for _ in range(500)]
    assert sum(off for _, off in calm) == 0
    assert np.mean([off for _, off in angry]) > 50
    assert np.mean([lead for lead, _ in angry]) < np.mean([lead for lead, _ in calm])


def test_no_one_is_put_off_when_no_one_speaks_ill():
    """With no detractors, p_any - p_lead is rounding (here 7e-18), which a market of
    1e18 would turn into a few people put off by no one (then Marketing divided 0 by 0)."""
    rng = np.random.default_rng(1)
    size, contacts = 10**18, 1e17 + 2294 * 1.3e13
    p_any = -math.expm1(-contacts * 0.37 / size)
    assert p_any - p_any * (contacts * 0.37) / (contacts * 0.37) > 0  # the rounding is there
    leads, off = rules.new_leads(rng, **_lead_args(unreached=size, size=size, contacts=contacts,
                                                   quality=0.37, promoters=0, detractors=0))
    assert off == 0 and leads > 0


@given(unreached=st.integers(0, 10_000), contacts=st.floats(0, 1e6), detractors=st.integers(0, 10**6))
def test_never_more_leads_than_people_left(unreached, contacts, detractors):
    rng = np.random.default_rng(0)
    leads, off = rules.new_leads(rng, **_lead_args(unreached=unreached, contacts=contacts,
                                                 detractors=detractors, negative_word=1.0))
    assert 0 <= leads and 0 <= off and leads + off <= unreached


def test_unlimited_marketing_reaches_everyone_at_once():
    rng = np.random.default_rng(0)
    assert rules.new_leads(rng, **_lead_args(contacts=math.inf)) == (50_000, 0)
    # ...unless none of its contacts ever take
    leads, _ = rules.new_leads(rng, **_lead_args(contacts=math.inf, quality=0.0, promoters=0))
    assert leads == 0


def test_bass_curve_solves_the_bass_equation():
    p, q = 0.01, 0.2
    t = np.linspace(0, 60, 6001)
    f = rules.bass_cumulative(t, p, q)
    assert f[0] == 0 and f[-1] == pytest.approx(1, abs=1e-3)
    slope = np.gradient(f, t)
    assert np.allclose(slope, (p + q * f) * (1 - f), atol=1e-5)
    # the adoption rate peaks at t* = ln(q/p) / (p+q)
    assert t[np.argmax(slope)] == pytest.approx(rules.bass_peak_time(p, q), abs=0.02)


def test_overpromising_converts_a_little_more_but_raises_expectations():
    assert rules.conversion_probability(0.4, 0.0) == 0.4
    assert rules.conversion_probability(0.4, 0.25) == pytest.approx(0.5)
    assert rules.conversion_probability(0.9, 0.5) == 1.0
    assert rules.expectation(0.0) == 1.0 and rules.expectation(0.3) == 1.3


def test_right_first_time_needs_both_the_handoff_and_the_work():
    assert rules.right_first_time(1.0, 1.0) == 1.0
    assert rules.right_first_time(0.9, 0.8) == pytest.approx(0.72)


def test_satisfaction_is_expectation_disconfirmation():
    right = np.array([True, True, False, False])
    late = np.array([False, True, False, True])
    value = rules.delivery_value(right, late, late_penalty=0.5)
    assert value.tolist() == [1.0, 0.5, 0.0, 0.0]
    honest = rules.satisfaction(value, 1.0)
    assert honest.tolist() == [1.0, 0.5, 0.0, 0.0]
    oversold = rules.satisfaction(value, 1.15)
    assert (oversold <= honest).all() and oversold[0] == pytest.approx(0.85)
    assert rules.is_problem(honest, 0.2).tolist() == [False, True, True, True]
    # a small over-promise stays inside the zone of tolerance, a large one does not
    assert not rules.is_problem(oversold[:1], 0.2)[0]
    assert rules.is_problem(rules.satisfaction(value[:1], 1.3), 0.2)[0]


def test_recovery_gives_back_and_hassle_takes_away():
    s = np.array([0.0, 0.5])
    assert rules.recover(s, 0.8).tolist() == pytest.approx([0.8, 0.9])
    assert rules.aggravate(s, 0.5).tolist() == [0.0, 0.25]
    # what was lost is measured from the no-failure level: 0.85 when 0.15 was over-promised
    before = rules.no_failure_satisfaction(np.array([1.0, 1.15, 1.5]))
    assert before.tolist() == pytest.approx([1.0, 0.85, 0.5])
    assert rules.recover(np.array([0.0]), 0.8, before=0.85)[0] == pytest.approx(0.68)


def test_a_quick_recovery_can_beat_no_failure_for_satisfaction_the_paradox():
    late, wrong = np.array([0.5]), np.array([0.0])
    # gives back 90 % of what was lost and adds 0.1, up to 0.1 above the no-failure level
    assert rules.recover_quickly(late, 0.9, 0.1)[0] == pytest.approx(1.05)
    assert rules.recover_quickly(wrong, 0.9, 0.1)[0] == pytest.approx(1.0)
    # never more than the paradox above the no-failure level, even from above it
    assert rules.recover_quickly(np.array([1.0]), 0.9, 0.1, before=0.9)[0] == pytest.approx(1.0)
    assert rules.recover_quickly(late, 0.9, 0.0)[0] == pytest.approx(0.95)  # no paradox
    assert rules.recover_quickly(wrong, 0.9, 0.1, before=0.7)[0] == pytest.approx(0.73)


def test_everyday_loyalty_is_a_hazard_in_time_not_per_order():
    gaps = np.array([7, 30, 91, 365])
    loyal = rules.everyday_loyalty(0.2, gaps)
    assert loyal[-1] == pytest.approx(0.8)
    # a year of orders keeps the same share, whatever the gap between them
    for gap, p in zip(gaps, loyal, strict=True):
        assert p ** (365 / gap) == pytest.approx(0.8)
    assert rules.everyday_loyalty(0.2, gaps, no_problem=0.9).tolist() == [0.9] * 4
    assert rules.everyday_loyalty(0.0, gaps).tolist() == [1.0] * 4


def test_an_episode_is_judged_once_and_held_problems_weigh_on_the_next():
    prior = np.array([0, 1, 2])
    assert rules.episode_retention(0.95, prior, 0.5).tolist() == pytest.approx(
        [0.95, 0.475, 0.2375])
    assert rules.episode_retention(0.37, prior, 1.0).tolist() == pytest.approx([0.37] * 3)
    assert rules.episode_retention(np.array([0.46, 0.7]), np.array([0, 0]), 0.0).tolist() == \
        pytest.approx([0.46, 0.7])  # no memory needed for a first problem


def test_the_wait_a_lead_is_told_puts_them_off_past_the_promise():
    assert rules.quoted_wait(0, 10) == 0 and rules.quoted_wait(30, 10) == 3.0
    assert rules.quoted_wait(5, math.inf) == 0 and rules.quoted_wait(5, 0) == math.inf
    promise, patience = 3, 14
    assert rules.wait_acceptance(3.0, promise, patience, 1.0) == 1.0
    assert rules.wait_acceptance(8.5, promise, patience, 1.0) == pytest.approx(0.5)
    assert rules.wait_acceptance(14.0, promise, patience, 1.0) == 0.0
    assert rules.wait_acceptance(30.0, promise, patience, 1.0) == 0.0
    assert rules.wait_acceptance(30.0, promise, patience, 0.25) == pytest.approx(0.75)
    assert rules.wait_acceptance(30.0, promise, patience, 0.0) == 1.0  # not told: buys anyway
    assert rules.wait_acceptance(4.0, 5, 5, 1.0) == 1.0 and rules.wait_acceptance(6, 5, 5, 1) == 0


def test_each_halving_of_failures_costs_the_premium_again():
    assert rules.quality_factor(0.0, 0.25) == 1.0
    assert rules.quality_factor(0.5, 0.25) == pytest.approx(1.25)
    assert rules.quality_factor(0.75, 0.25) == pytest.approx(1.5)
    assert rules.quality_factor(0.875, 0.25) == pytest.approx(1.75)
    # quality 1 is priced as 99.9 %: finite, and the dearest of all
    assert rules.quality_factor(1.0, 0.25) == pytest.approx(rules.quality_factor(0.999, 0.25))
    assert rules.quality_factor(1.0, 0.25) == pytest.approx(1 + 0.25 * math.log2(1000))
    assert rules.quality_factor(0.9, 0.0) == 1.0


@pytest.mark.parametrize("spread", [0.0, 0.25, 1.0])
def test_days_between_orders_have_the_asked_mean(spread):
    rng = np.random.default_rng(5)
    days = rules.days_to_next_order(rng, 100_000, 20.0, spread)
    assert days.min() >= 1 and days.dtype.kind == "i"
    assert days.mean() == pytest.approx(20.0, rel=0.01)
    if spread == 0:
        assert (days == 20).all()
    else:
        assert days.std() / days.mean() == pytest.approx(spread, rel=0.05)


def test_cost_grows_with_capacity_and_with_quality():
    base = rules.function_cost(10, 3, 5.0, 0.0, 1.0)
    assert base == 50.0
    assert rules.function_cost(20, 3, 5.0, 0.0, 1.0) == 100.0
    assert rules.function_cost(10, 3, 5.0, 0.5, 1.0) == 100.0  # one halving: the premium again
    assert rules.function_cost(math.inf, 3, 5.0, 0.0, 1.0) == 15.0  # unlimited pays per case


def test_customer_lifetime_value_formula():
    # m r / (1 + d - r) equals the discounted sum of m r^t / (1 + d)^t, t >= 1
    m, r, d = 60.0, 0.8, 0.01
    series = sum(m * r**t / (1 + d) ** t for t in range(1, 2000))
    assert rules.customer_lifetime_value(m, r, d) == pytest.approx(series)
