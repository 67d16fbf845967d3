"""Experiments: designs, sweeps that resume and agree across workers, reports, diagnose."""

from __future__ import annotations

import json
import os
import signal
import multiprocessing
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from helpers import failing_run, write_experiment
from scipy import stats

from chainsim import ScenarioError, parallel
from chainsim.experiments import JOURNAL, RUNS, load_experiment, read_journal, sweep
from chainsim.report import load_sweep, paired_effects, sensitivity, write_report

CHAINSIM = str(Path(sys.executable).parent / "chainsim")
ROOT = Path(__file__).resolve().parent.parent


# -- experiment files ----------------------------------------------------------------


def test_shipped_experiments_load(tmp_path):
    sizes = {}
    for path in sorted((ROOT / "experiments").glob("*.toml")):
        exp = load_experiment(path)
        sizes[path.stem] = exp.runs
        assert exp.description and exp.metrics
    assert sizes == {"capacity_vs_quality_grid": 100, "sobol_all_links": 640,
                     "weakest_link_oat": 170}


def test_grid_and_oat_designs(tmp_path):
    grid = load_experiment(write_experiment(tmp_path / "g.toml", kind="grid", factors={
        "operations.capacity": "{ min = 40, max = 80, levels = 3 }",
        "service.quality": "[0.5, 0.8, 0.9]",
        "sales.patience": "{ min = 1, max = 5, levels = 3 }"}))
    assert len(grid.points) == 27 and grid.runs == 54
    assert {p["operations.capacity"] for p in grid.points} == {40.0, 60.0, 80.0}
    assert {p["sales.patience"] for p in grid.points} == {1, 3, 5}
    oat = load_experiment(write_experiment(tmp_path / "o.toml", kind="oat", factors={
        "operations.capacity": "[40, 100, 120]",  # 100 is the base value: no extra point
        "service.quality": "[0.5, 0.9]"}))
    assert oat.points[0] == {} and len(oat.points) == 1 + 2 + 2


@pytest.mark.parametrize(("kind", "extra", "expected"),
                         [("lhs", "samples = 20", 20), ("sobol", "samples = 16", 16 * (2 + 2)),
                          ("morris", "samples = 5", 5 * (2 + 1))])
def test_sampled_designs_come_from_salib(tmp_path, kind, extra, expected):
    exp = load_experiment(write_experiment(tmp_path / "s.toml", kind=kind, design_extra=extra,
                                           factors={"operations.capacity": "{ min = 20, max = 90 }",
                                                    "sales.patience": "{ min = 0, max = 6 }"}))
    assert len(exp.points) == expected
    caps = [p["operations.capacity"] for p in exp.points]
    assert min(caps) >= 20 and max(caps) <= 90
    assert all(isinstance(p["sales.patience"], int) for p in exp.points)  # whole days
    again = load_experiment(tmp_path / "s.toml")
    assert again.points == exp.points  # the design is seeded


BAD = [
    ({"factors": {"operations.capacty": "[1, 2]"}}, "factors: unknown key 'operations.capacty' "
     "(did you mean 'operations.capacity'?)"),
    ({"factors": {"service.quality": "{ min = 0.9, max = 0.5 }"}, "kind": "lhs"},
     "factors.service.quality: empty range"),
    ({"factors": {"service.quality": "[]"}}, "factors.service.quality: empty list of levels"),
    ({"kind": "fancy"}, "design.kind = 'fancy' is not allowed: must be one of grid, oat, lhs, "
     "sobol, morris"),
    ({"factors": {"service.quality": "[0.5, 1.5]"}},
     "service.quality = 1.5 is not allowed: must be a number from 0 to 1"),
    ({"kind": "sobol"}, "design 'sobol' samples ranges"),
    ({"factors": {"service.quality": "{ min = 0.2, max = 0.9 }"}}, "design 'grid' needs levels"),
    ({"kind": "sobol", "extra": "samples = 20",
      "factors": {"service.quality": "{ min = 0.2, max = 0.9 }"}}, "needs a power of 2"),
    ({"top": {"replicatons": 3}}, "unknown key 'replicatons' (did you mean 'replications'?)"),
    ({"top": {"metrics": '["repeat_purchase"]'}}, "unknown metric 'repeat_purchase'"),
    ({"top": {"scenario": '"nope"'}}, "unknown scenario 'nope'"),
    ({"top": {"replications": 0}}, "replications"),
]


@pytest.mark.parametrize(("bad", "message"), BAD)
def test_bad_experiment_files_are_refused_before_any_run(tmp_path, bad, message):
    path = write_experiment(tmp_path / "bad.toml", kind=bad.get("kind", "grid"),
                            design_extra=bad.get("extra", ""), factors=bad.get("factors"),
                            **bad.get("top", {}))
    with pytest.raises(ScenarioError) as info:
        load_experiment(path)
    assert message in str(info.value) and str(info.value).startswith(str(path))
    out = subprocess.run([CHAINSIM, "sweep", str(path), "--out", str(tmp_path / "out")],
                         capture_output=True, text=True, cwd=tmp_path)
    assert out.returncode == 2 and message in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists() and not (tmp_path / "sweeps").exists()


# -- sweeps ------------------------------------------------------------------------------


def _small(tmp_path, name="e.toml", **kw):
    return load_experiment(write_experiment(tmp_path / name, **kw))


def test_results_do_not_depend_on_the_number_of_workers(tmp_path):
    exp = _small(tmp_path, replications=3)
    one = sweep(exp, tmp_path / "w1", workers=1)
    two = sweep(exp, tmp_path / "w2", workers=2)
    assert one.ran == two.ran == exp.runs == 12 and one.failed == 0
    a, b = pd.read_parquet(tmp_path / "w1" / RUNS), pd.read_parquet(tmp_path / "w2" / RUNS)
    pd.testing.assert_frame_equal(a, b)
    assert list(a.run_id) == list(range(12))
    assert a.repeat_purchases.notna().all()


def test_a_spawned_worker_leaves_without_a_teardown_and_keeps_its_exit_status(tmp_path):
    """Issue 11: the interpreter's teardown (0.2 s a worker) is skipped, nothing else."""
    def child(context, code: int):
        marker = tmp_path / f"torn-down-{code}"
        # exec, a builtin: the child need not import this test module to find its target
        process = context.Process(target=exec, args=(
            f"import atexit, pathlib, sys\n"
            f"atexit.register(pathlib.Path({str(marker)!r}).write_text, 'torn down')\n"
            f"sys.exit({code})\n",))
        process.start()
        return process, marker

    quick = [child(parallel.process_context("spawn"), code) for code in (0, 3)]
    plain = child(multiprocessing.get_context("spawn"), 4)  # the test can fail
    for process, marker in quick:
        process.join(60)
        assert process.exitcode in (0, 3) and not marker.exists()  # atexit: teardown only
    assert [p.exitcode for p, _ in quick] == [0, 3]
    plain[0].join(60)
    assert plain[0].exitcode == 4 and plain[1].read_text() == "torn down"


FORK_OR_SPAWN = """\
import sys
from pathlib import Path
import pandas as pd
from chainsim import parallel
from chainsim.experiments import RUNS, load_experiment, sweep
exp, out = load_experiment(sys.argv[1]), Path(sys.argv[2])
used, context = [], parallel.process_context
parallel.process_context = lambda method: used.append(method) or context(method)
sweep(exp, out / "fork", workers=2)
parallel.start_method = lambda: "spawn"
sweep(exp, out / "spawn", workers=2)
assert used == ["fork", "spawn"], used
pd.testing.assert_frame_equal(pd.read_parquet(out / "fork" / RUNS),
                              pd.read_parquet(out / "spawn" / RUNS))
print("same runs")
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="workers fork on Linux")
def test_forked_and_spawned_workers_give_the_same_runs(tmp_path):
    """A plain program forks its sweep's workers (a test runner's threads make the rest of
    this suite spawn them), and gets the same runs as with spawned ones."""
    path = write_experiment(tmp_path / "e.toml", replications=3)
    out = subprocess.run([sys.executable, "-c", FORK_OR_SPAWN, str(path), str(tmp_path)],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "same runs" and out.stderr == "", out.stderr


def test_workers_fork_only_from_a_linux_process_running_no_other_thread():
    """fork copies whichever locks other threads hold: with a thread running, spawn."""
    if threading.active_count() == 1:
        assert parallel.start_method() == ("fork" if sys.platform.startswith("linux")
                                           else "spawn")
    stop = threading.Event()
    other = threading.Thread(target=stop.wait)
    other.start()
    try:
        assert parallel.start_method() == "spawn"
    finally:
        stop.set()
        other.join()


def test_replication_k_runs_on_the_same_random_numbers_at_every_point(tmp_path):
    """Common random numbers: the price cannot change who buys, so at every price level
    replication k has exactly the same repeat purchases -- and replications differ."""
    exp = _small(tmp_path, replications=3, factors={"economics.price": "[50, 100, 150]"})
    sweep(exp, tmp_path / "out", workers=2)
    runs = pd.read_parquet(tmp_path / "out" / RUNS)
    table = runs.pivot(index="replication", columns="point", values="repeat_purchases")
    for point in table.columns:
        assert table[point].tolist() == table[0].tolist()
    assert table[0].nunique() == 3  # each replication its own numbers
    revenue = runs.pivot(index="replication", columns="point", values="revenue")
    assert (revenue[2] > revenue[1]).all() and (revenue[1] > revenue[0]).all()


def test_a_finished_sweep_resumes_as_a_no_op_and_refuses_another_experiment(tmp_path):
    exp = _small(tmp_path)
    sweep(exp, tmp_path / "out", workers=1)
    before = (tmp_path / "out" / JOURNAL).read_bytes()
    again = sweep(exp, tmp_path / "out", workers=1)
    assert again.ran == 0 and again.skipped == exp.runs
    assert (tmp_path / "out" / JOURNAL).read_bytes() == before
    other = _small(tmp_path, name="f.toml", seed=6)
    with pytest.raises(ScenarioError, match="holds the results of a different experiment"):
        sweep(other, tmp_path / "out", workers=1)


def test_a_torn_journal_line_is_dropped_and_that_run_redone(tmp_path):
    exp = _small(tmp_path)
    sweep(exp, tmp_path / "out", workers=1)
    journal = tmp_path / "out" / JOURNAL
    lines = journal.read_bytes().splitlines(keepends=True)
    journal.write_bytes(b"".join(lines[:3]) + lines[3][: len(lines[3]) // 2])  # killed mid-write
    assert len(read_journal(tmp_path / "out")[0]) == 3
    result = sweep(exp, tmp_path / "out", workers=1)
    assert result.ran == exp.runs - 3
    ids = [json.loads(line)["run_id"] for line in journal.read_bytes().splitlines()]
    assert sorted(ids) == list(range(exp.runs))  # every run exactly once


def test_resume_after_kill_9_completes_every_run_exactly_once(tmp_path):
    path = write_experiment(tmp_path / "k.toml", days=150, replications=6, factors={
        "operations.capacity": "[40, 60, 80]", "service.quality": "[0.5, 0.7, 0.9]"})
    out = tmp_path / "out"
    proc = subprocess.Popen([CHAINSIM, "sweep", str(path), "--out", str(out), "--workers", "2"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    journal = out / JOURNAL
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if journal.exists() and journal.read_bytes().count(b"\n") >= 5:
            break
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)  # the sweep and its workers, no goodbyes
    proc.wait()
    finished_before = journal.read_bytes().count(b"\n")
    assert 5 <= finished_before < 54, "the kill should land part-way"

    resumed = subprocess.run([CHAINSIM, "sweep", str(path), "--out", str(out), "--workers", "2"],
                             capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr
    assert "resuming" in resumed.stdout
    runs = pd.read_parquet(out / RUNS)
    assert sorted(runs.run_id) == list(range(54)) and (runs.status == "ok").all()
    ids = [json.loads(line)["run_id"] for line in journal.read_bytes().splitlines()]
    assert len(ids) == len(set(ids)) == 54  # nothing duplicated
    # and the results are those of an uninterrupted sweep
    fresh = sweep(load_experiment(path), tmp_path / "fresh", workers=2)
    assert fresh.ran == 54
    pd.testing.assert_frame_equal(runs, pd.read_parquet(tmp_path / "fresh" / RUNS))


def test_a_run_that_raises_is_recorded_and_the_sweep_goes_on(tmp_path):
    exp = _small(tmp_path, replications=3)
    result = sweep(exp, tmp_path / "out", workers=2, run=failing_run)
    assert result.ran == 12 and result.failed == 4
    runs = pd.read_parquet(tmp_path / "out" / RUNS)
    failed = runs[runs.status == "failed"]
    assert list(failed.run_id) == [0, 3, 6, 9]
    assert failed.error.str.contains("RuntimeError: boom in run").all()
    assert failed.repeat_purchases.isna().all() and runs[runs.status == "ok"].orders.notna().all()
    write_report(tmp_path / "out")
    assert "**failed: 4**" in (tmp_path / "out" / "report.md").read_text()


def test_a_dask_local_cluster_gives_the_same_results(tmp_path):
    from distributed import LocalCluster

    exp = _small(tmp_path)
    sweep(exp, tmp_path / "local", workers=2)
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                      dashboard_address=None) as cluster:
        result = sweep(exp, tmp_path / "dask", scheduler=cluster.scheduler_address)
    assert result.ran == exp.runs
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "local" / RUNS),
                                  pd.read_parquet(tmp_path / "dask" / RUNS))


def test_an_unreachable_scheduler_is_a_one_line_error(tmp_path):
    path = write_experiment(tmp_path / "e.toml")
    out = subprocess.run([CHAINSIM, "sweep", str(path), "--out", str(tmp_path / "o"),
                          "--scheduler", "tcp://127.0.0.1:9"], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 2
    assert out.stderr.startswith("chainsim: error: cannot reach the Dask scheduler at "
                                 "tcp://127.0.0.1:9")
    assert len(out.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "o").exists()  # nothing written before the cluster answered


# -- reports and sensitivity ------------------------------------------------------------


def test_report_of_a_grid_and_of_an_oat_sweep(tmp_path):
    grid = _small(tmp_path, replications=3)
    sweep(grid, tmp_path / "grid", workers=2)
    names = {p.name for p in write_report(tmp_path / "grid")}
    assert {"points.csv", "report.md", "heatmap_repeat_purchases.png"} <= names
    points = pd.read_csv(tmp_path / "grid" / "points.csv")
    row = points[(points.point == 0) & (points.metric == "repeat_purchases")].iloc[0]
    raw = pd.read_parquet(tmp_path / "grid" / RUNS)
    values = raw[raw.point == 0].repeat_purchases
    assert row["mean"] == pytest.approx(values.mean()) and row.runs == 3
    want = stats.t.interval(0.95, 2, loc=values.mean(), scale=stats.sem(values))
    assert (row.ci_low, row.ci_high) == pytest.approx(want, rel=1e-9)

    oat = load_experiment(write_experiment(tmp_path / "o.toml", kind="oat", replications=4))
    sweep(oat, tmp_path / "oat", workers=2)
    names = {p.name for p in write_report(tmp_path / "oat")}
    assert "tornado_repeat_purchases.png" in names
    assert "| factor | level | gain | 95 % CI |" in (tmp_path / "oat" / "report.md").read_text()
    # each gain is the mean of the paired differences the journal holds
    records, _ = read_journal(tmp_path / "oat")
    effects = paired_effects(load_sweep(tmp_path / "oat"), "repeat_purchases")
    reps = oat.replications
    for i, point in enumerate(oat.points[1:], start=1):
        ((path, level),) = point.items()
        diffs = [records[i * reps + r]["metrics"]["repeat_purchases"]
                 - records[r]["metrics"]["repeat_purchases"] for r in range(reps)]
        row = effects[(effects.factor == path) & (effects.level == level)].iloc[0]
        assert row.gain == pytest.approx(np.mean(diffs), rel=1e-12, abs=1e-12)
        want = (np.mean(diffs),) * 2 if np.std(diffs) == 0 else stats.t.interval(
            0.95, reps - 1, loc=np.mean(diffs), scale=stats.sem(diffs))
        assert (row.ci_low, row.ci_high) == pytest.approx(want, rel=1e-9, abs=1e-12)


@pytest.mark.parametrize(("kind", "extra"), [("sobol", "samples = 32"), ("morris", "samples = 10")])
def test_salib_indices_rank_a_dominant_factor_first(tmp_path, kind, extra):
    """In a business starved of crews, Operations capacity drives repeat purchases;
    the cost of goods cannot change who buys, so its index must be nil."""
    exp = load_experiment(write_experiment(
        tmp_path / "s.toml", kind=kind, design_extra=extra, scenario='"weak_operations"',
        days=200, replications=1, factors={
            "operations.capacity": "{ min = 25, max = 60 }",
            "service.quality": "{ min = 0.5, max = 0.95 }",
            "economics.cost_of_goods": "{ min = 10, max = 80 }"}))
    sweep(exp, tmp_path / "out", workers=2)
    idx = sensitivity(load_sweep(tmp_path / "out"), "repeat_purchases").set_index("factor")
    assert np.isfinite(idx.to_numpy()).all()
    if kind == "sobol":
        st = idx["ST"]
        assert st["operations.capacity"] > 0.5
        assert st["operations.capacity"] > 5 * st["service.quality"]
        assert abs(st["economics.cost_of_goods"]) < 1e-9
    else:
        mu = idx["mu_star"]
        assert mu["operations.capacity"] > 5 * mu["service.quality"]
        assert mu["economics.cost_of_goods"] == 0.0


def test_report_refuses_a_directory_that_is_not_a_sweep(tmp_path):
    out = subprocess.run([CHAINSIM, "report", str(tmp_path)], capture_output=True, text=True)
    assert out.returncode == 2 and "is not a sweep directory" in out.stderr


# -- diagnose ------------------------------------------------------------------------------


def test_diagnose_json_names_the_known_weak_link(tmp_path):
    out = subprocess.run([CHAINSIM, "diagnose", "weak_operations", "--reps", "3", "--days", "200",
                          "--json"], capture_output=True, text=True, cwd=tmp_path, timeout=600)
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert data["weakest_link"] == "operations" and data["move"] == "capacity"
    assert len(data["ranking"]) == 8 and data["ranking"][0]["function"] == "operations"
    first = data["ranking"][0]
    assert first["ci_low"] <= first["gain"] <= first["ci_high"]
    # every move costs the budget a month (or less, where quality reaches its ceiling)
    assert data["budget"] > 0 and all(0 < m["cost"] <= data["budget"] + 1e-6
                                      for m in data["ranking"])
    assert first["gain_per_money"] == pytest.approx(first["gain"] / first["cost"] * 1000)
    assert data["verdict"].startswith("Operations is your weakest link: +")
    assert list(tmp_path.iterdir()) == []  # --json without --out writes nothing


def test_diagnose_prints_a_ranking_a_verdict_and_draws_a_tornado(tmp_path):
    out = subprocess.run([CHAINSIM, "diagnose", "call_in_test", "--reps", "3", "--days", "150",
                          "--metric", "active_customers", "--out", str(tmp_path / "d")],
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr
    assert "is your weakest link" in out.stdout and "Sales" in out.stdout.splitlines()[-3]
    assert (tmp_path / "d" / "tornado.png").exists()
    saved = json.loads((tmp_path / "d" / "diagnosis.json").read_text())
    assert saved["metric"] == "active_customers" and saved["weakest_link"] == "sales"


@pytest.mark.parametrize(("args", "message"), [
    (["--reps", "1"], "--reps: 1 is not allowed"),
    (["--step", "0"], "--step: 0 is not allowed"),
    (["--budget", "-5"], "--budget: -5 is not allowed"),
    (["--budget", "100", "--step", "0.2"], "not allowed with argument"),
    (["--metric", "joy"], "invalid choice: 'joy'"),
])
def test_diagnose_bad_options(args, message):
    out = subprocess.run([CHAINSIM, "diagnose", "balanced", *args], capture_output=True, text=True)
    assert out.returncode == 2 and message in out.stderr
