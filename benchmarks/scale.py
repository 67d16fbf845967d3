"""How chainsim's cost grows: small businesses, lead-heavy ones, a million customers, sweeps.

    .venv/bin/python benchmarks/scale.py              # every case (about three minutes)
    .venv/bin/python benchmarks/scale.py --quick      # smaller, for a smoke run
    .venv/bin/python benchmarks/scale.py --json

Cases (issue 11's list; the figures in the README come from here):

* ``balanced`` for a year: engine time of ``ChainModel.run`` (best of 7);
* a lead-heavy business: 1,000 leads a day, 150 handled, two years;
* the busy business of ``throughput.py`` (every rule on);
* ``balanced`` scaled up k times (market, customers at the start and every
  capacity): engine time and customer events per second for k = 4 .. 400
  (10 k to 1 M customers over a year) and the log-log slope of time against
  active customers; the largest through the command line, with its peak memory;
* the same activity in a market of 1e6 and of 1e8 people;
* a sweep's runs per second on 1 and 2 workers (parallel efficiency), worker
  start-up included: five rounds of one sweep on each, the median of the
  rounds' own ratios; the workers' utilization (busy time over workers x
  wall, what the pool itself costs, whatever the machine's pace); and the
  machine's own ceiling, two processes running the same runs at once against
  one alone.

A *customer event* is a lead, an order (first or repeat), a delivery or a
complaint. Engine time excludes building the model; the command-line figure
includes everything a user waits for.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from chainsim import ChainModel, Scenario
from chainsim.scenarios import load_scenario

sys.path.insert(0, str(Path(__file__).parent))
from machine import line, pace  # noqa: E402
from throughput import BUSY  # noqa: E402

CHAINSIM = Path(sys.executable).with_name("chainsim")
EVENT_COLUMNS = ("leads_new", "first_purchases", "repeat_purchases", "deliveries", "complaints")

LEAD_HEAVY = {
    "market": {"size": 5_000_000},
    "marketing": {"capacity": 10_000, "quality": 0.1},  # ~1,000 leads a day
    "word_of_mouth": {"contact_rate": 0.0},
    "sales": {"capacity": 150, "patience": 1},
}


def scaled(k: float) -> dict:
    """``balanced`` with its market, its customers and every capacity k times larger."""
    base = Scenario()
    data = {"market": {"size": int(base.market.size * k),
                       "customers_at_start": int(base.market.customers_at_start * k)}}
    for f in ("marketing", "sales", "operations", "service"):
        data[f] = {"capacity": float(getattr(base, f).capacity) * k}
    return data


def engine(scenario: Scenario, days: int, repeats: int) -> dict:
    times, ts = [], None
    for _ in range(repeats):
        model = ChainModel(scenario, rng=1)
        start = time.perf_counter()
        result = model.run(days)
        times.append(time.perf_counter() - start)
        ts = result.timeseries
    events = int(sum(ts[c].sum() for c in EVENT_COLUMNS))
    best = min(times)
    return {"best_s": best, "median_s": statistics.median(times), "events": events,
            "events_per_s": events / best, "customers": int(ts.customers_total.iloc[-1]),
            "active_mean": float(ts.active_customers.mean())}


def cli(scenario_data: dict, days: int) -> dict:
    """Wall time and peak memory of ``chainsim run FILE --no-verdict`` for a scenario."""
    lines = ['description = "balanced, scaled"']
    for section, values in {**scenario_data, "run": {"days": days}}.items():
        lines += [f"[{section}]", *(f"{k} = {v!r}" for k, v in values.items())]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "big.toml"
        path.write_text("\n".join(lines) + "\n")
        start = time.perf_counter()
        subprocess.run([str(CHAINSIM), "run", str(path), "--no-verdict", "--out",
                        str(Path(tmp) / "out")], check=True, stdout=subprocess.DEVNULL)
        wall = time.perf_counter() - start
    peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return {"wall_s": wall, "peak_mb": peak_mb}


def timed_run(spec):
    """A sweep's run, stamped with when it started and ended in its worker."""
    from chainsim.parallel import run_spec

    start = time.monotonic()
    record = run_spec(spec)
    return {**record, "span": [start, time.monotonic()]}


def sweep_rate(workers: int, quick: bool) -> tuple[float, float]:
    """Runs per second of the sweep, and its workers' utilization: busy time / (workers x wall).

    The utilization is what the pool itself costs (start-up, hand-over, the tail),
    whatever the machine's pace; the runs per second also move with the pace.
    """
    from chainsim.experiments import JOURNAL, load_experiment, sweep

    exp = load_experiment(Path(__file__).parents[1] / "experiments" / "weakest_link_oat.toml")
    if quick:
        exp = dataclasses.replace(exp, replications=2)
    with tempfile.TemporaryDirectory() as tmp:
        start = time.monotonic()
        sweep(exp, Path(tmp) / "s", workers=workers, run=timed_run)
        elapsed = time.monotonic() - start
        spans = [json.loads(line)["span"] for line in
                 (Path(tmp) / "s" / JOURNAL).read_text().splitlines()]
    busy = sum(end - begin for begin, end in spans)
    return exp.runs / elapsed, busy / (workers * elapsed)


COPY = """\
import sys, time
from chainsim import ChainModel
from chainsim.scenarios import load_scenario
scenario = load_scenario("balanced")
ChainModel(scenario, rng=0).run(30)  # warm
start = time.perf_counter()
for seed in range(int(sys.argv[1])):
    ChainModel(scenario, rng=seed).run(365)
print(time.perf_counter() - start)
"""


def copies_ceiling(runs: int, rounds: int) -> list[float]:
    """What two processes at once get out of this machine: the ceiling of any 2-worker speedup.

    The same ``runs`` runs of ``balanced`` in one process alone, then in two
    processes at once (import excluded); each round's ratio of the time alone to
    the time together. A sweep's efficiency cannot exceed it.
    """
    def together(n: int) -> float:
        procs = [subprocess.Popen([sys.executable, "-c", COPY, str(runs)],
                                  stdout=subprocess.PIPE, text=True) for _ in range(n)]
        return max(float(p.communicate()[0]) for p in procs)

    return [together(1) / together(2) for _ in range(rounds)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    before = pace()
    reps = 1 if args.quick else 3
    out: dict = {}

    out["balanced, 365 days"] = engine(load_scenario("balanced"), 365, 3 if args.quick else 7)
    days = 180 if args.quick else 730
    out[f"lead-heavy, {days} days"] = engine(Scenario.from_dict(LEAD_HEAVY), days, reps)
    days = 90 if args.quick else 365
    out[f"busy business, {days} days"] = engine(Scenario.from_dict(BUSY), days, reps)

    ks = (4, 40) if args.quick else (4, 40, 120, 400)
    ladder = {k: engine(Scenario.from_dict(scaled(k)), 365, 1 if k >= 100 else reps) for k in ks}
    for k, r in ladder.items():
        out[f"balanced x{k}, 365 days"] = r
    x = np.log([r["active_mean"] for r in ladder.values()])
    y = np.log([r["best_s"] for r in ladder.values()])
    slope = float(np.polyfit(x, y, 1)[0])
    big_k = ks[-1]
    out[f"balanced x{big_k} through the command line"] = cli(scaled(big_k), 365)

    same = {"market": {"size": 1_000_000}, "marketing": {"capacity": 400.0}}
    large = {**same, "market": {"size": 100_000_000}}
    small_market = engine(Scenario.from_dict(same), 365, reps)
    large_market = engine(Scenario.from_dict(large), 365, reps)
    out["market 1e6, 365 days"], out["market 1e8, 365 days"] = small_market, large_market

    # rounds of 1 then 2 workers: the machine's speed drifts by a third within minutes, so
    # the efficiency is the median over rounds of each round's own ratio, the runs per
    # second the median of each (best-of would pair a fast moment with a slow one)
    rates, utilization = {1: [], 2: []}, {1: [], 2: []}
    for _ in range(1 if args.quick else 5):
        for workers in rates:
            rate, used = sweep_rate(workers, args.quick)
            rates[workers].append(rate)
            utilization[workers].append(used)
    ceiling = copies_ceiling(20 if args.quick else 60, 1 if args.quick else 5)
    one, two = statistics.median(rates[1]), statistics.median(rates[2])
    ratios = [b / a / 2 for a, b in zip(rates[1], rates[2], strict=True)]
    summary = {"slope_time_vs_active_customers": slope,
               "market_1e8_over_1e6_time": large_market["best_s"] / small_market["best_s"],
               "sweep_runs_per_s": {"1 worker": one, "2 workers": two},
               "sweep_parallel_efficiency": statistics.median(ratios),
               "sweep_parallel_efficiency_rounds": ratios,
               "sweep_worker_utilization": {f"{w} worker{'s' * (w > 1)}": statistics.median(u)
                                            for w, u in utilization.items()},
               "two_copies_at_once": statistics.median(ceiling),
               "two_copies_at_once_rounds": ceiling,
               "machine_pace_ms": [before, pace()]}
    if args.json:
        print(json.dumps({"cases": out, **summary}, indent=2))
        return
    print("| case | customers | customer events | engine time (best / median) "
          "| events per second |")
    print("|---|---:|---:|---:|---:|")
    for name, r in out.items():
        if "wall_s" in r:
            continue
        print(f"| {name} | {r['customers']:,} | {r['events']:,} | {r['best_s']:.3f} s / "
              f"{r['median_s']:.3f} s | {r['events_per_s']:,.0f} |")
    print()
    big = out[f"balanced x{big_k} through the command line"]
    print(f"balanced x{big_k} ({out[f'balanced x{big_k}, 365 days']['customers']:,} customers) "
          f"through `chainsim run --no-verdict`: {big['wall_s']:.2f} s wall, "
          f"{big['peak_mb']:.0f} MB peak")
    print(f"log-log slope of engine time against active customers (x{ks[0]} to x{big_k}): "
          f"{slope:.2f}")
    print(f"market 1e8 / 1e6 at the same activity, time ratio: "
          f"{summary['market_1e8_over_1e6_time']:.2f}")
    print(f"sweep (weakest_link_oat, median of {len(ratios)} rounds): {one:.1f} runs/s on 1 "
          f"worker, {two:.1f} on 2: parallel efficiency {summary['sweep_parallel_efficiency']:.2f}"
          f" (rounds: {', '.join(f'{r:.2f}' for r in ratios)})")
    used = summary["sweep_worker_utilization"]
    print(f"the sweep's workers were busy {used['1 worker']:.3f} of the time on 1 worker, "
          f"{used['2 workers']:.3f} on 2 (busy time / workers x wall: what the pool costs)")
    print(f"the ceiling: two processes running the same runs at once each go "
          f"{summary['two_copies_at_once']:.2f} as fast as one alone "
          f"(rounds: {', '.join(f'{r:.2f}' for r in ceiling)})")
    print(line(*summary["machine_pace_ms"]))
    if not math.isfinite(slope):
        sys.exit(1)


if __name__ == "__main__":
    main()
