"""Moves are priced from the scenario's economics; the verdict says only what the data support."""

from __future__ import annotations

import math

import pytest

from chainsim import Scenario
from chainsim.diagnose import Diagnosis, MoveResult, to_json
from chainsim.moves import (
    LEVERS,
    LINKS,
    Move,
    budget_move,
    budget_moves,
    daily_cost,
    default_budget,
    move_cost,
    running_cost,
    step_moves,
)
from chainsim.rules import quality_factor


def test_a_link_costs_its_capacity_times_its_unit_cost_and_quality_factor():
    sc = Scenario()
    ops = sc.operations
    assert daily_cost(sc, "operations") == pytest.approx(
        ops.capacity * ops.cost * quality_factor(ops.quality, sc.economics.quality_premium))
    assert daily_cost(sc, "handoff") == pytest.approx(
        sc.handoff.cost * quality_factor(sc.handoff.quality, sc.economics.quality_premium))
    assert running_cost(sc) == pytest.approx(30 * sum(daily_cost(sc, link) for link in LINKS))
    assert math.isnan(daily_cost(sc.replace({"sales.capacity": "unlimited"}), "sales"))


@pytest.mark.parametrize("budget", [500.0, 2500.0, 10_000.0])
def test_every_budget_move_costs_the_budget_or_reaches_the_quality_ceiling(budget):
    sc = Scenario()
    moves = budget_moves(sc, budget)
    assert [m.path for m in moves] == [f"{link}.{knob}" for link in LINKS for knob in LEVERS[link]]
    for m in moves:
        assert m.possible and m.after > m.before
        # the price is the real change in the running cost, recomputed from the scenario
        assert m.cost == pytest.approx(move_cost(sc, m.link, m.knob, m.after))
        if m.knob == "quality" and m.after >= 0.999 - 1e-9:
            assert m.cost <= budget + 1e-6
        else:
            assert m.cost == pytest.approx(budget)


def test_a_quality_budget_buys_halvings_of_the_failures():
    sc = Scenario()
    ops = sc.operations
    halving = 30 * ops.capacity * ops.cost * sc.economics.quality_premium  # a month
    m = budget_move(sc, "operations", "quality", halving)
    assert 1 - m.after == pytest.approx((1 - ops.quality) / 2)
    m2 = budget_move(sc, "operations", "quality", 2 * halving)
    assert 1 - m2.after == pytest.approx((1 - ops.quality) / 4)


def test_moves_that_cannot_be_priced_are_marked_impossible():
    sc = Scenario().replace({"service.capacity": "unlimited", "sales.cost": 0.0,
                             "operations.quality": 1.0})
    assert not budget_move(sc, "service", "capacity", 1000).possible
    assert not budget_move(sc, "service", "quality", 1000).possible  # paid per case
    assert not budget_move(sc, "sales", "capacity", 1000).possible  # free capacity
    assert not budget_move(sc, "operations", "quality", 1000).possible  # already at 99.9 %
    free = Scenario().replace({"economics.quality_premium": 0.0})
    assert not budget_move(free, "sales", "quality", 1000).possible


def test_marketing_is_one_lever():
    assert LEVERS["marketing"] == ("capacity",) and LEVERS["handoff"] == ("quality",)
    assert "marketing.quality" not in [m.path for m in budget_moves(Scenario(), 1000)]


def test_step_moves_carry_their_own_cost():
    sc = Scenario()
    moves = {m.path: m for m in step_moves(sc, 0.2)}
    ops = moves["operations.capacity"]
    assert ops.after == pytest.approx(1.2 * sc.operations.capacity)
    assert ops.cost == pytest.approx(30 * 0.2 * daily_cost(sc, "operations"))
    assert moves["operations.quality"].after == pytest.approx(0.96)


@pytest.mark.parametrize(("cost", "budget"), [
    (84_000, 5000), (50_000, 2500), (36_000, 2000), (120_000, 5000), (150_000, 10_000),
    (10_000, 500), (1_000, 50),
])
def test_the_default_budget_is_about_five_percent_of_the_running_cost(cost, budget, monkeypatch):
    import chainsim.moves as moves

    monkeypatch.setattr(moves, "running_cost", lambda sc: float(cost))
    assert default_budget(Scenario()) == budget


# -- the verdict -------------------------------------------------------------------------------


def _diagnosis(best, other, same_link=None, budget=1000.0):
    results = [MoveResult(Move("operations", "capacity", 42, 45.3, 1000.0), tuple(best)),
               MoveResult(Move("service", "capacity", 10, 17.4, 1000.0), tuple(other))]
    if same_link is not None:
        results.append(MoveResult(Move("operations", "quality", 0.95, 0.97, 1000.0),
                                  tuple(same_link)))
    return Diagnosis(Scenario(), "repeat_purchases", 3, 365, (1.0, 2.0, 3.0), tuple(results),
                     budget=budget)


@pytest.mark.parametrize(("best", "other", "link", "says"), [
    ((150, 156, 160), (40, 50, 45), "operations",
     "Operations is your weakest link: +1,000 a month on Operations capacity adds 155"),
    ((150, 156, 160), (0, 1, 2.2), "operations", "the next best link, Service capacity, adds 1.1"),
    ((40, 50, 45), (44, 46, 43), None,
     "No single weakest link: Operations and Service are within noise of each other"),
    ((10, 30, 20), (5, 25, 15), None, "No link stands out"),
])
def test_the_verdict_says_only_what_the_intervals_support(best, other, link, says):
    v = _diagnosis(best, other).verdict()
    assert v.link == link and v.clear == (link is not None)
    assert says in v.text
    if "within noise" in says:
        assert v.tied == ("operations", "service")


def test_the_runner_up_is_the_best_move_at_another_link_paired_by_replication():
    # Operations quality is second overall, but the comparison is with Service
    d = _diagnosis((100, 110, 120), (10, 20, 30), same_link=(99, 109, 119))
    v = d.verdict()
    assert v.link == "operations" and v.runner_up.link == "service"
    # paired: Service tracks Operations replication by replication, a steady lead of 2
    d2 = _diagnosis((100, 140, 180), (98, 138, 178))
    assert d2.verdict().link == "operations"
    # unpaired, the same means would be noise: shuffle the runner-up's replications
    d3 = _diagnosis((100, 140, 180), (178, 98, 138))
    assert d3.verdict().link is None


def test_step_moves_are_ranked_by_gain_per_money():
    results = (MoveResult(Move("operations", "capacity", 42, 50.4, 5000.0), (50, 52, 54)),
               MoveResult(Move("service", "capacity", 10, 12, 500.0), (10, 11, 12)))
    d = Diagnosis(Scenario(), "repeat_purchases", 3, 365, (0.0,) * 3, results, step=0.2)
    assert d.best.path == "service.capacity"  # 22 per 1,000 against 10.4
    assert d.best.gain_per_money == pytest.approx(22.0)
    data = to_json(d)
    assert data["weakest_link"] == "service"
    assert data["ranking"][0]["cost"] == 500.0
    assert data["ranking"][0]["gain_per_money"] == pytest.approx(22.0)
    assert "per 1,000 a month 22 against 10" in data["verdict"]


def test_the_quick_race_is_diagnose_on_the_same_seeds_for_its_finalists():
    """The summary's verdict comes from diagnose's own first replications: same runs, same gains."""
    from chainsim.diagnose import Race, diagnose
    from chainsim.scenarios import load_scenario

    sc = load_scenario("weak_operations", days=120)
    race = Race(sc, reps=3).run()
    full = diagnose(sc, reps=3)
    by_path = {m.path: m.gains for m in full.moves}
    assert len(race.moves) == 2 and race.moves[0].link != race.moves[1].link
    for m in race.moves:
        assert m.gains == pytest.approx(by_path[m.path])
    assert race.baseline == pytest.approx(full.baseline)
    assert race.verdict().link == full.verdict().link == "operations"
    # replication 0 is the run itself: chainsim run's own run is the race's first baseline
    from chainsim import ChainModel
    from chainsim.diagnose import metric_value

    own = ChainModel(sc).run(120).summary
    assert race.baseline[0] == pytest.approx(metric_value(own, "repeat_purchases", 120))
