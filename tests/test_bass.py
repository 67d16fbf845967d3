"""With nothing in the way, first purchases follow Bass diffusion."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import perfect_chain, run

from chainsim import rules

SIZE = 200_000


@pytest.mark.parametrize(
    ("p", "q", "days"),
    [
        (0.001, 0.03, 400),  # fast: word of mouth dominates
        (0.003, 0.02, 400),  # marketing and word of mouth alike
        (0.03 / 365, 0.38 / 365, 365 * 20),  # Sultan, Farley & Lehmann (1990) averages
    ],
)
def test_first_purchases_follow_the_bass_curve(p, q, days):
    contacts, rate = p * SIZE, 0.5
    sc = perfect_chain(
        market={"size": SIZE},
        marketing={"capacity": contacts, "quality": 1.0},
        word_of_mouth={"contact_rate": rate, "adoption": q / rate},
    )
    ts = run(sc, days, seed=3).timeseries
    simulated = ts.first_purchases.cumsum().to_numpy() / SIZE
    theory = rules.bass_cumulative(ts.day.to_numpy(), p, q)
    # One step is one day, so word of mouth reacts to yesterday's customers: at
    # these rates that lags the continuous curve by at most ~1.1 points; sampling
    # noise adds well under 0.5. "A few points" is 3.
    assert np.abs(simulated - theory).max() < 0.03
    assert simulated[-1] > 0.9


def test_no_customer_is_lost_in_the_perfect_chain():
    ts = run(perfect_chain(), 200).timeseries
    lost = ts[["leads_lost", "not_converted", "put_off", "churned", "complaints"]].sum()
    assert (lost == 0).all()
    assert (ts.satisfaction_mean.dropna() == 1.0).all()
