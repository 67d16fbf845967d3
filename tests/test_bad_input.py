"""Every bad input and fault of issue 13, through the installed command.

Each case: the exit status, one line on stderr naming what is wrong, no
traceback, and nothing written (or, for faults, finished results intact).
"""

from __future__ import annotations

import json
import os
import resource
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

CHAINSIM = str(Path(sys.executable).parent / "chainsim")

SMALL_OAT = """\
scenario = "balanced"
days = 20
replications = 2
[design]
kind = "oat"
[factors]
"operations.capacity" = [80, 120]
"""


def chainsim(*args, cwd, timeout=120, **kw):
    return subprocess.run([CHAINSIM, *args], capture_output=True, text=True, cwd=cwd,
                          timeout=timeout, **kw)


def files(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")}


def one_line_error(out, status: int, *fragments: str) -> None:
    assert "Traceback" not in out.stderr, out.stderr
    assert out.returncode == status, (out.returncode, out.stderr)
    lines = [line for line in out.stderr.strip().splitlines() if line]
    assert len(lines) == 1, out.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


def experiment(tmp_path: Path, text: str, name: str = "e.toml") -> str:
    path = tmp_path / name
    path.write_bytes(text.encode() if isinstance(text, str) else text)
    return str(path)


BAD = [
    # no limits
    (["run", "balanced", "--days", "100000000"],
     ["--days 100000000", "run.days = 100000000 is not allowed", "from 1 to 36500"]),
    (["diagnose", "balanced", "--reps", "1000000000"],
     ["--reps: 1000000000 is not allowed: must be from 2 to 10000"]),
    (["run", "balanced", "--days", "36500", "--set", "market.size=1000000000000", "--set",
      "marketing.capacity=1000000000", "--set", "marketing.quality=1"],
     ["this run would take", "add --no-limits to run it anyway"]),
    (["diagnose", "balanced", "--reps", "10000", "--days", "3650"],
     ["this diagnosis would take", "use a smaller --reps or --days"]),
    # non-finite and huge numbers
    (["run", "balanced", "--set", "retention.interval_days=inf"],
     ["retention.interval_days = inf is not allowed"]),
    (["run", "balanced", "--set", "word_of_mouth.detractor_talk=inf"],
     ["word_of_mouth.detractor_talk = inf is not allowed: must be a number from 0 to 1000"]),
    (["run", "balanced", "--set", "market.size=100000000000000000000"],
     ["market.size = 100000000000000000000 is not allowed"]),
    (["run", "balanced", "--set", "operations.capacity=nan"],
     ["operations.capacity = nan is not allowed"]),
    # options
    (["sweep", "weakest_link_oat", "--scheduler", "garbage"],
     ["--scheduler: 'garbage' is not a scheduler address"]),
    (["run", "balanced", "--out", ""], ["--out: give a folder for the results"]),
    (["run", "balanced", "--seed", "-1"], ["--seed: -1 is not allowed"]),
    (["sweep", "experiments/nope.toml"], ["experiment file not found: experiments/nope.toml"]),
]


@pytest.mark.parametrize(("args", "fragments"), BAD, ids=[" ".join(a)[:60] for a, _ in BAD])
def test_a_bad_option_is_one_line_exit_2_and_nothing_written(args, fragments, tmp_path):
    out = chainsim(*args, cwd=tmp_path)
    one_line_error(out, 2, *fragments)
    assert files(tmp_path) == set()


EXPERIMENTS = [
    (b"\xff\xfe not utf-8", ["the file is not UTF-8 text"]),
    (SMALL_OAT.replace('scenario = "balanced"', 'scenario = "balanced"\nset = 5'),
     ["set = 5 is not allowed: must be a table"]),
    (SMALL_OAT.replace("days = 20", 'days = "5"'), ["days = '5' is not allowed: must be a "
                                                     "whole number"]),
    (SMALL_OAT.replace("replications = 2", "replications = true"),
     ["replications = true is not allowed: must be a whole number"]),
    (SMALL_OAT.replace("days = 20", "days = 100000000"),
     ["days = 100000000 is not allowed: must be at most 36500"]),
    ('scenario = "balanced"\n[design]\nkind = "grid"\n[factors]\n'
     '"operations.capacity" = {min = 1, max = 200, levels = 1000}\n'
     '"sales.capacity" = {min = 1, max = 200, levels = 1000}\n',
     ["the design has 1,000,000 points", "chainsim sweep --no-limits"]),
    ('scenario = "balanced"\n[design]\nkind = "lhs"\nsamples = 1000000000\n[factors]\n'
     '"operations.capacity" = {min = 1, max = 200}\n',
     ["design.samples = 1000000000 is not allowed: must be at most 100000"]),
    (SMALL_OAT.replace('"operations.capacity" = [80, 120]',
                       '"operations.capacity" = {min = 1, max = inf, levels = 3}'),
     ["factors.operations.capacity.max = inf is not allowed: must be a finite number"]),
]


@pytest.mark.parametrize(("text", "fragments"), EXPERIMENTS,
                         ids=[f[0][:40] for _, f in EXPERIMENTS])
def test_an_experiment_file_is_checked_as_strictly_as_a_scenario(text, fragments, tmp_path):
    path = experiment(tmp_path, text)
    before = files(tmp_path)
    out = chainsim("sweep", path, "--out", str(tmp_path / "s"), cwd=tmp_path)
    one_line_error(out, 2, *fragments)
    assert files(tmp_path) == before


def test_a_deep_extends_chain_and_a_scenario_name_that_is_a_path(tmp_path):
    previous = "balanced"
    for i in range(60):
        (tmp_path / f"s{i}.toml").write_text(f'extends = "{previous}"\n')
        previous = f"s{i}.toml"
    out = chainsim("validate", "s59.toml", cwd=tmp_path)
    one_line_error(out, 2, "extends goes more than 32 files deep")
    for name in ("/tmp/chainsim-escape", "../../r", ".."):
        (tmp_path / "bad.toml").write_text(f'name = "{name}"\nextends = "balanced"\n'
                                           "[run]\ndays = 10\n")
        out = chainsim("run", "bad.toml", "--no-verdict", cwd=tmp_path)
        assert out.returncode == 0, out.stderr
        written = [p for p in (tmp_path / "runs").iterdir()]
        assert all(p.parent == tmp_path / "runs" for p in written)  # under runs/, nowhere else
    assert not Path("/tmp/chainsim-escape").exists()
    assert not any(p.name.startswith("r-") for p in tmp_path.parent.parent.iterdir())
    out = chainsim("compare", "bad.toml", "balanced", "--no-verdict", "--days", "10",
                   cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert all(p.parent == tmp_path / "runs" for p in (tmp_path / "runs").iterdir())


def test_out_must_be_new_empty_or_an_earlier_output_of_the_same_kind(tmp_path):
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep me")
    out = chainsim("run", "balanced", "--days", "10", "--no-verdict", "--out", str(mine),
                   cwd=tmp_path)
    one_line_error(out, 2, "the folder holds other files and no earlier chainsim run")
    assert files(mine) == {"notes.txt"}
    first = chainsim("run", "balanced", "--days", "10", "--no-verdict", "--out", "r",
                     cwd=tmp_path)
    again = chainsim("run", "balanced", "--days", "20", "--no-verdict", "--out", "r",
                     cwd=tmp_path)
    assert first.returncode == again.returncode == 0
    assert "writing over the earlier run in r/" in again.stderr
    assert json.loads((tmp_path / "r" / "summary.json").read_text())["days"] == 20
    # someone else's journal in the folder: not appended to
    (mine / "journal.jsonl").write_text('{"run_id": 0}\n')
    path = experiment(tmp_path, SMALL_OAT)
    out = chainsim("sweep", path, "--out", str(mine), cwd=tmp_path)
    one_line_error(out, 2, "the folder holds other files and no experiment.json")
    assert (mine / "journal.jsonl").read_text() == '{"run_id": 0}\n'


def test_a_killed_runs_staging_folder_is_cleaned_by_the_next_run(tmp_path):
    stale = tmp_path / ".r.partial-999999999"
    stale.mkdir()
    (stale / "timeseries.csv").write_text("half")
    out = chainsim("run", "balanced", "--days", "10", "--no-verdict", "--out", "r",
                   cwd=tmp_path)
    assert out.returncode == 0
    assert not stale.exists() and (tmp_path / "r" / "summary.json").exists()


def test_the_journal_distrusts_its_lines(tmp_path):
    path = experiment(tmp_path, SMALL_OAT)
    assert chainsim("sweep", path, "--out", "s", "--workers", "1", cwd=tmp_path).returncode == 0
    journal = tmp_path / "s" / "journal.jsonl"
    lines = journal.read_text().splitlines()
    real = json.loads(lines[0])
    forged = {**real, "metrics": {**real["metrics"], "repeat_purchases": 1e9}}
    forged.pop("sig")
    journal.write_text("\n".join([json.dumps(forged), '{"run_id": "x"}', "[1, 2]",
                                  '{"run_id": 99999, "status": "ok", "metrics": {}}', *lines])
                       + "\n")
    (tmp_path / "s" / "runs.parquet").unlink()
    out = chainsim("sweep", path, "--out", "s", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert "4 line(s) of s/journal.jsonl could not be used" in out.stderr
    assert "resuming s: 6 runs already done, 0 to go" in out.stdout  # nothing run twice
    report = chainsim("report", "s", cwd=tmp_path)
    assert report.returncode == 0
    import pandas as pd

    runs = pd.read_parquet(tmp_path / "s" / "runs.parquet")
    assert runs.repeat_purchases.max() < 1e9  # the forged record did not win
    assert runs.loc[runs.run_id == real["run_id"], "repeat_purchases"].item() == \
        real["metrics"]["repeat_purchases"]


def test_a_second_sweep_on_the_same_folder_is_refused_while_the_first_runs(tmp_path):
    from chainsim.experiments import sweep_lock  # imported now: the check below is at once

    path = experiment(tmp_path, SMALL_OAT.replace("days = 20", "days = 3000"))
    first = subprocess.Popen([CHAINSIM, "sweep", path, "--out", "s", "--workers", "1"],
                             cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True)
    try:
        deadline = time.monotonic() + 60
        while not (tmp_path / "s" / "journal.jsonl").exists():
            assert time.monotonic() < deadline
            time.sleep(0.1)
        second = chainsim("sweep", path, "--out", "s", cwd=tmp_path)
        one_line_error(second, 2, "another sweep is writing to s")
        workers = Path(f"/proc/{first.pid}/task/{first.pid}/children").read_text().split()
        # forked, not spawned: the same command line as the sweep's own (issue 11)
        command = Path(f"/proc/{first.pid}/cmdline").read_bytes()
        assert all(Path(f"/proc/{w}/cmdline").read_bytes() == command for w in workers)
    finally:
        first.kill()
        first.wait()
    # the folder is free the moment its sweep is gone, even while a worker lingers
    with sweep_lock(tmp_path / "s"):
        pass
    # its worker, left with runs of 3,000 days queued, leaves with its parent
    assert workers
    deadline = time.monotonic() + 10
    while any(Path(f"/proc/{w}").exists() and "Z" not in _state(w) for w in workers):
        assert time.monotonic() < deadline, "a worker outlived its killed sweep"
        time.sleep(0.2)


def _state(pid: str) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return "Z"


def test_report_on_an_empty_a_damaged_and_a_truncated_sweep(tmp_path):
    path = experiment(tmp_path, SMALL_OAT)
    # a sweep killed before its first run: the manifest and nothing else
    first = chainsim("sweep", path, "--out", "s", "--workers", "1", cwd=tmp_path)
    assert first.returncode == 0
    (tmp_path / "s" / "journal.jsonl").write_text("")
    (tmp_path / "s" / "runs.parquet").unlink()
    out = chainsim("report", "s", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert "No run has finished yet" in (tmp_path / "s" / "report.md").read_text()
    header = (tmp_path / "s" / "points.csv").read_text().splitlines()
    assert header == ["point,operations.capacity,metric,runs,mean,sd,ci_low,ci_high"]
    # a truncated runs.parquet: the report reads the journal instead
    assert chainsim("sweep", path, "--out", "s", cwd=tmp_path).returncode == 0
    parquet = tmp_path / "s" / "runs.parquet"
    parquet.write_bytes(parquet.read_bytes()[:100])
    out = chainsim("report", "s", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert "runs.parquet could not be read" in (tmp_path / "s" / "report.md").read_text()
    points = (tmp_path / "s" / "points.csv").read_text()
    # a damaged experiment.json: one line, and the earlier report untouched
    (tmp_path / "s" / "experiment.json").write_text('{"name": "x"')
    out = chainsim("report", "s", cwd=tmp_path)
    one_line_error(out, 2, "experiment.json is damaged")
    assert (tmp_path / "s" / "points.csv").read_text() == points
    (tmp_path / "s" / "experiment.json").write_text('{"name": "x"}')
    one_line_error(chainsim("report", "s", cwd=tmp_path), 2, "'design' is missing")
    one_line_error(chainsim("report", "nowhere", cwd=tmp_path), 2, "nowhere is not a folder")


def _full_disk(limit: int):
    """The child can write at most ``limit`` bytes a file (Python turns SIGXFSZ into EFBIG)."""
    def apply():
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    return apply


def test_a_full_disk_is_one_line_and_finished_results_stay(tmp_path):
    out = chainsim("run", "balanced", "--days", "200", "--no-verdict", "--out", "r",
                   cwd=tmp_path, preexec_fn=_full_disk(20_000))
    one_line_error(out, 1, "cannot write", "File too large")
    assert not (tmp_path / "r").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".r.partial")]
    path = experiment(tmp_path, SMALL_OAT)
    out = chainsim("sweep", path, "--out", "s", "--workers", "1", cwd=tmp_path,
                   preexec_fn=_full_disk(4_000))
    assert out.returncode == 1 and "Traceback" not in out.stderr, out.stderr
    assert "cannot write in s" in out.stderr and "are saved in s/journal.jsonl" in out.stderr
    resumed = chainsim("sweep", path, "--out", "s", cwd=tmp_path)
    assert resumed.returncode == 0 and "resuming s:" in resumed.stdout


def test_ctrl_c_during_a_sweep_says_truly_what_was_saved(tmp_path):
    # 180 runs of four years: interrupted after two, it cannot finish before Ctrl-C lands
    path = experiment(tmp_path, SMALL_OAT.replace("days = 20", "days = 1500")
                      .replace("replications = 2", "replications = 60"))
    # Ctrl-C as at a terminal: a command started in the background by a shell (as CI may
    # be) inherits SIGINT ignored, and Python then keeps ignoring it
    proc = subprocess.Popen([CHAINSIM, "sweep", path, "--out", "s", "--workers", "1"],
                            cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, start_new_session=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    journal = tmp_path / "s" / "journal.jsonl"
    deadline = time.monotonic() + 120
    while not (journal.exists() and journal.read_text().count("\n") >= 2):
        assert time.monotonic() < deadline, "no run finished"
        time.sleep(0.1)
    os.killpg(proc.pid, signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    saved = journal.read_text().count("\n")
    assert proc.returncode == 130
    assert "nothing was written" not in err
    assert f"chainsim: interrupted: {saved} run(s) finished now and 0 before are saved" in err


def test_more_workers_than_cores_are_capped_and_said(tmp_path):
    path = experiment(tmp_path, SMALL_OAT)
    out = chainsim("sweep", path, "--out", "s", "--workers", "1000", cwd=tmp_path)
    assert out.returncode == 0
    assert "--workers 1000 is more than this machine's" in out.stderr
