"""How fast this machine is right now: one figure printed beside every benchmark's table.

The development machine's speed drifts by half within an hour (another tenant,
a host's clock), so a table of timings means little without the machine's pace
at the time. The pace is the best of five timings of a pure-Python loop of
three million additions, taken before and after a benchmark; figures taken at
different paces compare only after scaling by it.
"""

from __future__ import annotations

import time


def pace(repeats: int = 5) -> float:
    """Milliseconds for ``s += i`` over three million integers, best of ``repeats``."""
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        s = 0
        for i in range(3_000_000):
            s += i
        best = min(best, time.perf_counter() - start)
    return best * 1000


def line(before: float, after: float) -> str:
    return (f"machine pace (pure-Python loop of 3 M additions, best of 5): {before:.0f} ms "
            f"before, {after:.0f} ms after")


if __name__ == "__main__":
    print(f"{pace():.0f} ms")
