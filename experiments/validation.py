"""Regenerate docs/validation.md: chainsim against known results, at full size.

    .venv/bin/python experiments/validation.py            # all cases, all cores
    .venv/bin/python experiments/validation.py --workers 2 --only bass clv

Runs every case of :mod:`chainsim.validation` with its full settings, draws a
figure per case into docs/validation/, and writes docs/validation.md with a
table, the figure and a sentence on how close chainsim came and why. Takes a
few minutes on 2 cores. The seeds are fixed: the same command gives the same
document.
"""

from __future__ import annotations

import argparse
import multiprocessing
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from datetime import date
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import numpy as np  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from chainsim import __version__  # noqa: E402
from chainsim.parallel import default_workers  # noqa: E402
from chainsim.plots import FUNCTION_COLORS  # noqa: E402
from chainsim.report import markdown_table  # noqa: E402
from chainsim.validation import CASES, Case  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "validation.md"
FIGURES = ROOT / "docs" / "validation"


def figure(case: Case) -> Figure:
    p = case.plot
    if case.key == "bass":
        fig = Figure(figsize=(11, 3.4), layout="constrained")
        axes = fig.subplots(1, len(p))
        for ax, (label, d) in zip(axes, p.items(), strict=True):
            ax.plot(d["t"], d["theory"], color="black", lw=2, label="Bass F(t)")
            ax.plot(d["t"], d["simulated"], color="#d95f02", ls="--", lw=2,
                    label="chainsim (mean)")
            ax.axvline(d["t_star"], color="grey", lw=0.8, ls=":", label="t*")
            ax.set_title(label, fontsize=9)
            ax.set_xlabel("day")
            ax.grid(alpha=0.3)
        axes[0].set_ylabel("share of the market that has bought")
        axes[0].legend(fontsize=8)
        return fig
    fig = Figure(figsize=(7, 3.6), layout="constrained")
    ax = fig.subplots()
    if case.key == "littles_law":
        names = list(p)
        x = np.arange(len(names))
        ax.bar(x - 0.2, [p[n][0] for n in names], 0.4, label="mean queue length L",
               color=[FUNCTION_COLORS[n] for n in names])
        ax.bar(x + 0.2, [p[n][1] for n in names], 0.4, label="arrival rate x mean wait",
               color="white", edgecolor=[FUNCTION_COLORS[n] for n in names], hatch="//")
        ax.set_xticks(x, names)
        ax.set_ylabel("cases waiting")
    elif case.key == "bottleneck":
        top = max(level for _, level, _ in p["points"]) * 1.15
        ax.plot([0, top], [0, top], color="black", lw=1, label="throughput = smallest capacity")
        for f, level, thru in p["points"]:
            ax.scatter(level, thru, color=FUNCTION_COLORS[f], s=60, label=f"{f} the bottleneck",
                       zorder=3)
        handles, labels = ax.get_legend_handles_labels()
        unique = dict(zip(labels, handles, strict=True))
        ax.legend(unique.values(), unique.keys(), fontsize=8)
        ax.set_xlabel("smallest capacity along the chain (per day)")
        ax.set_ylabel("throughput (per day)")
        return fig
    elif case.key == "clv":
        labels = list(p)
        x = np.arange(len(labels))
        theory = [p[k][0] for k in labels]
        sim = [p[k][1] for k in labels]
        err = [[p[k][1] - p[k][2] for k in labels], [p[k][3] - p[k][1] for k in labels]]
        ax.bar(x - 0.2, theory, 0.4, label="m r / (1 + d - r)", color="#999999")
        ax.bar(x + 0.2, sim, 0.4, yerr=err, capsize=4, label="chainsim (95 % CI)",
               color="#1b9e77")
        ax.set_xticks(x, labels)
        ax.set_ylabel("customer lifetime value")
    elif case.key == "queues_ciw":
        fig = Figure(figsize=(11, 3.2), layout="constrained")
        axes = fig.subplots(1, 4)
        measures = [m for m, _, _ in p["sales"]]
        for ax, (k, measure) in zip(axes, enumerate(measures), strict=True):
            names = list(p)
            x = np.arange(len(names))
            ax.bar(x - 0.2, [p[n][k][1] for n in names], 0.4, label="chainsim",
                   color=[FUNCTION_COLORS[n] for n in names])
            ax.bar(x + 0.2, [p[n][k][2] for n in names], 0.4, label="Ciw", color="white",
                   edgecolor=[FUNCTION_COLORS[n] for n in names], hatch="//")
            ax.set_xticks(x, names, fontsize=8)
            ax.set_title(measure, fontsize=9)
            ax.grid(alpha=0.3)
        axes[0].legend(fontsize=8)
        return fig
    elif case.key == "retention":
        fig = Figure(figsize=(11, 3.4), layout="constrained")
        a, b = fig.subplots(1, 2)
        labels = [label for label, _, _ in p["orders"]]
        x = np.arange(len(labels))
        a.bar(x - 0.2, [t for _, t, _ in p["orders"]], 0.4, label="forecast", color="#999999")
        a.bar(x + 0.2, [m for _, _, m in p["orders"]], 0.4, label="chainsim", color="#1b9e77")
        a.set_xticks(x, [label.split(":")[0] for label in labels], fontsize=7, rotation=15)
        a.set_ylabel("orders per customer")
        a.legend(fontsize=8)
        gaps = [f"every {g} days" for g, *_ in p["frequency"]]
        x = np.arange(len(gaps))
        b.bar(x - 0.27, [t for _, t, _, _ in p["frequency"]], 0.27, label="forecast",
              color="#999999")
        b.bar(x, [m for _, _, m, _ in p["frequency"]], 0.27, label="chainsim", color="#1b9e77")
        b.bar(x + 0.27, [o for *_, o in p["frequency"]], 0.27,
              label="a per-order rate of 0.95", color="#d95f02")
        b.set_xticks(x, gaps)
        b.set_ylabel("untroubled customers left after the run")
        b.legend(fontsize=8)
        for axis in (a, b):
            axis.grid(alpha=0.3)
        return fig
    elif case.key == "tarp":
        ax.plot([0, 1], [0, 1], color="black", lw=1)
        for table, marker in (("small_ticket", "o"), ("large_ticket", "s")):
            for i, (key, (target, sim, half)) in enumerate(p[table].items()):
                ax.errorbar(target, sim, yerr=half, fmt=marker, capsize=3,
                            label=table.replace("_", " ") if i == 0 else None,
                            color="#7570b3" if marker == "o" else "#d95f02")
                ax.annotate(key.replace("_", " "), (target, sim), fontsize=6,
                            xytext=(4, -8), textcoords="offset points")
        ax.set_xlabel("TARP (1986) repurchase rate")
        ax.set_ylabel("chainsim: share who came back")
    elif case.key == "directional":
        fig = Figure(figsize=(12, 3.8), layout="constrained")
        a, b, c = fig.subplots(1, 3, width_ratios=[1, 1.6, 1])
        levels, means = p["overpromise"]
        a.plot(levels, means, marker="o", color="#1f78b4")
        a.set_xlabel("over-promise")
        a.set_ylabel("mean satisfaction")
        a.set_title("Oliver 1980", fontsize=9)
        sat_silent, sat_quick, after_recovery, no_failure, sat_none = p["recovery"]
        b.bar(["satisfied:\nlate,\nsilent", "satisfied:\nno\nfailure",
               "satisfied:\nlate, put\nright fast", "came back:\nput right\nfast",
               "came back:\nno\nfailure"],
              [sat_silent, sat_none, sat_quick, after_recovery, no_failure],
              color=["#d95f02", "#999999", "#1b9e77", "#1b9e77", "#999999"])
        b.tick_params(axis="x", labelsize=7)
        b.set_title("de Matos et al. 2007", fontsize=9)
        changes = p["constraints"]
        c.bar(list(changes), [100 * v for v in changes.values()],
              color=[FUNCTION_COLORS[f] for f in changes])
        c.set_ylabel("throughput change, %")
        c.set_title("+50 % capacity at each link", fontsize=9)
        for axis in (a, b, c):
            axis.grid(alpha=0.3)
        return fig
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    return fig


def write_doc(cases: list[Case], seconds: float, workers: int) -> None:
    FIGURES.mkdir(parents=True, exist_ok=True)
    out = [
        "# Validation: chainsim against known results",
        "",
        "*Generated by `make validation` (`.venv/bin/python experiments/validation.py`; "
        f"chainsim {__version__}, {date.today():%Y-%m-%d}, {seconds / 60:.1f} minutes on "
        f"{workers} workers). Do not edit by hand: change chainsim/validation.py and run it "
        "again. The same cases run small in `make test` and at this size in `make test-full` "
        "(tests/test_validation.py); the tolerances below are the ones the tests use.*",
        "",
        "Where the answer is known -- from theory or from a published study -- chainsim is "
        "run in exactly that situation, with replications, and compared with it. Means are "
        "over replications, with 95 % confidence intervals (Student's t).",
        "",
        "Two kinds of case. **Independent** cases compare chainsim with something it did not "
        "write: a closed form or forecast derived from the description of the rules, a second "
        "implementation by someone else (Ciw), or a direction found in published studies. "
        "**Identities** are bookkeeping checks of chainsim's own accounting: they catch bugs, "
        "not a wrong model.",
        "",
        "| case | kind | result |",
        "|---|---|---|",
        *[f"| [{c.title}](#{c.key}) | {c.kind} | "
          f"{'within tolerance' if c.passed else '**OUTSIDE TOLERANCE**'} |" for c in cases],
    ]
    fit = FIGURES / "fit.md"  # written by benchmarks/fit_coverage.py (a quarter of an hour)
    if fit.is_file():
        out.append("| [Fitting back known knobs (chainsim fit)](#fitting-back-known-knobs) | "
                   "independent | coverage measured: see its section |")
    out.append("")
    for c in cases:
        fig = figure(c)
        fig.savefig(FIGURES / f"{c.key}.png", dpi=80)
        out += [f'<a id="{c.key}"></a>', "", f"## {c.title}", "", f"*{c.kind.capitalize()}.* "
                f"**Set-up.** {c.setup}", "",
                *markdown_table(c.table, floatfmt="g"), "", f"![{c.title}](validation/{c.key}.png)", "",
                f"**How close, and why.** {c.verdict}", "", f"**Tolerance.** {c.tolerance}", ""]
    if fit.is_file():
        out += [fit.read_text(encoding="utf-8")]
    DOC.write_text("\n".join(out), encoding="utf-8")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workers", type=int, default=default_workers())
    parser.add_argument("--only", nargs="*", choices=list(CASES), help="run only these cases")
    args = parser.parse_args()
    start = time.perf_counter()
    cases = []
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=args.workers, mp_context=context) as pool:
        for name in args.only or CASES:
            t = time.perf_counter()
            case = CASES[name](full=True, pool=pool)
            print(f"{case.title}: {'within tolerance' if case.passed else 'OUTSIDE TOLERANCE'} "
                  f"({time.perf_counter() - t:.0f} s)", flush=True)
            cases.append(case)
    if args.only:  # the document covers every case: a partial run must not replace it
        print(f"--only: {DOC.relative_to(ROOT)} left as it was (it is written from every case)")
    else:
        write_doc(cases, time.perf_counter() - start, args.workers)
        print(f"wrote {DOC.relative_to(ROOT)} and {FIGURES.relative_to(ROOT)}/")
    return 0 if all(c.passed for c in cases) else 1


if __name__ == "__main__":
    sys.exit(main())
