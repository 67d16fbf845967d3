"""Confidence intervals, one way for the whole project."""

from __future__ import annotations

import math

import numpy as np


def t_quantile(p: float, df: int) -> float:
    """Student's t quantile (``scipy.stats.t.ppf(p, df)``).

    From ``scipy.special.stdtrit``, which is what ``scipy.stats`` calls, imported
    on first use: importing all of ``scipy.stats`` would add half a second to
    every command's start-up, and the command line asks for it only once its
    own work is done (:func:`prepare`).
    """
    from scipy.special import stdtrit

    return float(stdtrit(df, p))


def prepare() -> None:
    """Import what :func:`t_quantile` needs now (while waiting for something else)."""
    import scipy.special  # noqa: F401


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
