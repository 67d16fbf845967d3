"""Figures of a run: the dashboard of one business, and two businesses overlaid."""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib

matplotlib.use("Agg")  # files only; the workshop UI draws its own charts
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from .schema import FUNCTIONS  # noqa: E402

#: One colour per link of the chain, used by every chainsim figure.
FUNCTION_COLORS = {"marketing": "#1b9e77", "sales": "#d95f02", "operations": "#7570b3",
                   "service": "#e7298a"}
FLOW_COLORS = {"leads_new": "#1b9e77", "first_purchases": "#d95f02",
               "repeat_purchases": "#66a61e", "deliveries": "#7570b3",
               "cancelled_orders": "#a6761d", "complaints": "#e7298a", "churned": "#666666"}
SMOOTH_DAYS = 7

PANELS = (
    ("Flows through the chain (per day, 7-day mean)", "people / orders"),
    ("Queues (end of day)", "waiting"),
    ("Utilization (7-day mean)", "share of capacity"),
    ("Satisfaction of active customers", "1 = as promised"),
    ("Customers", "people"),
    ("Money (per day, 7-day mean)", "money"),
)


def plain_text(text: str) -> str:
    """A user's text as it is: a ``$`` in a name is a dollar, not the start of mathtext."""
    return text.replace("$", r"\$")


def _smooth(series: pd.Series) -> pd.Series:
    return series.rolling(SMOOTH_DAYS, min_periods=1).mean()


def _draw(axes: Sequence[plt.Axes], ts: pd.DataFrame, *, linestyle: str = "-",
          suffix: str = "") -> None:
    day = ts["day"]
    flows, queues, util, sat, customers, money = axes
    for col, color in FLOW_COLORS.items():
        flows.plot(day, _smooth(ts[col]), color=color, ls=linestyle,
                   label=col.replace("_", " ") + suffix)
    for f in FUNCTIONS:
        color = FUNCTION_COLORS[f]
        if f != "marketing":  # Marketing has no queue
            queues.plot(day, ts[f"{f}_queue"], color=color, ls=linestyle, label=f + suffix)
        util.plot(day, _smooth(ts[f"{f}_utilization"]), color=color, ls=linestyle,
                  label=f + suffix)
    sat.plot(day, ts["satisfaction_mean"], color="#1f78b4", ls=linestyle, label="satisfaction" + suffix)
    customers.plot(day, ts["active_customers"], color="#1f78b4", ls=linestyle, label="active" + suffix)
    customers.plot(day, ts["promoters"], color="#33a02c", ls=linestyle, label="promoters" + suffix)
    customers.plot(day, ts["detractors"], color="#e31a1c", ls=linestyle, label="detractors" + suffix)
    money.plot(day, _smooth(ts["revenue"]), color="#1f78b4", ls=linestyle, label="revenue" + suffix)
    money.plot(day, _smooth(ts["cost"]), color="#ff7f00", ls=linestyle, label="cost" + suffix)
    money.plot(day, _smooth(ts["profit"]), color="#33a02c", ls=linestyle, label="profit" + suffix)
    money.axhline(0, color="black", lw=0.6)
    util.set_ylim(-0.02, 1.02)
    sat.set_ylim(-0.02, 1.12)  # 1 = as promised; a quick recovery can lift it a little


def _frame(title: str) -> tuple[Figure, list[plt.Axes]]:
    # Fixed margins rather than a layout engine: constrained layout draws the
    # figure once more to measure it, which doubled the cost of every dashboard.
    fig, grid = plt.subplots(3, 2, figsize=(13, 11), sharex=True)
    fig.subplots_adjust(left=0.065, right=0.985, bottom=0.05, top=0.935, hspace=0.18,
                        wspace=0.16)
    axes = list(grid.flat)
    for ax, (name, unit) in zip(axes, PANELS, strict=True):
        ax.set_title(name, fontsize=10, loc="left")
        ax.set_ylabel(unit)
        ax.grid(alpha=0.3)
    for ax in axes[-2:]:
        ax.set_xlabel("day")
    fig.suptitle(plain_text(title), fontsize=12, x=0.01, ha="left")
    return fig, axes


def dashboard(ts: pd.DataFrame, title: str) -> Figure:
    """One figure of a run: flows, queues, utilization, satisfaction, customers, money."""
    fig, axes = _frame(title)
    _draw(axes, ts)
    for ax in axes:
        ax.legend(fontsize=7, loc="best")
    return fig


def overlay(a: pd.DataFrame, b: pd.DataFrame, labels: tuple[str, str], title: str) -> Figure:
    """Two runs on the same panels: the first solid, the second dashed."""
    fig, axes = _frame(title)
    _draw(axes, a, suffix=f" ({plain_text(labels[0])})")
    _draw(axes, b, linestyle="--", suffix=f" ({plain_text(labels[1])})")
    for ax in axes:
        ax.legend(fontsize=6, loc="best", ncol=2)
    return fig
