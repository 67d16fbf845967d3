"""Which link to strengthen: every priced move, run on common random numbers.

Each move (see :mod:`chainsim.moves`) strengthens one link -- by default for the
same money a month, the budget -- and replication ``k`` of every move and of
the business as it is runs on the same seed. Each move's gain is measured
against the baseline of the same replication: paired differences, with a 95 %
confidence interval from Student's t. :mod:`chainsim.verdict` turns the ranking
into the answer.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from .intervals import mean_ci
from .moves import LEVERS, LINKS, Move, budget_moves, default_budget, step_moves
from .parallel import RunSpec, guarded, run_all, run_spec
from .schema import Scenario

#: What a diagnosis can rank moves by, and how each is read off a run.
METRICS: dict[str, str] = {
    "repeat_purchases": "repeat purchases a month",
    "active_customers": "active customers at the end",
    "profit": "profit a month",
}
PER_MONTH = {"repeat_purchases", "profit"}

#: Gains per money are quoted per this much a month.
PER_MONEY = 1000.0


@dataclass(frozen=True)
class MoveResult:
    """One move and what it was worth against the baseline, replication by replication."""

    move: Move
    gains: tuple[float, ...]  # per replication, in the metric's unit

    # the move's own fields, for readers of a diagnosis
    @property
    def function(self) -> str:
        """The link strengthened ("handoff" for the hand-off)."""
        return self.move.link

    link = function

    @property
    def knob(self) -> str:
        return self.move.knob

    @property
    def before(self) -> Any:
        return self.move.before

    @property
    def after(self) -> Any:
        return self.move.after

    @property
    def path(self) -> str:
        return self.move.path

    @property
    def title(self) -> str:
        return self.move.title

    @property
    def cost(self) -> float:
        """What the move adds to the running cost, money per month."""
        return self.move.cost

    @property
    def possible(self) -> bool:
        return self.move.possible

    @property
    def mean(self) -> float:
        return float(np.mean(self.gains))

    @property
    def ci(self) -> tuple[float, float]:
        """95 % confidence interval of the mean gain (paired t)."""
        _, _, lo, hi = mean_ci(self.gains)
        return (lo, hi)

    @property
    def gain_per_money(self) -> float:
        """Mean gain per 1,000 a month of added running cost (NaN for a free move)."""
        return self.mean / self.cost * PER_MONEY if self.cost > 0 else float("nan")


@dataclass(frozen=True)
class Diagnosis:
    scenario: Scenario
    metric: str
    reps: int
    days: int
    baseline: tuple[float, ...]
    moves: tuple[MoveResult, ...] = field(default_factory=tuple)
    budget: float | None = None  # money per month each move costs (None: step moves)
    step: float | None = None  # relative step of each move (None: budget moves)
    records: tuple[tuple[dict[str, float], ...], ...] = ()  # every run's metrics, baseline first

    def for_metric(self, metric: str) -> Diagnosis:
        """The same runs, scored on another metric (no new runs)."""
        if metric not in METRICS:
            raise ValueError(f"metric {metric!r} is not allowed: must be one of "
                             f"{', '.join(METRICS)}")
        values = np.array([[metric_value(m, metric, self.days) for m in runs]
                           for runs in self.records])
        baseline = values[0]
        outcomes = tuple(MoveResult(r.move, tuple((row - baseline).tolist()))
                         for r, row in zip(self.moves, values[1:], strict=True))
        return replace(self, metric=metric, baseline=tuple(baseline.tolist()), moves=outcomes)

    @property
    def ranking(self) -> list[MoveResult]:
        """Moves from the most to the least valuable for the money (impossible moves last).

        With a budget every move costs the same, so the gain ranks them; with a
        step their costs differ, so the gain per money does.
        """
        def worth(m: MoveResult) -> float:
            value = m.mean if self.budget is not None else m.gain_per_money
            return value if np.isfinite(value) else -np.inf

        return sorted(self.moves, key=lambda m: (not m.possible, -worth(m)))

    @property
    def best(self) -> MoveResult:
        return self.ranking[0]

    def verdict(self):
        """The answer: which link, what it is worth, how sure (a :class:`~chainsim.verdict.Verdict`)."""
        from .verdict import decide

        return decide(self)


def metric_value(metrics: dict[str, Any], metric: str, days: int) -> float:
    """The diagnosis metric of one run: monthly for flows, end level for stocks."""
    value = float(metrics[metric])
    return value / (days / 30.0) if metric in PER_MONTH else value


def all_moves() -> list[str]:
    """Every move's ``link.knob`` name."""
    return [f"{link}.{knob}" for link in LINKS for knob in LEVERS[link]]


@dataclass(frozen=True)
class Plan:
    """What a diagnosis runs: the business as it is and each move, on common random numbers."""

    scenario: Scenario  # with run.days set
    moves: tuple[Move, ...]
    budget: float | None
    step: float | None

    @property
    def variants(self) -> list[Scenario]:
        """The business as it is (index 0), then each move applied (index i + 1)."""
        return [self.scenario, *(m.apply(self.scenario) for m in self.moves)]

    def spec(self, variant: int, replication: int, reps: int,
             scenarios: list[Scenario] | None = None) -> RunSpec:
        """Replication ``k`` of a variant: the same seed at every variant (paired)."""
        sc = (scenarios or self.variants)[variant]
        return RunSpec(variant * reps + replication, sc.model_dump(), self.scenario.run.seed,
                       replication, self.scenario.run.days)


def plan(scenario: Scenario, *, budget: float | None = None, step: float | None = None,
         days: int | None = None, moves: Sequence[str] | None = None) -> Plan:
    """Check the options and price every move (see :func:`diagnose` for the arguments)."""
    if budget is not None and step is not None:
        raise ValueError("give a budget or a step, not both")
    if step is not None and not step > 0:
        raise ValueError(f"step = {step} is not allowed: must be a number > 0")
    if budget is not None and not budget > 0:
        raise ValueError(f"budget = {budget} is not allowed: must be a number > 0")
    names = all_moves()
    for path in moves or ():
        if path not in names:
            raise ValueError(f"move {path!r} is not allowed: must be one of {', '.join(names)}")
    days = scenario.run.days if days is None else days
    scenario = scenario.replace({"run.days": days})
    if step is None and budget is None:
        budget = default_budget(scenario)
    candidates = budget_moves(scenario, budget) if step is None else step_moves(scenario, step)
    chosen = tuple(m for m in candidates if moves is None or m.path in moves)
    return Plan(scenario, chosen, budget, step)


def _check_metric(metric: str) -> None:
    if metric not in METRICS:
        raise ValueError(f"metric {metric!r} is not allowed: must be one of {', '.join(METRICS)}")


def diagnose(
    scenario: Scenario,
    *,
    budget: float | None = None,
    step: float | None = None,
    reps: int = 30,
    days: int | None = None,
    metric: str = "repeat_purchases",
    moves: Sequence[str] | None = None,
    workers: int = 1,
    scheduler: str | None = None,
    progress: Callable[[int], None] | None = None,
) -> Diagnosis:
    """Strengthen each link in turn, for the same money, and rank the moves.

    Args:
        scenario: the business as it is now (its ``run.seed`` seeds the replications).
        budget: money a month each move costs (default: :func:`~chainsim.moves.default_budget`).
        step: instead of a budget, strengthen each knob by this share (0.2 = 20 %);
            the moves then cost different amounts and are ranked per money.
        reps: replications per move, each paired with the baseline's (same seed).
        days: days per run (default: the scenario's ``run.days``).
        metric: one of :data:`METRICS`.
        moves: only these ``"link.knob"`` moves (default: all of :func:`all_moves`).
        workers, scheduler: run in this many local processes (1: in this
            process), or on the Dask cluster at ``scheduler``.
        progress: called with the number of runs finished so far.
    """
    _check_metric(metric)
    if reps < 2:
        raise ValueError(f"reps = {reps} is not allowed: must be a whole number >= 2")
    p = plan(scenario, budget=budget, step=step, days=days, moves=moves)
    variants = p.variants
    specs = [p.spec(i, k, reps, variants) for i in range(len(variants)) for k in range(reps)]
    results = _run(specs, workers, scheduler, progress)
    records = tuple(tuple(r["metrics"] for r in results[i * reps:(i + 1) * reps])
                    for i in range(len(variants)))
    return _diagnosis(p, metric, reps, records, p.moves)


def _run(specs: list[RunSpec], workers: int = 1, scheduler: str | None = None,
         progress: Callable[[int], None] | None = None, pool=None,
         run: Callable[[RunSpec], dict[str, Any]] = run_spec) -> list[dict[str, Any]]:
    """``run`` each spec here, in local processes, on a cluster or on ``pool``; in spec order.

    Raises RuntimeError, naming the first failure, if any run failed.
    """
    results = []
    if workers == 1 and not scheduler and pool is None:
        for spec in specs:
            results.append(guarded(run, spec))
            if progress:
                progress(len(results))
    else:
        for result in run_all(specs, workers=workers, scheduler=scheduler, pool=pool, run=run):
            results.append(result)
            if progress:
                progress(len(results))
        order = {spec.run_id: i for i, spec in enumerate(specs)}
        results.sort(key=lambda r: order[r["run_id"]])
    failed = [r for r in results if r["status"] != "ok"]
    if failed:
        raise RuntimeError(f"{len(failed)} of {len(results)} runs failed: {failed[0]['error']}")
    return results


def _diagnosis(p: Plan, metric: str, reps: int, records, moves) -> Diagnosis:
    placeholder = tuple(MoveResult(move, ()) for move in moves)
    return Diagnosis(p.scenario, metric, reps, p.scenario.run.days, (), placeholder,
                     budget=p.budget, step=p.step, records=records).for_metric(metric)


class Race:
    """The quick verdict: every move screened briefly, then the best two links in full.

    Replication 0 of every move runs for a third of the horizon (at least 60
    days): enough, in every built-in story, to tell which two links lead. The
    best move and the best move at any other link then run ``reps`` full
    replications, paired with the business as it is (the same seeds as
    :func:`diagnose`'s first replications; replication 0 of the business as it
    is is the run itself, when the caller passes it in), and the verdict is
    decided on those two alone. For three replications that is eight moves at a
    third of the length and eight full runs -- about eleven runs, against
    ``9 x 30`` for a full diagnosis -- and a link is named only when those
    replications clearly support it. ``chainsim run`` puts it in the summary;
    ``chainsim diagnose`` gives the full ranking.

    Use it in two stages (so the runs can go to other processes while the
    caller does other work): :meth:`first`, then :meth:`second` with their
    results, then :meth:`diagnosis` with the second stage's results (and the
    baseline's replication 0, if :meth:`second` was asked to leave it out).
    """

    def __init__(self, scenario: Scenario, *, budget: float | None = None,
                 metric: str = "repeat_purchases", reps: int = 3, days: int | None = None):
        _check_metric(metric)
        if reps < 2:
            raise ValueError(f"reps = {reps} is not allowed: must be a whole number >= 2")
        self.plan = plan(scenario, budget=budget, days=days)
        self.metric, self.reps = metric, reps
        self._variants = self.plan.variants
        self.screen_days = min(self.plan.scenario.run.days,
                               max(60, round(self.plan.scenario.run.days / 3)))
        self._finalists: list[int] = []
        self._baseline_in_second = True

    def first(self) -> list[RunSpec]:
        """Replication 0 of every move, for the screening horizon."""
        days = self.screen_days
        return [RunSpec(i * self.reps, self._variants[i].model_dump(),
                        self.plan.scenario.run.seed, 0, days)
                for i in range(1, len(self._variants))]

    def second(self, results: list[dict[str, Any]], baseline: bool = True) -> list[RunSpec]:
        """The full replications of the two finalists, and of the business as it is.

        ``results`` are those of :meth:`first`'s specs. With ``baseline=False``
        the business's replication 0 is left out: the caller has it (its own run).
        """
        values = [metric_value(r["metrics"], self.metric, self.screen_days) for r in results]
        moves = self.plan.moves
        possible = [i for i, m in enumerate(moves) if m.possible]
        ranked = sorted(possible, key=lambda i: -values[i])  # same baseline: values rank gains
        finalists = ranked[:1]
        if ranked:
            best_link = moves[ranked[0]].link
            finalists += [i for i in ranked if moves[i].link != best_link][:1]
        self._finalists = finalists
        self._baseline_in_second = baseline
        specs = [self.plan.spec(0, k, self.reps, self._variants)
                 for k in range(0 if baseline else 1, self.reps)]
        return specs + [self.plan.spec(f + 1, k, self.reps, self._variants)
                        for f in finalists for k in range(self.reps)]

    def diagnosis(self, results: list[dict[str, Any]],
                  baseline: dict[str, float] | None = None) -> Diagnosis:
        """The diagnosis of the finalists over ``reps`` paired replications.

        ``baseline`` is the business's replication 0 (flat metrics) when
        :meth:`second` left it out.
        """
        metrics = [r["metrics"] for r in results]
        if not self._baseline_in_second:
            if baseline is None:
                raise ValueError("the baseline's replication 0 is missing")
            metrics = [baseline, *metrics]
        reps = self.reps
        records = tuple(tuple(metrics[i * reps:(i + 1) * reps])
                        for i in range(1 + len(self._finalists)))
        moves = tuple(self.plan.moves[f] for f in self._finalists)
        return _diagnosis(self.plan, self.metric, reps, records, moves)

    def run(self, workers: int = 1, pool=None) -> Diagnosis:
        """Both stages, here or on ``pool``."""
        first = _run(self.first(), workers, pool=pool)
        return self.diagnosis(_run(self.second(first), workers, pool=pool))


# -- saying it ---------------------------------------------------------------------------


def to_json(d: Diagnosis) -> dict[str, Any]:
    """The diagnosis as plain data (``chainsim diagnose --json``, diagnosis.json)."""
    v = d.verdict()
    return {
        "scenario": d.scenario.name,
        "metric": d.metric,
        "unit": METRICS[d.metric],
        "budget": d.budget,
        "step": d.step,
        "reps": d.reps,
        "days": d.days,
        "seed": d.scenario.run.seed,
        "baseline": float(np.mean(d.baseline)),
        "weakest_link": v.link,
        "move": v.move.knob if v.move is not None else None,
        "clear": v.clear,
        "tied": list(v.tied),
        "verdict": v.text,
        "ranking": [
            {"function": m.function, "move": m.knob, "before": m.before, "after": m.after,
             "cost": m.cost, "gain": m.mean, "ci_low": m.ci[0], "ci_high": m.ci[1],
             "gain_per_money": m.gain_per_money, "possible": m.possible}
            for m in d.ranking
        ],
    }
