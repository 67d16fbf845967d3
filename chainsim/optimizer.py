"""Where a monthly budget does the most: the best split across the chain's links.

``chainsim diagnose`` puts the whole budget on one link at a time. A business
owner can also split it: some on Operations capacity, some on Service quality.
:func:`optimize` searches the splits of ``budget`` across every lever that can
be bought (each link's capacity and quality, and the hand-off; Marketing is one
lever, see :mod:`chainsim.moves`) and checks what it found.

**The search** is scipy's differential evolution over the shares of the
budget, on *common random numbers*: every split is run on the same ``reps``
seeds, so two splits differ only by what the split changes and the search
compares like with like (sample-average approximation). Its first generation
holds every single move (the whole budget on one lever, the moves
``chainsim diagnose`` ranks) and the even split, so the split it returns is, on
those seeds, never worse than the best single move. A whole generation is one
batch of runs, sent to local processes or a Dask cluster like a sweep's.

**The check.** A split picked as the best of many on the same seeds looks
better on those seeds than it is (the winner's curse). So the answer is
measured again on ``check_reps`` *fresh* seeds, paired: the business as it is,
the best split, the best single move and the even split each run on the same
fresh seeds, and the gains -- and how much the split beats the best single move
and the even split -- come with 95 % intervals from those runs alone.

**Pricing a split** (:func:`spend`): at each link the quality money is spent
first, priced at today's capacity, then the capacity money at the new quality,
so a split costs exactly its budget (less only where quality reaches its
ceiling of 99.9 %).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .diagnose import METRICS, _check_metric, _run, metric_value
from .intervals import mean_ci
from .moves import DAYS_PER_MONTH, LEVERS, LINKS, budget_move, default_budget, label, running_cost
from .parallel import RunSpec
from .rules import quality_factor
from .schema import UNLIMITED, Scenario

#: Shares under this part of the budget are dropped from the split found (and the
#: rest rescaled), if that does not make it worse on the search's seeds.
NEGLIGIBLE = 0.05


def levers(scenario: Scenario, budget: float) -> list[str]:
    """The ``link.knob`` levers that ``budget`` can buy something at (in chain order)."""
    return [f"{link}.{knob}" for link in LINKS for knob in LEVERS[link]
            if budget_move(scenario, link, knob, budget).possible]


def cheapest_step(scenario: Scenario) -> tuple[str, float] | None:
    """The cheapest smallest move, ``(lever, money a month)``; None if nothing has a price.

    The smallest move worth naming is one more case a day at a link, or a tenth
    fewer failures at a link's quality (the hand-off's included).
    """
    premium = scenario.economics.quality_premium
    best = None
    for link in LINKS:
        params = getattr(scenario, link)
        units = 1.0 if link == "handoff" else params.capacity
        if units == UNLIMITED or params.cost <= 0:
            continue
        prices = {}
        if "capacity" in LEVERS[link]:
            prices["capacity"] = DAYS_PER_MONTH * params.cost * quality_factor(params.quality,
                                                                               premium)
        if "quality" in LEVERS[link] and premium > 0 and units > 0:
            prices["quality"] = (DAYS_PER_MONTH * units * params.cost * premium
                                 * math.log2(1 / 0.9))
        for knob, price in prices.items():
            if best is None or price < best[1]:
                best = (f"{link}.{knob}", price)
    return best


def spend(scenario: Scenario, money: Mapping[str, float]) -> Scenario:
    """The business with ``money[link.knob]`` a month spent on each lever (see the module doc)."""
    out = scenario
    for link in LINKS:
        for knob in ("quality", "capacity"):
            amount = money.get(f"{link}.{knob}", 0.0)
            if amount > 0 and knob in LEVERS[link]:
                out = budget_move(out, link, knob, amount).apply(out)
    return out


@dataclass(frozen=True)
class Split:
    """A monthly budget divided among levers: ``{link.knob: money a month}``."""

    money: tuple[tuple[str, float], ...]

    @classmethod
    def of(cls, shares: Mapping[str, float], budget: float) -> Split:
        total = sum(max(s, 0.0) for s in shares.values())
        if total <= 0:
            raise ValueError("a split needs at least one positive share")
        return cls(tuple((k, budget * s / total) for k, s in shares.items() if s > 0))

    @property
    def budget(self) -> float:
        return sum(m for _, m in self.money)

    def shares(self) -> dict[str, float]:
        total = self.budget
        return {k: m / total for k, m in self.money}

    def apply(self, scenario: Scenario) -> Scenario:
        return spend(scenario, dict(self.money))

    @property
    def title(self) -> str:
        """'70 % Operations capacity + 30 % Service quality'."""
        if len(self.money) == 1:
            return _lever_title(self.money[0][0])
        parts = sorted(self.shares().items(), key=lambda kv: -kv[1])
        return " + ".join(f"{100 * s:.0f} % {_lever_title(k)}" for k, s in parts)


def _lever_title(path: str) -> str:
    link, knob = path.split(".")
    return f"{label(link)} {knob}"


@dataclass(frozen=True)
class Candidate:
    """A split and what it did on the check's fresh seeds."""

    name: str  # "best split", "best single move", "even split"
    split: Split
    changes: dict[str, tuple[Any, Any]]  # knob: (before, after)
    cost: float  # what it adds to the running cost, money a month
    gains: tuple[float, ...]  # per fresh replication, against the business as it is

    @property
    def gain(self) -> float:
        return float(np.mean(self.gains))

    @property
    def ci(self) -> tuple[float, float]:
        _, _, lo, hi = mean_ci(self.gains)
        return lo, hi


@dataclass(frozen=True)
class Optimum:
    """What :func:`optimize` found and how sure it is."""

    scenario: Scenario
    budget: float
    metric: str
    days: int
    reps: int
    check_reps: int
    evaluations: int
    baseline: float  # the metric of the business as it is, on the fresh seeds
    best: Candidate
    single: Candidate
    even: Candidate
    trace: tuple[float, ...] = field(default=())  # best search value after each generation
    uncertainty: dict[str, Any] | None = None  # over draws of fitted knobs (see fit)
    search: dict[str, float] = field(default_factory=dict)  # mean metric on the search's seeds

    def versus(self, other: Candidate) -> tuple[float, float, float]:
        """How much the best split beats ``other``: mean and 95 % interval (paired)."""
        diff = np.subtract(self.best.gains, other.gains)
        mean, _, lo, hi = mean_ci(diff)
        return mean, lo, hi

    @property
    def sure(self) -> bool:
        """True when the best split's gain interval lies above zero."""
        return self.best.ci[0] > 0

    def text(self) -> str:
        unit = METRICS[self.metric]
        lo, hi = self.best.ci
        lines = [f"{self.scenario.name}: {self.budget:,.0f} a month more, split across the chain "
                 f"({self.evaluations} splits searched on {self.reps} seeds; checked on "
                 f"{self.check_reps} fresh seeds of {self.days} days), metric: {unit}",
                 f"the business as it is: {self.baseline:,.1f}", "",
                 f"  {'':<17} {'gain':>9}   95 % CI              split"]
        for c in (self.best, self.single, self.even):
            clo, chi = c.ci
            lines.append(f"  {c.name:<17} {c.gain:>+9.1f}   {clo:+.1f} to {chi:+.1f}"
                         f"{'':<6} {c.split.title}")
        lines.append("")
        for c in (self.single, self.even):
            if c.split == self.best.split:
                lines.append(f"the best split is the {c.name}")
                continue
            m, dlo, dhi = self.versus(c)
            lines.append(f"better than the {c.name} by {m:+.1f} (95 % CI {dlo:+.1f} to {dhi:+.1f})")
        changes = ", ".join(f"{k} {_fmt(b)} -> {_fmt(a)}" for k, (b, a) in self.best.changes.items())
        lines += ["", f"spend it as: {self.best.split.title} ({changes}); "
                  f"{self.best.cost:,.0f} a month",
                  f"it adds {self.best.gain:+,.1f} {unit} (95 % CI {lo:+,.1f} to {hi:+,.1f})"
                  + ("" if self.sure else "; not clearly more than nothing: more --check-reps "
                     "or a larger --budget would tell")]
        if self.uncertainty:
            u = self.uncertainty
            lines.append(
                f"over {u['draws']} draws of the fitted knobs: gain {u['gain']:+,.1f} "
                f"(95 % {u['gain_low']:+,.1f} to {u['gain_high']:+,.1f}); it beats the best "
                f"single move in {100 * u['beats_single']:.0f} % of them"
                + (" (it is the best single move)" if u["same_as_single"] else ""))
        return "\n".join(lines)

    def to_json(self) -> dict[str, Any]:
        def cand(c: Candidate) -> dict[str, Any]:
            lo, hi = c.ci
            return {"split": dict(c.split.money), "shares": c.split.shares(),
                    "title": c.split.title, "changes": {k: list(v) for k, v in c.changes.items()},
                    "cost": c.cost, "gain": c.gain, "ci_low": lo, "ci_high": hi}

        out = {"scenario": self.scenario.name, "metric": self.metric, "unit": METRICS[self.metric],
               "budget": self.budget, "days": self.days, "seed": self.scenario.run.seed,
               "reps": self.reps, "check_reps": self.check_reps,
               "evaluations": self.evaluations, "baseline": self.baseline,
               "best": cand(self.best), "best_single_move": cand(self.single),
               "even_split": cand(self.even), "sure": self.sure, "search_trace": list(self.trace),
               "on_search_seeds": self.search}
        for key, c in (("versus_best_single_move", self.single), ("versus_even_split", self.even)):
            m, lo, hi = self.versus(c)
            out[key] = {"gain": m, "ci_low": lo, "ci_high": hi}
        out["uncertainty"] = self.uncertainty
        return out


def _fmt(x: Any) -> str:
    return f"{x:.4g}" if isinstance(x, float) else str(x)


def changes(before: Scenario, after: Scenario, paths: Sequence[str]) -> dict[str, tuple[Any, Any]]:
    return {p: (before.get(p), after.get(p)) for p in paths if before.get(p) != after.get(p)}


class _Evaluator:
    """Runs scenarios on a fixed set of seeds and returns each one's mean metric."""

    def __init__(self, base: Scenario, metric: str, replications: Sequence[int],
                 workers: int, scheduler: str | None, pool, progress):
        self.base, self.metric, self.replications = base, metric, list(replications)
        self.workers, self.scheduler, self.pool, self.progress = workers, scheduler, pool, progress
        self.done = 0

    def values(self, scenarios: Sequence[Scenario]) -> np.ndarray:
        """Metric per scenario (rows) and replication (columns)."""
        seed, days = self.base.run.seed, self.base.run.days
        specs = [RunSpec(i * len(self.replications) + j, sc.model_dump(), seed, k, days)
                 for i, sc in enumerate(scenarios) for j, k in enumerate(self.replications)]
        start = self.done

        def tick(n: int) -> None:
            self.done = start + n
            if self.progress:
                self.progress(self.done)

        results = _run(specs, self.workers, self.scheduler, tick, pool=self.pool)
        flat = np.array([metric_value(r["metrics"], self.metric, days) for r in results])
        return flat.reshape(len(scenarios), len(self.replications))


def plan_size(n_levers: int, generations: int) -> int:
    """How many splits the search evaluates: a first generation of ``2 n + 2``, then the rest."""
    return _population(n_levers) * (generations + 1)


def _population(n: int) -> int:
    return max(2 * n + 2, 5)


def optimize(
    scenario: Scenario,
    budget: float | None = None,
    *,
    metric: str = "repeat_purchases",
    days: int | None = None,
    reps: int = 8,
    check_reps: int = 30,
    generations: int = 6,
    workers: int = 1,
    scheduler: str | None = None,
    pool=None,
    progress: Callable[[int], None] | None = None,
    fit: Mapping[str, Any] | None = None,
    draws: int = 20,
) -> Optimum:
    """The best split of ``budget`` a month across the chain's levers (see the module doc).

    Args:
        scenario: the business as it is (its ``run.seed`` seeds every run).
        budget: added money a month (default: :func:`~chainsim.moves.default_budget`).
        metric: one of :data:`chainsim.diagnose.METRICS`.
        days: days per run (default: the scenario's ``run.days``).
        reps: seeds every split is run on during the search (common random numbers).
        check_reps: fresh seeds the answer is checked on (the gains and intervals).
        generations: generations of differential evolution after the first.
        workers, scheduler, pool: where runs go (1: this process; a Dask
            scheduler address; or an executor to reuse).
        progress: called with the number of runs finished so far; the total is
            :func:`total_runs` (plus :func:`fit_draw_runs` with a fit).
        fit: a fit.json's contents (:func:`chainsim.fitting.load_fit`): the answer is
            then also run on ``draws`` draws of the fitted knobs (see
            :func:`_over_draws`), and says how often it beats the best single move.
    """
    if pool is None and (workers > 1 or scheduler):
        from .parallel import executor

        with executor(workers, scheduler) as own:  # one pool for every generation
            return optimize(scenario, budget, metric=metric, days=days, reps=reps,
                            check_reps=check_reps, generations=generations, workers=workers,
                            scheduler=scheduler, pool=own, progress=progress, fit=fit,
                            draws=draws)
    _check_metric(metric)
    if reps < 1:
        raise ValueError(f"reps = {reps} is not allowed: must be a whole number >= 1")
    if check_reps < 2:
        raise ValueError(f"check_reps = {check_reps} is not allowed: must be a whole number >= 2")
    if generations < 0:
        raise ValueError(f"generations = {generations} is not allowed: must be >= 0")
    scenario = scenario.replace({"run.days": scenario.run.days if days is None else days})
    budget = default_budget(scenario) if budget is None else budget
    check_budget(scenario, budget)
    paths = levers(scenario, budget)
    n = len(paths)

    search = _Evaluator(scenario, metric, range(reps), workers, scheduler, pool, progress)
    seen: dict[tuple[float, ...], float] = {}

    def split_of(x: np.ndarray) -> Split:
        x = np.clip(np.asarray(x, dtype=float), 0.0, 1.0)
        if x.sum() <= 0:
            x = np.ones(n)
        return Split.of(dict(zip(paths, x.tolist(), strict=True)), budget)

    def objective(population: np.ndarray) -> np.ndarray:
        # vectorized: population is (n, S); one batch of runs for the whole generation
        splits = [split_of(col) for col in population.T]
        keys = [tuple(round(m, 6) for _, m in s.money) + tuple(k for k, _ in s.money)
                for s in splits]
        todo = [i for i, k in enumerate(keys) if k not in seen]
        if todo:
            values = search.values([splits[i].apply(scenario) for i in todo]).mean(axis=1)
            for i, v in zip(todo, values, strict=True):
                seen[keys[i]] = float(v)
        return -np.array([seen[k] for k in keys])

    rng = np.random.default_rng(np.random.SeedSequence(scenario.run.seed, spawn_key=(2**31,)))
    size = _population(n)
    first = np.vstack([np.eye(n), np.ones((1, n)), rng.random((size - n - 1, n))])
    trace: list[float] = []

    from scipy.optimize import differential_evolution

    if generations > 0:
        result = differential_evolution(
            objective, [(0.0, 1.0)] * n, init=first, maxiter=generations, popsize=size,
            vectorized=True, updating="deferred", polish=False, tol=0.0, rng=rng,
            callback=lambda intermediate_result: trace.append(-intermediate_result.fun))
        best_x = result.x
    else:
        values = objective(first.T)
        best_x = first[int(np.argmin(values))]
        trace.append(-float(values.min()))
    best = _prune(split_of(best_x), budget, scenario, objective_of=lambda s: _value(s, seen,
                  search, scenario))
    corners = [Split.of({p: 1.0}, budget) for p in paths]
    single = max(corners, key=lambda s: _value(s, seen, search, scenario))
    even = Split.of(dict.fromkeys(paths, 1.0), budget)
    if _value(single, seen, search, scenario) >= _value(best, seen, search, scenario):
        best = single  # the search's own guarantee, kept exact after pruning

    # the check: fresh seeds, every candidate paired with the business as it is
    fresh = range(reps, reps + check_reps)
    check = _Evaluator(scenario, metric, fresh, workers, scheduler, pool, progress)
    check.done = search.done
    rows = check.values([scenario, best.apply(scenario), single.apply(scenario),
                         even.apply(scenario)])
    base_row = rows[0]

    def candidate(name: str, split: Split, row: np.ndarray) -> Candidate:
        after = split.apply(scenario)
        return Candidate(name, split, changes(scenario, after, paths),
                         running_cost(after) - running_cost(scenario),
                         tuple((row - base_row).tolist()))

    uncertainty = None
    if fit is not None:
        uncertainty = _over_draws(scenario, fit, draws, best, single, check)
    on_search = {"best split": _value(best, seen, search, scenario),
                 "best single move": _value(single, seen, search, scenario),
                 "even split": _value(even, seen, search, scenario)}
    return Optimum(scenario, budget, metric, scenario.run.days, reps, check_reps, len(seen),
                   float(base_row.mean()), candidate("best split", best, rows[1]),
                   candidate("best single move", single, rows[2]),
                   candidate("even split", even, rows[3]), tuple(trace), uncertainty, on_search)


#: Seeds each draw of the fitted knobs is run on (paired within the draw).
DRAW_REPS = 2


def fit_draw_runs(draws: int) -> int:
    """Runs :func:`optimize` adds to carry a fit's uncertainty over ``draws`` draws."""
    return draws * 3 * DRAW_REPS


def _over_draws(scenario: Scenario, fit: Mapping[str, Any], draws: int, best: Split,
                single: Split, check: _Evaluator) -> dict[str, Any]:
    """The answer over draws of the fitted knobs: the same money, spent the same way.

    Each draw is the scenario with the fitted knobs drawn from the fit's
    uncertainty (:func:`chainsim.fitting.draws_from`); the business as it is, the
    best split and the best single move run on the same :data:`DRAW_REPS`
    fresh seeds in each. The gain's interval is the 2.5 and 97.5 percentiles
    over draws, so it holds the fit's uncertainty and the runs' noise together.
    """
    from .fitting import draws_from

    scenarios = draws_from(fit, scenario, draws, seed=scenario.run.seed)
    runs = []
    for d in scenarios:
        runs += [d, best.apply(d), single.apply(d)]
    seeds = range(check.replications[-1] + 1, check.replications[-1] + 1 + DRAW_REPS)
    ev = _Evaluator(scenario, check.metric, seeds, check.workers, check.scheduler, check.pool,
                    check.progress)
    ev.done = check.done
    values = ev.values(runs).mean(axis=1).reshape(draws, 3)
    gain = values[:, 1] - values[:, 0]
    over = values[:, 1] - values[:, 2]
    same = best == single
    return {"draws": draws, "reps_per_draw": DRAW_REPS, "gain": float(gain.mean()),
            "gain_low": float(np.percentile(gain, 2.5)),
            "gain_high": float(np.percentile(gain, 97.5)),
            "gain_above_zero": float(np.mean(gain > 0)),
            "beats_single": 1.0 if same else float(np.mean(over > 0)),
            "same_as_single": same, "per_draw_gain": gain.tolist()}


def total_runs(scenario: Scenario, budget: float | None = None, *, reps: int = 8,
               check_reps: int = 30, generations: int = 6) -> int:
    """At most how many runs :func:`optimize` makes (splits seen twice are run once)."""
    budget = default_budget(scenario) if budget is None else budget
    n = len(levers(scenario, budget))
    return plan_size(n, generations) * reps + 2 * reps + 4 * check_reps


def _key(s: Split) -> tuple:
    return tuple(round(m, 6) for _, m in s.money) + tuple(k for k, _ in s.money)


def _value(s: Split, seen: dict, search: _Evaluator, scenario: Scenario) -> float:
    key = _key(s)
    if key not in seen:
        seen[key] = float(search.values([s.apply(scenario)]).mean())
    return seen[key]


def _prune(split: Split, budget: float, scenario: Scenario, objective_of) -> Split:
    """Drop shares under :data:`NEGLIGIBLE` when that is no worse on the search's seeds."""
    shares = split.shares()
    kept = {k: s for k, s in shares.items() if s >= NEGLIGIBLE}
    if len(kept) == len(shares) or not kept:
        return split
    simpler = Split.of(kept, budget)
    return simpler if objective_of(simpler) >= objective_of(split) else split


def check_budget(scenario: Scenario, budget: float) -> None:
    """Refuse a budget that buys nothing anywhere, saying what the cheapest step costs."""
    if not (isinstance(budget, int | float) and math.isfinite(budget) and budget > 0):
        raise ValueError(f"budget = {budget!r} is not allowed: must be a number > 0")
    if not levers(scenario, budget):
        raise ValueError(f"no link of {scenario.name!r} can be strengthened for money: every "
                         "capacity is unlimited or free and every quality at its ceiling")
    step = cheapest_step(scenario)
    if step is not None and budget < step[1]:
        raise ValueError(f"budget {budget:,.0f} a month is below the cost of any move: one more "
                         f"case a day, or a tenth fewer failures, at the cheapest lever "
                         f"({_lever_title(step[0])}) costs {step[1]:,.0f} a month")


def figure(o: Optimum):
    """Left: how each candidate splits the budget. Right: what each adds, with its 95 % CI."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cands = [o.best, o.single, o.even]
    names = [c.name for c in cands]
    paths = sorted({k for c in cands for k, _ in c.split.money},
                   key=lambda p: [f"{link}.{knob}" for link in LINKS
                                  for knob in LEVERS[link]].index(p))
    colors = plt.get_cmap("tab10").colors
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2),
                                      gridspec_kw={"width_ratios": [3, 2]})
    y = np.arange(len(cands))[::-1]
    start = np.zeros(len(cands))
    for i, p in enumerate(paths):
        share = np.array([c.split.shares().get(p, 0.0) for c in cands])
        left.barh(y, share * o.budget, left=start * o.budget, color=colors[i % 10],
                  label=_lever_title(p))
        start += share
    left.set_yticks(y, names)
    left.set_xlabel("money a month")
    left.set_title(f"how {o.budget:,.0f} a month is split", fontsize=10)
    left.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=4,
                frameon=False)
    gains = [c.gain for c in cands]
    errs = np.array([[c.gain - c.ci[0], c.ci[1] - c.gain] for c in cands]).T
    right.barh(y, gains, xerr=errs, color=["tab:green", "tab:gray", "tab:gray"], capsize=4)
    right.axvline(0, color="black", lw=0.8)
    right.set_yticks(y, [""] * len(cands))
    right.set_xlabel(f"gain in {METRICS[o.metric]}")
    right.set_title(f"what it adds ({o.check_reps} fresh seeds, 95 % CI)", fontsize=10)
    fig.suptitle(f"{o.scenario.name}: where {o.budget:,.0f} a month does the most", fontsize=11)
    fig.tight_layout()
    return fig
