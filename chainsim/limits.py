"""How big a piece of work is, before it starts: refuse what no one asks for on purpose.

``--days 100000000`` or ``--reps 1000000000`` would run for days or fill the
memory before saying anything. Every command estimates what it is about to do
-- runs x days x the business's activity, and the memory a run keeps -- and
refuses, in one line with the figure, past limits a user would not reach by
accident. ``--no-limits`` lifts them.

The estimates are deliberately rough (within a factor of a few) and on the
high side; they come from the engine's measured costs (README, Speed): about
0.15 ms a day of fixed cost, a few microseconds a customer event, about 1.2 KB
a day for the day's row and 40 bytes a person who ever became a lead.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from .schema import UNLIMITED, Scenario

#: Seconds of computing one command may plan without --no-limits (all workers together).
MAX_SECONDS = 6 * 3600
#: Memory one run may plan to keep.
MAX_BYTES = 8 * 2**30

SECONDS_PER_DAY = 2e-4
SECONDS_PER_EVENT = 1e-6
BYTES_PER_DAY = 1_300
BYTES_PER_PERSON = 40


@dataclass(frozen=True)
class Estimate:
    seconds: float  # of computing, one process
    bytes: int  # kept by one run at its end

    def describe(self) -> str:
        return f"about {duration(self.seconds)} of computing and {size(self.bytes)} a run"


def duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    if seconds < 2 * 86400:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:,.0f} days"


def size(n: float) -> str:
    for unit, scale in (("GB", 2**30), ("MB", 2**20)):
        if n >= scale:
            return f"{n / scale:,.1f} {unit}"
    return f"{n / 1024:,.0f} KB"


def daily_activity(scenario: Scenario) -> float:
    """Customer events a day, at most: what the links could handle, bounded by the market."""
    market = scenario.market
    total = 0.0
    for link in ("marketing", "sales", "operations", "service"):
        params = getattr(scenario, link)
        cap = params.capacity
        if cap == UNLIMITED:
            cap = market.size / 30.0  # the market, reached within a month
        total += float(cap) * (params.quality if link == "marketing" else 1.0)
    total += market.customers_at_start / max(1.0, scenario.retention.interval_days)
    return total


def run_estimate(scenario: Scenario, days: int | None = None) -> Estimate:
    days = scenario.run.days if days is None else days
    activity = daily_activity(scenario)
    people = min(scenario.market.size, scenario.market.customers_at_start + activity * days)
    return Estimate(days * (SECONDS_PER_DAY + activity * SECONDS_PER_EVENT),
                    int(days * BYTES_PER_DAY + people * BYTES_PER_PERSON))


def check(scenario: Scenario, *, days: int | None = None, runs: int = 1, workers: int = 1,
          what: str = "this run", fix: str = "--days") -> None:
    """Refuse (ValueError, one line) work past the limits; ``runs`` runs of the scenario."""
    e = run_estimate(scenario, days)
    wall = e.seconds * runs / max(1, workers)
    memory = e.bytes * min(runs, max(1, workers))
    limit_bytes = min(MAX_BYTES, _ram() // 2)
    if wall <= MAX_SECONDS and memory <= limit_bytes:
        return
    raise ValueError(
        f"{what} would take {duration(wall)} and {size(memory)} "
        f"({runs:,} run{'s' if runs != 1 else ''}, {e.describe()}); the limits are "
        f"{duration(MAX_SECONDS)} and {size(limit_bytes)}: use a smaller {fix}, or add "
        "--no-limits to run it anyway")


def _ram() -> int:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return 16 * 2**30


def cap_workers(asked: int | None, default: int) -> tuple[int, str | None]:
    """Workers to start: at most the machine's cores (and a note when asked for more)."""
    if asked is None:
        return default, None
    if asked > default:
        return default, (f"--workers {asked} is more than this machine's {default} cores: "
                         f"using {default}")
    return asked, None


__all__ = ["MAX_BYTES", "MAX_SECONDS", "Estimate", "cap_workers", "check", "daily_activity",
           "duration", "run_estimate", "size"]
