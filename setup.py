"""Build step only: ship the built-in stories and experiments inside the package.

The project's layout keeps them at the top (``scenarios/``, ``experiments/``),
where users read them; a wheel must carry them too, so building copies them
into ``chainsim/_data/``. Everything else is in pyproject.toml.
"""

from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent


class BuildWithBuiltins(build_py):
    def run(self):
        super().run()
        for folder in ("scenarios", "experiments"):
            target = Path(self.build_lib) / "chainsim" / "_data" / folder
            self.mkpath(str(target))
            for source in sorted((ROOT / folder).glob("*.toml")):
                self.copy_file(str(source), str(target / source.name))


setup(cmdclass={"build_py": BuildWithBuiltins})
