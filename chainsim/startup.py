"""What the ``chainsim`` command does to start and stop quickly.

Two things, both for the command line only (``import chainsim`` in a user's
program is left alone):

* :func:`defer_unused_mesa_modules` -- ``import mesa`` imports all of Mesa's
  spaces (``mesa.discrete_space``, ``mesa.space``, the experimental continuous
  space), and with them scipy.spatial and networkx: a third of a second that
  chainsim, which has no space, never uses. The modules are registered at
  once but run only when something first looks inside them, so Mesa behaves
  exactly as before for whoever does (``from mesa.discrete_space import ...``
  still works). The same idea as Scientific Python's lazy loading (SPEC 1),
  applied from outside because Mesa imports them eagerly.
* :func:`exit_now` -- once a command is done and its files are closed, the
  interpreter's teardown (collecting every module of pandas, matplotlib and
  Mesa) takes half a second more; the command exits without it.
"""

from __future__ import annotations

import importlib.abc
import os
import sys
import types

#: Mesa modules chainsim never uses; they run on first use, not at ``import mesa``.
DEFERRED = ("mesa.discrete_space", "mesa.space", "mesa.experimental.continuous_space")


class _Deferred(types.ModuleType):
    """A module registered but not yet run: the first attribute it lacks runs it."""

    def __getattr__(self, name: str):
        spec = self.__spec__
        self.__class__ = types.ModuleType
        spec.loader.exec_module(self)
        return getattr(self, name)


class _DeferredLoader(importlib.abc.Loader):
    def __init__(self, loader: importlib.abc.Loader) -> None:
        self._loader = loader

    def create_module(self, spec):
        return None  # the default module object

    def exec_module(self, module: types.ModuleType) -> None:
        # the real loader runs the module later; ``__file__``, ``__path__`` and
        # ``__spec__`` are already set, so inspecting it does not run it
        module.__spec__.loader = module.__loader__ = self._loader
        module.__class__ = _Deferred


class _DeferredFinder(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name not in DEFERRED:
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(name, path, target)
            if spec is not None:
                spec.loader = _DeferredLoader(spec.loader)
                return spec
        return None


def defer_unused_mesa_modules() -> None:
    """Register Mesa's space modules without running them (before Mesa is imported)."""
    if "mesa" in sys.modules or any(isinstance(f, _DeferredFinder) for f in sys.meta_path):
        return
    sys.meta_path.insert(0, _DeferredFinder())


def exit_now(code: int) -> None:
    """Flush what was printed and leave, skipping the interpreter's teardown."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe: nothing more can be said
            pass
    os._exit(code)
