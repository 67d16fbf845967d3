"""The one confidence interval, against scipy.stats (an oracle chainsim did not write)."""

from __future__ import annotations

import math

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from chainsim.intervals import mean_ci, t_quantile


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(-1e6, 1e6, allow_nan=False), min_size=2, max_size=60))
def test_mean_ci_is_the_student_t_interval_of_scipy(values):
    mean, sd, lo, hi = mean_ci(values)
    x = np.asarray(values)
    assert math.isclose(mean, x.mean(), rel_tol=1e-12, abs_tol=1e-9)
    assert math.isclose(sd, x.std(ddof=1), rel_tol=1e-9, abs_tol=1e-9)
    if sd > 0:
        want_lo, want_hi = stats.t.interval(0.95, len(x) - 1, loc=x.mean(), scale=stats.sem(x))
        assert math.isclose(lo, want_lo, rel_tol=1e-9, abs_tol=1e-6)
        assert math.isclose(hi, want_hi, rel_tol=1e-9, abs_tol=1e-6)
    else:
        assert lo == hi == mean


def test_t_quantiles_for_the_degrees_of_freedom_chainsim_uses():
    for df in (1, 2, 4, 9, 29, 499):
        assert math.isclose(t_quantile(0.975, df), stats.t.ppf(0.975, df), rel_tol=1e-12)
    assert math.isclose(t_quantile(0.975, 2), 4.302652729749464, rel_tol=1e-12)


@settings(max_examples=100, deadline=None)
@given(st.floats(0.001, 0.999), st.sampled_from([1, 2]))
def test_the_closed_forms_for_one_and_two_degrees_of_freedom_are_scipys_quantiles(p, df):
    assert math.isclose(t_quantile(p, df), stats.t.ppf(p, df), rel_tol=1e-9, abs_tol=1e-12)


def test_mean_ci_leaves_out_non_finite_values_and_needs_two():
    assert mean_ci([1.0, math.nan, 3.0, math.inf])[:1] == (2.0,)
    mean, sd, lo, hi = mean_ci([5.0])
    assert mean == 5.0 and math.isnan(sd) and math.isnan(lo) and math.isnan(hi)
    assert all(math.isnan(v) for v in mean_ci([]))


def test_a_quantile_needs_a_probability_strictly_inside_0_and_1():
    import pytest

    for p in (0.0, 1.0, 1.5, -0.1):
        with pytest.raises(ValueError, match=r"p = .* is not allowed: must be between 0 and 1"):
            t_quantile(p, 3)
    assert len(mean_ci([])) == 4 and len(mean_ci([1.0])) == 4
