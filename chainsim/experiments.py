"""Experiments: many runs of one business, varied on purpose and replicated.

An experiment file (TOML, in ``experiments/``) names a base scenario, the
factors to vary (scenario keys with levels or ranges), a design, the number of
replications, the days per run and the metrics of interest::

    description = "Which link is worth strengthening?"
    scenario = "balanced"
    days = 365
    replications = 10
    seed = 2024
    metrics = ["repeat_purchases", "active_customers", "profit"]

    [design]
    kind = "oat"                       # grid | oat | lhs | sobol | morris

    [factors]
    operations.capacity = [64, 96]     # levels
    service.quality = { min = 0.6, max = 0.95 }   # a range

Designs: ``grid`` (every combination of levels; a range needs ``levels = n``),
``oat`` (one factor at a time from the base scenario), and, sampled by SALib,
``lhs`` (Latin hypercube), ``sobol`` (Saltelli/Sobol' sequence, for Sobol'
indices) and ``morris`` (elementary effects). Replication ``k`` uses the same
seed at every design point (common random numbers).

:func:`sweep` runs every (point, replication) and records each finished run,
as it finishes, in ``DIR/journal.jsonl`` (append-only, flushed to disk), from
which ``DIR/runs.parquet`` is rebuilt atomically every few seconds and at the
end. Re-running on the same directory resumes: finished runs are skipped, a run
killed mid-way is run again, none is recorded twice.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import os
import time
import tomllib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from .parallel import RunSpec, run_all, run_spec
from .scenarios import load_scenario
from .schema import UNLIMITED, Scenario, ScenarioError, knobs, suggest

DESIGNS = ("grid", "oat", "lhs", "sobol", "morris")
SAMPLED = ("lhs", "sobol", "morris")

#: Metrics a run records (flattened summary); experiments report any of them.
METRICS = (
    "repeat_purchases", "repeat_purchase_rate", "first_purchases", "orders", "customers_total",
    "active_customers", "growth_rate", "revenue", "cost", "profit", "leads", "deliveries",
    "complaints", "satisfaction_mean", "losses_marketing", "losses_sales", "losses_operations",
    "losses_service", "leads_lost", "not_converted", "put_off",
)


class Range(BaseModel):
    """A continuous factor: sampled between min and max, or ``levels`` even steps."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    min: float
    max: float
    levels: int | None = Field(None, ge=2)


class Design(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    kind: Literal["grid", "oat", "lhs", "sobol", "morris"]
    samples: int = Field(32, ge=1, description="lhs: points; sobol: base samples N; "
                         "morris: trajectories")
    levels: int = Field(4, ge=2, description="morris: grid levels")
    second_order: bool = Field(False, description="sobol: also second-order indices")


class ExperimentFile(BaseModel):
    """What an experiment file may say (validated before any run starts)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    description: str = ""
    scenario: str = "balanced"
    days: int | None = Field(None, ge=1)
    replications: int = Field(10, ge=1)
    seed: int = Field(1, ge=0)
    metrics: list[str] = Field(default_factory=lambda: ["repeat_purchases", "active_customers",
                                                        "profit"], min_length=1)
    set: dict[str, Any] = Field(default_factory=dict)
    design: Design
    factors: dict[str, list[Any] | Range] = Field(min_length=1)

    @field_validator("metrics")
    @classmethod
    def _known_metrics(cls, value: list[str]) -> list[str]:
        for m in value:
            if m not in METRICS:
                raise ValueError(f"unknown metric {m!r}{suggest(m, METRICS)}; "
                                 f"allowed: {', '.join(METRICS)}")
        return value


@dataclass(frozen=True)
class Factor:
    path: str
    levels: tuple[Any, ...] | None = None  # discrete levels
    low: float | None = None  # a range
    high: float | None = None

    @property
    def is_range(self) -> bool:
        return self.levels is None


@dataclass(frozen=True)
class Experiment:
    """A resolved experiment: base scenario, design points and replications."""

    name: str
    description: str
    base: Scenario
    factors: tuple[Factor, ...]
    design: Design
    points: tuple[dict[str, Any], ...]  # each: {factor path: value}
    replications: int
    seed: int
    days: int
    metrics: tuple[str, ...]
    sample_matrix: tuple[tuple[float, ...], ...] = ()  # SALib's X, for analysis

    @property
    def runs(self) -> int:
        return len(self.points) * self.replications

    def scenario_at(self, point: Mapping[str, Any]) -> Scenario:
        return self.base.replace(dict(point))

    def specs(self) -> Iterator[RunSpec]:
        """Every run, point-major: run_id = point x replications + replication."""
        for p, point in enumerate(self.points):
            data = self.scenario_at(point).model_dump()
            for r in range(self.replications):
                yield RunSpec(p * self.replications + r, data, self.seed, r, self.days)

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "description": self.description,
            "design": self.design.model_dump(),
            "factors": [f.__dict__ for f in self.factors],
            "points": [dict(p) for p in self.points],
            "sample_matrix": [list(row) for row in self.sample_matrix],
            "replications": self.replications,
            "seed": self.seed,
            "days": self.days,
            "metrics": list(self.metrics),
            "base": self.base.model_dump(),
        }

    def fingerprint(self) -> str:
        """Identifies what the runs are: same fingerprint, same runs."""
        core = {k: v for k, v in self.to_json().items() if k not in ("description", "metrics")}
        blob = json.dumps(core, sort_keys=True, default=str).encode()
        return hashlib.sha256(blob).hexdigest()[:16]


# -- loading ------------------------------------------------------------------------


def load_experiment(path: str | Path) -> Experiment:
    """Read and check an experiment file; every problem is one ScenarioError line."""
    path = Path(path)
    if not path.is_file():
        raise ScenarioError(f"experiment file not found: {path}")
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as err:
        raise ScenarioError(f"TOML syntax error: {err}", source=str(path)) from None
    raw["factors"] = _flatten_factors(raw.get("factors", {}))
    raw["set"] = _flatten_factors(raw.get("set", {}))
    try:
        spec = ExperimentFile.model_validate(raw)
    except ValidationError as err:
        raise ScenarioError(_describe(err), source=str(path)) from None

    where = str(path)
    ref = spec.scenario
    if ref.endswith(".toml") and not Path(ref).is_absolute():
        ref = str(path.parent / ref)
    try:
        base = load_scenario(ref, spec.set)
    except ScenarioError as err:
        raise ScenarioError(f"scenario: {err}", source=where) from None
    days = spec.days or base.run.days
    base = base.replace({"run.days": days})

    catalogue = knobs()
    factors = []
    for key, value in spec.factors.items():
        if key not in catalogue:
            raise ScenarioError(f"factors: unknown key {key!r}{suggest(key, catalogue)}", source=where)
        if isinstance(value, Range):
            if not value.max > value.min:
                raise ScenarioError(f"factors.{key}: empty range (min {value.min} must be below "
                                    f"max {value.max})", source=where)
            for bound in (value.min, value.max):  # sampled whole-number keys are rounded
                _check_value(base, key, _as_knob_value(catalogue[key], bound), where)
            levels = None
            if value.levels is not None:
                levels = _even_levels(catalogue[key], value.min, value.max, value.levels)
            if spec.design.kind in SAMPLED and catalogue[key].kind == "choice":
                raise ScenarioError(f"factors.{key}: a {catalogue[key].kind} cannot be sampled",
                                    source=where)
            factors.append(Factor(key, levels, value.min, value.max))
        else:
            if not value:
                raise ScenarioError(f"factors.{key}: empty list of levels", source=where)
            for level in value:
                _check_value(base, key, level, where)
            factors.append(Factor(key, tuple(value)))

    kind = spec.design.kind
    for f in factors:
        if kind in SAMPLED and not f.is_range:
            raise ScenarioError(f"factors.{f.path}: design '{kind}' samples ranges; give "
                                "{ min = ..., max = ... }", source=where)
        if kind in ("grid", "oat") and f.levels is None:
            raise ScenarioError(f"factors.{f.path}: design '{kind}' needs levels: a list, or "
                                "{ min = ..., max = ..., levels = n }", source=where)
    if kind == "sobol" and spec.design.samples & (spec.design.samples - 1):
        raise ScenarioError(f"design.samples = {spec.design.samples} is not allowed: Sobol' "
                            "sampling needs a power of 2 (e.g. 32, 64, 128)", source=where)

    points, matrix = make_design(kind, factors, spec.design, base, spec.seed)
    return Experiment(path.stem, spec.description, base, tuple(factors), spec.design,
                      tuple(points), spec.replications, spec.seed, days, tuple(spec.metrics),
                      tuple(tuple(map(float, row)) for row in matrix))


def _flatten_factors(table: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Accept both ``"operations.capacity" = [...]`` and TOML's dotted/nested keys."""
    out: dict[str, Any] = {}
    for key, value in table.items():
        path = f"{prefix}{key}"
        if isinstance(value, Mapping) and not set(value) & {"min", "max", "levels"}:
            out.update(_flatten_factors(value, prefix=f"{path}."))
        else:
            out[path] = value
    return out


def _check_value(base: Scenario, path: str, value: Any, where: str) -> None:
    try:
        base.replace({path: value})
    except ScenarioError as err:
        raise ScenarioError(f"factors: {err.detail}", source=where) from None


def _as_knob_value(knob, value: float) -> Any:
    """A sampled or spaced number as the knob takes it: whole-number keys are rounded."""
    return int(round(value)) if knob.kind == "integer" else float(value)


def _even_levels(knob, low: float, high: float, n: int) -> tuple[Any, ...]:
    return tuple(dict.fromkeys(_as_knob_value(knob, v) for v in np.linspace(low, high, n)))


def _describe(err: ValidationError) -> str:
    first = err.errors(include_url=False)[0]
    loc = ".".join(str(p) for p in first["loc"] if not isinstance(p, int))
    loc = loc.split(".function-after")[0].split(".list[")[0]
    if first["type"] == "extra_forbidden":
        fields = list(ExperimentFile.model_fields) + list(Design.model_fields) + ["min", "max",
                                                                                    "levels"]
        leaf = loc.rsplit(".", 1)[-1]
        return f"unknown key {loc!r}{suggest(leaf, fields)}"
    if first["type"] == "missing":
        return f"missing {loc!r}" + (": add a [design] table with kind = " + " | ".join(DESIGNS)
                                     if loc == "design" else "")
    if first["type"] == "literal_error" and loc.endswith("kind"):
        return (f"design.kind = {first.get('input')!r} is not allowed: must be one of "
                + ", ".join(DESIGNS))
    if first["type"] == "too_short" and loc == "factors":
        return "factors: give at least one factor to vary"
    if first["type"] == "value_error":
        return f"{loc}: {first['ctx']['error']}"
    return f"{loc}: {first['msg']}"


# -- designs ---------------------------------------------------------------------------


def make_design(kind: str, factors: list[Factor], design: Design, base: Scenario,
                seed: int) -> tuple[list[dict[str, Any]], np.ndarray]:
    """Design points as ``{path: value}`` dicts, and SALib's sample matrix if sampled."""
    if kind == "grid":
        combos = itertools.product(*(f.levels for f in factors))
        return [dict(zip((f.path for f in factors), c, strict=True)) for c in combos], np.empty((0,))
    if kind == "oat":
        points: list[dict[str, Any]] = [{}]  # the baseline: every factor at the base value
        for f in factors:
            for level in f.levels:
                if level != base.get(f.path):
                    points.append({f.path: level})
        return points, np.empty((0,))
    problem = salib_problem(factors)
    if kind == "lhs":
        from SALib.sample import latin

        x = latin.sample(problem, design.samples, seed=seed)
    elif kind == "sobol":
        from SALib.sample import sobol

        x = sobol.sample(problem, design.samples, calc_second_order=design.second_order,
                         seed=seed)
    else:
        from SALib.sample import morris

        x = morris.sample(problem, design.samples, num_levels=design.levels, seed=seed)
    catalogue = knobs()
    points = [{f.path: _as_knob_value(catalogue[f.path], v) for f, v in zip(factors, row, strict=True)}
              for row in x]
    return points, x


def salib_problem(factors) -> dict[str, Any]:
    return {"num_vars": len(factors), "names": [f.path for f in factors],
            "bounds": [[f.low, f.high] for f in factors]}


# -- running -----------------------------------------------------------------------------

JOURNAL = "journal.jsonl"
RUNS = "runs.parquet"
MANIFEST = "experiment.json"


class SweepError(ScenarioError):
    """A sweep that cannot start (e.g. the directory holds another experiment)."""


def prepare_directory(experiment: Experiment, out: Path) -> dict[int, dict[str, Any]]:
    """Create or reopen a sweep directory; return the runs already finished, by id."""
    manifest = out / MANIFEST
    if manifest.exists():
        try:
            recorded = json.loads(manifest.read_text())
        except json.JSONDecodeError:
            raise SweepError(f"{manifest} is damaged; use another --out") from None
        if recorded.get("fingerprint") != experiment.fingerprint():
            raise SweepError(f"{out} holds the results of a different experiment "
                             f"({recorded.get('name')!r}); use another --out")
    else:
        out.mkdir(parents=True, exist_ok=True)
        from .outputs import write_text_atomic

        data = {"fingerprint": experiment.fingerprint(), **experiment.to_json()}
        write_text_atomic(manifest, json.dumps(data, indent=1, default=str) + "\n")
    return read_journal(out)


def read_journal(out: Path) -> dict[int, dict[str, Any]]:
    """Finished runs by id. A line cut short by a crash is ignored (and rewritten)."""
    path = out / JOURNAL
    done: dict[int, dict[str, Any]] = {}
    if not path.exists():
        return done
    with path.open("rb") as fh:
        for line in fh:
            try:
                record = json.loads(line)
            except (json.JSONDecodeError, UnicodeDecodeError):
                continue  # a torn last line from a killed sweep
            done.setdefault(int(record["run_id"]), record)
    return done


def _repair_journal(out: Path) -> None:
    """Drop a torn last line so new records start on a line of their own."""
    path = out / JOURNAL
    if path.exists() and path.stat().st_size:
        data = path.read_bytes()
        if not data.endswith(b"\n"):
            with path.open("r+b") as fh:
                fh.truncate(data.rfind(b"\n") + 1)


def runs_frame(experiment: Experiment, records: Mapping[int, dict[str, Any]]) -> pd.DataFrame:
    """One row per finished run: ids, seed, factor values, status, metrics.

    Rows are sorted by run id, so the content never depends on which worker
    finished first.
    """
    rows = []
    reps = experiment.replications
    for run_id in sorted(records):
        record = records[run_id]
        point = experiment.points[run_id // reps]
        row: dict[str, Any] = {"run_id": run_id, "point": run_id // reps,
                               "replication": run_id % reps, "seed": experiment.seed,
                               "days": experiment.days}
        for f in experiment.factors:
            value = point.get(f.path, experiment.base.get(f.path))
            row[f.path] = math.inf if value == UNLIMITED else value
        row["status"] = record["status"]
        row["error"] = record.get("error", "")
        metrics = record.get("metrics", {})
        for m in METRICS:
            row[m] = metrics.get(m, math.nan)
        rows.append(row)
    columns = ["run_id", "point", "replication", "seed", "days",
               *(f.path for f in experiment.factors), "status", "error", *METRICS]
    return pd.DataFrame(rows, columns=columns)


def write_runs(experiment: Experiment, out: Path, records: Mapping[int, dict[str, Any]]) -> None:
    """Rebuild runs.parquet from the journal's records, atomically."""
    frame = runs_frame(experiment, records)
    tmp = out / f".{RUNS}.tmp-{os.getpid()}"
    try:
        frame.to_parquet(tmp, index=False)
        os.replace(tmp, out / RUNS)
    finally:
        tmp.unlink(missing_ok=True)


@dataclass(frozen=True)
class SweepResult:
    out: Path
    total: int
    skipped: int  # already done before this call
    ran: int
    failed: int  # over the whole directory


def sweep(
    experiment: Experiment,
    out: str | Path,
    *,
    workers: int | None = None,
    scheduler: str | None = None,
    progress: Callable[[int, int], None] | None = None,
    run: Callable[[RunSpec], dict[str, Any]] = run_spec,
    flush_seconds: float = 2.0,
) -> SweepResult:
    """Run every (point, replication) not yet done in ``out``; resumable.

    Args:
        progress: called as ``progress(done_now, to_do)`` after each finished run.
        run: the function a worker calls per run (tests swap in a faulty one).
    """
    out = Path(out)
    records = prepare_directory(experiment, out)
    done = set(records)
    _repair_journal(out)  # a torn last line was already skipped when reading
    todo = [spec for spec in experiment.specs() if spec.run_id not in done]
    if progress:
        progress(0, len(todo))
    ran = 0
    last_flush = time.monotonic()
    with (out / JOURNAL).open("ab") as journal:
        try:
            for result in run_all(todo, workers=workers, scheduler=scheduler, run=run):
                line = json.dumps(result, allow_nan=True) + "\n"
                journal.write(line.encode())
                journal.flush()
                os.fsync(journal.fileno())
                records[result["run_id"]] = result
                ran += 1
                if progress:
                    progress(ran, len(todo))
                if time.monotonic() - last_flush >= flush_seconds:
                    write_runs(experiment, out, records)
                    last_flush = time.monotonic()
        finally:
            write_runs(experiment, out, records)
    failed = sum(1 for r in records.values() if r["status"] != "ok")
    return SweepResult(out, experiment.runs, len(done), ran, failed)
