"""Moves: a priced change to one link of the chain.

"Which link should I strengthen?" is asked with money in hand: where does the
next 1,000 a month do the most? A :class:`Move` is one link made stronger in
one way -- more capacity, or better quality -- together with what that costs a
month, priced from the scenario's own economics: each link's running cost is
``capacity x unit cost x`` :func:`~chainsim.rules.quality_factor` a day (the
hand-off's ``handoff.cost x`` the same factor), where each halving of a link's
failures costs ``quality_premium`` times its base cost again.

:func:`budget_moves` makes every move that costs the same budget, so they can be
compared on the same money; :func:`step_moves` makes the older "+20 % at each
link" moves, each with its own cost. Both are what ``chainsim diagnose``, the
run summary's verdict and the workshop strengthen.

**Marketing is one lever.** Its capacity (contacts a day) and quality (the
chance a contact takes) reach people only as their product, so they are one
lever, not two: Marketing is strengthened by buying contacts at its current
quality. (Priced by the quality premium, a better response rate would look
almost free at a low rate, which says more about the cost formula than about
marketing.)
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from .rules import FAILURE_FLOOR, quality_factor
from .schema import UNLIMITED, Scenario, knobs

#: The links a customer passes, in order: the four functions and the hand-off.
LINKS = ("marketing", "sales", "handoff", "operations", "service")

#: What a move can change at each link (see the module docstring for Marketing).
LEVERS: dict[str, tuple[str, ...]] = {
    "marketing": ("capacity",),
    "sales": ("capacity", "quality"),
    "handoff": ("quality",),
    "operations": ("capacity", "quality"),
    "service": ("capacity", "quality"),
}

DAYS_PER_MONTH = 30.0


def label(link: str) -> str:
    """'Operations', 'Hand-off', ..."""
    return "Hand-off" if link == "handoff" else link.capitalize()


@dataclass(frozen=True)
class Move:
    """One link strengthened one way, and what it costs a month."""

    link: str
    knob: str  # "capacity" or "quality"
    before: Any
    after: Any
    cost: float  # added running cost, money per month

    @property
    def path(self) -> str:
        return f"{self.link}.{self.knob}"

    @property
    def title(self) -> str:
        """'Operations capacity'."""
        return f"{label(self.link)} {self.knob}"

    @property
    def possible(self) -> bool:
        """False when the link cannot get stronger this way (unlimited, perfect, or free)."""
        return self.after != self.before

    def apply(self, scenario: Scenario) -> Scenario:
        return scenario.replace({self.path: self.after}) if self.possible else scenario


def _capacity(scenario: Scenario, link: str) -> float:
    if link == "handoff":
        return 1.0
    cap = getattr(scenario, link).capacity
    return math.inf if cap == UNLIMITED else float(cap)


def daily_cost(scenario: Scenario, link: str) -> float:
    """What a link's capacity and quality cost a day (unlimited capacity: NaN, paid per case)."""
    params = getattr(scenario, link)
    units = _capacity(scenario, link)
    if math.isinf(units):
        return math.nan
    return units * params.cost * quality_factor(params.quality, scenario.economics.quality_premium)


def running_cost(scenario: Scenario) -> float:
    """The business's monthly running cost of its links (capacity, quality, hand-off)."""
    total = sum(daily_cost(scenario, link) for link in LINKS)
    return DAYS_PER_MONTH * total if math.isfinite(total) else math.nan


def move_cost(scenario: Scenario, link: str, knob: str, after: Any) -> float:
    """Monthly cost of changing ``link.knob`` to ``after``."""
    moved = scenario.replace({f"{link}.{knob}": after})
    return DAYS_PER_MONTH * (daily_cost(moved, link) - daily_cost(scenario, link))


def budget_move(scenario: Scenario, link: str, knob: str, budget: float) -> Move:
    """The move at ``link.knob`` that costs ``budget`` a month (or less, if quality reaches 1).

    Capacity grows by ``budget / (unit cost x quality factor)`` cases a day.
    Quality buys halvings of the failures: ``budget / (capacity x unit cost x
    premium)`` of them a day's budget, so ``1 - q' = (1 - q) / 2^halvings``, up to
    99.9 %. A move that cannot be priced -- unlimited capacity, a cost of 0,
    quality already at 99.9 % -- is returned unchanged (``possible`` is False).
    """
    params = getattr(scenario, link)
    before = getattr(params, knob)
    per_day = budget / DAYS_PER_MONTH
    premium = scenario.economics.quality_premium
    units = _capacity(scenario, link)
    if math.isinf(units) or params.cost <= 0:
        return Move(link, knob, before, before, 0.0)
    if knob == "capacity":
        after: Any = before + per_day / (params.cost * quality_factor(params.quality, premium))
    else:
        if premium <= 0 or units <= 0 or 1.0 - before <= FAILURE_FLOOR:
            return Move(link, knob, before, before, 0.0)
        halvings = per_day / (units * params.cost * premium)
        after = 1.0 - max((1.0 - before) / 2.0**halvings, FAILURE_FLOOR)
    return Move(link, knob, before, after, move_cost(scenario, link, knob, after))


def budget_moves(scenario: Scenario, budget: float) -> list[Move]:
    """Every move that costs ``budget`` a month, link by link."""
    return [budget_move(scenario, link, knob, budget) for link in LINKS for knob in LEVERS[link]]


def step_moves(scenario: Scenario, step: float) -> list[Move]:
    """Every move that strengthens its knob by ``step`` (0.2 = 20 %), with its monthly cost."""
    catalogue = knobs()
    out = []
    for link in LINKS:
        for knob in LEVERS[link]:
            path = f"{link}.{knob}"
            before = scenario.get(path)
            after = catalogue[path].strengthen(before, step)
            cost = 0.0 if after == before else move_cost(scenario, link, knob, after)
            out.append(Move(link, knob, before, after, cost if math.isfinite(cost) else math.nan))
    return out


def default_budget(scenario: Scenario) -> float:
    """What a business owner would try first: about 5 % more than the links cost a month now.

    Rounded to the nearest plain figure (1, 2, 2.5 or 5 times a power of ten);
    1,000 when the running cost is unknown (a link with unlimited capacity is paid
    per case).
    """
    cost = running_cost(scenario)
    if not math.isfinite(cost) or cost <= 0:
        return 1000.0
    target = 0.05 * cost
    power = 10 ** math.floor(math.log10(target))
    return min((m * power for m in (1, 2, 2.5, 5, 10)),
               key=lambda x: abs(math.log(x / target)))
