"""The ``chainsim`` command line. Each command parses, calls the library, writes.

User mistakes (a missing file, an unknown key, a value out of range, a bad
option) end with one line on stderr and exit status 2, before anything is
written. Anything else is a bug and shows its traceback.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import textwrap
from datetime import datetime
from pathlib import Path
from typing import Any

from . import __version__
from .schema import FUNCTIONS, ScenarioError, json_schema

#: diagnose --metric choices (kept here so --help needs no heavy imports)
DIAGNOSE_METRICS = ("repeat_purchases", "active_customers", "profit")

EXIT_USAGE = 2


class UsageError(Exception):
    """A mistake in what the user asked for; reported in one line, exit status 2."""


class Parser(argparse.ArgumentParser):
    """argparse, but its errors are one line, like every other chainsim error."""

    def error(self, message: str):  # type: ignore[override]
        raise UsageError(f"{message} (see '{self.prog} --help')")


def _whole_number(low: int, high: int | None = None, *, noun: str = "a whole number",
                  why: str = ""):
    """An argparse type for a whole number from ``low`` (to ``high``)."""
    allowed = f"from {low} to {high}" if high is not None else f"a whole number >= {low}"

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not {noun}") from None
        if value < low or (high is not None and value > high):
            raise argparse.ArgumentTypeError(f"{value} is not allowed: must be {allowed}{why}")
        return value

    return parse


_positive_int = _whole_number(1)
_seed = _whole_number(0)
_reps = _whole_number(2, 10_000, why=" (a confidence interval needs two)")
_port = _whole_number(1, 65535, noun="a port number")


def _scheduler(text: str) -> str:
    """A Dask scheduler address: tcp://host:port or tls://host:port."""
    import re

    if not re.fullmatch(r"(tcp|tls)://[A-Za-z0-9._\-]+(:\d{1,5})?|(tcp|tls)://\[[0-9a-fA-F:]+\](:\d{1,5})?",
                        text):
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a scheduler address: must look like tcp://host:8786 or "
            "tls://host:8786")
    return text


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not value > 0 or value != value or value == float("inf"):
        raise argparse.ArgumentTypeError(f"{text} is not allowed: must be a number > 0")
    return value


def _add_run_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--days", type=_positive_int, metavar="N",
                   help="days to simulate (default: the scenario's run.days, 365)")
    p.add_argument("--seed", type=_seed, metavar="S",
                   help="random seed (default: the scenario's run.seed)")
    p.add_argument("--set", dest="assignments", action="append", default=[],
                   metavar="SECTION.KEY=VALUE",
                   help="override one scenario key; repeat for more (e.g. operations.capacity=60)")
    p.add_argument("--out", type=Path, metavar="DIR",
                   help="directory for the output files (default: runs/<scenario>-<timestamp>/)")
    p.add_argument("--journeys", action="store_true",
                   help="also write journeys.csv, one row per customer event")
    p.add_argument("--metric", choices=list(DIAGNOSE_METRICS), default="repeat_purchases",
                   help="what the weakest link is judged by (default repeat_purchases)")
    p.add_argument("--budget", type=_positive_float, metavar="AMOUNT",
                   help="money a month each move costs when judging the weakest link "
                   "(default: as chainsim diagnose)")
    p.add_argument("--no-verdict", action="store_true",
                   help="skip the weakest link (it takes about fifteen more runs, "
                   "alongside this one)")
    _add_no_limits(p)


def _add_search_options(p: argparse.ArgumentParser, set_help: str) -> None:
    """--seed, --set, --workers and --scheduler, as chainsim fit and optimize take them."""
    p.add_argument("--seed", type=_seed, metavar="S", help="seed of the runs")
    p.add_argument("--set", dest="assignments", action="append", default=[],
                   metavar="SECTION.KEY=VALUE", help=set_help)
    p.add_argument("--workers", type=_positive_int, metavar="N",
                   help="local processes (default: all cores)")
    p.add_argument("--scheduler", metavar="ADDRESS", type=_scheduler,
                   help="run on a Dask distributed cluster, as chainsim sweep")


def _add_no_limits(p: argparse.ArgumentParser) -> None:
    p.add_argument("--no-limits", action="store_true",
                   help="run even what would take more than six hours or 8 GB "
                        "(chainsim estimates it first and refuses otherwise)")


def _within_limits(args, scenario, *, runs: int = 1, workers: int = 1, what: str,
                   fix: str = "--days") -> None:
    """Refuse, in one line with the estimate, work nobody asks for on purpose."""
    if getattr(args, "no_limits", False):
        return
    from .limits import check

    try:
        check(scenario, runs=runs, workers=workers, what=what, fix=fix)
    except ValueError as err:
        raise UsageError(str(err)) from None


def _workers_or_cluster(args) -> int:
    """Local processes (--workers, capped at the cores), or a Dask cluster's share of them."""
    if args.scheduler:
        _need("distributed", "cluster", "--scheduler")
        return args.workers or _default_workers()
    return _workers(args)


def _workers(args) -> int:
    """--workers, at most the machine's cores (said when capped)."""
    from .limits import cap_workers

    workers, note = cap_workers(args.workers, _default_workers())
    if note:
        print(f"chainsim: note: {note}", file=sys.stderr)
    return workers


def build_parser() -> Parser:
    parser = Parser(
        prog="chainsim",
        description="Simulate a business as a chain: Marketing, Sales, Operations, "
        "Customer Service. The chain breaks at its weakest link.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=textwrap.dedent("""\
            examples:
              chainsim list
              chainsim run balanced
              chainsim run lawn_care --days 730 --set operations.capacity=30 --out runs/lawn
              chainsim compare weak_operations balanced --seed 3
              chainsim validate my_shop.toml
              chainsim diagnose weak_operations
              chainsim fit my_counts.csv --base balanced --out fits/mine
              chainsim optimize fits/mine/fitted.toml --budget 2000
              chainsim sweep experiments/weakest_link_oat.toml
              chainsim report sweeps/weakest_link_oat
            """),
    )
    parser.add_argument("--version", action="version", version=f"chainsim {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)

    def command(name: str, help: str, examples: str) -> argparse.ArgumentParser:
        return sub.add_parser(name, help=help.replace("%", "%%"), description=help,
                              formatter_class=argparse.RawDescriptionHelpFormatter,
                              epilog="examples:\n" + textwrap.indent(textwrap.dedent(examples), "  "))

    p = command("run", "Run one scenario and write its metrics, summary and dashboard.", """\
        chainsim run balanced
        chainsim run scenarios/lawn_care.toml --days 730 --seed 7
        chainsim run call_in_test --set sales.capacity=40 --set sales.patience=5 --out runs/calls
        chainsim run car_dealership --journeys --out runs/dealer
        """)
    p.add_argument("scenario", metavar="SCENARIO", help="built-in name or path to a .toml file")
    _add_run_options(p)
    p.set_defaults(handler=cmd_run)

    p = command("compare", "Run two scenarios with the same options and seed, side by side.", """\
        chainsim compare weak_operations balanced
        chainsim compare lawn_care my_lawn_fix.toml --days 730 --out runs/lawn-fix
        """)
    p.add_argument("scenario_a", metavar="SCENARIO_A")
    p.add_argument("scenario_b", metavar="SCENARIO_B")
    _add_run_options(p)
    p.set_defaults(handler=cmd_compare)

    p = command("list", "List the built-in scenarios with their one-line story and lesson.", """\
        chainsim list
        """)
    p.set_defaults(handler=cmd_list)

    p = command("validate", "Check a scenario file: prints what is wrong, or 'ok'.", """\
        chainsim validate scenarios/lawn_care.toml
        chainsim validate my_shop.toml
        """)
    p.add_argument("file", metavar="FILE")
    p.set_defaults(handler=cmd_validate)

    p = command("schema", "Print the JSON Schema of scenario files (for editors).", """\
        chainsim schema > chainsim-scenario.schema.json
        """)
    p.set_defaults(handler=cmd_schema)

    p = command("diagnose", "Which link to strengthen: the same money a month on each link's "
                "capacity, quality and the hand-off in turn, ranked with 95 % confidence "
                "intervals.", """\
        chainsim diagnose weak_operations
        chainsim diagnose my_shop.toml --budget 1000 --reps 50 --metric profit
        chainsim diagnose lawn_care --step 0.2
        chainsim diagnose lawn_care --json | jq .weakest_link
        """)
    p.add_argument("scenario", metavar="SCENARIO", help="built-in name or path to a .toml file")
    size = p.add_mutually_exclusive_group()
    size.add_argument("--budget", type=_positive_float, metavar="AMOUNT",
                      help="money a month each move adds to the running cost (default: about "
                      "5 %% of what the links cost a month now, rounded)")
    size.add_argument("--step", type=_positive_float, metavar="X",
                      help="instead of a budget, strengthen each link by this share "
                      "(0.2 = 20 %%); the moves then cost different amounts")
    p.add_argument("--reps", type=_reps, default=30, metavar="N",
                   help="replications per move, on common random numbers (default 30)")
    p.add_argument("--days", type=_positive_int, metavar="N",
                   help="days per run (default: the scenario's run.days)")
    p.add_argument("--metric", choices=list(DIAGNOSE_METRICS), default="repeat_purchases",
                   help="what a move is worth (default repeat_purchases)")
    p.add_argument("--seed", type=_seed, metavar="S", help="seed of the replications")
    p.add_argument("--set", dest="assignments", action="append", default=[],
                   metavar="SECTION.KEY=VALUE", help="override one scenario key first")
    p.add_argument("--workers", type=_positive_int, metavar="N",
                   help="local processes (default: all cores)")
    p.add_argument("--out", type=Path, metavar="DIR",
                   help="where to write tornado.png and diagnosis.json "
                   "(default: runs/diagnose-<scenario>-<timestamp>/; with --json: none)")
    p.add_argument("--json", action="store_true", help="print the diagnosis as JSON")
    _add_no_limits(p)
    p.set_defaults(handler=cmd_diagnose)

    p = command("fit", "Fit chainsim to your business's data (counts per day, week or month): "
                "estimates the knobs the data can inform, with 95 % intervals, and writes a "
                "scenario that extends the base with them.", """\
        chainsim fit docs/examples/shop_months.csv --base docs/examples/shop.toml --out fits/shop
        chainsim fit my_counts.csv --base my_shop.toml --knobs sales.quality,operations.capacity
        chainsim optimize fits/shop/fitted.toml --budget 2000
        """)
    p.add_argument("data", metavar="DATA.csv", type=Path,
                   help="counts per period: first column day, week or month (docs/fit.md)")
    p.add_argument("--base", default="balanced", metavar="SCENARIO",
                   help="the business at the start of the data; built-in name or .toml "
                   "(default balanced)")
    p.add_argument("--knobs", metavar="A,B,...",
                   help="fit these knobs (default: every chance and rate the data's columns "
                   "inform; capacities come from the base unless listed here)")
    p.add_argument("--reps", type=_whole_number(1, 100), default=4, metavar="N",
                   help="seeds every candidate is run on, common to all (default 4)")
    p.add_argument("--check-reps", type=_whole_number(3, 1000), default=30, metavar="N",
                   help="fresh runs at the fitted values, for the intervals (default 30)")
    p.add_argument("--generations", type=_whole_number(0, 200), default=8, metavar="N",
                   help="generations of the global search after the first (default 8)")
    p.add_argument("--max-steps", type=_whole_number(1, 500), default=10, metavar="N",
                   help="at most this many least-squares steps after it (default 10)")
    _add_search_options(p, "override one key of the base first")
    p.add_argument("--out", type=Path, metavar="DIR",
                   help="where to write fitted.toml, fit.json and fit.png "
                   "(default: fits/<data>-<timestamp>/)")
    p.add_argument("--json", action="store_true", help="also print fit.json")
    _add_no_limits(p)
    p.set_defaults(handler=cmd_fit, days=None)

    p = command("optimize", "Where a monthly budget does the most: the best split across the "
                "links' capacity, quality and the hand-off, found on common random numbers and "
                "checked on fresh seeds against the best single move and an even split.", """\
        chainsim optimize weak_operations --budget 2500
        chainsim optimize my_shop.toml --budget 2000 --metric profit --months 12
        chainsim optimize fits/my_shop/fitted.toml --budget 2000   # carries the fit's uncertainty
        chainsim optimize lawn_care --workers 2 --scheduler tcp://10.0.0.5:8786
        """)
    p.add_argument("scenario", metavar="SCENARIO", help="built-in name or path to a .toml file")
    p.add_argument("--budget", type=_positive_float, metavar="AMOUNT",
                   help="money a month to add to the running cost (default: as chainsim "
                   "diagnose, about 5 %% of what the links cost a month now)")
    p.add_argument("--metric", choices=list(DIAGNOSE_METRICS), default="repeat_purchases",
                   help="what to make the most of (default repeat_purchases)")
    p.add_argument("--months", type=_whole_number(1, 1200), metavar="N",
                   help="months each run lasts (default: the scenario's run.days)")
    p.add_argument("--reps", type=_whole_number(1, 1000), default=6, metavar="N",
                   help="seeds every split is run on while searching (default 6)")
    p.add_argument("--check-reps", type=_reps, default=30, metavar="N",
                   help="fresh seeds the answer is checked on (default 30)")
    p.add_argument("--generations", type=_whole_number(0, 200), default=5, metavar="N",
                   help="generations of the search after the first (default 5)")
    p.add_argument("--fit", type=Path, metavar="FIT_JSON",
                   help="fit.json of a fitted scenario: carry the fit's uncertainty into the "
                   "answer (default: the fit.json next to SCENARIO, if chainsim fit wrote it)")
    p.add_argument("--draws", type=_whole_number(2, 1000), default=20, metavar="N",
                   help="draws of the fitted knobs, with --fit (default 20)")
    _add_search_options(p, "override one scenario key first")
    p.add_argument("--out", type=Path, metavar="DIR",
                   help="where to write optimum.json and optimum.png "
                   "(default: runs/optimize-<scenario>-<timestamp>/; with --json: none)")
    p.add_argument("--json", action="store_true", help="print the answer as JSON")
    _add_no_limits(p)
    p.set_defaults(handler=cmd_optimize, days=None)

    p = command("sweep", "Run an experiment: every design point and replication, in "
                "parallel, resumable; results stream to DIR/runs.parquet.", """\
        chainsim sweep experiments/weakest_link_oat.toml
        chainsim sweep experiments/sobol_all_links.toml --workers 2 --out sweeps/sobol
        chainsim sweep experiments/capacity_vs_quality_grid.toml --scheduler tcp://10.0.0.5:8786
        """)
    p.add_argument("experiment", metavar="EXPERIMENT", help="path to an experiment .toml file")
    p.add_argument("--workers", type=_positive_int, metavar="N",
                   help="local processes (default: all cores)")
    p.add_argument("--out", type=Path, metavar="DIR",
                   help="results directory (default: sweeps/<experiment>/); the same DIR resumes")
    p.add_argument("--scheduler", metavar="ADDRESS", type=_scheduler,
                   help="run on a Dask distributed cluster, e.g. tcp://127.0.0.1:8786 "
                        "(see docs/experiments.md before opening one to a network)")
    _add_no_limits(p)
    p.set_defaults(handler=cmd_sweep)

    p = command("workshop", "Serve the live workshop page: sliders per link, the chain drawn, "
                "charts moving (on localhost).", """\
        chainsim workshop
        chainsim workshop lawn_care --port 8800
        chainsim workshop weak_operations --projector
        chainsim workshop weak_operations --room --host 0.0.0.0 --rounds 3
        chainsim workshop silo_handoff --room --silo
        chainsim workshop --room --resume rooms/weak_operations-20261203-101500
        """)
    p.add_argument("scenario", metavar="SCENARIO", nargs="?", default="balanced",
                   help="built-in scenario to start with (default: balanced)")
    p.add_argument("--port", type=_port, default=8765, metavar="P",
                   help="port to serve on (default 8765)")
    p.add_argument("--projector", action="store_true",
                   help="start in projector mode: large type, controls on top, fewer charts "
                        "(a switch on the page too)")
    p.add_argument("--host", default="127.0.0.1", metavar="ADDRESS",
                   help="address to serve on (default 127.0.0.1: this machine only; "
                        "0.0.0.0 lets laptops on the same network join a room)")
    room = p.add_argument_group("room mode: teams compete on the same market, round by round")
    room.add_argument("--room", action="store_true",
                      help="run a game for teams: a join code, budgets, rounds, a scoreboard")
    room.add_argument("--silo", action="store_true",
                      help="the silo variant: each team member owns one function's budget and "
                           "sees only that function's figure until the debrief")
    room.add_argument("--budget", type=_positive_float, metavar="AMOUNT",
                      help="money a month each team may add each round (default: as diagnose)")
    room.add_argument("--rounds", type=_whole_number(1, 20), default=3, metavar="N",
                      help="rounds (default 3)")
    room.add_argument("--months", type=_whole_number(1, 60), default=12, metavar="M",
                      help="months each round runs (default 12)")
    room.add_argument("--reps", type=_whole_number(2, 30, why=" (a confidence interval needs "
                                                          "two)"), default=5, metavar="R",
                      help="replications of every team's business (default 5)")
    room.add_argument("--out", type=Path, metavar="DIR",
                      help="folder the session is saved in (default rooms/<story>-<time>/)")
    room.add_argument("--resume", type=Path, metavar="DIR",
                      help="carry on the room saved in DIR (after a restart)")
    p.set_defaults(handler=cmd_workshop)

    p = command("report", "Summarize a sweep: means with 95 % CIs, sensitivity indices, "
                "figures and a Markdown report.", """\
        chainsim report sweeps/weakest_link_oat
        """)
    p.add_argument("directory", metavar="DIR", type=Path)
    p.set_defaults(handler=cmd_report)
    return parser


# -- commands -------------------------------------------------------------------


def _load(ref: str, args) -> Any:
    from .scenarios import load_scenario, parse_assignments

    overrides = parse_assignments(args.assignments)
    return load_scenario(ref, overrides, days=args.days, seed=args.seed)


def _slug(name: str) -> str:
    from .outputs import slug

    return slug(name)


def _out_dir(args, name: str, kind: str) -> Path:
    """Where a command writes: --out, or runs/<name>-<time>/ (the name made file-safe)."""
    from .outputs import check_out_dir

    out = args.out if args.out is not None else (
        Path("runs") / f"{_slug(name)}-{datetime.now():%Y%m%d-%H%M%S}")
    try:
        note = check_out_dir(out, kind)
    except OSError as err:
        raise UsageError(str(err)) from None
    if note:
        print(f"chainsim: note: {note}", file=sys.stderr)
    return out


def _simulate(scenario, journeys: bool):
    from tqdm import tqdm

    from .model import ChainModel

    model = ChainModel(scenario, journeys=journeys)
    days = scenario.run.days
    with tqdm(total=days, desc=scenario.name, unit="day", file=sys.stderr, disable=None,
              delay=2.0, leave=False) as bar:
        return model.run(days, progress=lambda done: bar.update(1))


def _verdicts(scenarios, args):
    """Start the summaries' verdict races in other processes (None with --no-verdict)."""
    if args.no_verdict:
        return None
    from . import model  # noqa: F401 - imported once, here, and shared by the fork
    from .verdict import Background

    # One worker, forked now -- after this process has imported the engine, so
    # it starts racing at once, and before it imports the plotting library --
    # runs the races while this process runs the business and draws it.
    return Background(scenarios, budget=args.budget, metric=args.metric, workers=1)


def _baseline(background, index: int, result) -> None:
    """The run just made is replication 0 of its business for the verdict's race."""
    if background is not None:
        from .parallel import flatten_summary

        background.baseline(index, flatten_summary(result.summary))


def _with_verdict(summary: dict, background, index: int, results: list | None) -> dict:
    if background is None:
        return {**summary, "weakest_link": None, "verdict": None}
    from .verdict import add_to_summary

    return add_to_summary(summary, results[index])


def cmd_run(args) -> int:
    from .outputs import Painter, manifest, staged_directory, write_json, write_run
    from .scenarios import resolve_path

    scenario = _load(args.scenario, args)
    _within_limits(args, scenario, runs=1 if args.no_verdict else 12,
                   workers=1 if args.no_verdict else 2, what="this run")
    out = _out_dir(args, scenario.name, "run")
    painter = Painter.start()  # imports the plotting library while this imports the engine
    background = None
    try:
        background = _verdicts([scenario], args)  # runs while this one runs and is written
        result = _simulate(scenario, args.journeys)
        _baseline(background, 0, result)
        with staged_directory(out) as stage:
            write_run(stage, result, manifest_data=manifest(
                scenario, source=str(resolve_path(args.scenario))),
                title=_title(scenario, result.summary), journeys=args.journeys,
                painter=painter)
            results = background.results() if background is not None else None
            summary = _with_verdict(result.summary, background, 0, results)
            write_json(stage / "summary.json", summary)
    finally:
        if background is not None:
            background.close()
        if painter is not None:
            painter.close()
    print(format_summary(scenario, summary))
    if summary["verdict"] is not None:
        print("\n" + textwrap.fill(summary["verdict"]["text"], 100))
    files = "timeseries.csv, summary.json, manifest.json, dashboard.png"
    print(f"\nwrote {out}/ ({files}{', journeys.csv' if args.journeys else ''})")
    return 0


def cmd_compare(args) -> int:
    from .outputs import manifest, staged_directory, write_json, write_run
    from .plots import overlay
    from .scenarios import resolve_path

    a = _load(args.scenario_a, args)
    b = _load(args.scenario_b, args)
    for sc in (a, b):
        _within_limits(args, sc, runs=1 if args.no_verdict else 12,
                       workers=1 if args.no_verdict else 2, what="this comparison")
    label_a = _slug(a.name)
    label_b = _slug(b.name) if _slug(b.name) != label_a else f"{label_a}-b"
    out = _out_dir(args, f"{label_a}-vs-{label_b}", "compare")
    background = _verdicts([a, b], args)
    try:
        ra = _simulate(a, args.journeys)
        _baseline(background, 0, ra)
        rb = _simulate(b, args.journeys)
        _baseline(background, 1, rb)
        with staged_directory(out) as stage:
            for label, sc, ref, result in ((label_a, a, args.scenario_a, ra),
                                           (label_b, b, args.scenario_b, rb)):
                (stage / label).mkdir()
                write_run(stage / label, result,
                          manifest_data=manifest(sc, source=str(resolve_path(ref))),
                          title=_title(sc, result.summary), journeys=args.journeys)
            fig = overlay(ra.timeseries, rb.timeseries, (label_a, label_b),
                          f"{label_a} (solid) vs {label_b} (dashed), seed {a.run.seed}")
            fig.savefig(stage / "compare.png", dpi=110)
            results = background.results() if background is not None else None
            sa = _with_verdict(ra.summary, background, 0, results)
            sb = _with_verdict(rb.summary, background, 1, results)
            for label, summary in ((label_a, sa), (label_b, sb)):
                write_json(stage / label / "summary.json", summary)
            write_json(stage / "summary.json", {label_a: sa, label_b: sb})
    finally:
        if background is not None:
            background.close()
    print(format_comparison((label_a, sa), (label_b, sb), a.run.days, a.run.seed))
    print(f"\nwrote {out}/ (compare.png, summary.json, {label_a}/, {label_b}/)")
    return 0


def cmd_list(args) -> int:
    from .experiments import builtin_experiments
    from .scenarios import builtin_scenarios

    scenarios = builtin_scenarios()
    experiments = builtin_experiments()
    if not scenarios:
        raise UsageError("no built-in scenarios were found: this chainsim installation is "
                         "incomplete; reinstall it (pip install --force-reinstall chainsim)")
    width = max(len(n) for n in (*scenarios, *experiments))
    for name, info in scenarios.items():
        print(f"{name:<{width}}  {info.description}")
        if info.lesson:
            wrapped = textwrap.wrap(f"lesson: {info.lesson}", 100 - width - 2)
            print("\n".join(f"{'':<{width}}  {line}" for line in wrapped))
    if experiments:
        print("\nexperiments (chainsim sweep NAME):")
        for name in experiments:
            print(f"{name:<{width}}  {_experiment_title(experiments[name])}")
    return 0


def _experiment_title(path: Path) -> str:
    import tomllib

    try:
        return str(tomllib.loads(path.read_text(encoding="utf-8")).get("description", ""))
    except (OSError, ValueError):
        return ""


def cmd_validate(args) -> int:
    from .scenarios import load_scenario

    scenario = load_scenario(args.file)
    print(f"ok: {args.file} (scenario '{scenario.name}')")
    return 0


def cmd_schema(args) -> int:
    print(json.dumps(json_schema(), indent=2))
    return 0


def _progress(total: int, desc: str):
    from tqdm import tqdm

    # no monitor thread: a process running another thread spawns its workers rather
    # than forking them (parallel.start_method), half a second each
    tqdm.monitor_interval = 0
    return tqdm(total=total, desc=desc, unit="run", file=sys.stderr, disable=None,
                delay=2.0, leave=False, smoothing=0.1)


def cmd_diagnose(args) -> int:
    from .diagnose import diagnose, to_json
    from .outputs import staged_directory, write_json

    scenario = _load(args.scenario, args)
    from .diagnose import all_moves

    runs = (1 + len(all_moves())) * args.reps
    workers = _workers(args)
    _within_limits(args, scenario, runs=runs, workers=workers, what="this diagnosis",
                   fix="--reps or --days")
    # with --json, files are written only where asked
    out = None if args.json and args.out is None else _out_dir(args, f"diagnose-{scenario.name}",
                                                              "diagnose")
    with _progress(runs, f"diagnose {scenario.name}") as bar:
        d = diagnose(scenario, budget=args.budget, step=args.step, reps=args.reps,
                     days=args.days, metric=args.metric, workers=workers,
                     progress=lambda n: bar.update(n - bar.n))
    data = to_json(d)
    if out is not None:
        import matplotlib.pyplot as plt

        from .report import tornado

        with staged_directory(out) as stage:
            write_json(stage / "diagnosis.json", data)
            fig = tornado(_moves_frame(d), d.metric,
                          f"{scenario.name}: {_size_text(d)}, {d.reps} reps, {d.days} days")
            fig.savefig(stage / "tornado.png", dpi=110)
            plt.close(fig)
    if args.json:
        from .outputs import json_ready

        print(json.dumps(json_ready(data), indent=2, allow_nan=False))
        return 0
    print(format_diagnosis(d))
    print(f"\nwrote {out}/ (tornado.png, diagnosis.json)")
    return 0


def cmd_fit(args) -> int:
    from .fitting import (FIT_KNOBS, FitDataError, base_reference, fit, fitted_toml, read_data,
                          total_runs)
    from .scenarios import parse_assignments
    from .outputs import staged_directory, write_json

    try:
        data = read_data(args.data)
    except FitDataError as err:
        raise UsageError(str(err)) from None
    base = _load(args.base, args)
    knobs = None
    if args.knobs:
        knobs = [k.strip() for k in args.knobs.split(",") if k.strip()]
        for k in knobs:
            if k not in FIT_KNOBS:
                raise UsageError(f"--knobs: {k!r} cannot be fitted: allowed: "
                                 f"{', '.join(FIT_KNOBS)}")
    workers = _workers_or_cluster(args)
    runs = total_runs(data, base, reps=args.reps, check_reps=args.check_reps,
                      max_evaluations=args.max_steps, generations=args.generations, knobs=knobs)
    _within_limits(args, base.replace({"run.days": data.days}), runs=runs, workers=workers,
                   what="this fit", fix="--reps, --check-reps or --max-steps")
    if args.out is None:
        args.out = Path("fits") / f"{_slug(args.data.stem)}-{datetime.now():%Y%m%d-%H%M%S}"
    out = _out_dir(args, "fit", "fit")
    if args.scheduler:
        _reach_scheduler(args.scheduler)
    with _progress(runs, f"fit {args.data.name}") as bar:
        try:
            f = fit(data, base, reps=args.reps, check_reps=args.check_reps, knobs=knobs,
                    max_evaluations=args.max_steps, generations=args.generations,
                    workers=workers, scheduler=args.scheduler,
                    progress=lambda n: bar.update(n - bar.n))
        except ValueError as err:
            raise UsageError(str(err)) from None
        except RuntimeError as err:  # runs that failed: said in one line, nothing written
            print(f"chainsim: error: {err}; nothing was written", file=sys.stderr)
            return 1
    f.extras["fitted_file"] = "fitted.toml"
    f.extras["base_file"] = str(args.base)
    payload = f.to_json()
    import matplotlib.pyplot as plt

    from .fitting import figure

    with staged_directory(out) as stage:
        overrides = parse_assignments(args.assignments)
        if args.seed is not None:
            overrides["run.seed"] = args.seed
        (stage / "fitted.toml").write_text(
            fitted_toml(f, base_reference(args.base, out), overrides), encoding="utf-8")
        write_json(stage / "fit.json", payload)
        fig = figure(f)
        fig.savefig(stage / "fit.png", dpi=110)
        plt.close(fig)
    if args.json:
        from .outputs import json_ready

        print(json.dumps(json_ready(payload), indent=2, allow_nan=False))
        return 0
    print(f.text())
    print(f"\nwrote {out}/ (fitted.toml, fit.json, fit.png)")
    print(f"next: chainsim optimize {out}/fitted.toml --budget AMOUNT")
    return 0


def cmd_optimize(args) -> int:
    from .optimizer import check_budget, fit_draw_runs, optimize, total_runs
    from .outputs import staged_directory, write_json

    scenario = _load(args.scenario, args)
    if args.months is not None:
        scenario = scenario.replace({"run.days": 30 * args.months})
    from .moves import default_budget

    budget = args.budget if args.budget is not None else default_budget(scenario)
    try:
        check_budget(scenario, budget)
    except ValueError as err:
        raise UsageError(str(err)) from None
    fit = _fit_for(args)
    runs = total_runs(scenario, budget, reps=args.reps, check_reps=args.check_reps,
                      generations=args.generations)
    if fit is not None:
        runs += fit_draw_runs(args.draws)
    workers = _workers_or_cluster(args)
    _within_limits(args, scenario, runs=runs, workers=workers, what="this optimization",
                   fix="--reps, --check-reps, --generations or --months")
    out = None if args.json and args.out is None else _out_dir(
        args, f"optimize-{scenario.name}", "optimize")
    if args.scheduler:
        _reach_scheduler(args.scheduler)
    if fit is not None:  # a fit.json that cannot be drawn from is said before any run
        from .fitting import draws_from

        try:
            draws_from(fit, scenario, 1)
        except (ScenarioError, ValueError, KeyError, TypeError) as err:
            raise UsageError(f"--fit: its knobs cannot be drawn for {scenario.name!r}: "
                             f"{err}") from None
    with _progress(runs, f"optimize {scenario.name}") as bar:
        try:
            o = optimize(scenario, budget, metric=args.metric, reps=args.reps,
                         check_reps=args.check_reps, generations=args.generations,
                         workers=workers, scheduler=args.scheduler, fit=fit, draws=args.draws,
                         progress=lambda n: bar.update(n - bar.n))
        except RuntimeError as err:  # runs that failed: said in one line, nothing written
            print(f"chainsim: error: {err}; nothing was written", file=sys.stderr)
            return 1
    data = o.to_json()
    if out is not None:
        import matplotlib.pyplot as plt

        from .optimizer import figure

        with staged_directory(out) as stage:
            write_json(stage / "optimum.json", data)
            fig = figure(o)
            fig.savefig(stage / "optimum.png", dpi=110)
            plt.close(fig)
    if args.json:
        from .outputs import json_ready

        print(json.dumps(json_ready(data), indent=2, allow_nan=False))
        return 0
    print(o.text())
    print(f"\nwrote {out}/ (optimum.png, optimum.json)")
    return 0


def _fit_for(args) -> dict | None:
    """The fit.json to carry into an optimization: --fit, or the one chainsim fit wrote next
    to the scenario file."""
    from .fitting import load_fit

    path = args.fit
    if path is None:
        scenario = Path(args.scenario)
        beside = scenario.parent / "fit.json"
        if not (args.scenario.endswith(".toml") and beside.is_file()):
            return None
        try:
            import json as _json

            names = _json.loads(beside.read_text(encoding="utf-8")).get("fitted_file")
        except (OSError, ValueError, AttributeError):
            names = None
        if names != scenario.name:
            return None
        path = beside
        print(f"chainsim: note: carrying the fit's uncertainty from {path} (chainsim fit "
              "wrote it next to the scenario)", file=sys.stderr)
    try:
        return load_fit(path)
    except ValueError as err:
        raise UsageError(f"--fit {err}") from None


def _moves_frame(d):
    import pandas as pd

    return pd.DataFrame([{"factor": m.path, "level": m.after, "gain": m.mean,
                          "ci_low": m.ci[0], "ci_high": m.ci[1]} for m in d.moves if m.possible])


def _size_text(d) -> str:
    """'+2,500 a month at each link' or '+20 % at each link'."""
    if d.budget is not None:
        return f"+{d.budget:,.0f} a month at each link"
    return f"+{100 * d.step:g} % at each link"


def _default_workers() -> int:
    from .parallel import default_workers

    return default_workers()


def cmd_sweep(args) -> int:
    from .experiments import JOURNAL, MAX_POINTS, load_experiment, open_directory, sweep

    experiment = load_experiment(args.experiment,
                                 max_points=None if args.no_limits else MAX_POINTS)
    workers = _workers_or_cluster(args)
    _within_limits(args, experiment.base, runs=experiment.runs, workers=workers,
                   what="this sweep", fix="design, fewer replications or days")
    out = args.out if args.out is not None else Path("sweeps") / _slug(experiment.name)
    try:
        from .outputs import check_out_dir

        check_out_dir(out)
    except OSError as err:
        raise UsageError(str(err)) from None
    if args.scheduler:  # reach the cluster before writing anything
        _reach_scheduler(args.scheduler)
    done, skipped, _ = open_directory(experiment, out)
    where = f"the Dask cluster at {args.scheduler}" if args.scheduler else f"{workers} workers"
    print(f"{experiment.name}: {experiment.design.kind} design, {len(experiment.points)} points "
          f"x {experiment.replications} replications = {experiment.runs} runs of "
          f"{experiment.days} days")
    if done:
        print(f"resuming {out}: {len(done)} runs already done, {experiment.runs - len(done)} to go")
    if skipped:
        print(f"chainsim: note: {skipped} line(s) of {out}/{JOURNAL} could not be used (cut "
              "short, edited or not this sweep's) and were skipped; their runs run again",
              file=sys.stderr)
    print(f"running on {where}; results stream to {out}/runs.parquet", flush=True)
    bar = _progress(experiment.runs - len(done), experiment.name)
    try:
        result = sweep(experiment, out, workers=workers, scheduler=args.scheduler,
                       progress=lambda n, total: bar.update(n - bar.n))
    except KeyboardInterrupt as err:
        bar.close()
        saved = getattr(err, "runs_saved", 0)
        print(f"chainsim: interrupted: {saved} run(s) finished now and {len(done)} before are "
              f"saved in {out}/{JOURNAL}; run the same command to carry on", file=sys.stderr)
        return 130
    except OSError as err:  # a full disk, a folder made read-only, a lost cluster
        bar.close()
        if args.scheduler and getattr(err, "filename", None) is None:
            raise UsageError(f"lost the Dask scheduler at {args.scheduler}: {err}") from None
        saved = getattr(err, "runs_saved", 0)
        print(f"chainsim: error: cannot write in {out}: {err.strerror or err}; the "
              f"{saved + len(done)} run(s) finished are saved in {out}/{JOURNAL}; make room "
              "and run the same command to carry on", file=sys.stderr)
        return 1
    finally:
        bar.close()
    print(f"done: {result.ran} runs now, {result.skipped} before; {result.failed} failed")
    print(f"next: chainsim report {out}")
    return 0


def _reach_scheduler(address: str) -> None:
    """Connect to the Dask scheduler once, so an unreachable one is said before any file."""
    import socket
    from urllib.parse import urlsplit

    from distributed import Client

    try:
        where = urlsplit(address)
        if where.scheme in ("tcp", "tls") and where.hostname and where.port:
            # a refused connection is said at once; Dask's client would retry for 10 s
            socket.create_connection((where.hostname, where.port), timeout=10).close()
        Client(address, timeout="10s").close()
    except (OSError, TimeoutError, ValueError) as err:
        raise UsageError(f"cannot reach the Dask scheduler at {address}: "
                         f"{str(err).splitlines()[0] if str(err) else type(err).__name__}"
                         ) from None


def _need(module: str, extra: str, what: str) -> None:
    """A one-line error when an optional part of chainsim is not installed."""
    import importlib.util

    if importlib.util.find_spec(module) is None:
        raise UsageError(f"{what} needs the {extra} extra, which is not installed: "
                         f"pip install 'chainsim[{extra}]'")


def cmd_workshop(args) -> int:
    import os
    import socket
    import subprocess

    from .scenarios import builtin_scenarios

    _need("solara", "workshop", "chainsim workshop")
    room_only = [flag for flag, given in (("--silo", args.silo), ("--budget", args.budget),
                                          ("--out", args.out), ("--resume", args.resume))
                 if given]
    if room_only and not args.room:
        raise UsageError(f"{room_only[0]} is for room mode: add --room")
    if args.scenario not in builtin_scenarios():
        from .scenarios import resolve_path

        resolve_path(args.scenario)  # an unknown name: one line with suggestions
        raise UsageError(f"the workshop starts from a built-in scenario, not a file: "
                         f"{args.scenario} (built-in: {', '.join(builtin_scenarios())})")
    try:
        family = socket.getaddrinfo(args.host, args.port, type=socket.SOCK_STREAM)[0][0]
    except (socket.gaierror, UnicodeError, ValueError):
        raise UsageError(f"--host {args.host}: not an address of this machine "
                         "(e.g. 127.0.0.1, or 0.0.0.0 for every network)") from None
    with socket.socket(family) as probe:
        # as the server will: a port left in TIME_WAIT is free, a listening one is not
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((args.host, args.port))
        except OSError as err:
            if err.errno in (98, 48, 10048):  # address in use (Linux, macOS, Windows)
                raise UsageError(f"port {args.port} is in use on {args.host}; "
                                 "pick another with --port") from None
            raise UsageError(f"--host {args.host}: cannot serve there ({err.strerror})") from None
    from .workshop import assets

    if assets.missing():  # the page needs them; without them it would never draw
        print("fetching the workshop's browser assets (once) ...", file=sys.stderr, flush=True)
        try:
            assets.ensure(quiet=True)
        except (OSError, RuntimeError) as err:
            raise UsageError(f"the workshop's browser assets are missing and could not be "
                             f"fetched from {assets.REGISTRY}: {err}") from None
    env = {**os.environ, "CHAINSIM_WORKSHOP_SCENARIO": args.scenario,
           "CHAINSIM_WORKSHOP_PROJECTOR": "1" if args.projector else "",
           "SOLARA_TELEMETRY_MIXPANEL_ENABLE": "False",
           "SOLARA_THEME_SHOW_BANNER": "False", "SOLARA_THEME_TITLE": "chainsim workshop"}
    # A page whose browser is gone for this long lets its business go (a page that only
    # lost its connection for a moment picks up where it was).
    env.setdefault("SOLARA_KERNEL_CULL_TIMEOUT", "2m")
    shown = _address_for_others(args.host)
    url = f"http://{shown}:{args.port}"
    if args.room:
        folder, config = _room_folder(args)
        env["CHAINSIM_ROOM"] = str(folder.resolve())
        env["CHAINSIM_ROOM_ADDRESS"] = f"{url}/"
        print(f"chainsim workshop room: {config.story}, {config.rounds} rounds of "
              f"{config.months} months, {config.budget:,.0f} a month more each round"
              f"{', silo variant' if config.silo else ''}  (Ctrl-C to stop)")
        print(f"  teams join at   {url}/   with the code {config.join_code}")
        print(f"  facilitator at  http://127.0.0.1:{args.port}/facilitator?key="
              f"{config.facilitator_key}" if args.host in ("127.0.0.1", "0.0.0.0", "::")
              else f"  facilitator at  {url}/facilitator?key={config.facilitator_key}")
        print(f"  saved in        {folder}/  (carry on after a restart: --resume {folder})",
              flush=True)
        if args.host not in ("127.0.0.1", "localhost", "::1"):
            print("  anyone on this network who has the code can join; the facilitator's "
                  "address is printed only here", flush=True)
    else:
        print(f"chainsim workshop: {args.scenario} at {url}  (Ctrl-C to stop)", flush=True)
    command = [sys.executable, "-m", "solara", "run", "chainsim.workshop.app", "--host",
               args.host, "--port", str(args.port), "--no-open", "--production"]
    try:
        return subprocess.call(command, env=env)
    except KeyboardInterrupt:
        return 0


def _address_for_others(host: str) -> str:
    """What others type to reach a server on ``host``: the machine's own address for 0.0.0.0."""
    import socket

    if host not in ("0.0.0.0", "::"):
        return host
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("10.255.255.255", 1))  # no packet is sent: it only picks a route
            return probe.getsockname()[0]
        except OSError:
            return "127.0.0.1"


def _room_folder(args):
    """The room's folder and settings: a new one (config written) or the one resumed."""
    from .workshop.room import Room, RoomError, new_config

    if args.resume is not None:
        try:
            existing = Room.resume(args.resume)
        except RoomError as err:
            raise UsageError(str(err)) from None
        if existing.config.story != args.scenario and args.scenario != "balanced":
            raise UsageError(f"--resume {args.resume}: that room plays "
                             f"{existing.config.story}, not {args.scenario}")
        return args.resume, existing.config
    folder = args.out or Path("rooms") / f"{args.scenario}-{datetime.now():%Y%m%d-%H%M%S}"
    if folder.exists() and any(folder.iterdir()):
        raise UsageError(f"--out {folder}: the folder is not empty; a room starts in a new "
                         "folder (or carry one on with --resume)")
    config = new_config(args.scenario, budget=args.budget, months=args.months,
                        rounds=args.rounds, reps=args.reps, silo=args.silo)
    room = Room(config, folder)
    try:
        room.save_config()
    except OSError as err:
        raise UsageError(f"--out {folder}: cannot write there ({err.strerror})") from None
    return folder, config


def cmd_report(args) -> int:
    from .report import write_report

    written = write_report(args.directory)
    print(f"wrote {args.directory}/ ({', '.join(p.name for p in written)})")
    return 0


# -- printing -------------------------------------------------------------------


def _title(scenario, summary: dict) -> str:
    return f"{scenario.name}: {summary['days']} days, seed {scenario.run.seed}"


def _pct(x: float) -> str:
    return "n/a" if x != x else f"{100 * x:+.1f} %"


def _summary_rows(s: dict) -> list[tuple[str, str]]:
    losses = s["losses"]
    return [
        ("customers (ever / active)", f"{s['customers_total']:,} / {s['active_customers']:,}"),
        ("orders (first + repeat)", f"{s['orders']:,} ({s['first_purchases']:,} + {s['repeat_purchases']:,})"),
        ("repeat-purchase rate", f"{100 * s['repeat_purchase_rate']:.1f} %"),
        ("growth (per month)", _pct(s["growth_rate"])),
        ("revenue", f"{s['revenue']:,.0f}"),
        ("profit", f"{s['profit']:,.0f}"),
        *[(f"lost at {f}", f"{losses[f]:,}") for f in FUNCTIONS],
        ("most people lost at", s["most_losses_at"] or "nowhere (no one lost)"),
        ("weakest link", _weakest_text(s)),
    ]


def _weakest_text(s: dict) -> str:
    """The summary's verdict in a few words, with how sure it is."""
    v = s.get("verdict")
    if v is None:
        return "not estimated (--no-verdict)"
    if v["link"] is not None:
        from .moves import label

        return (f"{label(v['link']).lower()} ({v['gain']:+,.0f}, 95 % CI "
                f"{v['ci_low']:,.0f} to {v['ci_high']:,.0f})")
    if v["tied"]:
        return "none clear: " + " or ".join(v["tied"])
    return "none clear"


def format_summary(scenario, s: dict) -> str:
    rows = _summary_rows(s)
    width = max(len(k) for k, _ in rows)
    head = f"{scenario.name} - {s['days']} days, seed {scenario.run.seed}"
    return "\n".join([head, *(f"  {k:<{width}}  {v}" for k, v in rows)])


def format_comparison(a: tuple[str, dict], b: tuple[str, dict], days: int, seed: int) -> str:
    ra, rb = _summary_rows(a[1]), _summary_rows(b[1])
    width = max(len(k) for k, _ in ra)
    wa = max(len(a[0]), *(len(v) for _, v in ra))
    lines = [f"{days} days, seed {seed}", f"  {'':<{width}}  {a[0]:>{wa}}  {b[0]}"]
    for (k, va), (_, vb) in zip(ra, rb, strict=True):
        lines.append(f"  {k:<{width}}  {va:>{wa}}  {vb}")
    return "\n".join(lines)


def format_diagnosis(d) -> str:
    from .diagnose import METRICS, PER_MONEY

    lines = [f"{d.scenario.name}: {_size_text(d)}, {d.reps} replications of {d.days} days "
             f"(seed {d.scenario.run.seed}), metric: {METRICS[d.metric]}",
             f"baseline: {sum(d.baseline) / len(d.baseline):,.1f}", "",
             f"  {'move':<20} {'from':>8} {'to':>8} {'cost/month':>11} {'gain':>9} "
             f"{'per ' + format(PER_MONEY, ',.0f'):>9}   95 % CI"]
    for m in d.ranking:
        lo, hi = m.ci
        before = m.before if isinstance(m.before, str) else f"{m.before:.4g}"
        after = m.after if isinstance(m.after, str) else f"{m.after:.4g}"
        if not m.possible:
            lines.append(f"  {m.path:<20} {before:>8} {'-':>8} {'-':>11} {'-':>9} {'-':>9}   "
                         "(cannot be strengthened this way)")
            continue
        per = m.gain_per_money
        lines.append(f"  {m.path:<20} {before:>8} {after:>8} {m.cost:>11,.0f} {m.mean:>+9.1f} "
                     f"{per:>+9.1f}   {lo:+.1f} to {hi:+.1f}")
    lines += ["", d.verdict().text]
    return "\n".join(lines)


# -- entry point ------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    from .startup import defer_unused_mesa_modules

    defer_unused_mesa_modules()
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        if args.command is None:
            parser.print_help()
            return EXIT_USAGE
        return args.handler(args)
    except (UsageError, ScenarioError) as err:
        print(f"chainsim: error: {err}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        # every command but sweep writes its files all at once, at its end
        print("chainsim: interrupted; nothing was written", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `chainsim list | head`: the reader has what it wanted
        # (the pipes to chainsim's own helpers are handled where they are used: a painter
        # that is gone is drawn for, a pool that is gone raises BrokenProcessPool)
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0
    except OSError as err:  # a full disk, a read-only folder: said, not a traceback
        where = f" {err.filename}" if err.filename else ""
        print(f"chainsim: error: cannot write{where}: {err.strerror or err}; this command's "
              "files were not written (earlier results are intact)", file=sys.stderr)
        return 1


def entry() -> None:
    """The ``chainsim`` command: :func:`main`, then out without the interpreter's teardown."""
    from .startup import exit_now

    exit_now(main())


if __name__ == "__main__":
    entry()
