"""The ``chainsim`` command line. Each command parses, calls the library, writes.

User mistakes (a missing file, an unknown key, a value out of range, a bad
option) end with one line on stderr and exit status 2, before anything is
written. Anything else is a bug and shows its traceback.
"""

from __future__ import annotations

import argparse
import json
import sys
import textwrap
from datetime import datetime
from pathlib import Path
from typing import Any

from . import __version__
from .schema import FUNCTIONS, ScenarioError, json_schema

EXIT_USAGE = 2


class UsageError(Exception):
    """A mistake in what the user asked for; reported in one line, exit status 2."""


class Parser(argparse.ArgumentParser):
    """argparse, but its errors are one line, like every other chainsim error."""

    def error(self, message: str):  # type: ignore[override]
        raise UsageError(f"{message} (see '{self.prog} --help')")


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} is not allowed: must be a whole number >= 1")
    return value


def _seed(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"{value} is not allowed: must be a whole number >= 0")
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
            """),
    )
    parser.add_argument("--version", action="version", version=f"chainsim {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)

    def command(name: str, help: str, examples: str) -> argparse.ArgumentParser:
        return sub.add_parser(name, help=help, description=help,
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

    p = command("list", "List the built-in scenarios with their one-line story.", """\
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
    return parser


# -- commands -------------------------------------------------------------------


def _load(ref: str, args) -> Any:
    from .scenarios import load_scenario, parse_assignments

    overrides = parse_assignments(args.assignments)
    return load_scenario(ref, overrides, days=args.days, seed=args.seed)


def _out_dir(args, name: str) -> Path:
    from .outputs import check_out_dir

    out = args.out or Path("runs") / f"{name}-{datetime.now():%Y%m%d-%H%M%S}"
    try:
        check_out_dir(out)
    except OSError as err:
        raise UsageError(str(err)) from None
    return out


def _simulate(scenario, journeys: bool):
    from tqdm import tqdm

    from .model import ChainModel

    model = ChainModel(scenario, journeys=journeys)
    days = scenario.run.days
    with tqdm(total=days, desc=scenario.name, unit="day", file=sys.stderr, disable=None,
              delay=2.0, leave=False) as bar:
        return model.run(days, progress=lambda done: bar.update(1))


def cmd_run(args) -> int:
    from .outputs import manifest, staged_directory, write_run
    from .scenarios import resolve_path

    scenario = _load(args.scenario, args)
    out = _out_dir(args, scenario.name)
    result = _simulate(scenario, args.journeys)
    with staged_directory(out) as stage:
        write_run(stage, result, manifest_data=manifest(
            scenario, source=str(resolve_path(args.scenario))),
            title=_title(scenario, result.summary), journeys=args.journeys)
    print(format_summary(scenario, result.summary))
    files = "timeseries.csv, summary.json, manifest.json, dashboard.png"
    print(f"\nwrote {out}/ ({files}{', journeys.csv' if args.journeys else ''})")
    return 0


def cmd_compare(args) -> int:
    from .outputs import manifest, staged_directory, write_json, write_run
    from .plots import overlay
    from .scenarios import resolve_path

    a = _load(args.scenario_a, args)
    b = _load(args.scenario_b, args)
    label_a, label_b = a.name, b.name if b.name != a.name else f"{b.name}-b"
    out = _out_dir(args, f"{label_a}-vs-{label_b}")
    ra, rb = _simulate(a, args.journeys), _simulate(b, args.journeys)
    with staged_directory(out) as stage:
        for label, sc, ref, result in ((label_a, a, args.scenario_a, ra),
                                       (label_b, b, args.scenario_b, rb)):
            (stage / label).mkdir()
            write_run(stage / label, result,
                      manifest_data=manifest(sc, source=str(resolve_path(ref))),
                      title=_title(sc, result.summary), journeys=args.journeys)
        write_json(stage / "summary.json", {label_a: ra.summary, label_b: rb.summary})
        fig = overlay(ra.timeseries, rb.timeseries, (label_a, label_b),
                      f"{label_a} (solid) vs {label_b} (dashed), seed {a.run.seed}")
        fig.savefig(stage / "compare.png", dpi=110)
    print(format_comparison((label_a, ra.summary), (label_b, rb.summary), a.run.days, a.run.seed))
    print(f"\nwrote {out}/ (compare.png, summary.json, {label_a}/, {label_b}/)")
    return 0


def cmd_list(args) -> int:
    from .scenarios import builtin_scenarios

    scenarios = builtin_scenarios()
    width = max(len(n) for n in scenarios)
    for name, info in scenarios.items():
        print(f"{name:<{width}}  {info.description}")
    return 0


def cmd_validate(args) -> int:
    from .scenarios import load_scenario

    scenario = load_scenario(args.file)
    print(f"ok: {args.file} (scenario '{scenario.name}')")
    return 0


def cmd_schema(args) -> int:
    print(json.dumps(json_schema(), indent=2))
    return 0


# -- printing -------------------------------------------------------------------


def _title(scenario, summary: dict) -> str:
    weakest = summary["weakest_link"] or "none"
    return (f"{scenario.name}: {summary['days']} days, seed {scenario.run.seed} "
            f"- weakest link: {weakest}")


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
        ("weakest link", s["weakest_link"] or "none (no one lost)"),
    ]


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


# -- entry point ------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
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
        print("chainsim: interrupted; nothing was written", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
