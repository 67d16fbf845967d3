"""What the workshop page drives: the room's changes, sliders from the schema, the twin.

Nothing here touches the browser; the page (:mod:`chainsim.workshop.app`) is a
thin view over it, and the unit tests exercise it directly.
"""

from __future__ import annotations

import json
import math
import threading
import time
import weakref
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..metrics import LOSS_SOURCES
from ..model import ChainModel
from ..scenarios import load_scenario
from ..schema import FUNCTIONS, UNLIMITED, Scenario, knobs

#: Days over which the diagram's "lost lately" and "weakest link" are counted.
RECENT_DAYS = 30


@dataclass(frozen=True)
class SliderSpec:
    """One workshop slider, read from the schema and scaled to the scenario."""

    path: str
    label: str
    help: str
    value: float
    min: float
    max: float
    step: float
    integer: bool


def slider_specs(scenario: Scenario) -> list[SliderSpec]:
    """A slider for every knob the schema marks for teaching (``teach=True``).

    Ranges come from the schema; where the schema has no upper bound (a
    capacity, a contact rate), the slider reaches three times the scenario's
    value, so the room can both starve and flood each link.
    """
    specs = []
    for path, k in knobs().items():
        if not k.teach:
            continue
        value = scenario.get(path)
        if value == UNLIMITED:
            value = math.inf
        if k.kind == "probability":
            lo, hi, step = 0.0, 1.0, 0.01
        elif k.kind == "integer":
            lo = k.minimum or 0
            hi = k.maximum if k.maximum is not None else max(10, 3 * int(value))
            step = 1
        else:  # capacities and rates
            lo = 0.0
            base = value if math.isfinite(value) else 100.0
            hi = k.maximum if k.maximum is not None else _nice_max(3 * base)
            step = 1.0 if hi >= 20 else (0.1 if hi >= 2 else 0.01)
        shown = min(value, hi) if math.isfinite(value) else hi
        specs.append(SliderSpec(path, k.label, k.help + (f" ({k.unit})" if k.unit else ""),
                                shown, lo, hi, step, k.kind == "integer"))
    return specs


def _nice_max(x: float) -> float:
    """Round up to 1, 2 or 5 times a power of ten."""
    if x <= 0:
        return 1.0
    power = 10 ** math.floor(math.log10(x))
    return next(m * power for m in (1, 2, 5, 10) if m * power >= x)


@dataclass
class Room:
    """What the room has decided so far: slider changes, and whether to compare.

    It outlives the model: Mesa's Reset builds a new model from the same Room,
    so the room's changes survive a reset.
    """

    changes: dict[str, Any] = field(default_factory=dict)
    compare: bool = False


class WorkshopModel(ChainModel):
    """A ChainModel for the workshop: built from a scenario name and the room.

    In compare mode the model itself is the business as it is, and ``twin`` is
    a copy with the room's changes, on the same seed, stepped in lockstep.
    Otherwise the room's changes apply to the model directly, live.
    """

    def __init__(self, scenario_name: str = "balanced", room: Room | None = None,
                 seed: int | None = None, **_ignored):
        room = room if room is not None else Room()
        base = load_scenario(scenario_name)
        seed = base.run.seed if seed is None else int(seed)
        proposal = base.replace(room.changes)
        super().__init__(base if room.compare else proposal, rng=seed, journeys=True)
        self.scenario_name = scenario_name
        self.room = room
        self.seed = seed
        self.twin = ChainModel(proposal, rng=seed, journeys=True) if room.compare else None

    def step(self) -> None:
        super().step()
        if self.twin is not None:
            self.twin.step()

    def advance(self, days: int) -> None:
        """Fast-forward: ``days`` steps at once, drawn once at the end."""
        for _ in range(days):
            self.step()

    def change(self, path: str, value: Any) -> None:
        """A slider moved: the room's proposal changes, from today on."""
        target = self.twin if self.twin is not None else self
        target.set(path, value)  # validates first
        self.room.changes[path] = value

    def businesses(self) -> list[tuple[str, ChainModel]]:
        """The one business, or the two side by side in compare mode."""
        if self.twin is None:
            return [("business", self)]
        return [("as it is", self), ("the room's proposal", self.twin)]


_KEYS: dict[int, tuple[weakref.ref, str]] = {}


class VerdictBoard:
    """The weakest link of each business the room looks at, worked out in the background.

    It is the same verdict as ``chainsim run``'s summary (a quick race of the
    priced moves on common random numbers, :class:`chainsim.diagnose.Race`),
    for the business as the room has it now: a slider that moves starts a new
    race. Verdicts are kept by scenario, so every page on the server and every
    reset shares them. The races' runs go to one worker process, so that a room
    moving sliders never slows the pages the server is drawing; the newest
    request is served first (the room has usually moved on from the older ones).
    """

    def __init__(self, workers: int = 1) -> None:
        self._lock = threading.Lock()
        self._verdicts: dict[str, Any] = {}
        self._ready: dict[str, threading.Event] = {}
        self._queue: list[tuple[str, Scenario]] = []
        self._workers = workers
        self._pool = None
        self._thread: threading.Thread | None = None

    @staticmethod
    def key(scenario: Scenario) -> str:
        """What the verdict depends on: every knob (not the name or the story's text).

        Worked out once per scenario object (scenarios are frozen; every redraw asks).
        """
        entry = _KEYS.get(id(scenario))
        if entry is not None and entry[0]() is scenario:
            return entry[1]
        key = json.dumps(scenario.model_dump(exclude={"name", "description", "lesson"}),
                         sort_keys=True, default=str)
        ident = id(scenario)
        _KEYS[ident] = (weakref.ref(scenario, lambda _ref: _KEYS.pop(ident, None)), key)
        return key

    def get(self, scenario: Scenario):
        """The scenario's Verdict, or None while it is being worked out (it starts if need be)."""
        key = self.key(scenario)
        with self._lock:
            if key in self._verdicts:
                return self._verdicts[key]
            if key not in self._ready:
                self._ready[key] = threading.Event()
                self._queue.append((key, scenario))
                if self._thread is None or not self._thread.is_alive():
                    self._thread = threading.Thread(target=self._serve, daemon=True,
                                                    name="chainsim-verdicts")
                    self._thread.start()
            else:  # asked again: serve it next
                for i, (k, sc) in enumerate(self._queue):
                    if k == key:
                        self._queue.append(self._queue.pop(i))
                        break
        return None

    def known(self, scenario: Scenario) -> bool:
        """Whether the verdict has been worked out (it may be None: the race failed)."""
        return self.key(scenario) in self._verdicts

    def _serve(self) -> None:
        while True:
            with self._lock:
                if not self._queue:
                    self._thread = None
                    return
                key, scenario = self._queue.pop()  # newest first
            try:
                verdict = self._race(scenario)
            except Exception:  # noqa: BLE001 - a failed estimate leaves the diagram as it was
                verdict = None
            with self._lock:
                self._verdicts[key] = verdict
                event = self._ready[key]
            event.set()

    def _race(self, scenario: Scenario):
        from ..diagnose import Race

        if self._workers <= 0:  # in this process (tests that must not start processes)
            return Race(scenario).run().verdict()
        if self._pool is None:
            from concurrent.futures import ProcessPoolExecutor

            from ..parallel import process_context, start_worker

            # spawn: the server runs threads, so its workers must not be forked
            self._pool = ProcessPoolExecutor(
                max_workers=self._workers, mp_context=process_context("spawn"),
                initializer=start_worker)
        return Race(scenario).run(pool=self._pool).verdict()

    def wait(self, scenario: Scenario, timeout: float = 120.0, cancel=None):
        """Block until the verdict is there (for tests, scripts and a page waiting to redraw).

        ``cancel``, a ``threading.Event``, stops the wait early (returns None).
        """
        self.get(scenario)
        key = self.key(scenario)
        with self._lock:
            event = self._ready.get(key)
        end = time.monotonic() + timeout
        while event is not None and not event.is_set():
            if cancel is not None and cancel.is_set():
                return None
            if time.monotonic() > end:
                raise TimeoutError("the weakest link was not worked out in time")
            event.wait(0.2)
        with self._lock:
            return self._verdicts.get(key)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None


#: One board for the whole server.
VERDICTS = VerdictBoard()


def recent_losses(model: ChainModel, days: int = RECENT_DAYS) -> dict[str, int]:
    """People lost because of each function over the last ``days`` days."""
    from ..metrics import COLUMNS

    rows = model.datacollector.rows[-days:]
    if not rows:
        return dict.fromkeys(FUNCTIONS, 0)
    index = {c: i for i, c in enumerate(COLUMNS)}
    return {f: int(sum(row[index[c]] for row in rows for c in cols))
            for f, cols in LOSS_SOURCES.items()}


def most_losses_lately(model: ChainModel, losses: dict[str, int] | None = None) -> str | None:
    """The function losing the most people lately (None if no one was lost): a description."""
    losses = recent_losses(model) if losses is None else losses
    worst = max(FUNCTIONS, key=lambda f: (losses[f], -FUNCTIONS.index(f)))
    return worst if losses[worst] > 0 else None


def verdict_of(model: ChainModel):
    """The weakest link of the business as it runs now (None while it is worked out)."""
    return VERDICTS.get(model.params)


def link_states(model: ChainModel) -> list[dict[str, Any]]:
    """What the chain diagram shows for each link, as plain numbers.

    ``weakest`` marks the link the verdict names -- the same as ``chainsim run``'s
    summary for this business -- and nothing while it is worked out or when no
    link is clearly the weakest.
    """
    losses = recent_losses(model)
    verdict = verdict_of(model)
    weakest = verdict.link if verdict is not None else None
    states = []
    for f in model.functions:
        cap = f.params.capacity
        states.append({
            "name": f.name,
            "queue": len(f.queue),
            "utilization": float(f.utilization) if model.day else 0.0,
            "capacity": cap,
            "quality": f.params.quality,
            "lost": losses[f.name],
            "weakest": f.name == weakest,
        })
    return states


def journey_of(model: ChainModel, customer_id: int) -> list[dict[str, Any]]:
    """One customer's events so far, oldest first."""
    return [{"day": day, "event": event, "function": function}
            for day, event, function in model.customers.log.events_of(customer_id)]


def pick_customer(model: ChainModel, rng_seed: int = 0) -> int | None:
    """A customer worth following: an active one, chosen reproducibly."""
    book = model.customers
    if book.n == 0:
        return None
    active = np.flatnonzero(np.isin(book.place[: book.n], (1, 2, 3)))
    pool = active if len(active) else np.arange(book.n)
    return int(np.random.default_rng(rng_seed).choice(pool))
