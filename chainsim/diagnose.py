"""Which link to strengthen first: one move at a time, with common random numbers.

Each of the eight moves strengthens one function's capacity or quality by the
step (see :meth:`chainsim.schema.Knob.strengthen`). Replication ``k`` of every
move and of the baseline runs on the same seed, so each move's gain is measured
against the baseline of the same replication: paired differences, with a 95 %
confidence interval from Student's t.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .intervals import mean_ci
from .parallel import RunSpec, guarded, run_all, run_spec
from .schema import FUNCTIONS, Scenario, knobs

#: What a diagnosis can rank moves by, and how each is read off a run.
METRICS: dict[str, str] = {
    "repeat_purchases": "repeat purchases a month",
    "active_customers": "active customers at the end",
    "profit": "profit a month",
}
PER_MONTH = {"repeat_purchases", "profit"}


@dataclass(frozen=True)
class Move:
    """One move and what it was worth against the baseline."""

    function: str
    knob: str  # "capacity" or "quality"
    before: Any
    after: Any
    gains: tuple[float, ...]  # per replication, in the metric's unit

    @property
    def path(self) -> str:
        return f"{self.function}.{self.knob}"

    @property
    def mean(self) -> float:
        return float(np.mean(self.gains))

    @property
    def ci(self) -> tuple[float, float]:
        """95 % confidence interval of the mean gain (paired t)."""
        _, _, lo, hi = mean_ci(self.gains)
        return (lo, hi)

    @property
    def possible(self) -> bool:
        """False when the link cannot get stronger this way (already unlimited or perfect)."""
        return self.after != self.before


@dataclass(frozen=True)
class Diagnosis:
    scenario: Scenario
    metric: str
    step: float
    reps: int
    days: int
    baseline: tuple[float, ...]
    moves: tuple[Move, ...] = field(default_factory=tuple)

    @property
    def ranking(self) -> list[Move]:
        """Moves from the most to the least valuable (impossible moves last)."""
        return sorted(self.moves, key=lambda m: (not m.possible, -m.mean))

    @property
    def best(self) -> Move:
        return self.ranking[0]


def metric_value(metrics: dict[str, Any], metric: str, days: int) -> float:
    """The diagnosis metric of one run: monthly for flows, end level for stocks."""
    value = float(metrics[metric])
    return value / (days / 30.0) if metric in PER_MONTH else value


def diagnose(
    scenario: Scenario,
    *,
    step: float = 0.2,
    reps: int = 30,
    days: int | None = None,
    metric: str = "repeat_purchases",
    moves: Sequence[str] | None = None,
    workers: int = 1,
    scheduler: str | None = None,
    progress: Callable[[int], None] | None = None,
) -> Diagnosis:
    """Strengthen each function's capacity and quality in turn; rank the eight moves.

    Args:
        scenario: the business as it is now (its ``run.seed`` seeds the replications).
        step: how much stronger each move makes its knob (0.2 = 20 %).
        reps: replications per move, each paired with the baseline's (same seed).
        days: days per run (default: the scenario's ``run.days``).
        metric: one of :data:`METRICS`.
        moves: only these ``"function.capacity"`` / ``"function.quality"`` moves
            (default: all eight).
        workers, scheduler: run in this many local processes (1: in this
            process), or on the Dask cluster at ``scheduler``.
        progress: called with the number of runs finished so far.
    """
    if metric not in METRICS:
        raise ValueError(f"metric {metric!r} is not allowed: must be one of {', '.join(METRICS)}")
    if not step > 0:
        raise ValueError(f"step = {step} is not allowed: must be a number > 0")
    if reps < 2:
        raise ValueError(f"reps = {reps} is not allowed: must be a whole number >= 2")
    days = scenario.run.days if days is None else days
    scenario = scenario.replace({"run.days": days})
    catalogue = knobs()
    all_moves = [f"{f}.{k}" for f in FUNCTIONS for k in ("capacity", "quality")]
    for path in moves or ():
        if path not in all_moves:
            raise ValueError(f"move {path!r} is not allowed: must be one of {', '.join(all_moves)}")
    variants: list[tuple[str, str, Any, Any, Scenario]] = []
    for path in moves or all_moves:
        function, knob_name = path.split(".")
        before = scenario.get(path)
        after = catalogue[path].strengthen(before, step)
        variants.append((function, knob_name, before, after, scenario.replace({path: after})))

    # Replication k runs on the same seed for the baseline and every move.
    scenarios = [scenario, *(v[-1] for v in variants)]
    specs = [RunSpec(i * reps + k, sc.model_dump(), scenario.run.seed, k, days)
             for i, sc in enumerate(scenarios) for k in range(reps)]
    if workers == 1 and not scheduler:
        results = []
        for spec in specs:
            results.append(guarded(run_spec, spec))
            if progress:
                progress(len(results))
    else:
        results = []
        for result in run_all(specs, workers=workers, scheduler=scheduler):
            results.append(result)
            if progress:
                progress(len(results))
        results.sort(key=lambda r: r["run_id"])
    failed = [r for r in results if r["status"] != "ok"]
    if failed:
        raise RuntimeError(f"{len(failed)} of {len(results)} runs failed: {failed[0]['error']}")
    values = np.array([metric_value(r["metrics"], metric, days) for r in results]).reshape(-1, reps)
    baseline = values[0]
    moves_out = tuple(
        Move(function, knob_name, before, after, tuple((row - baseline).tolist()))
        for (function, knob_name, before, after, _), row in zip(variants, values[1:], strict=True)
    )
    return Diagnosis(scenario, metric, step, reps, days, tuple(baseline.tolist()), moves_out)


# -- saying it ---------------------------------------------------------------------------


def _num(x: float) -> str:
    return f"{x:,.0f}" if abs(x) >= 10 else f"{x:,.1f}"


def _label(move: Move) -> str:
    return f"{move.function.capitalize()} {move.knob}"


def verdict(d: Diagnosis) -> str:
    """The plain-language answer: which link, what it is worth, how sure."""
    unit = METRICS[d.metric]
    pct = f"+{100 * d.step:g} %"
    best = d.best
    lo, hi = best.ci
    if not best.possible or not lo > 0:
        return (f"No link stands out: the best move, {_label(best)} {pct}, adds {_num(best.mean)} "
                f"{unit} (95 % CI {_num(lo)} to {_num(hi)}), not clearly more than nothing. "
                f"Try more replications (--reps) or a longer run (--days).")
    others = [m for m in d.ranking if m.function != best.function and m.possible]
    text = (f"{_label(best)} is your weakest link: {pct} there adds {_num(best.mean)} {unit} "
            f"(95 % CI {_num(lo)}-{_num(hi)})")
    if not others:
        return text + "."
    other = others[0]
    if not other.ci[0] > 0:
        return (text + f"; no move at any other link clearly adds anything (the best, "
                f"{_label(other)}, adds {_num(other.mean)}, 95 % CI {_num(other.ci[0])} to "
                f"{_num(other.ci[1])}).")
    ratio = best.mean / other.mean
    times = f"{ratio:.0f}x" if ratio >= 10 else f"{ratio:.1f}x"
    text += f", {times} the best move at any other link ({_label(other)}, {_num(other.mean)})"
    if not best.ci[0] > other.ci[1]:
        text += "; their intervals overlap, so run more --reps to separate them"
    return text + "."


def to_json(d: Diagnosis) -> dict[str, Any]:
    best = d.best
    return {
        "scenario": d.scenario.name,
        "metric": d.metric,
        "unit": METRICS[d.metric],
        "step": d.step,
        "reps": d.reps,
        "days": d.days,
        "seed": d.scenario.run.seed,
        "baseline": float(np.mean(d.baseline)),
        "weakest_link": best.function,
        "move": best.knob,
        "verdict": verdict(d),
        "ranking": [
            {"function": m.function, "move": m.knob, "before": m.before, "after": m.after,
             "gain": m.mean, "ci_low": m.ci[0], "ci_high": m.ci[1], "possible": m.possible}
            for m in d.ranking
        ],
    }
