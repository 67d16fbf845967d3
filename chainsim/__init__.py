"""chainsim: a business as a chain of Marketing, Sales, Operations and Customer Service.

Customers move through the four front-line functions of a Mesa model; strengthen
a link and watch what it does to repeat purchases and growth.

    >>> from chainsim import ChainModel, Scenario
    >>> result = ChainModel(Scenario(), rng=1).run(days=30)
    >>> sorted(result.summary)[:3]
    ['active_customers', 'complaints', 'cost']
"""

from importlib.metadata import PackageNotFoundError, version

from .schema import FUNCTIONS, Scenario, ScenarioError, knobs

try:
    __version__ = version("chainsim")
except PackageNotFoundError:  # running from a source tree without installing
    __version__ = "0+unknown"

# The model pulls in Mesa (about a second to import); load it only when used, so
# that `chainsim --help` and input errors answer at once.
_LAZY = {"ChainModel": "model", "RunResult": "model", "simulate": "model",
         "fit": "fitting", "read_data": "fitting", "optimize": "optimizer",
         "load_scenario": "scenarios"}


def __getattr__(name: str):
    if name in _LAZY:
        from importlib import import_module

        return getattr(import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module 'chainsim' has no attribute {name!r}")


__all__ = ["FUNCTIONS", "ChainModel", "RunResult", "Scenario", "ScenarioError",
           "__version__", "fit", "knobs", "load_scenario", "optimize", "read_data", "simulate"]
