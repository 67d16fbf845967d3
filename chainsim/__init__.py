"""chainsim: a business as a chain of Marketing, Sales, Operations and Customer Service.

Customers move through the four front-line functions of a Mesa model; strengthen
a link and watch what it does to repeat purchases and growth.

    >>> from chainsim import ChainModel, Scenario
    >>> result = ChainModel(Scenario(), rng=1).run(days=30)
    >>> sorted(result.summary)[:3]
    ['active_customers', 'complaints', 'cost']
"""

from importlib.metadata import PackageNotFoundError, version

from .model import ChainModel, RunResult, simulate
from .schema import FUNCTIONS, Scenario, ScenarioError, knobs

try:
    __version__ = version("chainsim")
except PackageNotFoundError:  # running from a source tree without installing
    __version__ = "0+unknown"

__all__ = ["FUNCTIONS", "ChainModel", "RunResult", "Scenario", "ScenarioError",
           "__version__", "knobs", "simulate"]
