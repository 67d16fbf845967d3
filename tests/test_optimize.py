"""chainsim optimize: pricing a split, the search's guarantees, the check on fresh seeds."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from chainsim.moves import running_cost
from chainsim.optimizer import Split, check_budget, cheapest_step, levers, optimize, spend
from chainsim.scenarios import load_scenario

CHAINSIM = str(Path(sys.executable).parent / "chainsim")
STORIES = ["balanced", "weak_operations", "lawn_care", "silo_handoff"]


@pytest.mark.parametrize("story", STORIES)
@given(shares=st.lists(st.floats(0, 1), min_size=8, max_size=8).filter(lambda s: sum(s) > 0.01),
       budget=st.sampled_from([500.0, 2500.0, 20000.0]))
def test_a_split_costs_exactly_its_budget(story, shares, budget):
    """Quality money is priced at today's capacity, capacity money at the new quality: the
    running cost grows by the budget, to the cent (unless a quality reaches its ceiling)."""
    sc = load_scenario(story)
    paths = levers(sc, budget)
    split = Split.of(dict(zip(paths, shares, strict=False)), budget)
    after = spend(sc, dict(split.money))
    added = running_cost(after) - running_cost(sc)
    at_ceiling = any(after.get(p) >= 0.999 - 1e-9 for p, _ in split.money if p.endswith("quality"))
    if not at_ceiling:
        assert added == pytest.approx(budget, rel=1e-9)
    assert added <= budget * (1 + 1e-9)
    assert math.isclose(split.budget, budget)


def test_a_split_moves_only_the_levers_it_pays_for():
    sc = load_scenario("balanced")
    after = Split.of({"operations.capacity": 3, "service.quality": 1}, 2000).apply(sc)
    changed = {p for p in ("marketing.capacity", "sales.capacity", "sales.quality",
                           "handoff.quality", "operations.capacity", "operations.quality",
                           "service.capacity", "service.quality") if after.get(p) != sc.get(p)}
    assert changed == {"operations.capacity", "service.quality"}
    # 1,500 a month on operations capacity at 10 a case-day x quality factor
    qf = 1 + 0.25 * math.log2(1 / 0.05)
    assert after.get("operations.capacity") == pytest.approx(100 + 1500 / 30 / (10 * qf))


def test_a_split_reads_as_shares():
    split = Split.of({"operations.capacity": 0.7, "service.quality": 0.3}, 1000)
    assert split.title == "70 % Operations capacity + 30 % Service quality"
    assert Split.of({"handoff.quality": 2}, 1000).title == "Hand-off quality"
    with pytest.raises(ValueError):
        Split.of({"handoff.quality": 0}, 1000)


def test_a_budget_below_the_cheapest_move_is_refused_with_its_price():
    sc = load_scenario("balanced")
    lever, price = cheapest_step(sc)
    check_budget(sc, price * 1.01)
    with pytest.raises(ValueError, match=r"below the cost of any move.*costs"):
        check_budget(sc, price * 0.99)
    with pytest.raises(ValueError, match="must be a number > 0"):
        check_budget(sc, float("nan"))


@pytest.fixture(scope="module")
def single_binding_link():
    """weak_operations for 120 days: Operations capacity is the one link that binds, and
    every other lever's money is wasted or worse (the story's lesson)."""
    sc = load_scenario("weak_operations").replace({"run.days": 120})
    return sc, optimize(sc, 2500, reps=2, check_reps=10, generations=1)


def test_with_a_single_binding_link_the_whole_budget_goes_there(single_binding_link):
    sc, o = single_binding_link
    shares = o.best.split.shares()
    assert shares.get("operations.capacity", 0) >= 0.9, shares
    assert o.best.ci[0] > 0  # and it clearly pays
    m, lo, hi = o.versus(o.even)
    assert lo > 0  # spreading the money thin is clearly worse


def test_the_best_single_move_is_the_best_whole_budget_on_one_lever(single_binding_link):
    """Run each lever's whole budget on the search's seeds here, apart from the optimizer:
    the best of them is the optimizer's best single move, with the same value."""
    from chainsim.diagnose import metric_value
    from chainsim.parallel import RunSpec, run_spec

    sc, o = single_binding_link
    values = {}
    for path in levers(sc, o.budget):
        moved = Split.of({path: 1.0}, o.budget).apply(sc).model_dump()
        values[path] = np.mean([metric_value(run_spec(RunSpec(0, moved, sc.run.seed, k,
                                                               sc.run.days))["metrics"],
                                             o.metric, sc.run.days) for k in range(o.reps)])
    best = max(values, key=values.get)
    assert dict(o.single.split.money) == {best: o.budget}
    assert o.search["best single move"] == pytest.approx(values[best])
    assert o.search["best split"] >= values[best]


def test_the_check_runs_on_fresh_seeds_paired_with_the_business_as_it_is(single_binding_link):
    """The gains are differences from the business as it is on the same fresh seeds: the
    best split's gain plus the baseline is what that split scored, seed by seed."""
    from chainsim.diagnose import metric_value
    from chainsim.parallel import RunSpec, run_spec

    sc, o = single_binding_link
    k = o.reps + 3  # the fourth fresh seed
    base = run_spec(RunSpec(0, sc.model_dump(), sc.run.seed, k, sc.run.days))["metrics"]
    moved = run_spec(RunSpec(0, o.best.split.apply(sc).model_dump(), sc.run.seed, k,
                             sc.run.days))["metrics"]
    expected = (metric_value(moved, o.metric, sc.run.days)
                - metric_value(base, o.metric, sc.run.days))
    assert o.best.gains[3] == pytest.approx(expected)
    assert len(o.best.gains) == o.check_reps


def test_the_answer_does_not_depend_on_the_number_of_workers(single_binding_link):
    sc, one = single_binding_link
    two = optimize(sc, 2500, reps=2, check_reps=10, generations=1, workers=2)
    assert json.dumps(one.to_json(), sort_keys=True) == json.dumps(two.to_json(), sort_keys=True)


def test_optimize_from_the_command_line_writes_its_answer(tmp_path):
    out = tmp_path / "opt"
    r = subprocess.run([CHAINSIM, "optimize", "weak_operations", "--budget", "2500",
                        "--months", "3", "--reps", "2", "--check-reps", "5", "--generations", "0",
                        "--workers", "1", "--out", str(out)], capture_output=True, text=True,
                       timeout=300)
    assert r.returncode == 0, r.stderr
    assert "spend it as: Operations capacity" in r.stdout
    data = json.loads((out / "optimum.json").read_text())
    assert data["best"]["shares"] == {"operations.capacity": 1.0}
    assert data["days"] == 90 and data["check_reps"] == 5
    assert (out / "optimum.png").stat().st_size > 10_000


@pytest.mark.parametrize("args, says", [
    (["--budget", "1"], "below the cost of any move"),
    (["--budget", "-5"], "must be a number > 0"),
    (["--months", "0"], "--months"),
    (["--metric", "happiness"], "--metric"),
    (["--fit", "missing.json"], "not a fit.json"),
])
def test_bad_optimize_input_is_one_line_and_writes_nothing(tmp_path, args, says):
    r = subprocess.run([CHAINSIM, "optimize", "balanced", *args, "--out", str(tmp_path / "o")],
                       capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert r.returncode == 2
    assert says in r.stderr and "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "o").exists()


@pytest.mark.full
@pytest.mark.parametrize("story", ["balanced", "weak_marketing", "weak_sales", "weak_operations",
                                   "weak_service", "lawn_care", "car_dealership", "silo_handoff",
                                   "call_in_test"])
def test_on_every_story_the_split_is_never_clearly_worse_than_the_best_single_move(story):
    """On fresh seeds the split is never significantly below the best single move (the
    search starts from every single move and keeps the best it saw)."""
    sc = load_scenario(story).replace({"run.days": 180})
    o = optimize(sc, reps=3, check_reps=20, generations=2, workers=2)
    if o.best.split != o.single.split:
        m, lo, hi = o.versus(o.single)
        assert hi >= 0, (story, o.best.split.title, m, lo, hi)
    assert np.isfinite(o.best.gain)
