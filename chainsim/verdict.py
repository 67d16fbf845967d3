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

import os
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
    if d.budget is not None:
        spend = f"+{_money(d.budget)} a month on {best.title}"
    elif d.step is not None:
        spend = f"{best.title} +{100 * d.step:g} % ({_money(best.cost)} a month)"
    else:  # moves of their own sizes (a sweep's levels)
        spend = f"{best.title} to {best.after:g} ({_money(best.cost)} a month)"
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


def summary_entry(v: Verdict, how: str) -> dict:
    """The verdict as the run summary carries it (``summary.json``'s ``verdict``)."""
    move = v.move
    return {
        "link": v.link,
        "move": move.knob if move is not None else None,
        "clear": v.clear,
        "tied": list(v.tied),
        "gain": move.mean if move is not None else None,
        "ci_low": move.ci[0] if move is not None else None,
        "ci_high": move.ci[1] if move is not None else None,
        "text": v.text,
        "estimate": how,
    }


def add_to_summary(summary: dict, d) -> dict:
    """``summary`` with the verdict of ``d`` (a Diagnosis or a Race's): ``weakest_link`` and ``verdict``."""
    v = decide(d)
    how = (f"{d.reps} paired replications of the two best links for "
           f"{'+' + format(d.budget, ',.0f') + ' a month' if d.budget is not None else 'the step'}"
           f", {d.metric.replace('_', ' ')}")
    return {**summary, "weakest_link": v.link, "verdict": summary_entry(v, how)}


def quick(scenario, *, budget: float | None = None, metric: str = "repeat_purchases",
          workers: int = 1, pool=None):
    """The run summary's verdict for ``scenario``: a :class:`~chainsim.diagnose.Race`.

    Returns the race's Diagnosis; :func:`add_to_summary` puts it in a summary.
    """
    from .diagnose import Race

    return Race(scenario, budget=budget, metric=metric).run(workers=workers, pool=pool)


class Background:
    """Races for the run summaries' verdicts, run in other processes while the caller works.

    ``chainsim run`` starts one before it simulates the business itself, hands
    it its own run as each race's baseline replication 0 (:meth:`baseline`),
    and asks for the results only when it writes ``summary.json``: the extra
    runs overlap with the run, the dashboard and the other files. Each race's
    second stage starts as soon as its screening is done.
    """

    def __init__(self, scenarios, *, budget: float | None = None,
                 metric: str = "repeat_purchases", workers: int | None = None):
        import threading
        from concurrent.futures import ProcessPoolExecutor

        from .diagnose import Race
        from .parallel import (default_workers, end_with_parent, process_context,
                               start_method)

        # fork where safe: the workers start at once with what is already imported
        context = process_context(start_method())
        self._pool = ProcessPoolExecutor(max_workers=workers or min(2, default_workers()),
                                         mp_context=context, initializer=end_with_parent,
                                         initargs=(os.getpid(),))
        self._races = [Race(sc, budget=budget, metric=metric) for sc in scenarios]
        self._lock = threading.Lock()
        self._baselines: list[dict | None] = [None] * len(self._races)
        self._second: list[list | None] = [None] * len(self._races)
        self._ready = [threading.Event() for _ in self._races]
        self._first = [[self._submit(spec) for spec in race.first()] for race in self._races]
        for i, futures in enumerate(self._first):
            remaining = [len(futures)]

            def done(_future, i=i, futures=futures, remaining=remaining):
                with self._lock:
                    remaining[0] -= 1
                    if remaining[0]:
                        return
                try:
                    specs = self._races[i].second([self._result(f) for f in futures],
                                                  baseline=False)
                    self._second[i] = [self._submit(spec) for spec in specs]
                finally:
                    self._ready[i].set()

            for future in futures:
                future.add_done_callback(done)

    def baseline(self, index: int, metrics: dict[str, float]) -> None:
        """Replication 0 of business ``index`` as it is: the caller's own run (flat metrics)."""
        self._baselines[index] = metrics

    def _submit(self, spec):
        from .parallel import guarded, run_spec

        return self._pool.submit(guarded, run_spec, spec)

    @staticmethod
    def _result(future) -> dict:
        record = future.result()
        if record["status"] != "ok":
            raise RuntimeError(f"a verdict run failed: {record['error']}")
        return record

    def results(self) -> list:
        """Each race's Diagnosis (waits for the runs still going)."""
        try:
            out = []
            for i, race in enumerate(self._races):
                self._ready[i].wait()
                if self._second[i] is None:
                    raise RuntimeError("the verdict's screening runs failed")
                if self._baselines[i] is None:
                    raise RuntimeError("the verdict needs the run itself as its baseline")
                out.append(race.diagnosis([self._result(f) for f in self._second[i]],
                                          baseline=self._baselines[i]))
            return out
        finally:
            self.close()

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)
