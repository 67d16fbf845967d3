"""Scenario builders shared by the tests."""

from __future__ import annotations

from chainsim import ChainModel, Scenario


def scenario(**sections) -> Scenario:
    """A Scenario from keyword sections: scenario(operations={"capacity": 5})."""
    return Scenario.from_dict(sections)


def run(sc: Scenario, days: int, seed: int = 1, journeys: bool = False):
    return ChainModel(sc, rng=seed, journeys=journeys).run(days)


def perfect_chain(**overrides) -> Scenario:
    """Unlimited capacity and perfect quality everywhere: only Bass diffusion is left."""
    sections = {
        "market": {"size": 100_000},
        "marketing": {"capacity": 200, "quality": 1.0},
        "word_of_mouth": {"contact_rate": 0.1, "adoption": 0.5, "negative_word": 0.0},
        "sales": {"capacity": "unlimited", "quality": 1.0, "overpromise": 0.0},
        "handoff": {"quality": 1.0},
        "operations": {"capacity": "unlimited", "quality": 1.0},
        "service": {"capacity": "unlimited", "quality": 1.0},
        # everyone stays; repeat orders play no part in diffusion, so keep them rare
        "retention": {"no_problem": 1.0, "interval_days": 10_000},
    }
    for section, keys in overrides.items():
        sections.setdefault(section, {}).update(keys)
    return Scenario.from_dict(sections)


def failing_run(spec):
    """A worker's run function that raises on every third run (the sweep must go on)."""
    from chainsim.parallel import run_spec

    if spec.run_id % 3 == 0:
        raise RuntimeError(f"boom in run {spec.run_id}")
    return run_spec(spec)


def write_experiment(path, *, kind="grid", factors=None, design_extra="", **top):
    """Write a small experiment file; ``factors`` maps key -> TOML value text."""
    top = {"scenario": '"balanced"', "days": 60, "replications": 2, "seed": 5, **top}
    factors = factors or {"operations.capacity": "[40, 80]", "service.quality": "[0.5, 0.9]"}
    lines = [f"{k} = {v}" for k, v in top.items()]
    lines += ["", "[design]", f'kind = "{kind}"', design_extra, "", "[factors]"]
    lines += [f'"{k}" = {v}' for k, v in factors.items()]
    path.write_text("\n".join(lines) + "\n")
    return path
