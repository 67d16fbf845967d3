"""Queues obey Little's law; the chain's throughput is set by its bottleneck."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import run, scenario

from chainsim import ChainModel

# A business where every queue is busy and people give up waiting.
CONGESTED = scenario(
    market={"size": 200_000},
    marketing={"capacity": 400, "quality": 0.1},
    sales={"capacity": 30, "quality": 0.6, "patience": 4},
    operations={"capacity": 55, "quality": 0.8, "promised_days": 2},
    service={"capacity": 6, "quality": 0.7, "patience": 6},
    retention={"interval_days": 12},
)


@pytest.mark.parametrize("function", ["sales", "operations", "service"])
def test_littles_law_on_each_queue(function):
    days = 730
    model = ChainModel(CONGESTED, rng=8)
    result = model.run(days)
    queue = getattr(model, function).queue
    mean_length = result.timeseries[f"{function}_queue"].mean()
    assert mean_length > 3, "the queue should be busy for the test to mean anything"
    arrival_rate = queue.arrivals / days
    mean_wait = queue.total_wait / queue.departures
    # L = lambda W. Those still queued at the end have unfinished waits; over two
    # years that boundary effect is well under 3 % (exact identity in test_queues).
    assert mean_length == pytest.approx(arrival_rate * mean_wait, rel=0.03)


def test_patience_runs_out_in_the_congested_business():
    ts = run(CONGESTED, 365, seed=8).timeseries
    assert ts.leads_lost.sum() > 0 and ts.complaints_unresolved.sum() > 0


# Plenty of leads that all buy; Operations can deliver only 30 orders a day.
OPS_BOUND = scenario(
    market={"size": 100_000},
    marketing={"capacity": 500, "quality": 0.2},
    sales={"capacity": 100, "quality": 1.0, "patience": 30},
    operations={"capacity": 30},
    service={"capacity": 50},
)


def _throughput(sc, seed=1, days=200):
    ts = run(sc, days, seed).timeseries
    return ts, ts.deliveries.iloc[-100:].mean()


def test_deliveries_never_exceed_operations_capacity():
    ts, throughput = _throughput(OPS_BOUND)
    assert ts.deliveries.max() <= 30
    assert throughput == 30  # saturated: the backlog never runs dry
    frac = run(OPS_BOUND.replace({"operations.capacity": 12.5}), 100).timeseries
    assert frac.deliveries.max() <= 13 and frac.deliveries.iloc[-50:].sum() <= 12.5 * 50 + 1


def test_raising_a_non_bottleneck_capacity_does_not_raise_throughput():
    _, base = _throughput(OPS_BOUND)
    for path, value in [("service.capacity", 100), ("sales.capacity", 200),
                        ("marketing.capacity", 1000)]:
        _, more = _throughput(OPS_BOUND.replace({path: value}))
        assert more == base, path


def test_raising_the_bottleneck_raises_throughput():
    _, base = _throughput(OPS_BOUND)
    _, more = _throughput(OPS_BOUND.replace({"operations.capacity": 45}))
    assert more == pytest.approx(base * 1.5)


def test_sales_as_bottleneck_caps_first_purchases():
    sc = OPS_BOUND.replace({"sales.capacity": 10, "operations.capacity": 200})
    ts = run(sc, 150).timeseries
    assert ts.first_purchases.max() <= 10 and ts.sales_utilization.iloc[-50:].min() == 1.0
    more_ops = run(sc.replace({"operations.capacity": 400}), 150).timeseries
    assert more_ops.first_purchases.sum() == ts.first_purchases.sum()
    np.testing.assert_array_equal(more_ops.first_purchases, ts.first_purchases)
