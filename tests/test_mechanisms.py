"""The mechanisms that decide which link matters, each pinned down in the engine.

Cancelled orders (Operations' patience), leads who hear the wait, problems held
against the business or forgiven, experience classes in journeys and summary,
and the hand-off's cost. Each test builds the smallest business where the answer
is known exactly.
"""

from __future__ import annotations

import numpy as np
import pytest
from helpers import run, scenario

from chainsim import ChainModel
from chainsim.customers import CHURNED, DECLINED_WAIT
from chainsim.rules import EXPERIENCES, UNRESOLVED, quality_factor


def _stuck_orders(patience: int, customers: int = 50):
    """Customers who all order on day 1 from an Operations that never delivers."""
    return scenario(
        market={"size": 10_000, "customers_at_start": customers},
        marketing={"capacity": 0},
        word_of_mouth={"contact_rate": 0.0, "detractor_days": 30},
        operations={"capacity": 0, "patience": patience},
        retention={"interval_days": 1},
    )


@pytest.mark.parametrize("patience", [0, 1, 3, 9])
def test_an_order_not_started_within_patience_is_cancelled_on_the_next_day(patience):
    sc = _stuck_orders(patience)
    result = run(sc, patience + 3, journeys=True)
    cancelled = result.timeseries.set_index("day").cancelled_orders
    # ordered on day 1, still waiting on day 1 + patience, gone the day after
    assert cancelled.loc[: patience + 1].sum() == 0
    assert cancelled.loc[patience + 2] == 50
    assert result.summary["cancelled_orders"] == 50
    assert result.summary["left_after"]["cancelled"] == 50
    assert result.summary["losses"]["operations"] == 50
    assert result.summary["active_customers"] == 0 and result.timeseries.operations_queue.iloc[-1] == 0
    j = result.journeys
    assert (j[j.event == "cancelled"].day == patience + 2).all()
    leaves = j[j.event == "leaves"]
    assert len(leaves) == 50 and set(leaves.experience.astype(str)) == {"cancelled"}


def test_cancelled_customers_leave_unhappy_and_talk_as_detractors():
    model = ChainModel(_stuck_orders(2), rng=1)
    model.run(4)  # cancelled on day 4
    assert model.ledger.detractors == 50  # left unhappy, still talking
    assert (model.customers.place[:50] == CHURNED).all()
    model.run(30)
    assert model.ledger.detractors == 0  # detractor_days later they have stopped


def test_detractors_who_left_on_one_day_stop_talking_together_whoever_they_blame():
    """Two batches leave unhappy on the same day, one blaming each link: each is
    counted against its own link, and all of them stop talking detractor_days later."""
    sc = scenario(market={"size": 1_000, "customers_at_start": 10},
                  word_of_mouth={"detractor_days": 5}, retention={"unresolved": 0.0})
    model = ChainModel(sc, rng=1)
    book, ids = model.customers, np.arange(10)
    book.problems[ids] = 1  # each holds the problem they complain about
    book.complaint_outcome(ids[:4], np.full(4, UNRESOLVED), day=10)  # they will leave today
    book.cancelled(ids[4:7], day=10)  # these leave at once, blaming Operations
    book.settle(10)
    assert book.left_unhappy == [3, 4]
    assert book.detractors_by_blame() == (3, 4)
    book.end_day(14)
    assert book.left_unhappy == [3, 4]
    book.end_day(15)
    assert book.left_unhappy == [0, 0] and book.detractors == 0


def _long_backlog(quotes: float):
    """A backlog of 50 days of work at Operations, and leads arriving at Sales every day.

    The 500 repeat orders of day 1 reach Operations before Sales works, so every
    lead is told a wait of 49 days or more: past the 30-day patience.
    """
    return scenario(
        market={"size": 100_000, "customers_at_start": 500},
        marketing={"capacity": 300, "quality": 0.1},
        sales={"capacity": "unlimited", "quality": 1.0, "quotes_lead_time": quotes},
        operations={"capacity": 10, "promised_days": 3, "patience": 30},
        retention={"interval_days": 1},
    )


def test_leads_told_a_wait_past_the_patience_do_not_buy_and_are_lost_at_operations():
    told = run(_long_backlog(1.0), 10, journeys=True)
    ts = told.timeseries
    assert ts.first_purchases.sum() == 0 and ts.declined_wait.sum() > 100
    assert told.summary["losses_detail"]["declined_wait"] == ts.declined_wait.sum()
    j = told.journeys
    assert (j.event == "declined_wait").sum() == ts.declined_wait.sum()
    not_told = run(_long_backlog(0.0), 10)
    assert not_told.timeseries.declined_wait.sum() == 0
    assert not_told.timeseries.first_purchases.sum() > 100
    model = ChainModel(_long_backlog(1.0), rng=1)
    model.run(10)
    census = model.census()
    assert census["declined_wait"] == ts.declined_wait.sum()
    book = model.customers  # slots past book.n are unused (uninitialised) space
    assert (book.place[: book.n] == DECLINED_WAIT).sum() == census["declined_wait"]


def _failing(service_quality: float):
    """Every delivery fails; every customer complains; Service answers everyone at once."""
    return scenario(
        market={"size": 20_000, "customers_at_start": 2_000},
        marketing={"capacity": 0},
        word_of_mouth={"contact_rate": 0.0},
        operations={"capacity": "unlimited", "quality": 0.0},
        customers={"complain_probability": 1.0},
        service={"capacity": "unlimited", "quality": service_quality},
        retention={"interval_days": 10, "churn_per_year": 0.0, "repeat_failure_factor": 0.5,
                   "resolved_quickly": 1.0, "unresolved": 0.9},
    )


def test_a_resolved_complaint_is_forgiven_an_unresolved_one_is_held():
    forgiven = ChainModel(_failing(1.0), rng=3)
    forgiven.run(60)
    book = forgiven.customers
    active = np.isin(book.place[: book.n], (1, 2, 3))
    assert active.sum() == 2_000  # resolved_quickly = 1 and nothing held: nobody leaves
    assert (book.problems[: book.n][active] == 0).all()
    held = ChainModel(_failing(0.0), rng=3)
    result = held.run(60)
    book = held.customers
    active = np.isin(book.place[: book.n], (1, 2, 3))
    # six problems each, held: the k-th complaint keeps 0.9 x 0.5^(k-1) of them
    assert result.summary["active_customers"] < 0.02 * 2_000
    assert book.problems[: book.n].max() >= 3


def test_decisions_carry_their_experience_and_the_summary_counts_who_left_after_what():
    sc = scenario(operations={"capacity": 40, "quality": 0.8}, service={"capacity": 3})
    result = run(sc, 200, journeys=True)
    j = result.journeys
    decisions = j.event.isin(["stays", "leaves"])
    assert j.experience[decisions].notna().all() and j.experience[~decisions].isna().all()
    left = j[j.event == "leaves"].experience.astype(str).value_counts()
    summary = result.summary
    assert set(summary["left_after"]) == set(EXPERIENCES)
    for experience, count in summary["left_after"].items():
        assert count == left.get(experience, 0) == result.timeseries[f"churned_{experience}"].sum()
    assert sum(summary["left_after"].values()) == result.timeseries.churned.sum()
    t = result.timeseries.sum()
    decided = (t.deliveries - t.complaints + t.complaints_resolved + t.complaints_unresolved
               + t.cancelled_orders)
    assert summary["renewal_rate"] == pytest.approx(1 - t.churned / decided)
    assert decisions.sum() == decided


def test_the_hand_off_is_paid_for_every_day():
    sc = scenario(
        marketing={"cost": 0.0}, sales={"cost": 0.0}, operations={"cost": 0.0},
        service={"cost": 0.0}, handoff={"cost": 100.0, "quality": 0.5},
        economics={"cost_of_goods": 0.0, "quality_premium": 0.25},
    )
    ts = run(sc, 20).timeseries
    assert ts.cost.tolist() == pytest.approx([100.0 * quality_factor(0.5, 0.25)] * 20)
    assert ts.profit.tolist() == pytest.approx((ts.revenue - 125.0).tolist())


def test_a_delivery_without_a_problem_costs_no_customer_when_nobody_churns_anyway():
    """No problem, no everyday churn: every decision is to stay (the episode counts 1)."""
    sc = scenario(
        market={"size": 10_000, "customers_at_start": 200},
        operations={"capacity": 1_000, "quality": 1.0},
        handoff={"quality": 1.0},
        sales={"overpromise": 0.0},
        retention={"churn_per_year": 0.0, "interval_days": 5},
    )
    result = run(sc, 120, journeys=True)
    t = result.timeseries.sum()
    assert t.problems == 0 and t.deliveries > 4_000
    assert t.churned == 0
    stays = result.journeys[result.journeys.event == "stays"]
    assert len(stays) == t.deliveries
    assert (stays.experience.astype(str) == "no_problem").all()
