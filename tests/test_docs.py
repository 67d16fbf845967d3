"""The documentation stays true to the code it describes."""

from __future__ import annotations

import re
from pathlib import Path

from chainsim import knobs
from chainsim.metrics import COLUMNS

ROOT = Path(__file__).resolve().parent.parent


def test_model_doc_lists_every_knob_with_its_real_default():
    text = (ROOT / "docs" / "model.md").read_text()
    rows = dict(re.findall(r"^\| `([a-z_]+\.[a-z_]+)` \| ([^|]+) \|", text, flags=re.M))
    catalogue = knobs()
    assert set(rows) == set(catalogue), set(rows) ^ set(catalogue)
    for path, shown in rows.items():
        default = catalogue[path].default
        shown = shown.strip()
        if default is None:
            assert shown == "unset", path
        elif isinstance(default, str):
            assert shown == f'"{default}"', path
        else:
            assert float(shown) == float(default), path


def test_readme_shows_the_two_commands_and_the_benchmark():
    text = (ROOT / "README.md").read_text()
    assert "make demo" in text and "make test" in text
    assert "benchmarks/throughput.py" in text


def test_metric_names_in_the_docs_exist():
    text = (ROOT / "docs" / "model.md").read_text()
    for name in ("repeat_purchase_rate", "growth_rate", "weakest_link", "most_losses_at",
                 "losses_detail",
                 "churned_no_problem", "satisfaction_mean"):
        assert name in text
    assert "churned_no_problem" in COLUMNS
