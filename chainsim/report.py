"""Reading a sweep: means with confidence intervals, sensitivity indices, figures.

``chainsim report DIR`` writes, next to the sweep's ``runs.parquet``:

* ``points.csv`` -- per design point and metric: runs, mean, standard deviation
  and the 95 % confidence interval of the mean (Student's t over replications);
* figures by design: a tornado chart for one-at-a-time, a heatmap for a
  two-factor grid (a line per factor otherwise), bars of Sobol' or Morris
  indices (computed by SALib on the per-point means), scatter plots for a Latin
  hypercube;
* ``report.md``, which ties it together and says how many runs failed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .experiments import MANIFEST, RUNS
from .intervals import mean_ci
from .schema import ScenarioError


@dataclass(frozen=True)
class SweepData:
    out: Path
    experiment: dict[str, Any]
    runs: pd.DataFrame
    notes: tuple[str, ...] = ()  # what could not be read, said in report.md

    @property
    def ok(self) -> pd.DataFrame:
        return self.runs[self.runs.status == "ok"]

    @property
    def factors(self) -> list[str]:
        return [f["path"] for f in self.experiment["factors"]]

    @property
    def kind(self) -> str:
        return self.experiment["design"]["kind"]


#: What a sweep's experiment.json must hold for a report (and of which type).
_MANIFEST_KEYS = {"name": str, "design": dict, "factors": list, "points": list,
                  "replications": int, "seed": int, "days": int, "metrics": list, "base": dict}


def load_sweep(out: str | Path) -> SweepData:
    """The sweep in ``out``: its manifest, and its runs (rebuilt from the journal when
    runs.parquet is missing or damaged; the journal is the record, the table a copy)."""
    from .experiments import JOURNAL, _read_manifest, read_journal, runs_table
    from .schema import Scenario

    out = Path(out)
    if not out.is_dir():
        raise ScenarioError(f"{out} is not a folder: give the sweep's folder "
                            "(chainsim sweep EXPERIMENT --out DIR)")
    if not (out / MANIFEST).is_file():
        raise ScenarioError(f"{out} is not a sweep directory (no {MANIFEST}); "
                            "run 'chainsim sweep EXPERIMENT --out DIR' first")
    experiment = _read_manifest(out)
    for key, kind in _MANIFEST_KEYS.items():
        if not isinstance(experiment.get(key), kind):
            raise ScenarioError(f"{out / MANIFEST} is damaged ({key!r} is missing or not a "
                                f"{kind.__name__}); the journal beside it is intact")
    notes: list[str] = []
    runs = None
    if (out / RUNS).is_file():
        try:
            runs = pd.read_parquet(out / RUNS)
        except Exception as err:  # noqa: BLE001 - pyarrow raises several kinds
            notes.append(f"{RUNS} could not be read ({type(err).__name__}); the runs were "
                         f"read from {JOURNAL}")
    if runs is None or not {"point", "replication", "status"} <= set(runs.columns):
        try:
            base = Scenario.from_dict(experiment["base"])
        except ScenarioError as err:
            raise ScenarioError(f"{out / MANIFEST} is damaged (base: {err})") from None
        records, skipped = read_journal(out, runs=len(experiment["points"])
                                        * experiment["replications"],
                                        key=experiment.get("journal_key"))
        if skipped:
            notes.append(f"{skipped} line(s) of {JOURNAL} could not be used and were skipped")
        runs = runs_table(experiment["points"], [f["path"] for f in experiment["factors"]],
                          base, experiment["replications"], experiment["seed"],
                          experiment["days"], records)
    return SweepData(out, experiment, runs, tuple(notes))


def point_table(data: SweepData, metrics: list[str]) -> pd.DataFrame:
    """Per point and metric: n, mean, sd, CI (failed runs left out)."""
    columns = ["point", *data.factors, "metric", "runs", "mean", "sd", "ci_low", "ci_high"]
    rows = []
    for point, group in data.ok.groupby("point"):
        base = {"point": int(point), **{f: group[f].iloc[0] for f in data.factors}}
        for m in metrics:
            mean, sd, lo, hi = mean_ci(group[m].to_numpy())
            rows.append({**base, "metric": m, "runs": len(group), "mean": mean, "sd": sd,
                         "ci_low": lo, "ci_high": hi})
    return pd.DataFrame(rows, columns=columns)


def paired_effects(data: SweepData, metric: str) -> pd.DataFrame:
    """One-at-a-time: each point's gain over the baseline (point 0), paired by replication."""
    ok = data.ok.pivot_table(index="replication", columns="point", values=metric)
    if 0 not in ok.columns:
        return pd.DataFrame()
    rows = []
    points = data.experiment["points"]
    for p in ok.columns:
        if p == 0:
            continue
        diff = (ok[p] - ok[0]).dropna().to_numpy()
        mean, _, lo, hi = mean_ci(diff)
        ((path, level),) = points[p].items()
        rows.append({"factor": path, "level": level, "gain": mean, "ci_low": lo, "ci_high": hi,
                     "pairs": len(diff)})
    return pd.DataFrame(rows)


def priced_effects(data: SweepData, effects: pd.DataFrame, metric: str):
    """One-at-a-time levels as priced moves: each level's monthly cost, and the verdict.

    A level of a link's capacity or quality (or the hand-off's quality) that
    costs money is a move (:mod:`chainsim.moves`); the verdict over those moves
    is the one definition of the weakest link, ranked per money as their costs
    differ. Returns ``(costs by row, Diagnosis or None)``; levels of other knobs,
    and weaker levels (which save money), have no place in it.
    """
    from .diagnose import PER_MONTH, Diagnosis, MoveResult
    from .moves import LEVERS, Move, move_cost
    from .schema import Scenario

    base = Scenario.from_dict(data.experiment["base"])
    # the verdict speaks per month for flows, as diagnose does
    monthly = 30.0 / data.experiment["days"] if metric in PER_MONTH else 1.0
    pivot = data.ok.pivot_table(index="replication", columns="point", values=metric) * monthly
    points = data.experiment["points"]
    costs, moves = [], []
    for p in pivot.columns:
        if p == 0:
            continue
        ((path, level),) = points[p].items()
        link, _, knob = path.partition(".")
        cost = float("nan")
        if knob in LEVERS.get(link, ()) and isinstance(level, int | float):
            cost = move_cost(base, link, knob, level)
            if cost > 0:
                gains = (pivot[p] - pivot[0]).dropna()
                moves.append(MoveResult(Move(link, knob, base.get(path), level, cost),
                                        tuple(gains.tolist())))
        costs.append(cost)
    if not moves or len({len(m.gains) for m in moves}) != 1:
        return costs, None
    days = data.experiment["days"]
    d = Diagnosis(base, metric if metric in ("repeat_purchases", "active_customers", "profit")
                  else "repeat_purchases", len(moves[0].gains), days, (), tuple(moves))
    return costs, d


def sensitivity(data: SweepData, metric: str) -> pd.DataFrame:
    """Sobol' (S1, ST) or Morris (mu*, sigma) indices from SALib, on per-point means."""
    from .experiments import Factor, salib_problem

    factors = [Factor(f["path"], None, f["low"], f["high"]) for f in data.experiment["factors"]]
    problem = salib_problem(factors)
    n_points = len(data.experiment["points"])
    y = data.ok.groupby("point")[metric].mean().reindex(range(n_points)).to_numpy()
    if not np.isfinite(y).all():
        raise ScenarioError(f"{metric}: some design points have no successful run; "
                            "indices need every point (resume the sweep)")
    design = data.experiment["design"]
    if data.kind == "sobol":
        from SALib.analyze import sobol

        res = sobol.analyze(problem, y, calc_second_order=design["second_order"],
                            seed=data.experiment["seed"])
        return pd.DataFrame({"factor": problem["names"], "S1": res["S1"], "S1_conf": res["S1_conf"],
                             "ST": res["ST"], "ST_conf": res["ST_conf"]})
    from SALib.analyze import morris

    x = np.array(data.experiment["sample_matrix"])
    res = morris.analyze(problem, x, y, num_levels=design["levels"], seed=data.experiment["seed"])
    return pd.DataFrame({"factor": problem["names"], "mu_star": res["mu_star"],
                         "mu_star_conf": res["mu_star_conf"], "mu": res["mu"],
                         "sigma": res["sigma"]})


# -- figures ---------------------------------------------------------------------------


def tornado(effects: pd.DataFrame, metric: str, title: str):
    """Horizontal bars of gains over the baseline, largest swing on top."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from .plots import plain_text

    labels = [f"{r.factor} = {_fmt(r.level)}" for r in effects.itertuples()]
    order = np.argsort(np.abs(effects["gain"].to_numpy()))
    fig, ax = plt.subplots(figsize=(9, 0.45 * len(effects) + 1.8), layout="constrained")
    y = np.arange(len(effects))
    gains = effects["gain"].to_numpy()[order]
    err = np.vstack([gains - effects["ci_low"].to_numpy()[order],
                     effects["ci_high"].to_numpy()[order] - gains])
    ax.barh(y, gains, xerr=err, color=np.where(gains >= 0, "#1b9e77", "#d95f02"), capsize=3)
    ax.set_yticks(y, [labels[i] for i in order])
    ax.axvline(0, color="black", lw=0.8)
    ax.set_xlabel(f"change in {metric} vs. baseline (mean, 95 % CI)")
    ax.set_title(plain_text(title), loc="left", fontsize=10)
    ax.grid(axis="x", alpha=0.3)
    return fig


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return "unlimited" if math.isinf(value) else f"{value:g}"
    return str(value)


def num(x: float, sign: bool = False) -> str:
    """A readable number: thousands separated, four significant digits below 1000."""
    if not math.isfinite(x):
        return "n/a"
    plus = "+" if sign and x > 0 else ""
    return f"{plus}{x:,.0f}" if abs(x) >= 1000 else f"{plus}{x:,.4g}"


def heatmap(table: pd.DataFrame, fx: str, fy: str, metric: str, title: str):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from .plots import plain_text

    grid = table[table.metric == metric].pivot_table(index=fy, columns=fx, values="mean")
    fig, ax = plt.subplots(figsize=(7.5, 6), layout="constrained")
    im = ax.imshow(grid.to_numpy(), origin="lower", aspect="auto", cmap="viridis")
    ax.set_xticks(range(grid.shape[1]), [_fmt(v) for v in grid.columns])
    ax.set_yticks(range(grid.shape[0]), [_fmt(v) for v in grid.index])
    ax.set_xlabel(fx)
    ax.set_ylabel(fy)
    for i in range(grid.shape[0]):
        for j in range(grid.shape[1]):
            ax.text(j, i, f"{grid.iat[i, j]:,.0f}", ha="center", va="center", color="white",
                    fontsize=8)
    fig.colorbar(im, ax=ax, label=f"{metric} (mean over replications)")
    ax.set_title(plain_text(title), loc="left", fontsize=10)
    return fig


def effect_lines(table: pd.DataFrame, factors: list[str], metric: str, title: str):
    """Main effects: the metric's mean against each factor's levels, with CIs."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from .plots import plain_text

    sub = table[table.metric == metric]
    fig, axes = plt.subplots(1, len(factors), figsize=(4.2 * len(factors), 3.8),
                             layout="constrained", squeeze=False)
    for ax, f in zip(axes[0], factors, strict=True):
        g = sub.groupby(f)[["mean"]].mean().reset_index()
        ax.plot(g[f], g["mean"], marker="o")
        if len(factors) == 1:
            ax.fill_between(sub[f], sub["ci_low"], sub["ci_high"], alpha=0.2)
        ax.set_xlabel(f)
        ax.set_ylabel(metric)
        ax.grid(alpha=0.3)
    fig.suptitle(plain_text(title), x=0.01, ha="left", fontsize=10)
    return fig


def scatter(data: SweepData, metric: str, title: str):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from .plots import plain_text

    means = data.ok.groupby("point")[[*data.factors, metric]].mean()
    fig, axes = plt.subplots(1, len(data.factors), figsize=(4 * len(data.factors), 3.6),
                             layout="constrained", squeeze=False)
    for ax, f in zip(axes[0], data.factors, strict=True):
        ax.scatter(means[f], means[metric], s=12, alpha=0.7)
        ax.set_xlabel(f)
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel(metric)
    fig.suptitle(plain_text(title), x=0.01, ha="left", fontsize=10)
    return fig


def index_bars(indices: pd.DataFrame, kind: str, metric: str, title: str):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from .plots import plain_text

    fig, ax = plt.subplots(figsize=(8, 0.5 * len(indices) + 2), layout="constrained")
    y = np.arange(len(indices))
    if kind == "sobol":
        ax.barh(y - 0.2, indices["ST"], 0.4, xerr=indices["ST_conf"], label="total (ST)",
                color="#7570b3", capsize=3)
        ax.barh(y + 0.2, indices["S1"], 0.4, xerr=indices["S1_conf"], label="first order (S1)",
                color="#1b9e77", capsize=3)
        ax.set_xlabel(f"Sobol' index of {metric}")
    else:
        ax.barh(y, indices["mu_star"], xerr=indices["mu_star_conf"], color="#7570b3",
                capsize=3, label="mu* (mean |elementary effect|)")
        ax.set_xlabel(f"Morris mu* of {metric}")
    ax.set_yticks(y, indices["factor"])
    ax.legend(fontsize=8)
    ax.grid(axis="x", alpha=0.3)
    ax.set_title(plain_text(title), loc="left", fontsize=10)
    return fig


# -- the report -------------------------------------------------------------------------


def markdown_table(frame: pd.DataFrame, floatfmt: str = ".3f") -> list[str]:
    """A small DataFrame as Markdown lines (floats formatted with ``floatfmt``)."""
    cols = list(frame.columns)
    out = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for row in frame.to_dict("records"):
        out.append("| " + " | ".join(format(v, floatfmt) if isinstance(v, float) else str(v)
                                     for v in row.values()) + " |")
    return out


def write_report(out: str | Path) -> list[Path]:
    """Write points.csv, the figures and report.md into the sweep directory.

    Everything is written to a staging folder first and moved into place file
    by file once all are made: a report that fails halfway leaves the earlier
    report as it was, never half a points.csv.
    """
    import os
    import shutil

    data = load_sweep(out)
    stage = data.out / f".report-{os.getpid()}"
    shutil.rmtree(stage, ignore_errors=True)
    stage.mkdir()
    try:
        names = _write_report(data, stage)
        for name in names:
            os.replace(stage / name, data.out / name)
    finally:
        shutil.rmtree(stage, ignore_errors=True)
    return [data.out / name for name in names]


def _write_report(data: SweepData, where: Path) -> list[str]:
    import matplotlib.pyplot as plt

    exp = data.experiment
    metrics = exp["metrics"]
    written: list[str] = []

    def save(fig, name: str) -> str:
        fig.savefig(where / name, dpi=110)
        plt.close(fig)
        written.append(name)
        return name

    table = point_table(data, metrics)
    table.to_csv(where / "points.csv", index=False)
    written.append("points.csv")

    total, finished = len(exp["points"]) * exp["replications"], len(data.runs)
    failed = int((data.runs.status != "ok").sum())
    lines = [f"# Sweep report: {exp['name']}", ""]
    if exp.get("description"):
        lines += [exp["description"], ""]
    lines += [
        f"- design: **{data.kind}**, {len(exp['points'])} points x {exp['replications']} "
        f"replications = {total} runs of {exp['days']} days (seed {exp['seed']})",
        f"- base scenario: {exp['base']['name']}",
        f"- factors: {', '.join(data.factors)}",
        f"- finished runs: {finished} of {total}; **failed: {failed}**",
    ]
    if failed:
        errors = data.runs[data.runs.status != "ok"].error.value_counts().head(3)
        lines += [f"  - {count} x `{err}`" for err, count in errors.items()]
    if finished < total:
        lines.append("  - the sweep is incomplete: run the same `chainsim sweep` command again "
                     "to resume it")
    lines += [f"- note: {note}" for note in data.notes]
    lines.append("")
    if data.ok.empty:
        lines += ["No run has finished yet: there is nothing to analyse.", ""]
        metrics = []

    for metric in metrics:
        lines += [f"## {metric}", ""]
        title = f"{exp['name']}: {metric}"
        if data.kind == "oat":
            effects = paired_effects(data, metric)
            if not effects.empty:
                name = save(tornado(effects, metric, title), f"tornado_{metric}.png")
                base_mean = table[(table.point == 0) & (table.metric == metric)]["mean"]
                costs, priced = priced_effects(data, effects, metric)
                effects = effects.assign(cost=costs)
                monthly = 30.0 / exp["days"] if metric in ("repeat_purchases", "profit") else 1.0
                effects["per_1000"] = effects.gain * monthly / effects.cost * 1000
                lines += [f"Baseline: {num(base_mean.iloc[0])} (mean). Gain of each level over "
                          "the baseline, paired by replication (common random numbers), and what "
                          "the change costs a month (a link's capacity or quality):", "",
                          "| factor | level | gain | 95 % CI | cost a month | "
                          + ("gain a month per 1,000 |" if monthly != 1.0 else "gain per 1,000 |"),
                          "|---|---:|---:|---|---:|---:|"]
                for r in effects.sort_values("gain", ascending=False).itertuples():
                    cost = num(r.cost, True) if math.isfinite(r.cost) else "-"
                    per = num(r.per_1000, True) if math.isfinite(r.cost) and r.cost > 0 else "-"
                    lines.append(f"| {r.factor} | {_fmt(r.level)} | {num(r.gain, True)} | "
                                 f"{num(r.ci_low, True)} to {num(r.ci_high, True)} | {cost} | "
                                 f"{per} |")
                lines += ["", f"![tornado]({name})", ""]
                if priced is not None and metric in ("repeat_purchases", "active_customers",
                                                     "profit"):
                    lines += ["**Weakest link** (the one definition: the most gain for the same "
                              "money, among the levels that strengthen a link): "
                              + priced.verdict().text, ""]
        elif data.kind in ("sobol", "morris"):
            missing = len(exp["points"]) - data.ok.point.nunique()
            if missing:
                lines += [f"{data.kind.capitalize()} indices need every design point; "
                          f"{missing} have no finished run yet.", ""]
                continue
            indices = sensitivity(data, metric)
            name = save(index_bars(indices, data.kind, metric, title), f"{data.kind}_{metric}.png")
            lines += [*markdown_table(indices), "", f"![indices]({name})", ""]
        elif data.kind == "grid" and len(data.factors) == 2:
            name = save(heatmap(table, data.factors[0], data.factors[1], metric, title),
                        f"heatmap_{metric}.png")
            lines += [f"![heatmap]({name})", ""]
        elif data.kind == "grid":
            name = save(effect_lines(table, data.factors, metric, title), f"effects_{metric}.png")
            lines += [f"![effects]({name})", ""]
        else:
            name = save(scatter(data, metric, title), f"scatter_{metric}.png")
            lines += [f"![scatter]({name})", ""]
        if data.kind in ("grid", "oat") and len(exp["points"]) <= 60:
            lines += ["| point | " + " | ".join(data.factors) + " | mean | 95 % CI | runs |",
                      "|---:|" + "---:|" * len(data.factors) + "---:|---|---:|"]
            for r in table[table.metric == metric].to_dict("records"):
                values = " | ".join(_fmt(r[f]) for f in data.factors)
                lines.append(f"| {r['point']} | {values} | {num(r['mean'])} | "
                             f"{num(r['ci_low'])} to {num(r['ci_high'])} | {r['runs']} |")
            lines.append("")
    (where / "report.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    written.append("report.md")
    return written
