"""How much faster chainsim's engine is than the same rules written as a plain Mesa model.

    .venv/bin/python benchmarks/reference_speed.py           # balanced and the busy business
    .venv/bin/python benchmarks/reference_speed.py --quick   # 90 days

The reference (``mesa_reference.py``) steps every customer agent every day and
keeps its queues in lists, as a Mesa user would; ``tests/test_reference.py``
checks that the two agree in distribution. Engine time only (building the
model excluded); chainsim's time is the best of five, the reference's of two.
The floors set for chainsim: 10x on ``balanced``, 20x on the busy business.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from mesa_reference import ReferenceModel  # noqa: E402
from machine import line, pace  # noqa: E402
from throughput import BUSY  # noqa: E402

from chainsim import ChainModel, Scenario  # noqa: E402
from chainsim.scenarios import load_scenario  # noqa: E402


def best(make, days: int, repeats: int) -> float:
    times = []
    for seed in range(repeats):
        model = make(seed)
        start = time.perf_counter()
        model.run(days)
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    before = pace()
    cases = {"balanced": (load_scenario("balanced"), 90 if args.quick else 365),
             "busy business": (Scenario.from_dict(BUSY), 30 if args.quick else 365)}
    out = {}
    for name, (sc, days) in cases.items():
        ours = best(lambda s, sc=sc: ChainModel(sc, rng=s), days, 5)
        ref = best(lambda s, sc=sc: ReferenceModel(sc, seed=s), days, 2)
        out[name] = {"days": days, "chainsim_s": ours, "reference_s": ref, "ratio": ref / ours}
    after = pace()
    if args.json:
        print(json.dumps({**out, "machine_pace_ms": [before, after]}, indent=2))
        return
    print("| case | days | chainsim | plain Mesa | chainsim is faster by |")
    print("|---|---:|---:|---:|---:|")
    for name, r in out.items():
        print(f"| {name} | {r['days']} | {r['chainsim_s']:.3f} s | {r['reference_s']:.2f} s "
              f"| {r['ratio']:.1f}x |")
    print()
    print(line(before, after))


if __name__ == "__main__":
    main()
