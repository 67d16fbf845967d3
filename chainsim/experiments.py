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
import hmac
import itertools
import json
import math
import os
import secrets
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from .parallel import RunSpec, run_all, run_spec
from .scenarios import builtin_dir, load_scenario, read_toml
from .schema import MAX_DAYS, UNLIMITED, Scenario, ScenarioError, knobs, suggest

DESIGNS = ("grid", "oat", "lhs", "sobol", "morris")
SAMPLED = ("lhs", "sobol", "morris")

#: Metrics a run records (flattened summary); experiments report any of them.
METRICS = (
    "repeat_purchases", "repeat_purchase_rate", "first_purchases", "orders", "customers_total",
    "active_customers", "growth_rate", "revenue", "cost", "profit", "leads", "deliveries",
    "complaints", "satisfaction_mean", "losses_marketing", "losses_sales", "losses_operations",
    "losses_service", "leads_lost", "not_converted", "put_off",
)


#: What an experiment file may ask for: limits a user would not reach by accident (a
#: sweep this size is days of computing); ``chainsim sweep --no-limits`` lifts MAX_POINTS.
MAX_LEVELS = 1_000  # levels of one factor
MAX_SAMPLES = 100_000  # lhs points, Sobol' base samples, Morris trajectories
MAX_REPLICATIONS = 10_000
MAX_POINTS = 100_000  # design points of one experiment


class Strict(BaseModel):
    """Experiment tables: typed as strictly as scenarios (no "5" for 5, no true for 1)."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class Range(Strict):
    """A continuous factor: sampled between min and max, or ``levels`` even steps."""

    min: float = Field(allow_inf_nan=False)
    max: float = Field(allow_inf_nan=False)
    levels: int | None = Field(None, ge=2, le=MAX_LEVELS)

    @field_validator("min", "max", mode="before")
    @classmethod
    def _whole_numbers_are_numbers(cls, value: Any) -> Any:
        return float(value) if isinstance(value, int) and not isinstance(value, bool) else value


class Design(Strict):
    kind: Literal["grid", "oat", "lhs", "sobol", "morris"]
    samples: int = Field(32, ge=1, le=MAX_SAMPLES, description="lhs: points; sobol: base "
                         "samples N; morris: trajectories")
    levels: int = Field(4, ge=2, le=MAX_LEVELS, description="morris: grid levels")
    second_order: bool = Field(False, description="sobol: also second-order indices")


class ExperimentFile(Strict):
    """What an experiment file may say (validated before any run starts)."""

    description: str = ""
    scenario: str = "balanced"
    days: int | None = Field(None, ge=1, le=MAX_DAYS)
    replications: int = Field(10, ge=1, le=MAX_REPLICATIONS)
    seed: int = Field(1, ge=0, le=2**63 - 1)
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


def builtin_experiments() -> dict[str, Path]:
    """The experiments that ship with chainsim, by name."""
    return {p.stem: p for p in sorted(builtin_dir("experiments").glob("*.toml"))}


def resolve_experiment(ref: str | Path) -> Path:
    """An experiment file: a path, or the name of a shipped one (``weakest_link_oat``)."""
    path = Path(ref)
    if path.is_file():
        return path
    text = str(ref)
    shipped = builtin_experiments()
    if text.removesuffix(".toml") in shipped and "/" not in text and "\\" not in text:
        return shipped[text.removesuffix(".toml")]
    if Path(text).name.removesuffix(".toml") in shipped and not path.exists():
        hint = f" (the shipped one is: chainsim sweep {Path(text).name.removesuffix('.toml')})"
    else:
        hint = f" (shipped experiments: {', '.join(shipped)})"
    raise ScenarioError(f"experiment file not found: {text}{hint}")


def design_size(kind: str, factors: list[Factor], design: Design, base: Scenario) -> int:
    """How many points a design has, worked out before any is made."""
    d = len(factors)
    if kind == "grid":
        return math.prod(len(f.levels) for f in factors)
    if kind == "oat":
        return 1 + sum(sum(1 for v in f.levels if v != base.get(f.path)) for f in factors)
    if kind == "lhs":
        return design.samples
    if kind == "sobol":
        return design.samples * (2 * d + 2 if design.second_order else d + 2)
    return design.samples * (d + 1)  # morris


def load_experiment(path: str | Path, *, max_points: int | None = MAX_POINTS) -> Experiment:
    """Read and check an experiment file; every problem is one ScenarioError line.

    ``max_points`` refuses a design larger than that (None: no limit).
    """
    path = resolve_experiment(path)
    raw = read_toml(path, "experiment file")
    for table in ("factors", "set"):
        if table in raw and not isinstance(raw[table], Mapping):
            raise ScenarioError(f"{table} = {raw[table]!r} is not allowed: must be a table "
                                f"([{table}] with keys like \"operations.capacity\")",
                                source=str(path))
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
    count = design_size(kind, factors, spec.design, base)
    if max_points is not None and count > max_points:
        raise ScenarioError(
            f"the design has {count:,} points x {spec.replications:,} replications = "
            f"{count * spec.replications:,} runs; the limit is {max_points:,} points (fewer "
            "levels or samples, or chainsim sweep --no-limits)", source=where)

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
    errors = err.errors(include_url=False)
    first = errors[0]
    if isinstance(first.get("input"), Mapping):  # a factor's table: say what is wrong in it
        first = next((e for e in errors if "Range" in map(str, e["loc"])), first)
    loc = ".".join(str(p) for p in first["loc"] if not isinstance(p, int))
    loc = loc.split(".function-after")[0].split(".list[")[0].replace(".Range", "")
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
    kind, ctx = first["type"], first.get("ctx", {})
    allowed = {
        "int_type": "a whole number", "int_parsing": "a whole number",
        "int_from_float": "a whole number", "float_type": "a number",
        "float_parsing": "a number", "finite_number": "a finite number",
        "bool_type": "true or false", "string_type": "text in quotes",
        "list_type": "a list", "dict_type": "a table", "model_type": "a table",
        "less_than_equal": f"at most {ctx.get('le')}",
        "greater_than_equal": f"at least {ctx.get('ge')}",
        "too_short": "not empty",
    }.get(kind)
    if allowed is not None:
        value = first.get("input")
        shown = "a table" if isinstance(value, Mapping) else (
            repr(value) if isinstance(value, str) else str(value).lower()
            if isinstance(value, bool) else str(value))
        return f"{loc} = {shown} is not allowed: must be {allowed}"
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


LOCK = ".lock"


def prepare_directory(experiment: Experiment, out: Path) -> dict[int, dict[str, Any]]:
    """Create or reopen a sweep directory; return the runs already finished, by id.

    A directory is reopened only if it holds this experiment's results; one that
    holds other files (another experiment, someone's own journal.jsonl) is refused.
    """
    return open_directory(experiment, out)[0]


def open_directory(experiment: Experiment,
                   out: Path) -> tuple[dict[int, dict[str, Any]], int, str | None]:
    """:func:`prepare_directory`, with how many journal lines could not be used, and the
    key that seals the journal's lines (None in a directory from before the seals)."""
    manifest = out / MANIFEST
    if manifest.exists():
        recorded = _read_manifest(out)
        if recorded.get("fingerprint") != experiment.fingerprint():
            raise SweepError(f"{out} holds the results of a different experiment "
                             f"({recorded.get('name')!r}); use another --out")
        key = recorded.get("journal_key")
    else:
        if out.exists() and any(e for e in out.iterdir() if e.name != LOCK):
            raise SweepError(f"--out {out}: the folder holds other files and no "
                             f"{MANIFEST}; a sweep starts in a new or empty folder")
        out.mkdir(parents=True, exist_ok=True)
        from .outputs import write_text_atomic

        key = secrets.token_hex(16)
        data = {"fingerprint": experiment.fingerprint(), "journal_key": key,
                **experiment.to_json()}
        write_text_atomic(manifest, json.dumps(data, indent=1, default=str) + "\n")
    done, skipped = read_journal(out, runs=experiment.runs, key=key)
    return done, skipped, key


def _read_manifest(out: Path) -> dict[str, Any]:
    manifest = out / MANIFEST
    try:
        recorded = json.loads(manifest.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError, OSError) as err:
        raise SweepError(f"{manifest} is damaged ({type(err).__name__}); the journal beside it "
                         "is intact: use another --out, or restore the file") from None
    if not isinstance(recorded, dict):
        raise SweepError(f"{manifest} is damaged (not a table); use another --out")
    return recorded


def sign(record: Mapping[str, Any], key: str | None) -> str:
    """The journal line's seal: HMAC-SHA256 of the record under the sweep's own key."""
    body = json.dumps({k: v for k, v in record.items() if k != "sig"}, sort_keys=True,
                      allow_nan=True, separators=(",", ":"))
    return hmac.new((key or "").encode(), body.encode(), hashlib.sha256).hexdigest()


def _usable(record: Any, runs: int | None, key: str | None) -> bool:
    """A journal line is used only if it has the shape chainsim writes, and its seal."""
    if not isinstance(record, dict):
        return False
    run_id = record.get("run_id")
    if not isinstance(run_id, int) or isinstance(run_id, bool) or run_id < 0 or (
            runs is not None and run_id >= runs):
        return False
    if record.get("status") not in ("ok", "failed") or not isinstance(record.get("error", ""),
                                                                       str):
        return False
    metrics = record.get("metrics", {})
    if not isinstance(metrics, dict) or not all(
            isinstance(k, str) and isinstance(v, int | float) and not isinstance(v, bool)
            for k, v in metrics.items()):
        return False
    if key is not None:  # journals written since the seal: every line carries one
        return hmac.compare_digest(str(record.get("sig", "")), sign(record, key))
    return True


def read_journal(out: Path, *, runs: int | None = None,
                 key: str | None = None) -> tuple[dict[int, dict[str, Any]], int]:
    """Finished runs by id, and how many lines could not be used.

    A line cut short by a crash, a line of the wrong shape, one for a run this
    experiment does not have, or one without the sweep's seal (an edited or
    forged line) is skipped and counted; the first good record of a run wins.
    """
    path = out / JOURNAL
    done: dict[int, dict[str, Any]] = {}
    skipped = 0
    if not path.exists():
        return done, skipped
    with path.open("rb") as fh:
        data = fh.read()
    lines = data.split(b"\n")
    for i, line in enumerate(lines):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except (json.JSONDecodeError, UnicodeDecodeError):
            if i < len(lines) - 1:  # a torn last line is a killed sweep's, not a problem
                skipped += 1
            continue
        if not _usable(record, runs, key):
            skipped += 1
            continue
        done.setdefault(record["run_id"], record)
    return done, skipped


def _repair_journal(out: Path) -> None:
    """Drop a torn last line so new records start on a line of their own."""
    path = out / JOURNAL
    if path.exists() and path.stat().st_size:
        data = path.read_bytes()
        if not data.endswith(b"\n"):
            with path.open("r+b") as fh:
                fh.truncate(data.rfind(b"\n") + 1)


@contextmanager
def sweep_lock(out: Path):
    """One sweep at a time in a directory: a second gets a one-line refusal."""
    out.mkdir(parents=True, exist_ok=True)
    path = out / LOCK
    fh = path.open("a+")
    try:
        try:
            import fcntl

            # a POSIX record lock: held by this process alone, not by workers forked from it
            # (a flock would be, and outlive a killed sweep until they noticed)
            fcntl.lockf(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB, 0, 0, os.SEEK_SET)
        except ImportError:  # not POSIX: no lock, as before
            pass
        except OSError:
            fh.seek(0)
            holder = fh.read().strip() or "another process"
            raise SweepError(f"another sweep is writing to {out} (process {holder}); wait "
                             "for it to finish, or use another --out") from None
        fh.seek(0)
        fh.truncate()
        fh.write(str(os.getpid()))
        fh.flush()
        yield
    finally:
        fh.close()


def runs_frame(experiment: Experiment, records: Mapping[int, dict[str, Any]]) -> pd.DataFrame:
    """One row per finished run: ids, seed, factor values, status, metrics.

    Rows are sorted by run id, so the content never depends on which worker
    finished first.
    """
    return runs_table(experiment.points, [f.path for f in experiment.factors],
                      experiment.base, experiment.replications, experiment.seed,
                      experiment.days, records)


def runs_table(points, factors: list[str], base: Scenario, reps: int, seed: int, days: int,
               records: Mapping[int, dict[str, Any]]) -> pd.DataFrame:
    """:func:`runs_frame` from the pieces (``chainsim report`` rebuilds it from the manifest)."""
    rows = []
    for run_id in sorted(records):
        record = records[run_id]
        point = points[run_id // reps]
        row: dict[str, Any] = {"run_id": run_id, "point": run_id // reps,
                               "replication": run_id % reps, "seed": seed, "days": days}
        for path in factors:
            value = point.get(path, base.get(path))
            row[path] = math.inf if value == UNLIMITED else value
        row["status"] = record["status"]
        row["error"] = record.get("error", "")
        metrics = record.get("metrics", {})
        for m in METRICS:
            row[m] = metrics.get(m, math.nan)
        rows.append(row)
    columns = ["run_id", "point", "replication", "seed", "days", *factors, "status", "error",
               *METRICS]
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
    skipped_lines: int = 0  # journal lines that could not be used


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
    with sweep_lock(out):
        records, skipped, key = open_directory(experiment, out)
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
                    if key is not None:
                        result = {**result, "sig": sign(result, key)}
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
            except BaseException as err:
                err.add_note(f"chainsim: {ran} runs finished and saved in {out}/{JOURNAL}")
                err.runs_saved = ran  # type: ignore[attr-defined]
                raise
            finally:
                try:
                    write_runs(experiment, out, records)
                except OSError:
                    if sys.exc_info()[0] is None:
                        raise  # the sweep itself went well: say the table could not be written
                    # else the first fault is what to say; the journal holds every run
        failed = sum(1 for r in records.values() if r["status"] != "ok")
    return SweepResult(out, experiment.runs, len(done), ran, failed, skipped)
