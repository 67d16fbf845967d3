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


def test_recovery_never_beats_no_failure_and_repeat_failures_weigh_more():
    prior = np.array([0, 1, 2])
    p = rules.repurchase_probability(0.99, 0.9, prior, 0.5)
    assert p.tolist() == pytest.approx([0.9, 0.45, 0.225])


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
    assert rules.function_cost(10, 3, 5.0, 1.0, 1.0) == 100.0
    assert rules.function_cost(math.inf, 3, 5.0, 0.0, 1.0) == 15.0  # unlimited pays per case


def test_customer_lifetime_value_formula():
    # m r / (1 + d - r) equals the discounted sum of m r^t / (1 + d)^t, t >= 1
    m, r, d = 60.0, 0.8, 0.01
    series = sum(m * r**t / (1 + d) ** t for t in range(1, 2000))
    assert rules.customer_lifetime_value(m, r, d) == pytest.approx(series)
