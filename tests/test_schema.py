"""The scenario schema: defaults, ranges, and errors that name the key and what is allowed."""

from __future__ import annotations

import json

import pytest

from chainsim import ChainModel, Scenario, ScenarioError, knobs
from chainsim.schema import FUNCTIONS, TARP_ROWS, json_schema


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"operations": {"quality": 1.5}},
         "operations.quality = 1.5 is not allowed: must be a number from 0 to 1"),
        ({"sales": {"quality": -0.1}},
         "sales.quality = -0.1 is not allowed: must be a number from 0 to 1"),
        ({"operations": {"capacity": -1}},
         'operations.capacity = -1 is not allowed: must be a number from 0 to 1000000000, or "unlimited"'),
        ({"service": {"capacity": "lots"}},
         "service.capacity = 'lots' is not allowed: must be a number from 0 to 1000000000, or \"unlimited\""),
        ({"market": {"size": 0}},
         "market.size = 0 is not allowed: must be a whole number from 1 to 1000000000000"),
        ({"sales": {"patience": 2.5}},
         "sales.patience = 2.5 is not allowed: must be a whole number from 0 to 36500"),
        ({"retention": {"interval_days": 0}},
         "retention.interval_days = 0 is not allowed: must be a number above 0, at most 36500"),
        ({"operations": {"quality": "0.5"}},
         "operations.quality = '0.5' is not allowed: must be a number from 0 to 1"),
        ({"operations": {"capacity": True}},
         'operations.capacity = true is not allowed: must be a number from 0 to 1000000000, or "unlimited"'),
        ({"retention": {"table": "huge"}},
         'retention.table = \'huge\' is not allowed: must be one of "small_ticket", "large_ticket"'),
        ({"operations": {"qualty": 0.9}},
         "unknown key 'operations.qualty' (did you mean 'operations.quality'?)"),
        ({"operatons": {"quality": 0.9}},
         "unknown section or key 'operatons' (did you mean 'operations'?)"),
        ({"market": 5}, "[market] must be a table of keys, got 5"),
        ({"market": {"size": 10, "customers_at_start": 11}},
         "market.customers_at_start = 11 is not allowed: must be at most market.size (10)"),
    ],
)
def test_bad_values_raise_one_line_value_errors(data, message):
    with pytest.raises(ValueError) as info:
        Scenario.from_dict(data)
    assert isinstance(info.value, ScenarioError)
    assert str(info.value) == message
    assert "\n" not in str(info.value)


def test_the_source_is_named_when_given():
    with pytest.raises(ScenarioError, match=r"^shop.toml: market.size = 0 is not allowed"):
        Scenario.from_dict({"market": {"size": 0}}, source="shop.toml")


def test_every_function_has_capacity_and_quality_knobs():
    catalogue = knobs()
    for f in FUNCTIONS:
        assert catalogue[f"{f}.capacity"].kind == "capacity"
        assert catalogue[f"{f}.quality"].kind == "probability"
        assert catalogue[f"{f}.capacity"].teach and catalogue[f"{f}.quality"].teach
    assert catalogue["handoff.quality"].kind == "probability"


def test_knob_defaults_are_the_scenario_defaults():
    default = Scenario()
    for path, k in knobs().items():
        assert default.get(path) == k.default, path
        assert k.help, f"{path} has no help text"


def test_unlimited_capacity_is_accepted_everywhere():
    sc = Scenario.from_dict({f: {"capacity": "unlimited"} for f in FUNCTIONS})
    assert all(sc.get(f"{f}.capacity") == "unlimited" for f in FUNCTIONS)


def test_tarp_rows_fill_the_retention_defaults_and_explicit_keys_win():
    large = Scenario.from_dict({"retention": {"table": "large_ticket", "resolved": 0.6}})
    assert large.retention.silent_problem == TARP_ROWS["large_ticket"]["silent_problem"]
    assert large.retention.resolved_quickly == 0.82
    assert large.retention.resolved == 0.6
    assert Scenario().retention.silent_problem == 0.37


def test_replace_validates_and_leaves_the_original_alone():
    base = Scenario()
    changed = base.replace({"operations.capacity": 60})
    assert changed.operations.capacity == 60 and base.operations.capacity == 100
    with pytest.raises(ScenarioError, match="operations.quality = 2"):
        base.replace({"operations.quality": 2})
    with pytest.raises(ScenarioError, match="did you mean 'operations.capacity'"):
        base.replace({"operations.capacty": 2})


def test_scenarios_are_frozen():
    with pytest.raises(ValueError):
        Scenario().operations.capacity = 3  # type: ignore[misc]


def test_model_set_changes_a_knob_mid_run_and_refuses_the_market_size():
    model = ChainModel(Scenario(), rng=1)
    model.run(5)
    model.set("operations.capacity", 7)
    assert model.params.operations.capacity == 7
    with pytest.raises(ScenarioError, match="market.size cannot change"):
        model.set("market.size", 10)


def test_json_schema_names_every_section_and_round_trips_to_json():
    schema = json_schema()
    text = json.dumps(schema)
    assert "operations" in schema["properties"] and "unlimited" in text
    assert json.loads(text)["title"] == "chainsim scenario"


@pytest.mark.parametrize(
    ("path", "value", "step", "expected"),
    [
        ("operations.capacity", 50.0, 0.2, 60.0),
        ("operations.capacity", "unlimited", 0.2, "unlimited"),
        ("marketing.quality", 0.1, 0.2, 0.12),  # 20 % more successes
        ("operations.quality", 0.95, 0.2, 0.96),  # 20 % fewer failures
        ("sales.quality", 0.5, 0.2, 0.6),  # both readings agree at one half
        ("service.quality", 1.0, 0.2, 1.0),
        ("service.quality", 0.0, 0.2, 0.0),
    ],
)
def test_strengthening_a_link(path, value, step, expected):
    result = knobs()[path].strengthen(value, step)
    assert result == (expected if isinstance(expected, str) else pytest.approx(expected))


def test_strengthened_probabilities_stay_probabilities_and_grow():
    k = knobs()["service.quality"]
    grid = [i / 100 for i in range(101)]
    out = [k.strengthen(q, 0.2) for q in grid]
    assert all(0 <= q2 <= 1 and q2 >= q for q, q2 in zip(grid, out, strict=True))
    assert all(b >= a for a, b in zip(out, out[1:], strict=False))  # monotone
