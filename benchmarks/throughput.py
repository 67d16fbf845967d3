"""How fast chainsim simulates orders, and how its cost scales with the market.

    .venv/bin/python benchmarks/throughput.py            # the README figures
    .venv/bin/python benchmarks/throughput.py --quick    # a fast smoke run

Orders are first plus repeat purchases. Only ``model.run`` is timed: building
the model (start-up) is excluded. Every rule is on: over-promising, an imperfect
hand-off, late and wrong deliveries, complaints with finite patience, negative
word of mouth, repeat-failure memory and spread inter-purchase times. Each case
is run ``--repeats`` times; the best time is reported (the least disturbed by
other work on the machine), with the median beside it.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time

from chainsim import ChainModel, Scenario

BUSY = {
    "market": {"size": 2_000_000},
    "marketing": {"capacity": 4000, "quality": 0.1},
    "word_of_mouth": {"contact_rate": 0.02, "adoption": 0.05, "negative_word": 0.2},
    "sales": {"capacity": 400, "quality": 0.5, "patience": 2, "overpromise": 0.1},
    "handoff": {"quality": 0.93},
    "operations": {"capacity": 3000, "quality": 0.95, "promised_days": 2},
    "service": {"capacity": 150, "quality": 0.8, "patience": 3},
    "retention": {"interval_days": 14, "interval_spread": 0.3},
}


def time_run(data: dict, days: int, repeats: int, journeys: bool = False) -> dict:
    scenario = Scenario.from_dict(data)
    times, orders = [], None
    for _ in range(repeats):
        model = ChainModel(scenario, rng=1, journeys=journeys)
        start = time.perf_counter()
        result = model.run(days)
        times.append(time.perf_counter() - start)
        orders = result.summary["orders"]
    best = min(times)
    return {"orders": orders, "best_s": best, "median_s": statistics.median(times),
            "orders_per_s": orders / best}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="90 days, one repeat")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    args = parser.parse_args()
    days, repeats = (90, 1) if args.quick else (args.days, args.repeats)

    big = {**BUSY, "market": {"size": BUSY["market"]["size"] * 100}}
    cases = {
        "busy business": time_run(BUSY, days, repeats),
        "same, journeys recorded": time_run(BUSY, days, repeats, journeys=True),
        "same activity, 100x market": time_run(big, days, repeats),
    }
    ratio = cases["same activity, 100x market"]["best_s"] / cases["busy business"]["best_s"]
    if args.json:
        print(json.dumps({"days": days, "cases": cases, "market_100x_time_ratio": ratio}, indent=2))
        return
    print(f"chainsim throughput: {days} days, best of {repeats}, "
          f"Python {platform.python_version()} on {platform.machine()}")
    print()
    print("| case | orders | run time (best / median) | orders per second |")
    print("|---|---:|---:|---:|")
    for name, c in cases.items():
        print(f"| {name} | {c['orders']:,} | {c['best_s']:.2f} s / {c['median_s']:.2f} s "
              f"| {c['orders_per_s']:,.0f} |")
    print()
    print(f"100x market / same activity time ratio: {ratio:.2f} (floor: <= 1.3)")


if __name__ == "__main__":
    main()
