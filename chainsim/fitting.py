"""Your own business: fit chainsim to its data.

The data is a table with one row per day, week or month (docs/fit.md): its
first column, ``day``, ``week`` or ``month``, numbers the periods; the others
are counts chainsim simulates (:data:`DATA_COLUMNS`), any of them.

**The estimator** is simulated weighted least squares -- the method of
simulated moments, with every period's count a moment. For knobs ``theta``,
chainsim runs the business on a fixed set of seeds (common random numbers) and
compares the mean simulated count of each column and period with the data,
each difference weighted by one over the square root of the data's count (at
least 5), as a Poisson count's spread would be. Knobs are searched on a
transformed scale: logarithms of rates and capacities, logits of chances.

**The search** has two stages, both from scipy. Differential evolution, on
``reps`` seeds, finds the region: near a tipping point a chain answers a small
change sharply, and slopes alone stop in the first dip. Then trust-region
least squares (``scipy.optimize.least_squares``) settles in on
:data:`POLISH_FACTOR` times as many seeds, with central differences of
:data:`_STEP`: with few seeds, a search finds knobs that fit *those seeds'*
luck (measured: the global stage's answer was worse than the truth on fresh
seeds; the settled one better).

**The uncertainty** is the estimator's sandwich covariance ``(1 + 1/R)
A^-1 B A^-1``, with ``A = J'WJ`` from the slopes ``J`` at the fitted values and
``B = J'W S W J``, where ``S`` is the covariance of the whole data table --
periods are not independent: a customer lost in March does not buy in April --
estimated from ``check_reps`` fresh simulated tables at the fitted values;
``1 + 1/R`` is the simulation's own noise for ``R`` seeds (Gourieroux &
Monfort, *Simulation-based econometric methods*, 1996). The slopes see the
loss as a quadratic; where it is not -- two knobs trading off along a curved
ridge (reach and word of mouth both make leads), a knob that stops mattering
(a capacity that no longer binds) -- the interval is widened to follow each
knob's loss profile, its partners re-fitted (:func:`_profile`), up to the
search's bound where the loss never rises enough. A knob whose interval spans more than a
factor of :data:`PINNED_FACTOR` (a chance: more than :data:`PINNED_SPAN`) is
reported as not pinned down. Finally the data is checked against the fitted business: how many
fresh runs lie at least as far from the fitted mean as the data does (a
p-value; under 5 %, the fit says the data is not a history this business would
have). Coverage of the intervals is measured in docs/validation.md.
"""

from __future__ import annotations

import csv
import datetime as dt
import difflib
import io
import math
import os
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .parallel import RunSpec
from .schema import MAX_DAYS, UNLIMITED, Scenario

#: Data columns and the daily column of the model each one counts.
DATA_COLUMNS: dict[str, str] = {
    "leads": "leads_new",
    "first_purchases": "first_purchases",
    "repeat_purchases": "repeat_purchases",
    "deliveries": "deliveries",
    "late_deliveries": "late_deliveries",
    "complaints": "complaints",
    "complaints_resolved": "complaints_resolved",
    "customers_lost": "churned",
}

#: What each period column means, in days.
PERIODS: dict[str, int] = {"day": 1, "week": 7, "month": 30}

#: The knobs a fit can estimate, how each is searched, and the data columns that inform it.
#: "log": capacities and rates (a factor of 20 either way of the base), "logit": chances.
FIT_KNOBS: dict[str, tuple[str, tuple[str, ...]]] = {
    "marketing.quality": ("logit", ("leads",)),
    "word_of_mouth.contact_rate": ("log", ("leads",)),
    "sales.capacity": ("log", ("first_purchases",)),
    "sales.quality": ("logit", ("first_purchases",)),
    "operations.capacity": ("log", ("deliveries", "late_deliveries")),
    "operations.quality": ("logit", ("complaints",)),
    "service.capacity": ("log", ("complaints_resolved",)),
    "service.quality": ("logit", ("complaints_resolved",)),
    "retention.churn_per_year": ("logit", ("customers_lost", "repeat_purchases")),
}

#: What a fit estimates unless told otherwise: how customers and people behave and how well
#: each link works -- what a business cannot read off its own records. Capacities (staff,
#: desks, vans) are in its records: give them in the base scenario. A capacity matters only
#: while it binds, so the data say little about it once it does not, and its interval from
#: the slopes at the fit can be too narrow for the knobs it trades off against (docs/fit.md).
DEFAULT_KNOBS = tuple(p for p in FIT_KNOBS if not p.endswith(".capacity"))

MIN_PERIODS = 6
MAX_BYTES = 20_000_000
#: A capacity or rate is pinned down when its 95 % interval spans less than this factor ...
PINNED_FACTOR = 2.0
#: ... and a chance when its interval is narrower than this.
PINNED_SPAN = 0.25
_LOG_RANGE = math.log(20.0)
#: The global search starts within this of the base on the transformed scale (a factor of
#: about 4.5 for a rate; about 0.12 to 0.88 for a chance of one half), and may go anywhere in
#: the bounds.
_NEAR = 1.5
_LOGIT_LIMIT = 7.0  # chances from 0.0009 to 0.9991
#: Finite-difference step on the transformed scale, taken both ways: large enough that a
#: slope measures what the knob does, not which random numbers a small change reshuffles.
_STEP = 0.3
#: The least-squares search, the slopes at the fit and the check of each interval's ends
#: run on this many times the global search's seeds.
POLISH_FACTOR = 4
#: The fit's first replication: its seeds are ``SeedSequence(run.seed, spawn_key=(k,))`` for k
#: from here, apart from those of runs, diagnoses, sweeps and optimizations (which count from 0).
FIT_SEEDS = 1_000_000


class FitDataError(ValueError):
    """A problem with the data file, in one line naming the column and row."""


# -- the data ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Data:
    """A business's counts per period."""

    period: str  # "day", "week" or "month"
    labels: tuple[str, ...]  # the period column as written
    counts: dict[str, np.ndarray]  # data column -> count per period
    source: str = ""

    @property
    def period_days(self) -> int:
        return PERIODS[self.period]

    @property
    def periods(self) -> int:
        return len(self.labels)

    @property
    def days(self) -> int:
        return self.periods * self.period_days


def read_data(path: str | Path) -> Data:
    """Read and check a data CSV (see the module doc); :class:`FitDataError` says what is wrong."""
    path = Path(path)
    name = str(path)
    try:
        size = path.stat().st_size
    except OSError as err:
        raise FitDataError(f"{name}: cannot read it ({err.strerror})") from None
    if not path.is_file():
        raise FitDataError(f"{name}: not a file")
    if size > MAX_BYTES:
        raise FitDataError(f"{name}: {size:,} bytes is too large for a table of counts "
                           f"(at most {MAX_BYTES:,})")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise FitDataError(f"{name}: not a UTF-8 text file (save the table as CSV, UTF-8)") from None
    except OSError as err:
        raise FitDataError(f"{name}: cannot read it ({err.strerror})") from None
    return parse_data(text, source=name)


def parse_data(text: str, source: str = "data") -> Data:
    """:func:`read_data` on the text of a CSV."""
    try:
        rows = list(csv.reader(io.StringIO(text)))
    except csv.Error as err:
        raise FitDataError(f"{source}: not a CSV table ({err})") from None
    rows = [r for r in rows if any(cell.strip() for cell in r)]
    if not rows:
        raise FitDataError(f"{source}: the file is empty; the first line must name the columns, "
                           f"e.g. month,{','.join(list(DATA_COLUMNS)[:3])}")
    header = [h.strip().lower() for h in rows[0]]
    period = header[0]
    if period not in PERIODS:
        raise FitDataError(f"{source}: the first column is {rows[0][0]!r}; it must be one of "
                           f"{', '.join(PERIODS)} (the period each row counts)")
    columns = header[1:]
    if not columns:
        raise FitDataError(f"{source}: no count columns; allowed: {', '.join(DATA_COLUMNS)}")
    for c in columns:
        if c not in DATA_COLUMNS:
            close = difflib.get_close_matches(c, DATA_COLUMNS, n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            raise FitDataError(f"{source}: column {c!r} is not allowed: {hint}allowed: "
                               f"{', '.join(DATA_COLUMNS)}")
    seen = set()
    for c in columns:
        if c in seen:
            raise FitDataError(f"{source}: column {c!r} appears twice")
        seen.add(c)
    body = rows[1:]
    if len(body) < MIN_PERIODS:
        raise FitDataError(f"{source}: {len(body)} {period}(s) of data are too few to fit: "
                           f"at least {MIN_PERIODS} are needed")
    if len(body) * PERIODS[period] > MAX_DAYS:
        raise FitDataError(f"{source}: {len(body)} {period}s are more than chainsim simulates "
                           f"({MAX_DAYS} days at most)")
    labels = []
    values = np.zeros((len(body), len(columns)), dtype=np.int64)
    for i, row in enumerate(body):
        line = i + 2  # the header is line 1
        if len(row) != len(header):
            raise FitDataError(f"{source}: row {line} has {len(row)} cells, the header "
                               f"{len(header)}")
        labels.append(row[0].strip())
        for j, c in enumerate(columns):
            cell = row[j + 1].strip()
            if cell == "":
                raise FitDataError(f"{source}: row {line}, column {c}: empty (a count is "
                                   "needed in every row; leave the column out if it is not kept)")
            try:
                number = float(cell)
            except ValueError:
                raise FitDataError(f"{source}: row {line}, column {c}: {cell!r} is not a "
                                   "number") from None
            if not math.isfinite(number) or number < 0 or number != int(number) or number > 1e12:
                raise FitDataError(f"{source}: row {line}, column {c}: {cell} is not allowed: "
                                   "must be a whole number >= 0")
            values[i, j] = int(number)
    _check_periods(labels, period, source)
    return Data(period, tuple(labels), {c: values[:, j] for j, c in enumerate(columns)}, source)


def _period_index(label: str, period: str) -> int | None:
    """A period label as a running number: 1, 2, ... or a date (YYYY-MM for months)."""
    if re.fullmatch(r"[0-9]{1,9}", label):
        return int(label)
    try:
        if period == "month":
            year, month = label.split("-")[:2]
            return int(year) * 12 + int(month) - 1 if 1 <= int(month) <= 12 else None
        day = dt.date.fromisoformat(label)
        return day.toordinal() // (7 if period == "week" else 1)
    except ValueError:
        return None


def _check_periods(labels: Sequence[str], period: str, source: str) -> None:
    numbers = []
    for i, label in enumerate(labels):
        n = _period_index(label, period)
        if n is None:
            form = "YYYY-MM" if period == "month" else "YYYY-MM-DD"
            raise FitDataError(f"{source}: row {i + 2}, column {period}: {label!r} is not a "
                               f"{period}: must be a number (1, 2, ...) or a date ({form})")
        numbers.append(n)
    for i in range(1, len(numbers)):
        if numbers[i] != numbers[i - 1] + 1:
            what = "repeats" if numbers[i] == numbers[i - 1] else (
                "goes back" if numbers[i] < numbers[i - 1] else "leaves a gap")
            raise FitDataError(f"{source}: row {i + 2}, column {period}: {labels[i]!r} {what} "
                               f"after {labels[i - 1]!r} (one row per {period}, in order, "
                               "without gaps)")


def write_data(data: Data, path: Path) -> None:
    """Write counts as a data CSV that :func:`read_data` reads back."""
    cols = list(data.counts)
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow([data.period, *cols])
        for i, label in enumerate(data.labels):
            w.writerow([label, *(int(data.counts[c][i]) for c in cols)])


# -- simulated tables --------------------------------------------------------------------


def table_run(spec: RunSpec, columns: Sequence[str], period_days: int) -> dict[str, Any]:
    """One run, its daily counts summed per period (``table``: columns x periods)."""
    from .model import ChainModel

    scenario = Scenario.from_dict(spec.scenario)
    model = ChainModel(scenario, rng=spec.rng())
    for _ in range(spec.days):
        model.step()
    daily = model.datacollector.columns()
    periods = spec.days // period_days
    table = [np.asarray(daily[DATA_COLUMNS[c]][:periods * period_days], dtype=float)
             .reshape(periods, period_days).sum(axis=1).tolist() for c in columns]
    return {"run_id": spec.run_id, "status": "ok", "error": "", "table": table}


class _TableRun:
    """A picklable ``run`` for :func:`chainsim.parallel.run_all`."""

    def __init__(self, columns: Sequence[str], period_days: int):
        self.columns, self.period_days = list(columns), period_days

    def __call__(self, spec: RunSpec) -> dict[str, Any]:
        return table_run(spec, self.columns, self.period_days)


def simulate_data(scenario: Scenario, period: str, periods: int, *, replication: int = 0,
                  columns: Sequence[str] | None = None) -> Data:
    """Data as chainsim would record it for ``scenario`` (for examples and for checking fits)."""
    columns = list(columns or DATA_COLUMNS)
    days = periods * PERIODS[period]
    spec = RunSpec(0, scenario.model_dump(), scenario.run.seed, replication, days)
    table = np.asarray(table_run(spec, columns, PERIODS[period])["table"])
    return Data(period, tuple(str(i + 1) for i in range(periods)),
                {c: np.rint(table[j]).astype(np.int64) for j, c in enumerate(columns)},
                f"simulated {scenario.name}")


class _Simulator:
    """Runs scenarios on fixed seeds and returns their tables (scenario x rep x column x period)."""

    def __init__(self, base: Scenario, data: Data, workers: int, scheduler: str | None,
                 pool, progress: Callable[[int], None] | None):
        self.base, self.data = base, data
        self.run = _TableRun(list(data.counts), data.period_days)
        self.workers, self.scheduler, self.pool, self.progress = workers, scheduler, pool, progress
        self.done = 0

    def tables(self, scenarios: Sequence[Scenario], replications: Sequence[int]) -> np.ndarray:
        from .diagnose import _run

        reps = list(replications)
        specs = [RunSpec(i * len(reps) + j, sc.model_dump(), self.base.run.seed, k,
                         self.data.days)
                 for i, sc in enumerate(scenarios) for j, k in enumerate(reps)]
        start = self.done

        def tick(n: int) -> None:
            self.done = start + n
            if self.progress:
                self.progress(self.done)

        out = _run(specs, self.workers, self.scheduler, tick, pool=self.pool, run=self.run)
        shape = (len(scenarios), len(reps), len(self.data.counts), self.data.periods)
        return np.asarray([r["table"] for r in out], dtype=float).reshape(shape)


# -- knobs on the search's scale ---------------------------------------------------------


@dataclass(frozen=True)
class Knob:
    path: str
    scale: str  # "log" or "logit"
    base: float  # the base scenario's value
    low: float  # bounds on the transformed scale
    high: float

    def to_z(self, x: float) -> float:
        if self.scale == "log":
            return math.log(x)
        x = min(max(x, 1e-6), 1 - 1e-6)
        return math.log(x / (1 - x))

    def from_z(self, z: float) -> float:
        if self.scale == "log":
            return math.exp(z)
        return 1.0 / (1.0 + math.exp(-z))

    def value(self, z: float) -> float | int:
        """The knob's value in a scenario."""
        return float(self.from_z(z))


def fit_knobs(base: Scenario, data: Data, only: Sequence[str] | None = None) -> list[Knob]:
    """The knobs this data can inform, with their search bounds (see :data:`FIT_KNOBS`)."""
    out = []
    only = DEFAULT_KNOBS if only is None else only
    for path, (scale, columns) in FIT_KNOBS.items():
        if path not in only:
            continue
        if not any(c in data.counts for c in columns):
            continue
        value = base.get(path)
        if value == UNLIMITED or value is None:
            continue
        value = float(value)
        if scale == "log":
            if value <= 0:
                continue
            z = math.log(value)
            out.append(Knob(path, scale, value, z - _LOG_RANGE, z + _LOG_RANGE))
        else:
            out.append(Knob(path, scale, value, -_LOGIT_LIMIT, _LOGIT_LIMIT))
    return out


def draw_z(z: np.ndarray, cov: np.ndarray, low: np.ndarray, high: np.ndarray,
           pinned: np.ndarray, n: int, seed: int = 0) -> list[np.ndarray]:
    """Draws of the fitted knobs on the search's scale.

    Knobs the data pins down are drawn together from the normal of the fit
    (their covariance), each stretched on a side where its interval reaches
    further than the normal's 95 % -- where the loss profile widened it -- so
    that the draws' 2.5 and 97.5 percentiles are the interval's ends there (a
    split normal; a side the profile left alone is drawn exactly as the
    normal). A knob the data does not pin down is drawn uniformly across its
    interval, which the data cannot narrow.
    """
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(7919,)))
    idx = np.flatnonzero(pinned)
    sub = cov[np.ix_(idx, idx)]
    values, vectors = np.linalg.eigh((sub + sub.T) / 2)
    root = vectors * np.sqrt(np.clip(values, 0, None))
    reach = _Z95 * np.sqrt(np.clip(np.diag(sub), 0, None))
    up, down = (_stretch(high[idx] - z[idx], reach), _stretch(z[idx] - low[idx], reach))
    out = []
    for _ in range(n):
        d = z.copy()
        if len(idx):
            deviation = root @ rng.standard_normal(len(idx))
            d[idx] = z[idx] + deviation * np.where(deviation > 0, up, down)
        free = ~pinned
        d[free] = rng.uniform(low[free], high[free])
        out.append(d)  # the normal's tails beyond the interval are kept
    return out


def _stretch(side: np.ndarray, reach: np.ndarray) -> np.ndarray:
    """How much further than the normal's 95 % an interval reaches on one side (at least 1).

    Ends that the sandwich set (equal to the normal's reach but for rounding in
    the knob's scale) give exactly 1, so such draws are the plain normal's.
    """
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = side / reach
    return np.where(np.isfinite(ratio) & (ratio > 1 + 1e-6), ratio, 1.0)


def _scenario_at(base: Scenario, knobs: Sequence[Knob], z: np.ndarray) -> Scenario:
    return base.replace({k.path: k.value(float(v)) for k, v in zip(knobs, z, strict=True)})


# -- the fit -----------------------------------------------------------------------------


@dataclass(frozen=True)
class KnobFit:
    path: str
    base: float
    value: float
    low: float  # 95 % interval
    high: float
    sd_z: float  # standard error on the search's scale
    pinned: bool

    def to_json(self) -> dict[str, Any]:
        return {"base": self.base, "value": self.value, "ci_low": self.low,
                "ci_high": self.high, "se_transformed": self.sd_z, "pinned_down": self.pinned}


@dataclass(frozen=True)
class Fit:
    """What :func:`fit` found."""

    base: Scenario
    scenario: Scenario  # the base with the fitted values
    data: Data
    knobs: tuple[Knob, ...]
    z: np.ndarray  # fitted values on the search's scale
    cov: np.ndarray  # their covariance (sandwich)
    results: tuple[KnobFit, ...]
    reps: int
    check_reps: int
    evaluations: int
    loss_start: float
    loss: float
    fitted: np.ndarray  # mean simulated table at the fit (column x period), fresh seeds
    band: np.ndarray  # 5 % and 95 % of the simulated tables (2 x column x period)
    p_value: float = math.nan  # share of fitted runs at least as far from the fit as the data
    extras: dict[str, Any] = field(default_factory=dict)

    @property
    def consistent(self) -> bool:
        """False when the data lies further from the fit than 95 % of the fitted runs do."""
        return not self.p_value < 0.05

    @property
    def not_pinned(self) -> list[str]:
        return [r.path for r in self.results if not r.pinned]

    def draws(self, n: int, seed: int = 0) -> list[Scenario]:
        """``n`` scenarios with knobs drawn from the fit's uncertainty (see :func:`draw_z`)."""
        lo = np.array([k.to_z(r.low) for k, r in zip(self.knobs, self.results, strict=True)])
        hi = np.array([k.to_z(r.high) for k, r in zip(self.knobs, self.results, strict=True)])
        pinned = np.array([r.pinned for r in self.results], dtype=bool)
        return [_scenario_at(self.base, self.knobs, z)
                for z in draw_z(self.z, self.cov, lo, hi, pinned, n, seed)]

    def text(self) -> str:
        d = self.data
        lines = [f"fitted {self.base.name} to {d.source}: {d.periods} {d.period}s of "
                 f"{', '.join(d.counts)}",
                 f"({self.evaluations} points run: the global search on {self.reps} seeds each, "
                 f"the least squares on {POLISH_FACTOR * self.reps}; weighted squared "
                 f"error {self.loss_start:,.1f} at the base -> {self.loss:,.1f}; intervals from "
                 f"{self.check_reps} fresh runs)", "",
                 f"  {'knob':<28} {'base':>9} {'fitted':>9}   95 % interval"]
        for r in self.results:
            note = "" if r.pinned else "   not pinned down by this data"
            lines.append(f"  {r.path:<28} {_g(r.base):>9} {_g(r.value):>9}   "
                         f"{_g(r.low)} to {_g(r.high)}{note}")
        lines += ["", f"the data against the fitted business: {100 * self.p_value:.0f} % of its "
                  "runs lie at least as far from its mean as the data ("
                  + ("consistent)" if self.consistent else
                     "the data is not a history this business would have: some rule or knob held "
                     "at the base does not fit; treat the intervals with care)")]
        if self.not_pinned:
            lines += ["", "the data could not pin down: " + ", ".join(self.not_pinned)
                      + " (its value is where the fit ended, and its interval wide; more "
                      "periods, or the columns that inform it, would narrow it)"]
        else:
            lines += ["", "every fitted knob is pinned down by the data"]
        return "\n".join(lines)

    def to_json(self) -> dict[str, Any]:
        d = self.data
        return {
            "base": self.base.name, "data": d.source, "period": d.period, "periods": d.periods,
            "columns": list(d.counts), "seed": self.base.run.seed, "reps": self.reps,
            "check_reps": self.check_reps, "evaluations": self.evaluations,
            "loss_start": self.loss_start, "loss": self.loss,
            "p_value": self.p_value, "consistent": self.consistent,
            "knobs": {r.path: r.to_json() for r in self.results},
            "not_pinned_down": self.not_pinned,
            "search": {k.path: {"scale": k.scale, "low": k.from_z(k.low),
                                "high": k.from_z(k.high)} for k in self.knobs},
            "draw": {"z": self.z.tolist(), "pinned": [r.pinned for r in self.results],
                     "low": [k.to_z(r.low) for k, r in zip(self.knobs, self.results, strict=True)],
                     "high": [k.to_z(r.high) for k, r in zip(self.knobs, self.results,
                                                              strict=True)]},
            "z": self.z.tolist(), "covariance": self.cov.tolist(),
            **self.extras,
        }


def _g(x: float) -> str:
    return f"{x:.4g}"


def fit(
    data: Data,
    base: Scenario,
    *,
    reps: int = 4,
    check_reps: int = 30,
    knobs: Sequence[str] | None = None,
    max_evaluations: int = 10,
    generations: int = 8,
    workers: int = 1,
    scheduler: str | None = None,
    pool=None,
    progress: Callable[[int], None] | None = None,
) -> Fit:
    """Fit the knobs ``data`` can inform, holding the rest at ``base`` (see the module doc).

    Args:
        data: from :func:`read_data` (or :func:`simulate_data`).
        base: the business at the start of the data (customers on the books,
            market, prices); its ``run.seed`` seeds every run.
        reps: seeds each candidate is run on (common random numbers).
        check_reps: fresh seeds at the fitted values, for the intervals and the figure.
        knobs: these of :data:`FIT_KNOBS`, where the data informs them (default:
            :data:`DEFAULT_KNOBS`).
        max_evaluations: at most this many steps of the least-squares search.
        workers, scheduler, pool: where runs go, as for a sweep.
        progress: called with the number of runs finished so far.
    """
    if pool is None and (workers > 1 or scheduler):
        from .parallel import executor

        with executor(workers, scheduler) as own:
            return fit(data, base, reps=reps, check_reps=check_reps, knobs=knobs,
                       max_evaluations=max_evaluations, generations=generations,
                       workers=workers, scheduler=scheduler, pool=own, progress=progress)
    if reps < 1 or check_reps < 3:
        raise ValueError("reps must be >= 1 and check_reps >= 3")
    for path in knobs or ():
        if path not in FIT_KNOBS:
            raise ValueError(f"knob {path!r} cannot be fitted: allowed: {', '.join(FIT_KNOBS)}")
    base = base.replace({"run.days": data.days})
    chosen = fit_knobs(base, data, knobs)
    if not chosen:
        raise ValueError(f"none of the data's columns ({', '.join(data.counts)}) informs a knob "
                         f"that {base.name!r} lets chainsim fit")
    sim = _Simulator(base, data, workers, scheduler, pool, progress)
    y = np.vstack([data.counts[c] for c in data.counts]).astype(float)  # column x period
    w = 1.0 / np.sqrt(np.maximum(y, 5.0))
    # the fit's seeds are its own (replications from FIT_SEEDS), so runs, diagnoses and
    # optimizations of the fitted scenario never reuse a seed its knobs were tuned on
    search_reps = tuple(range(FIT_SEEDS, FIT_SEEDS + reps))
    # settling in, the slopes at the fit and the checks of its intervals: four times as many
    # seeds (the search's among them), so that what the global search's few seeds happened to
    # do does not count as information
    check_seeds = tuple(range(FIT_SEEDS, FIT_SEEDS + reps * POLISH_FACTOR))
    cache: dict[tuple, np.ndarray] = {}

    def means(zs: Sequence[np.ndarray], seeds: tuple[int, ...] = search_reps) -> list[np.ndarray]:
        keys = [(seeds, *np.round(z, 10)) for z in zs]
        todo = [i for i, k in enumerate(keys) if k not in cache]
        if todo:
            tables = sim.tables([_scenario_at(base, chosen, zs[i]) for i in todo], seeds)
            for i, t in zip(todo, tables, strict=True):
                cache[keys[i]] = t.mean(axis=0)
        return [cache[k] for k in keys]

    def residuals(z: np.ndarray) -> np.ndarray:
        return ((means([z])[0] - y) * w).ravel()

    def jacobian(z: np.ndarray, step: float = _STEP, central: bool = False,
                 seeds: tuple[int, ...] = search_reps) -> np.ndarray:
        lows = np.array([k.low for k in chosen])
        highs = np.array([k.high for k in chosen])
        points, steps = [], []
        for i in range(len(z)):
            up = z.copy()
            up[i] = min(z[i] + step, highs[i])
            down = z.copy()
            down[i] = max(z[i] - step, lows[i]) if central else z[i]
            if up[i] == down[i]:  # at a bound going up: step down instead
                down[i] = max(z[i] - step, lows[i])
            points += [up, down]
            steps.append(up[i] - down[i])
        m = means(points, seeds)
        cols = [((m[2 * i] - m[2 * i + 1]) * w).ravel() / steps[i] for i in range(len(z))]
        return np.column_stack(cols)

    from scipy.optimize import differential_evolution, least_squares

    lows = np.array([k.low for k in chosen])
    highs = np.array([k.high for k in chosen])
    # a base at a chance of 0 or 1 starts just inside the search's bounds
    z0 = np.clip(np.array([k.to_z(k.base) for k in chosen]), lows, highs)
    start = residuals(z0)

    # first a global search: a chain near a tipping point (a link close to full) answers a
    # small change sharply, and slopes alone stop in the first dip
    def losses(population: np.ndarray) -> np.ndarray:
        ms = means(list(population.T))
        return np.array([float(np.sum(((m - y) * w) ** 2)) for m in ms])

    rng = np.random.default_rng(np.random.SeedSequence(base.run.seed, spawn_key=(4099,)))
    size = max(2 * len(chosen) + 2, 8)
    # the first generation spreads around the base; a base chance near 0 or 1 (where a logit
    # step changes almost nothing) spreads it from a chance of 5 % or 95 % instead
    logit = np.array([k.scale == "logit" for k in chosen])
    centre = np.where(logit, np.clip(z0, -3.0, 3.0), z0)
    near_low = np.maximum(lows, centre - _NEAR)
    near_high = np.minimum(highs, centre + _NEAR)
    first = np.vstack([z0, near_low + rng.random((size - 1, len(chosen))) * (near_high - near_low)])
    coarse = differential_evolution(losses, list(zip(lows, highs, strict=True)), init=first,
                                    maxiter=generations, vectorized=True, updating="deferred",
                                    polish=False, tol=0.0, rng=rng)
    # then slopes, from the best point found, to settle in
    def polished_all(zs: Sequence[np.ndarray]) -> list[np.ndarray]:
        return [((m - y) * w).ravel() for m in means(zs, check_seeds)]

    def polished(z: np.ndarray) -> np.ndarray:
        return polished_all([z])[0]

    result = least_squares(polished, coarse.x,
                           jac=lambda z: jacobian(z, central=True, seeds=check_seeds),
                           bounds=(lows, highs), method="trf", x_scale=1.0,
                           max_nfev=max_evaluations, xtol=1e-3, ftol=1e-4)
    z_hat = np.array(result.x, dtype=float)  # a copy: result.x is scipy's own
    loss = float(np.sum(polished(z_hat) ** 2))

    # the uncertainty: slopes on both sides, the data's covariance from fresh tables
    J = jacobian(z_hat, central=True, seeds=check_seeds)
    fresh_seeds = range(check_seeds[-1] + 1, check_seeds[-1] + 1 + check_reps)
    fresh = sim.tables([_scenario_at(base, chosen, z_hat)], fresh_seeds)[0]  # rep x column x period
    A = J.T @ J
    scores = np.array([J.T @ (((t - fresh.mean(axis=0)) * w).ravel()) for t in fresh])
    B = scores.T @ scores / (len(fresh) - 1)
    A_inv = np.linalg.pinv(A, rcond=1e-10)
    cov = (1.0 + 1.0 / len(check_seeds)) * A_inv @ B @ A_inv
    sd = np.sqrt(np.clip(np.diag(cov), 0, None))
    # a direction the data does not move at all: no information, an interval as wide as the search
    flat = np.abs(np.diag(A)) < 1e-12
    sd[flat] = np.inf

    # the intervals: the loss profile of each knob, its partners re-fitted (see _profile)
    lo_z, hi_z = _profile(z_hat, sd, cov, A_inv, J, lows, highs, polished_all, polished(z_hat))

    results = []
    for i, (k, z, s) in enumerate(zip(chosen, z_hat, sd, strict=True)):
        lo, hi = k.from_z(lo_z[i]), k.from_z(hi_z[i])
        pinned = (hi / lo < PINNED_FACTOR) if k.scale == "log" else (hi - lo < PINNED_SPAN)
        pinned = pinned and math.isfinite(s)
        # every knob keeps the value the knobs were fitted at together (a knob not pinned down
        # is said so; holding it elsewhere would leave its partners fitted to another value)
        value = k.from_z(z)
        results.append(KnobFit(k.path, k.base, value, lo, hi, float(s), bool(pinned)))
    fitted_scenario = _scenario_at(base, chosen, z_hat)
    # is the data a history the fitted business could have had? Its distance from the fitted
    # mean (on the least-squares seeds), against the fresh runs' distances from the same mean
    centre = means([z_hat], check_seeds)[0]
    own = np.array([float(np.sum(((t - centre) * w) ** 2)) for t in fresh])
    distance = float(np.sum(((y - centre) * w) ** 2))
    p_value = float((1 + np.sum(own >= distance)) / (1 + len(own)))
    return Fit(base, fitted_scenario, data, tuple(chosen), z_hat, cov, tuple(results), reps,
               check_reps, len(cache), float(np.sum(start ** 2)), loss, fresh.mean(axis=0),
               np.percentile(fresh, [5, 95], axis=0), p_value=p_value)


#: Rounds of the profile search for each end of each interval (see :func:`_profile`).
PROFILE_ROUNDS = 3
#: Gauss-Newton steps of the partners at each point of a profile.
PARTNER_STEPS = 2
_Z95 = 1.959963984540054


def _profile(z_hat: np.ndarray, sd: np.ndarray, cov: np.ndarray, A_inv: np.ndarray,
             J: np.ndarray, lows: np.ndarray, highs: np.ndarray,
             residuals: Callable[[list[np.ndarray]], list[np.ndarray]],
             r_hat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """95 % intervals: the sandwich's, widened where the loss profile is flatter.

    The profile of knob ``i`` is the loss with every other knob moved to where it
    fits best given ``i``. Where the loss is the quadratic the slopes see, the
    sandwich interval ``z_hat +- 1.96 sd`` is where the profile rises by less
    than ``z^2 V_ii / (A^-1)_ii``. Where two knobs trade off along a curved ridge
    (reach and word of mouth both make leads), or a knob stops mattering (a
    capacity that no longer binds), the profile stays under that rise further
    out, and the interval follows it -- to the search's bound if it never
    rises enough. A point of the profile is reached in two moves: on from the
    side's last point along the line the quadratic predicts
    (``A^-1 e_i / (A^-1)_ii``), then :data:`PARTNER_STEPS` quasi-Newton steps of
    the partners, from the slopes at the fit, Broyden-updated by every step
    taken (no runs for slopes: on a curved ridge they learn the bend). Its
    loss is at least the profile's (the partners might fit better still), so a
    point under the rise is inside while one over it may not be: the profile is
    used to widen the sandwich interval, never to narrow it. Rises count from
    the lowest loss known: the one the slopes predict at their minimum (the
    least squares stop after a few steps, a little short of it), or a profile
    point's if lower. Each side starts at the sandwich's end and looks further
    out for up to :data:`PROFILE_ROUNDS` rounds; every knob's sides run together
    (one batch of runs per step); the end is interpolated on the square root of
    the rise, which is linear in the distance where the loss is quadratic.

    Returns:
        The ends ``(low, high)`` on the search's scale.
    """
    p = len(z_hat)
    lo_end = np.where(np.isfinite(sd), z_hat - _Z95 * sd, lows).clip(lows, highs)
    hi_end = np.where(np.isfinite(sd), z_hat + _Z95 * sd, highs).clip(lows, highs)
    limit = {(i, s): abs((highs[i] if s > 0 else lows[i]) - z_hat[i])
             for i in range(p) for s in (-1, 1)}
    # a side whose sandwich end already lies at the search's bound cannot reach further
    sides = [(i, s) for i in range(p) for s in (-1, 1)
             if np.isfinite(sd[i]) and A_inv[i, i] > 0 and cov[i, i] > 0
             and _Z95 * sd[i] < limit[(i, s)]]
    if not sides:
        return lo_end, hi_end
    informed = np.isfinite(sd)  # partners the data moves at all
    rise = {(i, s): _Z95 ** 2 * cov[i, i] / A_inv[i, i] for i, s in sides}
    seen: dict[tuple[int, int], list[tuple[float, float]]] = {key: [] for key in sides}
    loss_hat = float(r_hat @ r_hat)
    gradient = J.T @ r_hat  # the Gauss-Newton decrement: how far above its minimum the fit is
    best_loss = max(0.0, loss_hat - float(gradient @ A_inv @ gradient))

    def rises(key):
        return [(0.0, loss_hat - best_loss), *((d, x - best_loss) for d, x in seen[key])]

    step = {(i, s): s * _Z95 * sd[i] for i, s in sides}  # the first try: the sandwich's end
    # where each side's partners fitted best so far, and its slopes there (Broyden-updated)
    last = {key: (0.0, z_hat) for key in sides}
    slopes = {key: J for key in sides}
    for _ in range(PROFILE_ROUNDS):
        todo = [key for key in sides if step[key] is not None]
        if not todo:
            break
        points = []
        for i, s in todo:
            d, (d0, z0) = step[(i, s)], last[(i, s)]
            z = z0 + (d - d0) * A_inv[:, i] / A_inv[i, i]  # on from the last point seen
            z[i] = z_hat[i] + d
            points.append(np.clip(z, lows, highs))
        rs = residuals(points)
        best = [(float(r @ r), z) for r, z in zip(rs, points, strict=True)]
        for _ in range(PARTNER_STEPS):  # the partners settle in
            moved = []
            for (i, s), z, r in zip(todo, points, rs, strict=True):
                others = informed & (np.arange(p) != i)
                shift = np.linalg.lstsq(slopes[(i, s)][:, others], -r, rcond=1e-10)[0]
                z = z.copy()
                z[others] = np.clip(z[others] + shift, lows[others], highs[others])
                moved.append(z)
            new_rs = residuals(moved)
            for k, key in enumerate(todo):
                dz, dr = moved[k] - points[k], new_rs[k] - rs[k]
                if dz @ dz > 0:  # Broyden: the slopes learn from the step just taken
                    slopes[key] = slopes[key] + np.outer(dr - slopes[key] @ dz, dz) / (dz @ dz)
                loss = float(new_rs[k] @ new_rs[k])
                if loss < best[k][0]:
                    best[k] = (loss, moved[k])
            points, rs = moved, new_rs
        for key, (x, z) in zip(todo, best, strict=True):
            seen[key].append((abs(step[key]), x))
            last[key] = (step[key], z)
        best_loss = min(best_loss, *(x for x, _ in best))
        for key in todo:
            step[key] = _next_step(rises(key), rise[key], limit[key], key[1])
    for i, s in sides:
        d = max(_Z95 * sd[i], _end(rises((i, s)), rise[(i, s)], limit[(i, s)]))
        if s < 0:
            lo_end[i] = max(z_hat[i] - d, lows[i])
        else:
            hi_end[i] = min(z_hat[i] + d, highs[i])
    return lo_end, hi_end


def _end(seen: list[tuple[float, float]], rise: float, limit: float) -> float:
    """How far the interval reaches on one side, from the (distance, rise) points seen.

    The farthest point whose rise stays under ``rise`` is inside (its partners
    may fit better still, never worse); beyond it the end is interpolated on the
    square root of the rise towards the next point seen, or, if none lies
    beyond, carried on at the square root's slope so far -- at most twice as
    far as any point seen: the bound itself only when a point there was seen.
    """
    root = math.sqrt(rise)
    d_a, r_a = max(((d, r) for d, r in seen if r < rise), default=(0.0, 0.0))
    s_a = math.sqrt(max(r_a, 0.0))
    beyond = sorted((d, r) for d, r in seen if d > d_a)
    if beyond:
        d_b, r_b = beyond[0]
        s_b = math.sqrt(max(r_b, 0.0))
        if s_b <= s_a:
            return d_a
        return min(d_b, d_a + (d_b - d_a) * (root - s_a) / (s_b - s_a))
    if d_a >= limit - 1e-9:
        return limit  # flat to the search's bound: the data cannot close this side
    reach = d_a * root / s_a if s_a > 0 else math.inf
    return min(limit, 2.0 * d_a, max(d_a, reach))


def _next_step(seen: list[tuple[float, float]], rise: float, limit: float, sign: int):
    """How far out to look next on one side, or None once a point's rise reached ``rise``."""
    d_last, r_last = seen[-1]
    if r_last >= rise or d_last >= limit - 1e-9:
        return None
    d_prev, r_prev = seen[-2]
    if d_prev > 0 and r_last < max(r_prev, 0.0) * d_last / d_prev:
        return sign * limit  # rising slower than in a straight line: flattening out, try the bound
    grow = math.sqrt(rise / r_last) if r_last > 0 else 3.0
    return sign * min(limit, d_last * min(max(grow, 1.2), 3.0))


def total_runs(data: Data, base: Scenario, *, reps: int = 4, check_reps: int = 30,
               max_evaluations: int = 10, generations: int = 8,
               knobs: Sequence[str] | None = None) -> int:
    """At most how many runs :func:`fit` makes (points seen twice are run once)."""
    n = len(fit_knobs(base, data, knobs))
    size = max(2 * n + 2, 8)
    polish = POLISH_FACTOR * reps
    return (size * (generations + 1) * reps + (max_evaluations + 1) * (2 * n + 1) * polish
            + (2 + 2 * (1 + PARTNER_STEPS) * PROFILE_ROUNDS) * n * polish + 2 * check_reps)


# -- files ---------------------------------------------------------------------------------


def base_reference(base_ref: str, out: Path) -> str:
    """How the fitted file names its base: a built-in name, or a path relative to ``out``."""
    text = str(base_ref)
    if text.endswith(".toml") or "/" in text or "\\" in text:
        return os.path.relpath(Path(text).resolve(), Path(out).resolve())
    return text


def fitted_toml(f: Fit, base_ref: str, overrides: Mapping[str, Any] | None = None) -> str:
    """The fitted scenario: ``extends`` the base, with ``overrides`` (the ``--set`` and
    ``--seed`` the fit ran with) and the fitted values; the header lists the intervals."""
    from .scenarios import scenario_toml

    changes = {**(overrides or {}), **{r.path: _round(r.value) for r in f.results}}
    notes = "; ".join(f"{r.path} {_g(r.value)} (95 % {_g(r.low)} to {_g(r.high)}"
                      f"{'' if r.pinned else ', not pinned down'})" for r in f.results)
    head = (f"# Fitted by chainsim fit to {f.data.source} ({f.data.periods} {f.data.period}s).\n"
            f"# {notes}\n# fit.json, next to this file, holds the intervals; chainsim optimize "
            "reads it.\n")
    body = scenario_toml(base_ref, changes,
                         description=f"{f.base.name} fitted to {Path(f.data.source).name}")
    return head + f"name = \"{_safe_name(f.base.name)}-fitted\"\n" + body


def _safe_name(name: str) -> str:
    from .outputs import slug

    return slug(name)


def _round(x: float) -> float:
    return float(f"{x:.6g}")


def figure(f: Fit):
    """Data against fitted runs: one panel per column, the fitted mean and its 90 % band."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cols = list(f.data.counts)
    n = len(cols)
    ncols = min(n, 3)
    nrows = math.ceil(n / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(4.2 * ncols, 2.8 * nrows), squeeze=False)
    x = np.arange(1, f.data.periods + 1)
    for i, c in enumerate(cols):
        ax = axes[i // ncols][i % ncols]
        ax.fill_between(x, f.band[0][i], f.band[1][i], color="tab:blue", alpha=0.2,
                        label="fitted runs, 90 %")
        ax.plot(x, f.fitted[i], color="tab:blue", lw=1.5, label="fitted, mean")
        ax.plot(x, f.data.counts[c], "o", color="black", ms=3, label="data")
        ax.set_title(c.replace("_", " "), fontsize=10)
        ax.set_xlabel(f.data.period, fontsize=8)
        ax.tick_params(labelsize=8)
    for j in range(n, nrows * ncols):
        axes[j // ncols][j % ncols].axis("off")
    axes[0][0].legend(fontsize=7)
    fig.suptitle(f"{f.base.name} fitted to {Path(f.data.source).name}", fontsize=11)
    fig.tight_layout()
    return fig


def load_fit(path: Path) -> dict[str, Any]:
    """A fit.json written by ``chainsim fit``, checked enough to draw from (ValueError if not)."""
    import json

    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as err:
        raise ValueError(f"{path}: not a fit.json written by chainsim fit ({err})") from None
    try:
        knobs = data["search"]
        z = np.asarray(data["draw"]["z"], dtype=float)
        for key in ("low", "high", "pinned"):
            if len(data["draw"][key]) != len(z):
                raise ValueError(key)
        cov = np.asarray(data["covariance"], dtype=float)
        low = np.asarray(data["draw"]["low"], dtype=float)
        high = np.asarray(data["draw"]["high"], dtype=float)
        pinned = data["draw"]["pinned"]
        names = list(knobs)
        ok = (len(names) == len(z) and cov.shape == (len(z), len(z))
              and all(p in FIT_KNOBS for p in names)
              and all(isinstance(b, bool) for b in pinned)
              and all(np.all(np.isfinite(a)) for a in (z, cov, low, high))
              and np.all(low <= high))
    except (KeyError, TypeError, ValueError):
        ok = False
    if not ok:
        raise ValueError(f"{path}: not a fit.json written by chainsim fit (its knobs, values or "
                         "covariance are missing or damaged)")
    return data


def draws_from(fit_json: Mapping[str, Any], scenario: Scenario, n: int,
               seed: int = 0) -> list[Scenario]:
    """``n`` scenarios: ``scenario`` with the fitted knobs drawn from a fit.json's uncertainty."""
    names = list(fit_json["search"])
    knobs = [Knob(p, FIT_KNOBS[p][0], 0.0, 0.0, 0.0) for p in names]
    d = fit_json["draw"]
    zs = draw_z(np.asarray(d["z"], dtype=float), np.asarray(fit_json["covariance"], dtype=float),
                np.asarray(d["low"], dtype=float), np.asarray(d["high"], dtype=float),
                np.asarray(d["pinned"], dtype=bool), n, seed)
    return [_scenario_at(scenario, knobs, z) for z in zs]
