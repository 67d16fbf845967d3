"""Loading scenario files: extends, overrides, and atomic outputs."""

from __future__ import annotations

import pytest

from chainsim import ScenarioError
from chainsim.outputs import staged_directory
from chainsim.scenarios import load_scenario, merge, parse_assignment


def test_extends_merges_key_by_key_and_the_child_wins(tmp_path):
    (tmp_path / "parent.toml").write_text(
        'description = "the parent"\n[operations]\ncapacity = 33\nquality = 0.7\n')
    (tmp_path / "child.toml").write_text(
        'extends = "parent.toml"\n[operations]\nquality = 0.9\n')
    child = load_scenario(tmp_path / "child.toml")
    assert child.operations.capacity == 33 and child.operations.quality == 0.9
    assert child.name == "child" and child.description == ""  # not inherited


def test_extends_a_builtin_by_name(tmp_path):
    (tmp_path / "mine.toml").write_text('extends = "lawn_care"\n[operations]\ncapacity = 40\n')
    mine, lawn = load_scenario(tmp_path / "mine.toml"), load_scenario("lawn_care")
    assert mine.operations.capacity == 40
    assert mine.service == lawn.service and mine.word_of_mouth == lawn.word_of_mouth


def test_extends_chains_through_several_files(tmp_path):
    (tmp_path / "a.toml").write_text("[sales]\ncapacity = 1\n")
    (tmp_path / "b.toml").write_text('extends = "a.toml"\n[sales]\nquality = 0.2\n')
    (tmp_path / "c.toml").write_text('extends = "b.toml"\n[sales]\npatience = 9\n')
    c = load_scenario(tmp_path / "c.toml")
    assert (c.sales.capacity, c.sales.quality, c.sales.patience) == (1, 0.2, 9)


def test_a_self_extending_file_is_a_cycle(tmp_path):
    (tmp_path / "me.toml").write_text('extends = "me.toml"\n')
    with pytest.raises(ScenarioError, match=r"extends cycle: me.toml -> me.toml"):
        load_scenario(tmp_path / "me.toml")


def test_bad_extends_values(tmp_path):
    (tmp_path / "n.toml").write_text("extends = 3\n")
    with pytest.raises(ScenarioError, match="extends = 3 is not allowed"):
        load_scenario(tmp_path / "n.toml")
    (tmp_path / "m.toml").write_text('extends = "nowhere.toml"\n')
    with pytest.raises(ScenarioError, match="m.toml: extends: scenario file not found"):
        load_scenario(tmp_path / "m.toml")


def test_overrides_days_and_seed_apply_last():
    sc = load_scenario("balanced", {"operations.capacity": 7}, days=12, seed=99)
    assert sc.operations.capacity == 7 and sc.run.days == 12 and sc.run.seed == 99


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("operations.capacity=60", ("operations.capacity", 60)),
        ("operations.capacity = 60.5", ("operations.capacity", 60.5)),
        ("service.capacity=unlimited", ("service.capacity", "unlimited")),
        ('retention.table="large_ticket"', ("retention.table", "large_ticket")),
        ("retention.table=large_ticket", ("retention.table", "large_ticket")),
    ],
)
def test_parse_assignment(text, expected):
    assert parse_assignment(text) == expected


def test_merge_does_not_touch_its_inputs():
    base = {"a": {"x": 1}}
    top = {"a": {"y": 2}}
    assert merge(base, top) == {"a": {"x": 1, "y": 2}}
    assert base == {"a": {"x": 1}}


def test_staged_directory_publishes_all_or_nothing(tmp_path):
    target = tmp_path / "out"
    with pytest.raises(RuntimeError):
        with staged_directory(target) as stage:
            (stage / "timeseries.csv").write_text("half")
            raise RuntimeError("interrupted")
    assert not target.exists() and list(tmp_path.iterdir()) == []
    with staged_directory(target) as stage:
        (stage / "a.txt").write_text("1")
    with staged_directory(target) as stage:  # an existing directory is updated file by file
        (stage / "a.txt").write_text("2")
        (stage / "b.txt").write_text("3")
    assert (target / "a.txt").read_text() == "2" and (target / "b.txt").read_text() == "3"
    assert [p.name for p in tmp_path.iterdir()] == ["out"]
