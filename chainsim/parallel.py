"""Running many independent model runs: local processes or a Dask cluster.

A run is fully described by a :class:`RunSpec` (scenario, seed, days), so it can
go to any worker and give the same answer there: results never depend on the
number of workers or on which worker ran what. Local runs use a process pool;
``scheduler="tcp://host:port"`` sends them to a Dask distributed cluster
through its ``concurrent.futures`` executor, so both paths share this code.
"""

from __future__ import annotations

import multiprocessing
import os
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Executor, Future, ProcessPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class RunSpec:
    """One run: which scenario (as a plain dict), which seed, how many days."""

    run_id: int
    scenario: dict[str, Any]
    seed: int  # root entropy of the experiment's SeedSequence
    replication: int  # spawn key: replication k uses the same seed at every point
    days: int

    def rng(self) -> np.random.Generator:
        return np.random.default_rng(replication_seed(self.seed, self.replication))


def replication_seed(seed: int, replication: int) -> np.random.SeedSequence:
    """Replication ``k``'s seed: ``SeedSequence(seed)`` itself for ``k = 0``, child ``k`` after.

    So replication 0 is exactly the run ``chainsim run --seed seed`` shows
    (``ChainModel(scenario, rng=seed)``), and the others are independent of it.
    """
    if replication == 0:
        return np.random.SeedSequence(seed)
    return np.random.SeedSequence(seed, spawn_key=(replication,))


def flatten_summary(summary: dict[str, Any]) -> dict[str, float]:
    """The numeric summary as flat columns: ``losses_sales``, ``leads_lost``, ..."""
    out: dict[str, float] = {}
    for key, value in summary.items():
        if isinstance(value, dict):
            prefix = {"losses": "losses_", "left_after": "left_after_",
                      "queue_max": "queue_max_"}.get(key, "")
            for sub, v in value.items():
                out[f"{prefix}{sub}"] = float(v)
        elif isinstance(value, int | float) and not isinstance(value, bool):
            out[key] = float(value)
    return out


def run_spec(spec: RunSpec) -> dict[str, Any]:
    """Run one spec in this process and return its record."""
    from .model import ChainModel
    from .schema import Scenario

    scenario = Scenario.from_dict(spec.scenario)
    model = ChainModel(scenario, rng=spec.rng())
    for _ in range(spec.days):
        model.step()
    return {"run_id": spec.run_id, "status": "ok", "error": "",
            "metrics": flatten_summary(model.summary())}


def guarded(run: Callable[[RunSpec], dict[str, Any]], spec: RunSpec) -> dict[str, Any]:
    """Call ``run(spec)`` in a worker; an exception becomes a failed record, not a crash."""
    try:
        return run(spec)
    except Exception as err:  # noqa: BLE001 - a failed run is data; the sweep goes on
        last = traceback.extract_tb(err.__traceback__)[-1:]
        where = f" ({last[0].filename.rsplit('/', 1)[-1]}:{last[0].lineno})" if last else ""
        return {"run_id": spec.run_id, "status": "failed",
                "error": f"{type(err).__name__}: {err}{where}", "metrics": {}}


def default_workers() -> int:
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
               else (os.cpu_count() or 1))


def start_worker() -> None:
    """What each local worker does first: skip Mesa's unused modules, and watch its parent.

    A pool's workers outlive a parent killed without goodbyes (``kill -9``, a
    closed terminal): they would go on with the runs already sent to them, for
    no one. Each worker checks once a second that its parent is still there,
    and leaves at once when it is not.
    """
    from .startup import defer_unused_mesa_modules

    defer_unused_mesa_modules()
    threading.Thread(target=_exit_with_parent, args=(os.getppid(),), daemon=True,
                     name="chainsim-parent-watch").start()


def _exit_with_parent(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(1.0)
    os._exit(1)


def end_with_parent(parent: int) -> None:
    """A helper forked by a command (the verdict's worker, the painter) ends with it, at once.

    A forked helper holds its own copy of the pipes to its parent, so it would
    never see them close: on Linux the kernel ends it with its parent
    (``PR_SET_PDEATHSIG``); elsewhere a thread checks once a second. (A pool's
    workers keep to the thread: the kernel's signal follows the thread that
    forked them, which in a program can end before the pool does.)
    """
    import signal

    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(1, signal.SIGKILL) != 0:  # PR_SET_PDEATHSIG
            raise OSError(ctypes.get_errno(), "prctl")
    except (OSError, AttributeError):
        threading.Thread(target=_exit_with_parent, args=(parent,), daemon=True,
                         name="chainsim-parent-watch").start()
    if os.getppid() != parent:  # the parent died before the signal was armed
        os._exit(1)


def start_method() -> str:
    """How chainsim's local worker processes start: ``fork`` where safe, else ``spawn``.

    A forked worker starts at once with what its parent has already imported; a
    spawned one starts a new interpreter and imports Mesa, pandas and chainsim
    again (about half a second, on every worker of every pool: the largest fixed
    cost of a short sweep). Fork is safe only on Linux (macOS's system libraries
    are not fork-safe) and only from a process running no other Python thread (a
    notebook's kernel, the workshop's server, a test runner's worker): a thread
    could hold a lock at the moment of the fork, and the child would wait for it
    forever. Results are the same either way: a run is fully described by its
    :class:`RunSpec`.
    """
    if (sys.platform.startswith("linux") and threading.active_count() == 1
            and "fork" in multiprocessing.get_all_start_methods()):
        return "fork"
    return "spawn"


class _QuickExitProcess(multiprocessing.context.SpawnProcess):
    """A spawned worker that leaves without the interpreter's teardown once its work is done.

    A pool's shutdown waits for each worker to exit, and a spawned worker's
    interpreter then collects every module of Mesa, pandas and numpy: 0.2 s
    after the last result, on every sweep. The worker leaves as a forked one
    does (``os._exit`` with the same exit status, streams flushed and
    multiprocessing's own finalizers run by ``_bootstrap`` first); only
    ``atexit`` handlers, which chainsim's workers do not use, are skipped.
    """

    def _bootstrap(self, *args, **kwargs):  # runs in the child, after unpickling
        os._exit(super()._bootstrap(*args, **kwargs))


class _QuickExitSpawnContext(multiprocessing.context.SpawnContext):
    Process = _QuickExitProcess


def process_context(method: str = "spawn") -> multiprocessing.context.BaseContext:
    """The multiprocessing context chainsim's pools use: a quick-exit spawn, or fork."""
    if method == "spawn":
        return _QuickExitSpawnContext()
    return multiprocessing.get_context(method)


@contextmanager
def executor(workers: int | None = None, scheduler: str | None = None) -> Iterator[Executor]:
    """A process pool with ``workers`` processes, or a Dask cluster's executor."""
    if scheduler:
        from distributed import Client

        with Client(scheduler, timeout="10s") as client:
            yield client.get_executor(pure=False)
        return
    method = start_method()
    if method == "fork":
        from . import model  # noqa: F401 - imported once, here, and shared by every worker
    # a spawned worker skips the Mesa modules chainsim never runs, and leaves without a
    # teardown; a forked one has what this process imported and leaves as it came
    with ProcessPoolExecutor(max_workers=workers or default_workers(),
                             mp_context=process_context(method),
                             initializer=start_worker) as pool:
        yield pool


def run_all(
    specs: Iterable[RunSpec],
    *,
    workers: int | None = None,
    scheduler: str | None = None,
    run: Callable[[RunSpec], dict[str, Any]] = run_spec,
    window: int | None = None,
    pool: Executor | None = None,
) -> Iterator[dict[str, Any]]:
    """Yield each run's result as it completes (in completion order).

    At most ``window`` runs are in flight at once (default: four per worker), so
    an interrupted sweep loses only those, and memory stays flat. Pass ``pool``
    to reuse an executor across calls.
    """
    limit = window or 4 * (workers or default_workers())
    if pool is not None:
        yield from _run_in(pool, iter(specs), run, limit)
        return
    with executor(workers, scheduler) as own:
        yield from _run_in(own, iter(specs), run, limit)


def _run_in(pool: Executor, specs: Iterator[RunSpec], run, limit: int) -> Iterator[dict[str, Any]]:
    pending: set[Future] = set()
    try:
        while True:
            for spec in specs:
                pending.add(pool.submit(guarded, run, spec))
                if len(pending) >= limit:
                    break
            if not pending:
                return
            done, pending = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                yield future.result()
    finally:
        for future in pending:
            future.cancel()
