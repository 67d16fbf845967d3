"""The run summary and the per-day record, against answers worked out by hand."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from chainsim.metrics import COLUMNS, FLOATS, LOSS_SOURCES, DayLedger, DayRecord, growth_rate, \
    summarize
from chainsim.rules import EXPERIENCES


def table(days: int = 90, **columns) -> dict[str, np.ndarray]:
    """A per-day table of zeros with ``columns`` set (scalars fill every day)."""
    out = {c: np.zeros(days) for c in COLUMNS}
    out["day"] = np.arange(1, days + 1, dtype=float)
    for name, value in columns.items():
        out[name] = np.broadcast_to(np.asarray(value, dtype=float), (days,)).copy()
    return out


def test_growth_is_compound_monthly_from_the_end_of_the_first_month():
    days = np.arange(1, 121)
    active = 100 * 1.1 ** ((days - 30) / 30)  # 10 % a month, exactly
    assert growth_rate(active) == pytest.approx(0.10, rel=1e-12)
    assert growth_rate(np.full(120, 50.0)) == 0.0
    shrink = 1000 * 0.5 ** ((days - 30) / 90)  # halves every 90 days
    assert growth_rate(shrink) == pytest.approx(0.5 ** (30 / 90) - 1, rel=1e-12)
    # measured from day 30 (index 29) to the last day
    custom = np.ones(61)
    custom[29], custom[-1] = 10.0, 40.0
    assert growth_rate(custom) == pytest.approx(4.0 ** (30 / 31) - 1, rel=1e-12)


def test_growth_starts_at_the_first_customer_and_needs_two_months():
    assert math.isnan(growth_rate(np.ones(59)))
    assert math.isnan(growth_rate(np.zeros(120)))
    late = np.zeros(120)
    late[49:] = 20.0  # no customer until day 50
    late[-1] = 80.0
    assert growth_rate(late) == pytest.approx(4.0 ** (30 / (119 - 49)) - 1, rel=1e-12)
    only_last = np.zeros(120)
    only_last[-1] = 5.0
    assert math.isnan(growth_rate(only_last))  # no span to measure over


def test_the_summary_adds_up_what_happened():
    t = table(days=60, first_purchases=2, repeat_purchases=6, deliveries=8, complaints=1,
              complaints_resolved=1, cancelled_orders=0, churned=1, churned_no_problem=1,
              leads_new=5, active_customers=np.linspace(100, 130, 60), revenue=800.0,
              cost=700.0, profit=100.0, satisfaction_mean=np.linspace(0.9, 0.95, 60),
              operations_queue=np.r_[np.zeros(59), 7.0])
    s = summarize(t)
    assert s["days"] == 60 and s["orders"] == 480
    assert (s["first_purchases"], s["repeat_purchases"]) == (120, 360)
    assert s["repeat_purchase_rate"] == pytest.approx(360 / 480)
    # finished orders: 480 deliveries - 60 complaints + 60 concluded; 60 churned
    assert s["renewal_rate"] == pytest.approx(1 - 60 / 480)
    assert s["revenue"] == pytest.approx(48_000) and s["profit"] == pytest.approx(6_000)
    assert s["active_customers"] == 130 and s["leads"] == 300
    assert s["satisfaction_mean"] == pytest.approx(0.95)
    assert s["queue_max"] == {"sales": 0, "operations": 7, "service": 0}
    assert s["growth_rate"] == pytest.approx(growth_rate(t["active_customers"]))
    assert s["left_after"]["no_problem"] == 60
    assert s["most_losses_at"] is None  # leaving after no problem is nobody's loss


@pytest.mark.parametrize(("column", "function"), [
    (c, f) for f, cols in LOSS_SOURCES.items() for c in cols])
def test_every_loss_is_booked_to_its_own_function(column, function):
    s = summarize(table(days=10, **{column: 3}))
    assert s["losses"][function] == 30
    assert sum(s["losses"].values()) == 30
    assert s["most_losses_at"] == function
    assert s["losses_detail"].get(column, 30) == 30


def test_a_tie_in_losses_names_the_earlier_link():
    s = summarize(table(days=10, not_converted=2, churned_unresolved=2))
    assert s["losses"]["sales"] == s["losses"]["service"] == 20
    assert s["most_losses_at"] == "sales"


def test_renewal_needs_a_finished_order():
    s = summarize(table(days=10))
    assert math.isnan(s["renewal_rate"]) and s["repeat_purchase_rate"] == 0.0


@pytest.mark.parametrize("n", [15, 16, 17, 40])
def test_the_ledger_counts_churn_the_same_one_by_one_and_in_bulk(n):
    """A few leavers are tallied one by one, many with a bincount: the same counts."""
    classes = np.random.default_rng(n).integers(0, len(EXPERIENCES), size=n)
    ledger = DayLedger()
    ledger.churn(classes)
    expected = np.bincount(classes, minlength=len(EXPERIENCES))
    assert [getattr(ledger, f"churned_{e}") for e in EXPERIENCES] == expected.tolist()
    assert ledger.churned == n


def test_the_ledger_counts_churn_by_experience():
    ledger = DayLedger()
    ledger.reset(3)
    ledger.churn(np.array([0, 1, 1, 5, 2]))
    ledger.churn(np.array([4]))
    ledger.churn(np.array([], dtype=int))
    assert ledger.churned == 6 and ledger.day == 3
    counts = {e: getattr(ledger, f"churned_{e}") for e in EXPERIENCES}
    assert counts == {"no_problem": 1, "silent_problem": 2, "unresolved": 1, "resolved": 0,
                      "resolved_quickly": 1, "cancelled": 1}
    ledger.reset(4)
    assert ledger.churned == 0 and ledger.churned_silent_problem == 0


def test_the_record_keeps_counts_whole_and_amounts_as_floats():
    record = DayRecord()
    empty = record.get_model_vars_dataframe()
    assert list(empty.columns) == list(COLUMNS) and len(empty) == 0
    ledger = DayLedger()
    for day in (1, 2):
        ledger.reset(day)
        ledger.deliveries, ledger.revenue, ledger.satisfaction_mean = 3 * day, 1.5 * day, 0.5
        record.append(ledger.row())
    frame = record.get_model_vars_dataframe()
    assert frame.deliveries.tolist() == [3, 6] and frame.deliveries.dtype == np.int64
    assert frame.revenue.tolist() == [1.5, 3.0] and frame.revenue.dtype == float
    assert {c for c in COLUMNS if frame[c].dtype == float} == set(FLOATS)
    pd.testing.assert_frame_equal(frame, pd.DataFrame(record.columns()))
    assert record.model_vars["deliveries"] == [3, 6]


def test_an_empty_run_summarizes_to_zeros_and_nans():
    s = summarize(table(days=0))
    assert s["days"] == 0 and s["orders"] == 0
    assert s["customers_total"] == 0 and s["active_customers"] == 0
    assert math.isnan(s["satisfaction_mean"]) and math.isnan(s["growth_rate"])
    assert s["queue_max"] == {"sales": 0, "operations": 0, "service": 0}
    assert s["most_losses_at"] is None


def test_every_total_is_its_own_column():
    values = {c: float(i + 2) for i, c in enumerate(COLUMNS) if c != "day"}
    s = summarize(table(days=2, **values))
    for key in ("revenue", "cost", "profit"):
        assert s[key] == 2 * values[key]
    for key, column in (("complaints", "complaints"), ("deliveries", "deliveries"),
                        ("leads", "leads_new"), ("cancelled_orders", "cancelled_orders")):
        assert s[key] == 2 * values[column]
    assert s["customers_total"] == values["customers_total"]
    assert s["active_customers"] == values["active_customers"]
    decided = 2 * (values["deliveries"] - values["complaints"] + values["complaints_resolved"]
                   + values["complaints_unresolved"] + values["cancelled_orders"])
    assert s["renewal_rate"] == pytest.approx(1 - 2 * values["churned"] / decided)


def test_one_person_lost_is_a_loss():
    t = table(days=1, leads_lost=1)
    assert summarize(t)["most_losses_at"] == "sales"


def test_growth_from_a_single_customer_and_over_a_single_day():
    one = np.ones(90)
    one[-1] = 3.0
    assert growth_rate(one) == pytest.approx(3.0 ** (30 / 60) - 1)  # one customer is a start
    short = np.zeros(61)
    short[59], short[60] = 10.0, 20.0  # a first customer on the day before the last
    assert growth_rate(short) == pytest.approx(2.0 ** 30 - 1)


def test_a_ledger_starts_at_day_0_and_adds_up_churn_across_calls():
    ledger = DayLedger()
    assert ledger.day == 0 and ledger.churned == 0
    ledger.churn(np.array([1]))
    ledger.churn(np.array([1]))
    ledger.churn(np.array([1, 1]))
    assert ledger.churned_silent_problem == 4
    empty = DayRecord().columns()
    assert all(len(v) == 0 for v in empty.values())
    assert all(dtype == float for dtype in DayRecord().get_model_vars_dataframe().dtypes)
