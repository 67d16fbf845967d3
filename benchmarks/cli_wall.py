"""Wall time of ``chainsim run SCENARIO``, with and without the verdict.

    .venv/bin/python benchmarks/cli_wall.py                  # balanced, 9 runs of each
    .venv/bin/python benchmarks/cli_wall.py --scenario weak_operations --runs 5

What a user waits for: start-up, the run, the files and the dashboard, and --
unless ``--no-verdict`` -- the quick race that names the weakest link. The two
kinds of run are interleaved, so a machine that gets busier or quieter during
the measurement affects both alike; the median and the best of each are
reported, and the verdict's overhead as the ratio of the medians (the floor set
for it is +25 %).
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from machine import line, pace  # noqa: E402

CHAINSIM = Path(sys.executable).with_name("chainsim")


def wall(args: list[str], out: Path) -> float:
    start = time.perf_counter()
    subprocess.run([str(CHAINSIM), "run", *args, "--out", str(out)], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    elapsed = time.perf_counter() - start
    shutil.rmtree(out)
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--scenario", default="balanced")
    parser.add_argument("--runs", type=int, default=9)
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    args = parser.parse_args()
    before = pace()
    times: dict[str, list[float]] = {"with the verdict": [], "--no-verdict": []}
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "run"
        wall([args.scenario, "--no-verdict"], out)  # warm the file cache
        for _ in range(args.runs):
            times["with the verdict"].append(wall([args.scenario], out))
            times["--no-verdict"].append(wall([args.scenario, "--no-verdict"], out))
    result = {name: {"median_s": statistics.median(t), "best_s": min(t)}
              for name, t in times.items()}
    overhead = result["with the verdict"]["median_s"] / result["--no-verdict"]["median_s"] - 1
    after = pace()
    if args.json:
        print(json.dumps({"scenario": args.scenario, "runs": args.runs, "cases": result,
                          "verdict_overhead": overhead, "machine_pace_ms": [before, after]},
                         indent=2))
        return
    print(f"chainsim run {args.scenario}: wall time, {args.runs} runs of each, interleaved")
    print()
    print("| command | wall (median / best) |")
    print("|---|---:|")
    for name, r in result.items():
        flag = "" if name == "with the verdict" else " --no-verdict"
        print(f"| `chainsim run {args.scenario}{flag}` "
              f"| {r['median_s']:.2f} s / {r['best_s']:.2f} s |")
    print()
    print(f"the verdict adds {100 * overhead:+.0f} % (median against median; floor: +25 %)")
    print(line(before, after))


if __name__ == "__main__":
    main()
