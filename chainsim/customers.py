"""Customers: who they are, what they remember, and whether they come back.

A person gets a row in the :class:`CustomerBook` on the day they become a lead;
until then they are part of the market's count. Each customer's state -- where
they are in the chain, what they were promised, how satisfied they are, the
problems they hold against the business -- lives in numpy columns, so a day's
deliveries or complaints are handled as whole arrays. The book is the truth.

A :class:`Customer` is a Mesa agent that is a view on one row, built only when
something asks for it: ``model.customer(42)``, ``model.customer_agents()`` (an
AgentSet of everyone still engaged), or the workshop's follow-a-customer. A
view lasts while the person is engaged with the business; when they leave it
is removed from the model, and the row stays.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import mesa
import numpy as np
import pandas as pd

from . import rules
from .calendar import WakeCalendar
from .journeys import DELIVERY_EVENTS, OUTCOME_EVENTS, JourneyLog
from .rules import (
    CANCELLED,
    NO_PROBLEM,
    RESOLVED,
    RESOLVED_QUICKLY,
    SILENT_PROBLEM,
    UNRESOLVED,
    problem_threshold,
)

if TYPE_CHECKING:
    from .model import ChainModel

#: Where a person who became a lead can be. The market itself is a count.
PLACES = ("lead", "ordered", "complaining", "waiting", "lead_lost", "not_converted", "churned",
          "declined_wait")
(LEAD, ORDERED, COMPLAINING, WAITING, LEAD_LOST, NOT_CONVERTED, CHURNED,
 DECLINED_WAIT) = range(len(PLACES))
ACTIVE_PLACES = (ORDERED, COMPLAINING, WAITING)
#: People still engaged with the business: leads and active customers.
ENGAGED_PLACES = (LEAD, *ACTIVE_PLACES)

#: Moods: not yet served, satisfied (a promoter), or unhappy (a detractor) -- and
#: then whose doing it was: a delivery that fell short (Operations) or a complaint
#: that left them unhappy (Customer Service). People put off by a detractor's word
#: are lost to the link that made the detractor.
UNRATED, SATISFIED, UNHAPPY_OPERATIONS, UNHAPPY_SERVICE = range(4)

_EMPTY = np.empty(0, dtype=np.int64)
#: 0-d constants: a Python number costs numpy a conversion on every call (rules._1)
_ONE, _ONE_I32 = np.array(1.0), np.array(1, dtype=np.int32)
_ONE.setflags(write=False)
_ONE_I32.setflags(write=False)
#: ``a.sum()`` without its Python wrapper (numpy.add.reduce is what it calls: the same sum)
_sum = np.add.reduce
#: Batches up to this size take the one-by-one path. Below eight numbers numpy adds
#: one after another, so Python's running sums give the very same bits.
FEW = 7
assert (NO_PROBLEM, SILENT_PROBLEM) == (0, 1)  # a silent problem's class is its flag
assert UNRATED == 0  # a mood is rated where it is nonzero


class Customer(mesa.Agent):
    """One person who became a lead: a view on their row of the CustomerBook."""

    def __init__(self, model: ChainModel, customer_id: int):
        super().__init__(model)
        self.customer_id = customer_id

    @property
    def place(self) -> str:
        """Where the customer is now: one of :data:`PLACES`."""
        return PLACES[self.model.customers.place[self.customer_id]]

    @property
    def satisfaction(self) -> float:
        """Satisfaction after the latest experience (1 = as promised); NaN before the first."""
        return float(self.model.customers.satisfaction[self.customer_id])

    @property
    def expectation(self) -> float:
        """What they were promised (1 = what Operations normally delivers)."""
        return float(self.model.customers.expectation[self.customer_id])

    @property
    def problems(self) -> int:
        """Problems they hold against the business: silent ones, unresolved complaints."""
        return int(self.model.customers.problems[self.customer_id])

    @property
    def orders(self) -> int:
        return int(self.model.customers.orders[self.customer_id])

    def journey(self) -> pd.DataFrame:
        """This customer's events so far (needs ``journeys=True`` on the model)."""
        return self.model.customers.journey(self.customer_id)


class _ScenarioTable:
    """What the scenario's numbers mean for a customer, worked out once per scenario.

    A complaint's outcome by experience class (one lookup instead of a branch);
    the problem threshold and the chance of complaining as 0-d arrays (a Python
    number costs numpy a conversion on every call); and the chances of staying
    that depend on a whole number -- ``rules.everyday_loyalty`` by days to the
    next order, ``rules.episode_retention`` of a silent problem by problems
    already held -- computed for a run of whole numbers by the rules' own
    functions (so the same bits); a number past a table is worked out as before.
    """

    __slots__ = ("scenario", "share", "paradox", "base", "share_l", "paradox_l", "base_l",
                 "factor", "powers", "threshold", "threshold_0d", "complain_0d", "loyalty",
                 "silent")

    def __init__(self, scenario) -> None:
        svc, keep, judge = scenario.service, scenario.retention, scenario.customers
        self.scenario = scenario
        n = len(rules.EXPERIENCES)
        #: share of the lost satisfaction given back, and the paradox on top (quick only)
        self.share = np.full(n, svc.recovery_slow)
        self.share[RESOLVED_QUICKLY] = svc.recovery_quick
        self.paradox = np.zeros(n)
        self.paradox[RESOLVED_QUICKLY] = svc.recovery_paradox
        #: TARP's chance of staying after the episode
        self.base = np.zeros(n)
        self.base[[UNRESOLVED, RESOLVED, RESOLVED_QUICKLY]] = (
            keep.unresolved, keep.resolved, keep.resolved_quickly)
        # the same, as Python floats, for a handful of complaints (CustomerBook._few_outcomes)
        self.share_l, self.paradox_l, self.base_l = (self.share.tolist(), self.paradox.tolist(),
                                                     self.base.tolist())
        #: repeat_failure_factor ** k for the first problems held, as numpy's power gives it
        self.factor = keep.repeat_failure_factor
        self.powers = np.power(self.factor, np.arange(64)).tolist()
        #: satisfaction below this is a problem (rules.is_problem)
        self.threshold = problem_threshold(judge.tolerance)
        self.threshold_0d = np.array(self.threshold)
        self.complain_0d = np.array(judge.complain_probability)
        # eight mean gaps cover all but the rarest gaps at the default spread
        gaps = np.arange(min(8 * math.ceil(keep.interval_days) + 64, 4096))
        self.loyalty = rules.everyday_loyalty(keep.churn_per_year, gaps, keep.no_problem)
        self.silent = rules.episode_retention(keep.silent_problem, np.arange(64), self.factor)

    def everyday_loyalty(self, gaps: np.ndarray) -> np.ndarray:
        """``rules.everyday_loyalty`` for these gaps (whole days, at least 1)."""
        try:
            return self.loyalty[gaps]
        except IndexError:  # a gap beyond the table
            keep = self.scenario.retention
            return rules.everyday_loyalty(keep.churn_per_year, gaps, keep.no_problem)

    def after_silent(self, prior: np.ndarray) -> np.ndarray:
        """``rules.episode_retention`` of a silent problem, by problems already held
        (``prior``: the book's int32 counts)."""
        try:  # as unsigned, a negative count (never in a run) is past the table too
            return self.silent[prior.astype(np.uint32, copy=False)]
        except IndexError:
            keep = self.scenario.retention
            return rules.episode_retention(keep.silent_problem, prior, self.factor)


class CustomerBook:
    """Everyone who became a lead: columnar state, the calendar, and the running counts.

    The book keeps the counts the rest of the model reads each day (active
    customers, promoters, detractors, satisfaction) so that nothing scans all
    customers on the daily path. Decisions to buy again are gathered during the
    day and taken together when the day's work is done (:meth:`settle`).
    """

    def __init__(self, model: ChainModel, *, journeys: bool = False, reserve: int = 1024):
        self.model = model
        self.n = 0
        self.place = np.empty(reserve, dtype=np.int8)
        self.mood = np.zeros(reserve, dtype=np.int8)
        self.satisfaction = np.full(reserve, np.nan)
        self.expectation = np.ones(reserve)
        self.problems = np.zeros(reserve, dtype=np.int32)
        self.orders = np.zeros(reserve, dtype=np.int32)
        self.calendar = WakeCalendar()
        self._views: dict[int, Customer] = {}
        self._pending: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        self._talk_ends: dict[int, list[int]] = {}  # day -> (operations, service) who stop
        self.log = JourneyLog() if journeys else None
        self._table: _ScenarioTable | None = None
        # running counts
        self.active = 0
        self.customers_total = 0
        # plain ints: a day changes them a few times, and a numpy call costs more than the sum
        self.moods = [0, 0, 0, 0]  # active customers by mood
        self.left_unhappy = [0, 0]  # left unhappy, still talking, by blame (operations, service)
        self._rated = 0  # active customers with at least one delivery
        self._satisfaction_sum = 0.0

    # -- lookups --------------------------------------------------------------
    def agent(self, customer_id: int) -> Customer | None:
        """The Customer view of someone still engaged (a lead or a customer), else None."""
        if not 0 <= customer_id < self.n or self.place[customer_id] not in ENGAGED_PLACES:
            return None
        view = self._views.get(customer_id)
        if view is None:
            view = self._views[customer_id] = Customer(self.model, customer_id)
        return view

    def agents(self) -> list[Customer]:
        """Views of everyone still engaged, built where missing."""
        engaged = np.flatnonzero(np.isin(self.place[: self.n], ENGAGED_PLACES))
        return [self.agent(cid) for cid in engaged.tolist()]

    @property
    def promoters(self) -> int:
        """Active customers who are satisfied: they spread good word."""
        return self.moods[SATISFIED]

    @property
    def unhappy(self) -> int:
        """Active customers who are unhappy now."""
        return self.moods[UNHAPPY_OPERATIONS] + self.moods[UNHAPPY_SERVICE]

    def detractors_by_blame(self) -> tuple[int, int]:
        """Detractors (unhappy now, or left unhappy and still talking) by whose doing:
        ``(operations, service)``."""
        moods, left = self.moods, self.left_unhappy
        return (moods[UNHAPPY_OPERATIONS] + left[0], moods[UNHAPPY_SERVICE] + left[1])

    @property
    def detractors(self) -> int:
        return sum(self.detractors_by_blame())

    @property
    def satisfaction_mean(self) -> float:
        return self._satisfaction_sum / self._rated if self._rated else float("nan")

    def census(self) -> dict[str, int]:
        """How many people are in each place, counted from the rows (for checks)."""
        counts = np.bincount(self.place[: self.n], minlength=len(PLACES))
        return {name: int(c) for name, c in zip(PLACES, counts, strict=True)}

    def scheduled(self) -> int:
        """Customers waiting in the calendar for their next order (for checks)."""
        return len(self.calendar)

    def journey(self, customer_id: int | None = None) -> pd.DataFrame:
        if self.log is None:
            raise RuntimeError("journeys were not recorded: create the model with journeys=True")
        return self.log.frame(customer_id)

    # -- arrivals and departures -----------------------------------------------
    def existing_customers(self, count: int, expected: float, mean_gap: float) -> None:
        """Customers the business has on day 1: satisfied, each due within ``mean_gap`` days.

        They became leads and bought before the run; their next orders are
        spread evenly over the coming inter-purchase time.
        """
        if count <= 0:
            return
        ids = self._add(count, WAITING)
        self._record(0, "existing_customer", ids)
        self.expectation[ids] = expected
        self.orders[ids] = 1
        self.active += count
        self.customers_total += count
        self._rate(ids, np.ones(count), UNHAPPY_OPERATIONS)
        horizon = max(1, round(mean_gap))
        self.calendar.schedule(ids, self.model.streams["start"].integers(1, horizon + 1,
                                                                          size=count))

    def new_leads(self, count: int, day: int) -> np.ndarray:
        """``count`` people become leads: new rows."""
        if count <= 0:
            return _EMPTY
        ids = self._add(count, LEAD)
        self._record(day, "lead", ids)
        return ids

    def _add(self, count: int, place: int) -> np.ndarray:
        start, end = self.n, self.n + count
        if end > len(self.place):
            self._grow(end)
        self.place[start:end] = place
        self.n = end
        return np.arange(start, end, dtype=np.int64)

    def leave_as_lead(self, ids: np.ndarray, place: int, day: int) -> None:
        """Leads who never bought leave: lost waiting, not converted, or put off by the wait."""
        if len(ids):
            self.place[ids] = place
            self._drop_views(ids)
            self._record(day, PLACES[place], ids)

    def first_purchase(self, ids: np.ndarray, expected: float, day: int) -> None:
        """Leads who bought: Sales has set what they expect."""
        if len(ids):
            self.place[ids] = ORDERED
            self.expectation[ids] = expected
            self.orders[ids] = 1
            self.active += len(ids)
            self.customers_total += len(ids)
            self._record(day, "sale", ids)

    def due(self, day: int) -> np.ndarray:
        """Customers whose next purchase falls today: they order again."""
        ids = self.calendar.due(day)
        if len(ids):
            self.place[ids] = ORDERED
            self.orders[ids] += _ONE_I32
            self._record(day, "repeat_order", ids)
        return ids

    # -- experiences --------------------------------------------------------------
    def delivered(self, ids: np.ndarray, right: np.ndarray, late: np.ndarray | None,
                  day: int) -> np.ndarray:
        """Customers judge a delivery; some complain, the rest will decide whether to return.

        ``right`` and ``late`` say, per customer, whether the delivery was what they
        needed and whether it came after the promised days (``late=None``: none did).

        Returns:
            The ids of customers who complain to Customer Service.
        """
        n = len(ids)
        if not n:
            return ids
        scenario = self.model.params
        judge = scenario.customers
        # on time, a right delivery is worth 1 and a wrong one 0: ``right`` as it is
        value = right if late is None or not np.count_nonzero(late) else rules.delivery_value(
            right, late, judge.late_penalty)
        sat = rules.satisfaction(value, self.expectation[ids])
        table = self._scenario_table(scenario)
        problem = sat < table.threshold_0d  # rules.is_problem
        problems = int(np.count_nonzero(problem))
        if self.log is not None:
            kinds = np.where(~right, 2, 0 if late is None else np.where(late, 1, 0))
            self.log.record_coded(day, DELIVERY_EVENTS[kinds], ids)
        self.model.ledger.problems += problems
        if not problems:  # nobody has anything to complain about
            self._rate(ids, sat, UNHAPPY_OPERATIONS, problem, 0)
            episode, classes = np.empty(n), np.empty(n, dtype=np.int64)
            episode.fill(1.0)  # empty + fill: np.ones and np.full cost twice as much
            classes.fill(NO_PROBLEM)
            self._pending.append((ids, episode, classes))
            return _EMPTY
        prior = self.problems[ids]
        self.problems[ids] = prior + problem
        self._rate(ids, sat, UNHAPPY_OPERATIONS, problem, problems)

        complains = problem & (self.model.streams["complaints"].random(n)
                               < table.complain_0d)
        complainers = ids[complains]
        self.place[complainers] = COMPLAINING
        self._record(day, "complaint", complainers)

        deciding = ~complains
        silent = problem[deciding]
        classes = silent.astype(np.int64)  # SILENT_PROBLEM where silent, else NO_PROBLEM
        episode = np.where(silent, table.after_silent(prior[deciding]), _ONE)
        self._pending.append((ids[deciding], episode, classes))
        return complainers

    def cancelled(self, ids: np.ndarray, day: int) -> None:
        """Orders Operations never started: the customers leave unhappy, and talk."""
        if not len(ids):
            return
        self.problems[ids] += 1
        self._rate(ids, np.zeros(len(ids)), UNHAPPY_OPERATIONS)
        self._record(day, "cancelled", ids)
        classes = np.full(len(ids), CANCELLED)
        self._churn(ids, day, classes)
        self.model.ledger.churn(classes)

    def complaint_outcome(self, ids: np.ndarray, classes: np.ndarray, day: int) -> None:
        """Customers hear how their complaint ended and feel it; they will decide later today.

        ``classes`` holds UNRESOLVED, RESOLVED or RESOLVED_QUICKLY per customer.
        """
        n = len(ids)
        if not n:
            return
        scenario = self.model.params
        svc, keep = scenario.service, scenario.retention
        table = self._scenario_table(scenario)
        if n <= FEW:
            self._few_outcomes(ids, classes, table, day)
            return
        sat = self.satisfaction[ids]
        resolved = classes != UNRESOLVED
        if resolved.any():
            before = rules.no_failure_satisfaction(self.expectation[ids])
            # a slow resolution is a quick one without the paradox, giving back less
            recovered = rules.recover_quickly(sat, table.share[classes], table.paradox[classes],
                                              before)
            sat = np.where(resolved, recovered, rules.aggravate(sat, svc.hassle))
        else:
            sat = rules.aggravate(sat, svc.hassle)
        self._rate(ids, sat, UNHAPPY_SERVICE)
        if self.log is not None:
            self.log.record_coded(day, OUTCOME_EVENTS[classes - UNRESOLVED], ids)
        prior = self.problems[ids] - 1  # the complaint's own problem is already counted
        episode = rules.episode_retention(table.base[classes], prior, keep.repeat_failure_factor)
        # A complaint resolved is forgiven: it no longer counts against the next problem.
        # One left unresolved is remembered (seed 004: "it had happened in exactly the
        # same way six months earlier, which I mentioned").
        self.problems[ids] = prior + ~resolved
        self._pending.append((ids, episode, classes))

    def _few_outcomes(self, ids: np.ndarray, classes: np.ndarray, table: _ScenarioTable,
                      day: int) -> None:
        """:meth:`complaint_outcome` for a handful of complaints, one customer at a time.

        The same arithmetic as the array path, in the same order, on Python
        floats: a few complaints a day cost a few microseconds instead of forty
        numpy calls. ``tests/test_few.py`` holds the two paths to the same bits.
        """
        scenario = table.scenario
        hassle = 1.0 - scenario.service.hassle
        threshold = table.threshold
        share, paradox, base, powers = table.share_l, table.paradox_l, table.base_l, table.powers
        satisfaction, expectation, problems, mood = (self.satisfaction, self.expectation,
                                                     self.problems, self.mood)
        moods = self.moods
        new_sum = old_sum = 0.0  # numpy adds fewer than eight numbers one after another
        unrated = 0
        episode = []
        for cid, c in zip(ids.tolist(), classes.tolist(), strict=True):
            sat = was = float(satisfaction[cid])
            prior = int(problems[cid]) - 1  # the complaint's own problem is already counted
            if c != UNRESOLVED:
                before = min(max(1.0 + 1.0 - float(expectation[cid]), 0.0), 1.0)
                sat = min(sat + (before - sat) * share[c] + paradox[c], before + paradox[c])
                problems[cid] = prior  # a complaint resolved is forgiven
            else:
                sat = sat * hassle
                problems[cid] = prior + 1  # one left unresolved is remembered
            old = int(mood[cid])
            if old == UNRATED:
                unrated += 1
            else:
                old_sum += was
            new = UNHAPPY_SERVICE if sat < threshold else SATISFIED
            moods[old] -= 1
            moods[new] += 1
            mood[cid] = new
            satisfaction[cid] = sat
            new_sum += sat
            episode.append(base[c] * (powers[prior] if 0 <= prior < len(powers)
                                      else float(np.power(table.factor, prior))))
        self._rated += unrated
        self._satisfaction_sum += new_sum - old_sum
        if self.log is not None:
            self.log.record_coded(day, OUTCOME_EVENTS[classes - UNRESOLVED], ids)
        self._pending.append((ids, np.array(episode), classes))

    def _scenario_table(self, scenario) -> _ScenarioTable:
        """What ``scenario``'s numbers mean for a customer, built once per scenario."""
        table = self._table
        if table is None or table.scenario is not scenario:
            table = self._table = _ScenarioTable(scenario)
        return table

    def settle(self, day: int) -> None:
        """The day's decisions, taken together: come back when the next order falls due, or leave.

        A customer stays if they get over the episode (1 when there was no
        problem) and are not lost to everyday churn before their next order.
        """
        pending = self._pending
        if not pending:
            return
        if len(pending) == 1:
            ids, episode, classes = pending[0]
        else:
            ids = np.concatenate([p[0] for p in pending])
            episode = np.concatenate([p[1] for p in pending])
            classes = np.concatenate([p[2] for p in pending])
        pending.clear()
        n = len(ids)
        if not n:
            return
        scenario = self.model.params
        keep = scenario.retention
        streams = self.model.streams
        gaps = rules.days_to_next_order(streams["intervals"], n, keep.interval_days,
                                        keep.interval_spread)
        p_stay = episode * self._scenario_table(scenario).everyday_loyalty(gaps)
        leaving = streams["retention"].random(n) >= p_stay
        if not np.count_nonzero(leaving):
            self.place[ids] = WAITING
            self.calendar.schedule(ids, day + gaps)
            self._record(day, "stays", ids, classes)
            return
        stays = ~leaving
        stayers, leavers = ids[stays], ids[leaving]
        if len(stayers):
            self.place[stayers] = WAITING
            self.calendar.schedule(stayers, day + gaps[stays])
            if self.log is not None:
                self._record(day, "stays", stayers, classes[stays])
        gone = classes[leaving]
        self._churn(leavers, day, gone)
        self.model.ledger.churn(gone)

    # -- internals -------------------------------------------------------------
    def _rate(self, ids: np.ndarray, sat: np.ndarray, blame: int,
              problem: np.ndarray | None = None, unhappy: int | None = None) -> None:
        """Set satisfaction and mood (unhappy ones blame ``blame``), keeping counts in step.

        ``problem`` (who is unhappy) and ``unhappy`` (how many) are worked out
        here unless the caller already has them.
        """
        mood, satisfaction, moods = self.mood, self.satisfaction, self.moods
        if problem is None:
            problem = rules.is_problem(sat, self.model.params.customers.tolerance)
        n = len(ids)
        if unhappy is None:
            unhappy = int(np.count_nonzero(problem))
        old_mood = mood[ids]
        unrated, was_satisfied, was_operations, was_service = np.bincount(
            old_mood, minlength=4).tolist()
        moods[UNRATED] -= unrated
        moods[SATISFIED] += n - unhappy - was_satisfied
        moods[UNHAPPY_OPERATIONS] -= was_operations
        moods[UNHAPPY_SERVICE] -= was_service
        moods[blame] += unhappy
        old_sat = satisfaction[ids]
        if unrated:
            rated = old_mood.astype(bool)  # old_mood != UNRATED (UNRATED is 0)
            self._satisfaction_sum += float(_sum(sat)) - float(_sum(old_sat[rated]))
            self._rated += unrated
        else:
            self._satisfaction_sum += float(_sum(sat)) - float(_sum(old_sat))
        satisfaction[ids] = sat
        # the new moods: SATISFIED where there is no problem and ``blame`` where there is
        mood[ids] = SATISFIED
        if unhappy:
            mood[ids[problem]] = blame

    def _churn(self, ids: np.ndarray, day: int, classes: np.ndarray) -> None:
        n = len(ids)
        if n <= FEW:  # one by one; numpy adds fewer than eight numbers in this order too
            counts, rated_sum = [0, 0, 0, 0], 0.0
            mood, satisfaction, place = self.mood, self.satisfaction, self.place
            for cid in ids.tolist():
                m = int(mood[cid])
                counts[m] += 1
                if m != UNRATED:
                    rated_sum += float(satisfaction[cid])
                place[cid] = CHURNED
        else:
            mood = self.mood[ids]
            counts = np.bincount(mood, minlength=4).tolist()
            self.place[ids] = CHURNED
            sat = self.satisfaction[ids]
            rated_sum = float((sat[mood != UNRATED] if counts[UNRATED] else sat).sum())
        self.active -= n
        moods = self.moods
        for k in range(4):
            moods[k] -= counts[k]
        self._rated -= n - counts[UNRATED]
        self._satisfaction_sum -= rated_sum
        talk_days = self.model.params.word_of_mouth.detractor_days
        by_operations, by_service = counts[UNHAPPY_OPERATIONS], counts[UNHAPPY_SERVICE]
        if talk_days > 0 and (by_operations or by_service):
            left = self.left_unhappy
            left[0] += by_operations
            left[1] += by_service
            end = day + talk_days
            ending = self._talk_ends.get(end)
            if ending is None:
                self._talk_ends[end] = [by_operations, by_service]
            else:
                ending[0] += by_operations
                ending[1] += by_service
        self._drop_views(ids)
        self._record(day, "leaves", ids, classes)

    def end_day(self, day: int) -> None:
        """Customers who left unhappy long enough ago stop talking."""
        ended = self._talk_ends.pop(day, None)
        if ended is not None:
            self.left_unhappy[0] -= ended[0]
            self.left_unhappy[1] -= ended[1]
        if self._rated == 0:
            self._satisfaction_sum = 0.0  # no drift left over from departed customers

    def _drop_views(self, ids: np.ndarray) -> None:
        """People who left: their Customer views (if any were built) leave the model."""
        views = self._views
        if views:
            for cid in ids.tolist():
                view = views.pop(cid, None)
                if view is not None:
                    view.remove()

    def _record(self, day: int, event: str, ids: np.ndarray,
                experience: np.ndarray | None = None) -> None:
        if self.log is not None:
            self.log.record(day, event, ids, experience)

    def _grow(self, needed: int) -> None:
        size = max(needed, 2 * len(self.place))
        for name, fill in (("place", 0), ("mood", 0), ("satisfaction", np.nan),
                           ("expectation", 1.0), ("problems", 0), ("orders", 0)):
            old = getattr(self, name)
            new = np.full(size, fill, dtype=old.dtype)
            new[: len(old)] = old
            setattr(self, name, new)
