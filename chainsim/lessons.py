"""The lessons of the built-in stories, written as checks that can fail.

Each story in ``scenarios/`` tells the lesson of one seed article (its ``lesson``
key says it in a sentence; ``chainsim list`` shows it). Here each lesson is a
function that runs the story with replications on common random numbers and
says whether the lesson holds, with the numbers.

A lesson that holds only at one tuned point is not a lesson. :func:`neighbourhood`
draws businesses around a story: every knob that is not part of the lesson
(:attr:`Lesson.about`) is scaled by its own factor in [0.7, 1.3]. The story tests
assert each lesson at the shipped point and at such neighbours.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .diagnose import diagnose
from .intervals import mean_ci
from .parallel import RunSpec, guarded, run_all, run_spec
from .schema import FUNCTIONS, UNLIMITED, Scenario, knobs


@dataclass(frozen=True)
class Finding:
    """Whether a lesson held for one business, and the numbers that say so."""

    holds: bool
    detail: str


@dataclass(frozen=True)
class Lesson:
    """A story's lesson: the knobs it is about, and the check."""

    story: str
    about: tuple[str, ...]  # held as shipped when the neighbourhood is drawn
    check: Callable[[Scenario, int, int], Finding]  # (business, reps, workers)


# -- running variants on common random numbers ------------------------------------------


def paired_runs(variants: Mapping[str, Scenario], reps: int,
                workers: int = 1) -> dict[str, list[dict[str, float]]]:
    """Run each variant ``reps`` times; replication k uses the same seed in every variant.

    The seed is the first variant's ``run.seed``; returns each variant's flattened
    summaries, in replication order.
    """
    names = list(variants)
    seed = variants[names[0]].run.seed
    specs = [RunSpec(i * reps + k, sc.model_dump(), seed, k, sc.run.days)
             for i, sc in enumerate(variants.values()) for k in range(reps)]
    if workers == 1:
        results = [guarded(run_spec, spec) for spec in specs]
    else:
        results = sorted(run_all(specs, workers=workers), key=lambda r: r["run_id"])
    failed = [r for r in results if r["status"] != "ok"]
    if failed:
        raise RuntimeError(f"{len(failed)} runs failed: {failed[0]['error']}")
    return {name: [r["metrics"] for r in results[i * reps:(i + 1) * reps]]
            for i, name in enumerate(names)}


def _ci_text(values: np.ndarray, digits: int = 1) -> str:
    mean, _, lo, hi = mean_ci(values)
    return f"{mean:+.{digits}f} (95 % CI {lo:+.{digits}f} to {hi:+.{digits}f})"


def _clearly_positive(values: np.ndarray) -> bool:
    """The 95 % interval of the mean lies above zero."""
    _, _, lo, _ = mean_ci(values)
    return bool(lo > 0)


def renewal_rate(metrics: Mapping[str, float]) -> float:
    """Share of finished orders after which the customer came back (see metrics)."""
    return float(metrics["renewal_rate"])


# -- the checks ----------------------------------------------------------------------------


def _names(link: str):
    """The verdict names ``link``, clearly."""

    def check(sc: Scenario, reps: int, workers: int) -> Finding:
        v = diagnose(sc, reps=reps, workers=workers).verdict()
        return Finding(v.link == link, v.text)

    return check


def _balanced(sc: Scenario, reps: int, workers: int) -> Finding:
    """No link is starved: capacity added at Sales, Operations or Service buys little."""
    d = diagnose(sc, reps=reps, workers=workers)
    capacity = [m for m in d.moves if m.knob == "capacity" and m.function != "marketing"]
    most = max(capacity, key=lambda m: m.mean)
    best = d.best
    holds = best.path in ("sales.quality", "marketing.capacity")
    holds = holds and most.mean < 0.25 * best.mean and best.ci[0] > 0
    return Finding(holds, f"best move {best.path} {_ci_text(np.array(best.gains))}; most any "
                   f"capacity buys: {most.path} ({most.mean:+.1f})")


def _call_in_test(sc: Scenario, reps: int, workers: int) -> Finding:
    """Leads lost waiting are the largest loss, and Sales is the weakest link."""
    d = diagnose(sc, reps=reps, workers=workers)
    runs = d.records[0]
    categories = ("leads_lost", "not_converted", "declined_wait", "put_off",
                  "churned_no_problem", "churned_silent_problem", "churned_unresolved",
                  "churned_resolved", "churned_resolved_quickly", "churned_cancelled")
    largest = [max(categories, key=lambda c: m[c]) for m in runs]
    v = d.verdict()
    holds = all(c == "leads_lost" for c in largest) and v.link == "sales"
    share = np.mean([m["leads_lost"] / max(1.0, m["leads"]) for m in runs])
    return Finding(holds, f"largest loss: {sorted(set(largest))}; {100 * share:.0f} % of leads "
                   f"lost waiting; {v.text}")


def _car_dealership(sc: Scenario, reps: int, workers: int) -> Finding:
    """The workshop is the weakest link on every measure of the business."""
    d = diagnose(sc, reps=reps, workers=workers)
    parts, holds = [], True
    for metric in ("repeat_purchases", "active_customers", "profit"):
        v = d.for_metric(metric).verdict()
        holds &= v.link == "operations"
        parts.append(f"{metric}: {v.link} ({v.move.title if v.move else '-'} "
                     f"{v.move.mean if v.move else 0:+,.1f})")
    backlog = max(m["queue_max_operations"] for m in d.records[0]) / _capacity(sc, "operations")
    return Finding(holds, "; ".join(parts) + f"; longest workshop backlog {backlog:.1f} days "
                   "of work")


def _capacity(sc: Scenario, function: str) -> float:
    cap = getattr(sc, function).capacity
    return math.inf if cap == UNLIMITED else float(cap)


def _lawn_care(sc: Scenario, reps: int, workers: int) -> Finding:
    """Crews help, a civil and effective owner helps on his own, and both beat either."""
    crews = sc.replace({"operations.capacity": 50})
    manner = sc.replace({"service.quality": 0.9})
    variants = {"as is": sc, "crews": crews, "manner": manner,
                "both": crews.replace({"service.quality": 0.9})}
    runs = paired_runs(variants, reps, workers)
    rate = {name: np.array([renewal_rate(m) for m in r]) for name, r in runs.items()}
    gain = {name: 100 * (rate[name] - rate["as is"]) for name in ("crews", "manner", "both")}
    holds = (_clearly_positive(gain["crews"]) and _clearly_positive(gain["manner"])
             and _clearly_positive(gain["both"] - gain["crews"])
             and _clearly_positive(gain["both"] - gain["manner"]))
    return Finding(holds, f"renewals {100 * rate['as is'].mean():.1f} %; points gained: crews "
                   f"{_ci_text(gain['crews'])}, owner {_ci_text(gain['manner'])}, both "
                   f"{_ci_text(gain['both'])}")


def _silo_handoff(sc: Scenario, reps: int, workers: int) -> Finding:
    """The hand-off is the weakest link; fixing it cuts complaints per delivery."""
    d = diagnose(sc, reps=reps, workers=workers)
    v = d.verdict()
    fixed = paired_runs({"as is": sc, "fixed": sc.replace({"handoff.quality": 0.95})}, reps,
                        workers)
    rate = {n: np.mean([m["complaints"] / max(1.0, m["deliveries"]) for m in r])
            for n, r in fixed.items()}
    cut = 1 - rate["fixed"] / rate["as is"]
    holds = v.link == "handoff" and cut > 1 / 3
    return Finding(holds, f"{v.text} Hand-off 0.95: complaints per delivery -{100 * cut:.0f} %.")


LESSONS: dict[str, Lesson] = {
    "balanced": Lesson("balanced", ("sales.capacity", "operations.capacity",
                                    "service.capacity"), _balanced),
    **{f"weak_{f}": Lesson(f"weak_{f}", (f"{f}.capacity", f"{f}.quality"), _names(f))
       for f in FUNCTIONS},
    "call_in_test": Lesson("call_in_test", ("sales.capacity", "sales.quality", "sales.patience"),
                           _call_in_test),
    "car_dealership": Lesson("car_dealership", ("operations.capacity", "service.quality"),
                             _car_dealership),
    "lawn_care": Lesson("lawn_care", ("operations.capacity", "service.quality"), _lawn_care),
    "silo_handoff": Lesson("silo_handoff", ("handoff.quality",), _silo_handoff),
}


# -- the neighbourhood -----------------------------------------------------------------------

#: Keys never varied: the run itself, and the choice of TARP row.
FIXED = ("run.days", "run.seed", "retention.table")


def perturbable(scenario: Scenario, about: Sequence[str] = ()) -> list[str]:
    """The knobs a neighbourhood varies: every number not in ``about`` (nor unset, nor unlimited)."""
    out = []
    for path, k in knobs().items():
        value = scenario.get(path)
        if path in about or path in FIXED or k.kind == "choice" or value is None \
                or value == UNLIMITED:
            continue
        out.append(path)
    return out


def scale_knob(path: str, value: Any, factor: float) -> Any:
    """``value`` scaled by ``factor``, kept within the knob's range.

    A probability is scaled on its smaller side, as :meth:`Knob.strengthen` does:
    below 0.5 the chance itself, above 0.5 the chance of failure (0.97 at 1.3
    becomes 0.961), so a probability near 1 is not pushed to certainty.
    """
    k = knobs()[path]
    if k.kind == "probability":
        new = value * factor if value <= 0.5 else 1 - (1 - value) * factor
        return float(min(1.0, max(0.0, new)))
    new = value * factor
    if k.maximum is not None:
        new = min(new, k.maximum)
    if k.kind == "integer":
        return max(int(k.minimum or 0), int(round(new)))
    return float(new)


def neighbourhood(scenario: Scenario, about: Sequence[str] = (), points: int = 8,
                  seed: int = 0, low: float = 0.7, high: float = 1.3
                  ) -> list[tuple[Scenario, dict[str, float]]]:
    """Businesses around ``scenario``: every knob not in ``about`` scaled by a factor in [low, high].

    Each point draws its own factor per knob (uniformly, from a generator seeded
    by ``seed``), so the same call gives the same points. The customers a
    business starts with are scaled as a share of its market (on the share's
    smaller side, like a probability), so a business that has reached most of
    its market still has. Returns the scenarios with the factors used.
    """
    rng = np.random.default_rng(seed)
    paths = perturbable(scenario, about)
    size0, start0 = scenario.market.size, scenario.market.customers_at_start
    out = []
    for _ in range(points):
        factors = dict(zip(paths, rng.uniform(low, high, len(paths)).tolist(), strict=True))
        changes = {p: scale_knob(p, scenario.get(p), f) for p, f in factors.items()
                   if p != "market.customers_at_start"}
        if "market.customers_at_start" in factors:
            share = _scale_share(start0 / size0, factors["market.customers_at_start"])
            size = changes.get("market.size", size0)
            changes["market.customers_at_start"] = min(size, int(round(share * size)))
        out.append((scenario.replace(changes), factors))
    return out


def _scale_share(share: float, factor: float) -> float:
    return min(1.0, max(0.0, share * factor if share <= 0.5 else 1 - (1 - share) * factor))


def check(story: str, scenario: Scenario, reps: int, workers: int = 1) -> Finding:
    """Does ``story``'s lesson hold for ``scenario`` (the story itself, or a neighbour)?"""
    return LESSONS[story].check(scenario, reps, workers)
