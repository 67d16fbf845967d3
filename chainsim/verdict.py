"""The verdict: which link is the weakest, what strengthening it is worth, and how sure.

One definition for all of chainsim -- the run summary, ``diagnose``, ``report``
and the workshop: **the weakest link is the link whose strengthening adds the
most to the chosen metric for the same money.** Moves are priced from the
scenario's economics (:mod:`chainsim.moves`); each is measured against the
business as it is on common random numbers (:mod:`chainsim.diagnose`).

A link is named only when it is clearly best: its best move adds something
(the 95 % interval of its gain lies above zero) and beats the best move at any
other link (the 95 % interval of the paired difference lies above zero).
Otherwise the verdict says there is no single weakest link, and names the
links that are within noise of each other.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .intervals import mean_ci
from .moves import label


@dataclass(frozen=True)
class Verdict:
    """The answer of a diagnosis."""

    link: str | None  # the weakest link, or None when no link is clearly best
    move: object | None  # the best MoveResult (None if no move was possible)
    runner_up: object | None  # the best move at any other link
    clear: bool
    tied: tuple[str, ...]  # links within noise of each other (when not clear)
    lead: tuple[float, float, float]  # mean and 95 % CI of best minus runner-up
    text: str


def _num(x: float) -> str:
    if not np.isfinite(x):
        return "n/a"
    return f"{x:,.0f}" if abs(x) >= 10 else f"{x:,.1f}"


def _money(x: float) -> str:
    return f"{x:,.0f}"


def _worth(d, m) -> np.ndarray:
    """A move's per-replication value for the money: gain, or gain per 1,000 (step moves)."""
    gains = np.asarray(m.gains, dtype=float)
    if d.budget is not None:
        return gains
    return gains / m.cost * 1000.0 if m.cost > 0 else np.full(len(gains), np.nan)


def decide(d) -> Verdict:
    """The verdict of a :class:`~chainsim.diagnose.Diagnosis`."""
    from .diagnose import METRICS

    unit = METRICS[d.metric]
    ranking = [m for m in d.ranking if m.possible]
    if not ranking:
        return Verdict(None, None, None, False, (), (np.nan,) * 3,
                       "No link can be strengthened: every link is unlimited or perfect.")
    best = ranking[0]
    others = [m for m in ranking if m.link != best.link]
    runner = others[0] if others else None
    spend = (f"+{_money(d.budget)} a month on {best.title}" if d.budget is not None
             else f"{best.title} +{100 * d.step:g} % ({_money(best.cost)} a month)")
    lo, hi = best.ci
    gain = f"adds {_num(best.mean)} {unit} (95 % CI {_num(lo)} to {_num(hi)})"
    if not lo > 0:
        return Verdict(None, best, runner, False, (), (np.nan,) * 3,
                       f"No link stands out: the best move, {spend}, {gain}, not clearly more "
                       "than nothing. Try more replications (--reps) or a longer run (--days).")
    if runner is None:
        return Verdict(best.link, best, None, True, (), (np.nan,) * 3,
                       f"{label(best.link)} is your weakest link: {spend} {gain}.")
    lead = _worth(d, best) - _worth(d, runner)
    mean, _, lead_lo, lead_hi = mean_ci(lead)
    next_text = f"{runner.title}, adds {_num(runner.mean)}"
    if d.budget is None:
        next_text = (f"{runner.title} ({_money(runner.cost)} a month), adds "
                     f"{_num(runner.mean)}; per 1,000 a month {_num(best.gain_per_money)} "
                     f"against {_num(runner.gain_per_money)}")
    if not lead_lo > 0:
        tied = (best.link, runner.link)
        return Verdict(None, best, runner, False, tied, (mean, lead_lo, lead_hi),
                       f"No single weakest link: {label(best.link)} and {label(runner.link)} are "
                       f"within noise of each other ({spend} {gain}; the best at "
                       f"{label(runner.link)}, {next_text}). Run more --reps to separate them.")
    return Verdict(best.link, best, runner, True, (), (mean, lead_lo, lead_hi),
                   f"{label(best.link)} is your weakest link: {spend} {gain}; the next best "
                   f"link, {next_text}.")
