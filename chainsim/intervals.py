"""Confidence intervals, one way for the whole project."""

from __future__ import annotations

import math

import numpy as np


def t_quantile(p: float, df: int) -> float:
    """Student's t quantile (``scipy.stats.t.ppf(p, df)``).

    For one and two degrees of freedom the quantile has a closed form (the
    quick verdict of ``chainsim run`` uses three replications: two degrees);
    otherwise it comes from ``scipy.special.stdtrit``, which is what
    ``scipy.stats`` calls, imported on first use: importing it costs a quarter
    of a second, and all of ``scipy.stats`` half a second more.
    """
    if not 0.0 < p < 1.0:
        raise ValueError(f"p = {p!r} is not allowed: must be between 0 and 1")
    if df == 1:  # the Cauchy distribution
        return math.tan(math.pi * (p - 0.5))
    if df == 2:
        return (2.0 * p - 1.0) / math.sqrt(2.0 * p * (1.0 - p))
    from scipy.special import stdtrit

    return float(stdtrit(df, p))


def mean_ci(values) -> tuple[float, float, float, float]:
    """Mean, standard deviation and 95 % Student's t interval of the mean.

    Non-finite values are left out; with fewer than two values the spread and
    the interval are NaN.
    """
    values = np.asarray(values, dtype=float)
    values = values[np.isfinite(values)]
    n = len(values)
    if n == 0:
        return (math.nan,) * 4
    mean = float(values.mean())
    if n < 2:
        return mean, math.nan, math.nan, math.nan
    sd = float(values.std(ddof=1))
    half = t_quantile(0.975, n - 1) * sd / math.sqrt(n)
    return mean, sd, mean - half, mean + half
