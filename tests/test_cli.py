"""The installed ``chainsim`` command, run in a subprocess as a user would."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from chainsim.metrics import COLUMNS

CHAINSIM = str(Path(sys.executable).parent / "chainsim")


def chainsim(*args, cwd=None, timeout=300):
    env = {**os.environ, "MPLBACKEND": "Agg"}
    return subprocess.run([CHAINSIM, *map(str, args)], capture_output=True, text=True,
                          cwd=cwd, timeout=timeout, env=env)


def test_every_command_has_help_with_examples():
    for command in ([], ["run"], ["compare"], ["list"], ["validate"], ["schema"], ["diagnose"],
                    ["sweep"], ["report"], ["fit"], ["optimize"]):
        out = chainsim(*command, "--help")
        assert out.returncode == 0, out.stderr
        assert "examples:" in out.stdout


def test_run_writes_the_promised_files_and_prints_a_summary(tmp_path):
    out = chainsim("run", "balanced", "--days", 60, "--seed", 3, "--out", tmp_path / "r",
                   "--journeys", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert out.stderr == ""  # no progress bar when stderr is not a terminal
    for phrase in ("repeat-purchase rate", "growth", "revenue", "profit", "lost at operations",
                   "weakest link"):
        assert phrase in out.stdout
    files = {p.name for p in (tmp_path / "r").iterdir()}
    assert files == {"timeseries.csv", "summary.json", "manifest.json", "dashboard.png",
                     "journeys.csv"}
    ts = pd.read_csv(tmp_path / "r" / "timeseries.csv")
    assert list(ts.columns) == list(COLUMNS) and len(ts) == 60
    summary = json.loads((tmp_path / "r" / "summary.json").read_text())
    assert summary["days"] == 60 and summary["most_losses_at"] in ("sales", "operations", "service")
    verdict = summary["verdict"]
    assert summary["weakest_link"] == verdict["link"]
    assert set(verdict) >= {"link", "move", "clear", "tied", "gain", "ci_low", "ci_high", "text",
                            "estimate"}
    # the summary's verdict is the race's, the same as diagnose's rule (seed 3, 60 days)
    from chainsim.diagnose import Race
    from chainsim.scenarios import load_scenario

    race = Race(load_scenario("balanced", days=60, seed=3)).run().verdict()
    assert verdict["link"] == race.link and verdict["text"] == race.text
    manifest = json.loads((tmp_path / "r" / "manifest.json").read_text())
    assert manifest["seed"] == 3 and manifest["days"] == 60
    assert manifest["scenario"]["operations"]["capacity"] == 100
    assert manifest["command"].startswith("chainsim run balanced")
    assert manifest["chainsim_version"]
    journeys = pd.read_csv(tmp_path / "r" / "journeys.csv")
    assert list(journeys.columns) == ["customer_id", "day", "event", "function", "experience"]
    assert (tmp_path / "r" / "dashboard.png").read_bytes()[:4] == b"\x89PNG"


def test_a_run_of_weak_operations_names_operations_after_90_days(tmp_path):
    out = chainsim("run", "weak_operations", "--days", 90, "--out", tmp_path / "w")
    assert out.returncode == 0, out.stderr
    summary = json.loads((tmp_path / "w" / "summary.json").read_text())
    assert summary["weakest_link"] == "operations" and summary["verdict"]["clear"]
    assert "weakest link               operations (+" in out.stdout
    assert "Operations is your weakest link: +" in out.stdout
    quiet = chainsim("run", "weak_operations", "--days", 30, "--no-verdict", "--out",
                     tmp_path / "q")
    assert json.loads((tmp_path / "q" / "summary.json").read_text())["verdict"] is None
    assert "not estimated (--no-verdict)" in quiet.stdout


def test_run_without_out_writes_under_runs_and_says_where(tmp_path):
    out = chainsim("run", "weak_sales", "--days", 20, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    (run_dir,) = (tmp_path / "runs").iterdir()
    assert run_dir.name.startswith("weak_sales-")
    assert f"runs/{run_dir.name}" in out.stdout


def test_same_seed_same_files_and_set_changes_the_run(tmp_path):
    a = chainsim("run", "lawn_care", "--days", 90, "--out", tmp_path / "a")
    b = chainsim("run", "lawn_care", "--days", 90, "--out", tmp_path / "b")
    c = chainsim("run", "lawn_care", "--days", 90, "--out", tmp_path / "c",
                 "--set", "operations.capacity=40", "--set", "service.quality=0.8")
    assert a.returncode == b.returncode == c.returncode == 0
    read = lambda d: (tmp_path / d / "timeseries.csv").read_text()  # noqa: E731
    assert read("a") == read("b") and read("a") != read("c")
    resolved = json.loads((tmp_path / "c" / "manifest.json").read_text())["scenario"]
    assert resolved["operations"]["capacity"] == 40 and resolved["service"]["quality"] == 0.8


def test_set_accepts_unlimited_and_a_tarp_row_without_quotes(tmp_path):
    out = chainsim("run", "balanced", "--days", 10, "--out", tmp_path / "u",
                   "--set", "service.capacity=unlimited", "--set", "retention.resolved=0.6",
                   "--set", "retention.table=large_ticket")
    assert out.returncode == 0, out.stderr
    resolved = json.loads((tmp_path / "u" / "manifest.json").read_text())["scenario"]
    assert resolved["service"]["capacity"] == "unlimited"
    # the table's rates follow the table, as in a file; a rate set explicitly stays
    assert resolved["retention"]["silent_problem"] == 0.09
    assert resolved["retention"]["resolved"] == 0.6


def test_compare_writes_both_runs_and_an_overlay(tmp_path):
    out = chainsim("compare", "weak_operations", "balanced", "--days", 60, "--out", tmp_path / "c")
    assert out.returncode == 0, out.stderr
    assert "weak_operations" in out.stdout and "balanced" in out.stdout
    names = {p.name for p in (tmp_path / "c").iterdir()}
    assert names == {"compare.png", "summary.json", "weak_operations", "balanced"}
    both = json.loads((tmp_path / "c" / "summary.json").read_text())
    assert set(both) == {"weak_operations", "balanced"}
    assert (tmp_path / "c" / "balanced" / "timeseries.csv").exists()


def test_compare_of_a_scenario_with_itself_is_labelled_apart(tmp_path):
    out = chainsim("compare", "balanced", "balanced", "--days", 10, "--out", tmp_path / "c")
    assert out.returncode == 0, out.stderr
    assert {"balanced", "balanced-b"} <= {p.name for p in (tmp_path / "c").iterdir()}


def test_list_validate_and_schema():
    listed = chainsim("list")
    assert listed.returncode == 0 and "lawn_care" in listed.stdout and "weak_service" in listed.stdout
    ok = chainsim("validate", "scenarios/lawn_care.toml", cwd=Path(__file__).parent.parent)
    assert ok.returncode == 0 and ok.stdout.startswith("ok")
    schema = json.loads(chainsim("schema").stdout)
    assert schema["title"] == "chainsim scenario" and "retention" in schema["properties"]


BAD_FILES = {  # file name: (content, what the error must say, and what else)
    "syntax.toml": ("[market]\nsize = 100\n[operations\n", "TOML syntax error", "line 3"),
    "unknown.toml": ("[operations]\nqualty = 0.9\n", "unknown key 'operations.qualty'",
                     "did you mean 'operations.quality'"),
    "type.toml": ('[operations]\nquality = "high"\n', "operations.quality = 'high'",
                  "must be a number from 0 to 1"),
    "range.toml": ("[operations]\nquality = 1.5\n", "operations.quality = 1.5", "from 0 to 1"),
    "negative.toml": ("[service]\ncapacity = -2\n", "service.capacity = -2", '"unlimited"'),
    "cycle_a.toml": ('extends = "cycle_b.toml"\n', "extends cycle",
                     "cycle_a.toml -> cycle_b.toml -> cycle_a.toml"),
}


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["run", "missing.toml"], ["scenario file not found: missing.toml"]),
        (["run", "balancd"], ["unknown scenario 'balancd'", "did you mean 'balanced'"]),
        (["run", "balanced", "--days", "0"], ["--days: 0 is not allowed", ">= 1"]),
        (["run", "balanced", "--days", "-3"], ["--days: -3 is not allowed"]),
        (["run", "balanced", "--seed", "x"], ["--seed: 'x' is not a whole number"]),
        (["run", "balanced", "--set", "operations.qualty=0.5"],
         ["unknown key 'operations.qualty'", "did you mean 'operations.quality'"]),
        (["run", "balanced", "--set", "operations.quality=0.x"], ["cannot read '0.x'"]),
        (["run", "balanced", "--set", "operations.quality=1.5"],
         ["--set operations.quality=1.5: operations.quality = 1.5 is not allowed",
          "from 0 to 1"]),
        (["run", "balanced", "--set", "operations"], ["expected section.key=value"]),
        (["run", "balanced", "--out", "syntax.toml"], ["is a file, not a directory"]),
        (["compare", "balanced", "nope"], ["unknown scenario 'nope'"]),
        (["validate", "range.toml"], ["range.toml: operations.quality = 1.5"]),
        (["frobnicate"], ["invalid choice: 'frobnicate'"]),
        *[(["run", name], [must, also]) for name, (_, must, also) in BAD_FILES.items()],
    ],
)
def test_bad_input_gets_one_line_exit_2_and_nothing_written(tmp_path, args, expected):
    for name, (text, _, _) in BAD_FILES.items():
        (tmp_path / name).write_text(text)
    (tmp_path / "cycle_b.toml").write_text('extends = "cycle_a.toml"\n')
    before = set(tmp_path.iterdir())
    out = chainsim(*args, cwd=tmp_path)
    assert out.returncode == 2
    assert out.stdout == ""
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1, out.stderr
    assert lines[0].startswith("chainsim: error: ")
    for fragment in expected:
        assert fragment in lines[0]
    assert set(tmp_path.iterdir()) == before  # nothing written, not even runs/


def _children(pid: int) -> set[int]:
    """The processes ``pid`` started (Linux /proc)."""
    kids: set[int] = set()
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            kids |= {int(k) for k in (task / "children").read_text().split()}
        except OSError:
            pass
    return kids


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except OSError:
        return False


@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="needs Linux /proc")
def test_an_interrupted_run_leaves_no_output_and_no_worker(tmp_path):
    """Killed mid-run (kill -9), a run leaves no results directory behind, and neither
    the worker it started for the verdict nor its dashboard's painter lives on without it."""
    proc = subprocess.Popen([CHAINSIM, "run", "balanced", "--days", "36500", "--set",
                             "market.size=5000000", "--set", "marketing.capacity=20000", "--out",
                             str(tmp_path / "big")], cwd=tmp_path,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while not _children(proc.pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(1.0)
        workers = _children(proc.pid)
        assert len(workers) >= 2, "the run started no painter or no verdict worker"
        assert proc.poll() is None, "the run finished before it could be interrupted"
    finally:
        proc.kill()
        proc.wait()
    deadline = time.monotonic() + 10
    while any(_alive(w) for w in workers) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(_alive(w) for w in workers), "the verdict worker outlived its run"
    assert not (tmp_path / "big").exists()


PAINTER = """\
import sys
from pathlib import Path
from chainsim.model import ChainModel
from chainsim.outputs import Painter, draw_dashboard, write_run
from chainsim.scenarios import load_scenario
out = Path(sys.argv[1])
idle = Painter.start()
idle.close()  # sent nothing: it is ended at once
assert idle._process.exitcode is not None
painter = Painter.start()
result = ChainModel(load_scenario("balanced", days=60), rng=1).run(60)
(out / "a").mkdir()
(out / "b").mkdir()
write_run(out / "a", result, manifest_data={}, title="balanced", painter=painter)
painter.close()
draw_dashboard(out / "b" / "dashboard.png", result.timeseries, "balanced")
same = (out / "a" / "dashboard.png").read_bytes() == (out / "b" / "dashboard.png").read_bytes()
broken = Painter.start()
broken.paint(out / "gone" / "dashboard.png", result.timeseries, "balanced")
try:
    broken.wait()
except OSError as err:
    print("error:", err.strerror, Path(err.filename).parent.name)
broken.close()
print("same picture:", same)
# a painter that died before it was sent the picture, or while drawing it: drawn here
dead, dying = Painter.start(), Painter.start()
dead.kill()
(out / "c").mkdir()
write_run(out / "c", result, manifest_data={}, title="balanced", painter=dead)
assert dying.paint(out / "c" / "unused.png", result.timeseries, "balanced")
dying.kill()
print("dying painter drew:", dying.wait())
print("dead painter, same picture:",
      (out / "c" / "dashboard.png").read_bytes() == (out / "b" / "dashboard.png").read_bytes())
# a picture that cannot be drawn fails as it would without a painter
class Broken:
    timeseries, journeys = result.timeseries.drop(columns=["revenue"]), None
(out / "d").mkdir()
try:
    write_run(out / "d", Broken, manifest_data={}, title="balanced", painter=Painter.start())
except KeyError as err:
    print("broken table:", err)
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the painter forks: Linux")
def test_the_painter_draws_the_same_picture_and_hands_back_its_errors(tmp_path):
    """Issue 11: ``chainsim run`` draws its dashboard in a process forked before the run;
    the picture is the one drawn in-process, to the byte, and its errors are the caller's."""
    out = subprocess.run([sys.executable, "-c", PAINTER, str(tmp_path)], capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "same picture: True" in out.stdout
    assert "error: No such file or directory gone" in out.stdout
    assert "dying painter drew: False" in out.stdout
    assert "dead painter, same picture: True" in out.stdout
    assert "broken table: 'revenue'" in out.stdout
    assert out.stderr == ""


def test_a_reader_that_stops_early_is_not_an_error(tmp_path):
    """`chainsim list | grep -q ...`: the reader leaves before the output ends."""
    proc = subprocess.Popen([CHAINSIM, "list"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            cwd=tmp_path)
    proc.stdout.close()  # gone before the first line
    assert proc.wait(timeout=120) == 0
    assert proc.stderr.read() == b""
    proc.stderr.close()


def test_a_dollar_in_a_name_is_drawn_as_a_dollar(tmp_path):
    """Names are the user's: ``$...$`` in them is text, not matplotlib's mathtext."""
    import io

    from chainsim.model import ChainModel
    from chainsim.plots import dashboard, overlay
    from chainsim.scenarios import load_scenario

    ts = ChainModel(load_scenario("balanced", days=20), rng=1).run(20).timeseries
    fig = dashboard(ts, r"a $\frac$ b $c$: 20 days")
    fig.savefig(io.BytesIO(), format="png")
    assert fig.texts[0].get_text() == r"a \$\frac\$ b \$c\$: 20 days"
    overlay(ts, ts, (r"$\frac", "b$"), "t").savefig(io.BytesIO(), format="png")


def test_the_command_defers_modules_it_never_uses_and_they_still_work():
    """Start-up (issue 11): the command line does not run Mesa's spaces, scipy.stats or
    networkx, yet a user who reaches for them gets them."""
    code = (
        "import sys\n"
        "from chainsim.cli import main\n"
        "assert main(['validate', 'balanced']) == 0\n"
        "import chainsim.model\n"
        "heavy = [m for m in ('networkx', 'scipy.spatial', 'scipy.stats', 'matplotlib')"
        " if m in sys.modules]\n"
        "assert not heavy, heavy\n"
        "from mesa.discrete_space import OrthogonalMooreGrid\n"
        "import mesa\n"
        "assert mesa.space.MultiGrid and OrthogonalMooreGrid\n"
        "print('ok')\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and out.stdout.splitlines()[-1] == "ok", out.stderr
