"""Make docs/examples/shop_months.csv: 24 months of a shop, simulated from known knobs.

    .venv/bin/python docs/examples/make_shop_months.py

The shop is balanced with its own capacities (docs/examples/shop.toml) and
these knobs, which `chainsim fit` is asked to find back.
"""

from dataclasses import replace
from pathlib import Path

from chainsim.fitting import simulate_data, write_data
from chainsim.scenarios import load_scenario

HERE = Path(__file__).parent
TRUTH = {"sales.quality": 0.4, "service.quality": 0.65, "retention.churn_per_year": 0.2}

if __name__ == "__main__":
    shop = load_scenario(str(HERE / "shop.toml")).replace(TRUTH)
    data = simulate_data(shop, "month", 24, replication=4242)
    months = tuple(f"{2025 + i // 12}-{i % 12 + 1:02d}" for i in range(24))
    write_data(replace(data, labels=months), HERE / "shop_months.csv")
