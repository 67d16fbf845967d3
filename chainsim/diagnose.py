"""Which link to strengthen first: one move at a time, with common random numbers.

Each of the eight moves strengthens one function's capacity or quality by the
step (see :meth:`chainsim.schema.Knob.strengthen`). Replication ``k`` of every
move and of the baseline runs on the same seed, so each move's gain is measured
against the baseline of the same replication: paired differences, with a 95 %
confidence interval from Student's t.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import stats

from .model import ChainModel
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
        n = len(self.gains)
        if n < 2:
            return (math.nan, math.nan)
        half = stats.t.ppf(0.975, n - 1) * float(np.std(self.gains, ddof=1)) / math.sqrt(n)
        return (self.mean - half, self.mean + half)

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


def metric_value(summary: dict[str, Any], metric: str, days: int) -> float:
    """The diagnosis metric of one run: monthly for flows, end level for stocks."""
    value = float(summary[metric])
    return value / (days / 30.0) if metric in PER_MONTH else value


def replication_seeds(seed: int, reps: int) -> list[np.random.SeedSequence]:
    """Seeds for replications 0..reps-1, spawned from one SeedSequence."""
    return np.random.SeedSequence(seed).spawn(reps)


def diagnose(
    scenario: Scenario,
    *,
    step: float = 0.2,
    reps: int = 30,
    days: int | None = None,
    metric: str = "repeat_purchases",
    moves: Sequence[str] | None = None,
    runner: Callable[[list[tuple[Scenario, np.random.SeedSequence]]], list[dict]] | None = None,
) -> Diagnosis:
    """Strengthen each function's capacity and quality in turn; rank the eight moves.

    Args:
        scenario: the business as it is now.
        step: how much stronger each move makes its knob (0.2 = 20 %).
        reps: replications per move (each paired with the baseline's).
        days: days per run (default: the scenario's ``run.days``).
        metric: one of :data:`METRICS`.
        moves: only these ``"function.capacity"``/``"function.quality"`` moves
            (default: all eight).
        runner: runs a list of ``(scenario, seed)`` and returns their summaries in
            order; default runs them one after another in this process.
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

    seeds = replication_seeds(scenario.run.seed, reps)
    jobs = [(scenario, s) for s in seeds]
    jobs += [(variant[-1], s) for variant in variants for s in seeds]
    summaries = (runner or run_serially)(jobs)
    values = np.array([metric_value(s, metric, days) for s in summaries]).reshape(-1, reps)
    baseline = values[0]
    moves = tuple(
        Move(function, knob_name, before, after, tuple((row - baseline).tolist()))
        for (function, knob_name, before, after, _), row in zip(variants, values[1:], strict=True)
    )
    return Diagnosis(scenario, metric, step, reps, days, tuple(baseline.tolist()), moves)


def run_serially(jobs: list[tuple[Scenario, np.random.SeedSequence]]) -> list[dict]:
    return [ChainModel(sc, rng=np.random.default_rng(seed)).run(sc.run.days).summary
            for sc, seed in jobs]
