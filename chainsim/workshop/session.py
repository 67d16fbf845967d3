"""One page's business: the model, who may touch it, and what the page draws.

A browser page and the thread that plays its business both reach the same
model: the play loop steps it while the page draws its charts, a slider moves,
a Step is clicked. A :class:`Session` keeps them apart. Everything that changes
the business (step, play, a slider, reset, another story) happens under the
session's lock, and every redraw is made from a :class:`Snapshot` taken under
that lock: frozen numbers the page can read at leisure while the business
moves on. Nothing the page draws reads the live model.

Sessions are per page: two participants on the same server play two
businesses. The weakest link of each (:data:`chainsim.workshop.business.VERDICTS`)
is shared, since it depends only on the business.
"""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..customers import PLACES
from ..metrics import COLUMNS
from ..schema import FUNCTIONS, ScenarioError, knobs
from .business import (
    RECENT_DAYS,
    VERDICTS,
    Room,
    WorkshopModel,
    journey_of,
    link_states,
    pick_customer,
)

#: What the charts show, by column (see chainsim.workshop.charts).
CHART_COLUMNS = (
    "leads_new", "first_purchases", "repeat_purchases", "deliveries", "cancelled_orders",
    "complaints", "churned", "sales_queue", "operations_queue", "service_queue",
    *(f"{f}_utilization" for f in FUNCTIONS), "satisfaction_mean", "active_customers",
    "promoters", "detractors", "revenue", "profit",
)

#: Play speeds the page offers, in simulated days per second; the default first.
SPEEDS = (30, 5, 10, 60, 120)
#: Redraws a second the play loop aims at (each shows the days since the last) ...
FRAMES_PER_SECOND = 10
#: ... shared out when many pages play at once: the server's redraws a second, per core.
#: A room of twenty on two cores asks for a redraw and a half a second each, with the
#: same days a second as one page alone (more days per redraw); each page also waits
#: until its last redraw is on screen, so a slow laptop is sent fewer.
FRAMES_PER_SECOND_PER_CORE = 15

_playing: set[int] = set()  # ids of the sessions playing now, on this server
_playing_lock = threading.Lock()


def _cores() -> int:
    import os

    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (
        os.cpu_count() or 1)


def frame_interval() -> float:
    """Seconds between a playing page's redraws, given how many pages play now."""
    with _playing_lock:
        playing = max(1, len(_playing))
    share = FRAMES_PER_SECOND_PER_CORE * _cores() / playing
    return 1.0 / min(FRAMES_PER_SECOND, share)
#: Most days a single frame may step (so a slow machine shows fewer frames, not a freeze).
MAX_DAYS_PER_FRAME = 30


@dataclass(frozen=True)
class Mark:
    """A change the room made, shown on the charts at the day it happened."""

    day: int
    text: str
    path: str = ""
    before: Any = None


@dataclass(frozen=True)
class BusinessView:
    """What the page shows of one business at one moment."""

    label: str
    scenario: Any  # the business's Scenario (frozen), which the verdict is about
    day: int
    links: tuple[dict[str, Any], ...]
    handoff_quality: float
    active: int
    promoters: int
    detractors: int
    verdict: Any  # a chainsim.verdict.Verdict, or None while it is worked out
    series: dict[str, np.ndarray]  # column -> daily values (copies)


@dataclass(frozen=True)
class Snapshot:
    """One redraw's worth of the session, frozen."""

    version: int
    story: str
    day: int
    businesses: tuple[BusinessView, ...]
    marks: tuple[Mark, ...]
    changes: tuple[tuple[str, Any], ...]
    compare: bool
    playing: bool
    speed: int  # days a second asked for
    measured_speed: float  # days a second achieved lately (NaN when not playing)
    follow: dict[str, Any] | None  # the followed customer: id, place, journey...
    error: str | None


class _Table:
    """A model's per-day rows as a float table, grown by the days added since the last look.

    Earlier slices stay valid (rows are only added after them), so snapshots can
    keep views instead of copies.
    """

    def __init__(self) -> None:
        self.data = np.empty((0, len(COLUMNS)))
        self.n = 0

    def update(self, rows: list[tuple]) -> np.ndarray:
        m = len(rows)
        if m > self.n:
            if m > len(self.data):
                grown = np.empty((max(2 * len(self.data), m, 64), len(COLUMNS)))
                grown[: self.n] = self.data[: self.n]
                self.data = grown
            self.data[self.n:m] = np.array(rows[self.n:m], dtype=float)
            self.n = m
        return self.data[:m]


_INDEX = {c: i for i, c in enumerate(COLUMNS)}


def _view(label: str, model, table: _Table) -> BusinessView:
    rows = table.update(model.datacollector.rows)
    series = {c: rows[:, _INDEX[c]] for c in (*CHART_COLUMNS, "day")}
    book = model.customers
    return BusinessView(
        label=label,
        scenario=model.params,
        day=model.day,
        links=tuple(link_states(model)),
        handoff_quality=model.params.handoff.quality,
        active=book.active,
        promoters=book.promoters,
        detractors=book.detractors,
        verdict=VERDICTS.get(model.params),
        series=series,
    )


def _follow(model, customer_id: int | None) -> dict[str, Any] | None:
    book = model.customers
    if customer_id is None or not 0 <= customer_id < book.n:
        customer_id = pick_customer(model)
    if customer_id is None:
        return None
    sat = float(book.satisfaction[customer_id])
    return {
        "id": customer_id,
        "place": PLACES[book.place[customer_id]],
        "satisfaction": None if math.isnan(sat) else sat,
        "problems": int(book.problems[customer_id]),
        "orders": int(book.orders[customer_id]),
        "journey": journey_of(model, customer_id)[-30:],
    }


@dataclass
class Session:
    """One page's business and settings; every change goes through here, under a lock."""

    story: str = "balanced"
    compare: bool = False
    speed: int = SPEEDS[0]
    seed: int | None = None
    changes: dict[str, Any] = field(default_factory=dict)
    marks: list[Mark] = field(default_factory=list)
    follow_id: int | None = None
    playing: bool = False
    closed: bool = False
    error: str | None = None

    def __post_init__(self) -> None:
        self.lock = threading.RLock()
        self._version = 0
        self._speed_log: list[tuple[float, int]] = []  # (time, day) while playing
        self._days_owed = 0.0
        self._drawn = threading.Event()
        self._build()

    # -- building the business ---------------------------------------------------------
    def _build(self) -> None:
        room = Room(changes=dict(self.changes), compare=self.compare)
        self.model = WorkshopModel(self.story, room, seed=self.seed)
        self.seed = self.model.seed
        self._tables = [_Table() for _ in self.model.businesses()]
        self.marks = []
        self._speed_log.clear()

    def reset(self) -> Snapshot:
        """Back to day 0, keeping the room's changes and the settings."""
        with self.lock:
            self._build()
            return self._snap()

    def switch(self, story: str) -> Snapshot:
        """Another story: its own values (the room's changes were about the old one);
        compare mode, play speed and projector stay as they were."""
        with self.lock:
            self.story, self.changes, self.follow_id, self.error = story, {}, None, None
            self._build()
            return self._snap()

    def set_compare(self, on: bool) -> Snapshot:
        """Compare mode on or off: the business restarts with the room's changes kept."""
        with self.lock:
            self.compare = bool(on)
            self._build()
            return self._snap()

    def clear_changes(self) -> Snapshot:
        with self.lock:
            self.changes = {}
            self._build()
            return self._snap()

    def set_speed(self, days_per_second: int) -> Snapshot:
        if days_per_second not in SPEEDS:
            raise ValueError(f"speed {days_per_second!r} is not offered: one of {SPEEDS}")
        with self.lock:
            self.speed = days_per_second
            self._speed_log.clear()
            return self._snap()

    # -- the room's moves ----------------------------------------------------------------
    def change(self, path: str, value: Any) -> Snapshot:
        """A slider moved: the running business changes from the next day on."""
        with self.lock:
            before = self.model.businesses()[-1][1].params.get(path)
            try:
                self.model.change(path, value)
            except (ScenarioError, ValueError) as err:
                self.error = str(err)
                return self._snap()
            self.error = None
            self.changes[path] = value
            label = knobs()[path].label if path in knobs() else path
            day = self.model.day
            last = self.marks[-1] if self.marks else None
            if last is not None and last.day == day and last.path == path:
                before = last.before  # one slider drag is one change
                self.marks.pop()
            self.marks.append(Mark(day, f"{label} {before:g} -> {value:g}", path, before))
            return self._snap()

    def follow(self, customer_id: int | None) -> Snapshot:
        """Follow this customer (None: an active one, chosen for the room)."""
        with self.lock:
            self.follow_id = customer_id
            return self._snap()

    def follow_another(self) -> Snapshot:
        """Follow another active customer, chosen reproducibly from today and the last one."""
        with self.lock:
            model = self.model.businesses()[-1][1]
            self.follow_id = pick_customer(model, rng_seed=(self.follow_id or 0) + model.day + 1)
            return self._snap()

    # -- time ----------------------------------------------------------------------------
    def step(self, days: int = 1) -> Snapshot:
        """``days`` more days, then one snapshot (Step, +30 days, +90 days)."""
        with self.lock:
            self.model.advance(days)
            return self._snap()

    def set_playing(self, on: bool) -> Snapshot:
        with self.lock:
            self.playing = bool(on) and not self.closed
            with _playing_lock:
                if self.playing:
                    _playing.add(id(self))
                else:
                    _playing.discard(id(self))
            self._speed_log.clear()
            self._days_owed = 0.0
            return self._snap()

    def frame(self, elapsed: float) -> Snapshot:
        """One frame of play: the days due after ``elapsed`` seconds at the chosen speed."""
        with self.lock:
            if self.playing:
                self._days_owed = min(self._days_owed + elapsed * self.speed,
                                      float(MAX_DAYS_PER_FRAME))
                days = int(self._days_owed)
                if days:
                    self._days_owed -= days
                    self.model.advance(days)
                now = time.monotonic()
                self._speed_log.append((now, self.model.day))
                while self._speed_log and now - self._speed_log[0][0] > 3.0:
                    self._speed_log.pop(0)
            return self._snap()

    def measured_speed(self) -> float:
        """Days a second over the last few seconds of play (NaN before there is a measure)."""
        log = self._speed_log
        if len(log) < 2 or log[-1][0] - log[0][0] < 0.5:
            return math.nan
        return (log[-1][1] - log[0][1]) / (log[-1][0] - log[0][0])

    def drawn(self, _label: str = "") -> None:
        """The page has put the latest redraw on screen."""
        self._drawn.set()

    def expect_drawing(self) -> None:
        """A redraw is about to be sent: forget earlier acknowledgements."""
        self._drawn.clear()

    def wait_drawn(self, timeout: float) -> bool:
        """Wait (at most ``timeout`` seconds) until the page has drawn what was sent."""
        return self._drawn.wait(timeout)

    def close(self) -> None:
        """The page is gone: stop playing, let the business go."""
        with self.lock:
            self.closed = True
            self.playing = False
            with _playing_lock:
                _playing.discard(id(self))

    # -- drawing -------------------------------------------------------------------------
    def snapshot(self) -> Snapshot:
        with self.lock:
            return self._snap()

    def _snap(self) -> Snapshot:
        self._version += 1
        businesses = tuple(_view(label, m, table) for (label, m), table
                           in zip(self.model.businesses(), self._tables, strict=True))
        follow_model = self.model.businesses()[-1][1]
        follow = _follow(follow_model, self.follow_id)
        if follow is not None:
            self.follow_id = follow["id"]  # the room keeps following the same person
        return Snapshot(
            version=self._version,
            story=self.story,
            day=self.model.day,
            businesses=businesses,
            marks=tuple(self.marks),
            changes=tuple(sorted(self.changes.items())),
            compare=self.compare,
            playing=self.playing,
            speed=self.speed,
            measured_speed=self.measured_speed() if self.playing else math.nan,
            follow=follow,
            error=self.error,
        )


__all__ = ["CHART_COLUMNS", "FRAMES_PER_SECOND", "frame_interval", "RECENT_DAYS", "SPEEDS", "BusinessView",
           "Mark", "Session", "Snapshot"]
