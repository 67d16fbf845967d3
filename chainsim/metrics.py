"""Per-day metrics and the run summary.

The names here are contracts: the CSV columns, the summary keys, the UI charts
and the docs all use them as written. Add new ones; never rename.
"""

from __future__ import annotations

import math
from operator import attrgetter
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from .rules import EXPERIENCES
from .schema import FUNCTIONS

#: Per-day columns, in output order, with what they count.
COLUMNS: dict[str, str] = {
    "day": "Day of the run (1 is the first day).",
    "leads_new": "People not yet reached who became leads today (Marketing and word of mouth).",
    "leads_lost": "Leads who gave up waiting for Sales (patience ran out).",
    "not_converted": "Leads Sales handled who did not buy.",
    "declined_wait": "Leads who would have bought but not at the wait Operations' backlog "
                     "meant (lost at Operations).",
    "put_off": "People not yet reached who were put off for good by a detractor.",
    "put_off_by_operations": "Of those, put off by customers a delivery left unhappy.",
    "put_off_by_service": "Of those, put off by customers a complaint left unhappy.",
    "first_purchases": "Leads who bought for the first time.",
    "repeat_purchases": "Orders placed by returning customers (straight to Operations).",
    "deliveries": "Orders Operations delivered.",
    "cancelled_orders": "Orders cancelled because Operations had not started them within its "
                        "patience (the customer leaves unhappy).",
    "late_deliveries": "Deliveries later than the promised lead time.",
    "failed_deliveries": "Deliveries that were not what the customer needed.",
    "problems": "Deliveries the customer saw as a problem (short of expectation beyond tolerance).",
    "complaints": "Customers who complained to Customer Service.",
    "complaints_resolved": "Complaints resolved (quickly or not).",
    "complaints_resolved_quickly": "Complaints resolved within the quick-response time.",
    "complaints_unresolved": "Complaints handled without resolution or not answered in time.",
    "churned": "Customers who decided not to buy again.",
    **{f"churned_{e}": f"Customers lost after an order with experience '{e}'." for e in EXPERIENCES},
    "active_customers": "Customers who bought and have not left (end of day).",
    "customers_total": "Everyone who has ever bought (end of day).",
    "promoters": "Active customers currently satisfied: they bring leads by word of mouth.",
    "detractors": "Unhappy active customers plus those who left unhappy and still talk.",
    "market_unreached": "People in the market not yet reached (end of day).",
    "satisfaction_mean": "Mean satisfaction of active customers after their latest experience "
                         "(1 = what was promised, 0 = none of it; a little above 1 after a "
                         "quick recovery: the recovery paradox).",
    "revenue": "Price x deliveries.",
    "cost": "Cost of the four functions' capacity and of the hand-off, plus cost of goods "
            "delivered.",
    "profit": "Revenue minus cost.",
    **{
        col: text
        for f in FUNCTIONS
        for col, text in (
            (f"{f}_queue", f"Cases waiting for {f.capitalize()} at the end of the day."),
            (f"{f}_utilization", f"Share of {f.capitalize()}'s capacity used today (0..1)."),
        )
    },
}

#: Columns that are end-of-day levels, not flows (not summed over time).
LEVELS = frozenset(
    {"day", "active_customers", "customers_total", "promoters", "detractors",
     "market_unreached", "satisfaction_mean"}
    | {f"{f}_{k}" for f in FUNCTIONS for k in ("queue", "utilization")}
)


#: Columns that hold amounts, shares and means; every other column is a whole count.
FLOATS = frozenset(
    {"satisfaction_mean", "revenue", "cost", "profit"}
    | {f"{f}_utilization" for f in FUNCTIONS}
)

_ROW = attrgetter(*COLUMNS)
_CHURN_COLUMNS = tuple(f"churned_{e}" for e in EXPERIENCES)
_ZEROS = dict.fromkeys(COLUMNS, 0)


class DayLedger:
    """Today's counts: reset at the start of each day, one row of the run's record at its end."""

    def __init__(self) -> None:
        self.reset(0)

    def reset(self, day: int) -> None:
        self.__dict__.update(_ZEROS)
        self.day = day

    def row(self) -> tuple:
        """Today's values, in :data:`COLUMNS` order."""
        return _ROW(self)

    def churn(self, classes: np.ndarray) -> None:
        """Count customers lost, by the experience class of their last order."""
        n = len(classes)
        if n:
            self.churned += n
            fields = self.__dict__
            if n <= 16:  # one by one: cheaper than a bincount for a few
                for k in classes.tolist():
                    fields[_CHURN_COLUMNS[k]] += 1
                return
            for name, k in zip(_CHURN_COLUMNS, np.bincount(classes, minlength=len(EXPERIENCES))
                               .tolist(), strict=True):
                if k:
                    fields[name] += k


class DayRecord:
    """The run so far, one ledger row a day: what Mesa's DataCollector would have collected.

    ``model.datacollector`` is one of these, so Mesa habits still work:
    ``model_vars`` (column -> list of daily values) and
    ``get_model_vars_dataframe()``. Recording a day is one tuple append, not a
    deep copy per reporter.
    """

    __slots__ = ("rows",)

    def __init__(self) -> None:
        self.rows: list[tuple] = []

    def __len__(self) -> int:
        return len(self.rows)

    def append(self, row: tuple) -> None:
        self.rows.append(row)

    @property
    def model_vars(self) -> dict[str, list]:
        """Column -> daily values, as Mesa's DataCollector keeps them."""
        if not self.rows:
            return {c: [] for c in COLUMNS}
        return {c: list(values) for c, values in zip(COLUMNS, zip(*self.rows, strict=True),
                                                       strict=True)}

    def columns(self) -> dict[str, np.ndarray]:
        """Column -> daily values as arrays (what :func:`summarize` reads).

        Counts are whole numbers (int64), the rest floats, as in the DataFrame.
        """
        if not self.rows:
            return {c: np.empty(0) for c in COLUMNS}
        table = np.array(self.rows, dtype=float)  # counts stay exact: far below 2**53
        return {c: table[:, i] if c in FLOATS else table[:, i].astype(np.int64)
                for i, c in enumerate(COLUMNS)}

    def get_model_vars_dataframe(self) -> pd.DataFrame:
        """One row per day, columns as in :data:`COLUMNS`."""
        if not self.rows:
            return pd.DataFrame({c: pd.Series(dtype=float) for c in COLUMNS})
        return pd.DataFrame(self.columns())


#: How people are lost, by the function where it happens.
LOSS_SOURCES: dict[str, tuple[str, ...]] = {
    "marketing": (),
    "sales": ("leads_lost", "not_converted"),
    "operations": ("churned_silent_problem", "churned_resolved", "churned_resolved_quickly",
                   "churned_cancelled", "declined_wait", "put_off_by_operations"),
    "service": ("churned_unresolved", "put_off_by_service"),
}


def summarize(ts: pd.DataFrame | Mapping[str, np.ndarray]) -> dict[str, Any]:
    """The run summary from the per-day metrics (a DataFrame, or column -> array).

    ``losses`` counts people lost because of each function. Sales loses leads who
    gave up waiting or did not buy; Operations loses customers who left after a
    problem delivery (silent, or complained and were made whole); Service loses
    those whose complaint went unresolved. People a detractor put off before they
    ever walked in are lost to the link that made the detractor. Marketing loses
    no one it reached: a weak Marketing shows as people never reached, which
    ``chainsim diagnose`` measures. Customers who leave after an order with no
    problem are ordinary churn and belong to no function. ``left_after`` counts
    the customers who left after each kind of experience; ``renewal_rate`` is the
    share of finished orders (delivered and judged, complaint concluded, or
    cancelled) after which the customer stayed. ``most_losses_at`` is the function
    with the largest losses -- a description of where people were lost, not the
    weakest link: that one (the link whose strengthening adds the most for the
    same money) takes more runs, and is added by :func:`chainsim.verdict.add_to_summary`
    (``chainsim run`` does).
    """
    cols = {c: np.asarray(ts[c]) for c in COLUMNS}
    days = len(cols["day"])
    totals = {c: float(cols[c].sum()) for c in COLUMNS if c not in LEVELS}
    last = {c: cols[c][-1] for c in COLUMNS} if days else None
    first, repeat = totals["first_purchases"], totals["repeat_purchases"]
    orders = first + repeat
    losses = {f: int(sum(totals[c] for c in cols)) for f, cols in LOSS_SOURCES.items()}
    decided = (totals["deliveries"] - totals["complaints"] + totals["complaints_resolved"]
               + totals["complaints_unresolved"] + totals["cancelled_orders"])
    weakest = max(FUNCTIONS, key=lambda f: (losses[f], -FUNCTIONS.index(f)))
    summary: dict[str, Any] = {
        "days": days,
        "orders": int(orders),
        "first_purchases": int(first),
        "repeat_purchases": int(repeat),
        "repeat_purchase_rate": repeat / orders if orders else 0.0,
        "renewal_rate": 1.0 - totals["churned"] / decided if decided else math.nan,
        "customers_total": int(last["customers_total"]) if last is not None else 0,
        "active_customers": int(last["active_customers"]) if last is not None else 0,
        "growth_rate": growth_rate(cols["active_customers"]),
        "revenue": totals["revenue"],
        "cost": totals["cost"],
        "profit": totals["profit"],
        "leads": int(totals["leads_new"]),
        "deliveries": int(totals["deliveries"]),
        "complaints": int(totals["complaints"]),
        "satisfaction_mean": float(last["satisfaction_mean"]) if last is not None else math.nan,
        "cancelled_orders": int(totals["cancelled_orders"]),
        "losses": losses,
        "left_after": {e: int(totals[f"churned_{e}"]) for e in EXPERIENCES},
        "queue_max": {f: int(cols[f"{f}_queue"].max()) if days else 0
                      for f in FUNCTIONS if f != "marketing"},
        "losses_detail": {
            c: int(totals[c])
            for c in ("leads_lost", "not_converted", "declined_wait", "put_off",
                      "put_off_by_operations", "put_off_by_service")
            + tuple(f"churned_{e}" for e in EXPERIENCES)
        },
        "most_losses_at": weakest if losses[weakest] > 0 else None,
    }
    return summary


def growth_rate(active: np.ndarray, month_days: int = 30) -> float:
    """Compound monthly growth of active customers over the run.

    Measured from the end of the first month (or the first day with any active
    customer, if later) to the last day: ``(A_end / A_start) ** (30 / days) - 1``.
    NaN when the run is too short (under two months) or never had a customer.
    """
    if len(active) < 2 * month_days:
        return math.nan
    start = month_days - 1
    nonzero = np.flatnonzero(active[start:] > 0)
    if not len(nonzero):
        return math.nan
    start += int(nonzero[0])
    span = len(active) - 1 - start
    if span <= 0:
        return math.nan
    return float((active[-1] / active[start]) ** (month_days / span) - 1.0)
