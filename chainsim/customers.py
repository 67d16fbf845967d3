"""Customers: who they are, what they remember, and whether they come back.

A person becomes a :class:`Customer` agent on the day they become a lead; until
then they are part of the market's count. Each customer's state -- where they
are in the chain, what they were promised, how satisfied they are, how many
problems they have had -- lives in one row of the :class:`CustomerBook`, a set of
numpy columns, so a day's deliveries or complaints are handled as whole arrays.
The agent is a thin view on its row: ``model.customer(42).satisfaction``.

A customer waiting for their next purchase costs nothing per day: they sit in
the wake-up calendar (day -> ids) until the day they order again.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import mesa
import numpy as np
import pandas as pd

from . import rules
from .rules import (
    CANCELLED,
    EXPERIENCES,
    NO_PROBLEM,
    RESOLVED,
    RESOLVED_QUICKLY,
    SILENT_PROBLEM,
    UNRESOLVED,
)

if TYPE_CHECKING:
    from .model import ChainModel

#: Where a person who became a lead can be. The market itself is a count.
PLACES = ("lead", "ordered", "complaining", "waiting", "lead_lost", "not_converted", "churned",
          "declined_wait")
(LEAD, ORDERED, COMPLAINING, WAITING, LEAD_LOST, NOT_CONVERTED, CHURNED,
 DECLINED_WAIT) = range(len(PLACES))
ACTIVE_PLACES = (ORDERED, COMPLAINING, WAITING)

#: Journey events, and the function each belongs to.
EVENTS: dict[str, str] = {
    "existing_customer": "customer",
    "lead": "marketing",
    "lead_lost": "sales",
    "not_converted": "sales",
    "declined_wait": "operations",
    "sale": "sales",
    "repeat_order": "operations",
    "delivered": "operations",
    "delivered_late": "operations",
    "delivered_wrong": "operations",
    "cancelled": "operations",
    "complaint": "service",
    "resolved_quickly": "service",
    "resolved": "service",
    "unresolved": "service",
    "stays": "customer",
    "leaves": "customer",
}
_EVENT_CODE = {name: i for i, name in enumerate(EVENTS)}
_DELIVERY_EVENTS = np.array([_EVENT_CODE[e] for e in ("delivered", "delivered_late", "delivered_wrong")])
_OUTCOME_EVENTS = np.array([_EVENT_CODE[e] for e in ("unresolved", "resolved", "resolved_quickly")])

#: Moods: not yet served, satisfied (a promoter), or unhappy (a detractor) -- and
#: then whose doing it was: a delivery that fell short (Operations) or a complaint
#: that left them unhappy (Customer Service). People put off by a detractor's word
#: are lost to the link that made the detractor.
UNRATED, SATISFIED, UNHAPPY_OPERATIONS, UNHAPPY_SERVICE = range(4)


class Customer(mesa.Agent):
    """One person who became a lead. Reads and shows their row of the CustomerBook."""

    def __init__(self, model: ChainModel, customer_id: int):
        super().__init__(model)
        self.customer_id = customer_id

    @property
    def place(self) -> str:
        """Where the customer is now: one of :data:`PLACES`."""
        return PLACES[self.model.customers.place[self.customer_id]]

    @property
    def satisfaction(self) -> float:
        """Satisfaction (0..1) after the latest experience; NaN before the first delivery."""
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


class JourneyLog:
    """One row per customer event, gathered as whole-day arrays.

    A decision (``stays`` / ``leaves``) also carries the experience class of the
    order it closes (``no_problem``, ``silent_problem``, ..., ``cancelled``).
    """

    def __init__(self) -> None:
        # (day, event code, ids, experience codes or None)
        self._chunks: list[tuple[int, int, np.ndarray, np.ndarray | None]] = []

    def record(self, day: int, event: str, ids: np.ndarray,
               experience: np.ndarray | None = None) -> None:
        if len(ids):
            self._chunks.append((day, _EVENT_CODE[event], ids, experience))

    def record_coded(self, day: int, codes: np.ndarray, ids: np.ndarray) -> None:
        """Record events whose kind differs per customer (``codes`` from ``_EVENT_CODE``)."""
        for code in np.unique(codes):
            self._chunks.append((day, int(code), ids[codes == code], None))

    def since(self, start: int) -> tuple[int, list[tuple[int, str, np.ndarray]]]:
        """Events recorded after the first ``start`` batches: ``(next start, [(day, event, ids)])``."""
        new = self._chunks[start:]
        names = list(EVENTS)
        return len(self._chunks), [(day, names[code], ids) for day, code, ids, _ in new]

    def frame(self, customer_id: int | None = None) -> pd.DataFrame:
        names = list(EVENTS)
        functions = list(dict.fromkeys(EVENTS.values()))
        chunks = self._chunks
        if chunks:
            lengths = np.array([len(c[2]) for c in chunks])
            ids = np.concatenate([c[2] for c in chunks])
            days = np.repeat([c[0] for c in chunks], lengths)
            codes = np.repeat([c[1] for c in chunks], lengths)
            experience = np.concatenate([
                np.full(len(c[2]), -1, dtype=np.int64) if c[3] is None else c[3] for c in chunks])
        else:
            ids = days = codes = experience = np.empty(0, dtype=np.int64)
        if customer_id is not None:
            keep = ids == customer_id
            ids, days, codes, experience = ids[keep], days[keep], codes[keep], experience[keep]
        # Stable sort by customer keeps each customer's events in the order they happened.
        order = np.lexsort((np.arange(len(ids)), days, ids)) if customer_id is None else slice(None)
        event = pd.Categorical.from_codes(codes[order], names)
        fn_codes = np.array([functions.index(EVENTS[n]) for n in names])[codes[order]]
        return pd.DataFrame({
            "customer_id": ids[order].astype(np.int64),
            "day": days[order].astype(np.int64),
            "event": event,
            "function": pd.Categorical.from_codes(fn_codes, functions),
            "experience": pd.Categorical.from_codes(experience[order], list(EXPERIENCES)),
        })


class CustomerBook:
    """Every person who became a lead: columnar state, the calendar, and the agents.

    The book also keeps the running counts the rest of the model reads each day
    (active customers, promoters, detractors, satisfaction) so that nothing has
    to scan all customers on the daily path.
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
        self._agents: dict[int, Customer] = {}
        self._calendar: dict[int, list[np.ndarray]] = {}
        self._talk_ends: dict[int, np.ndarray] = {}
        self.log = JourneyLog() if journeys else None
        # running counts
        self.active = 0
        self.customers_total = 0
        self.moods = np.zeros(4, dtype=np.int64)  # active customers by mood
        self.left_unhappy = np.zeros(2, dtype=np.int64)  # left unhappy, still talking, by blame
        self._rated = 0  # active customers with at least one delivery
        self._satisfaction_sum = 0.0

    # -- lookups --------------------------------------------------------------
    def agent(self, customer_id: int) -> Customer | None:
        """The Customer agent, or None once they have left (their row stays)."""
        return self._agents.get(customer_id)

    @property
    def promoters(self) -> int:
        """Active customers who are satisfied: they spread good word."""
        return int(self.moods[SATISFIED])

    @property
    def unhappy(self) -> int:
        """Active customers who are unhappy now."""
        return int(self.moods[UNHAPPY_OPERATIONS] + self.moods[UNHAPPY_SERVICE])

    def detractors_by_blame(self) -> np.ndarray:
        """Detractors (unhappy now, or left unhappy and still talking) by whose doing."""
        return self.moods[UNHAPPY_OPERATIONS:] + self.left_unhappy

    @property
    def detractors(self) -> int:
        return int(self.detractors_by_blame().sum())

    @property
    def satisfaction_mean(self) -> float:
        return self._satisfaction_sum / self._rated if self._rated else float("nan")

    def census(self) -> dict[str, int]:
        """How many people are in each place, counted from the rows (for checks)."""
        counts = np.bincount(self.place[: self.n], minlength=len(PLACES))
        return {name: int(c) for name, c in zip(PLACES, counts, strict=True)}

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
        self._schedule(ids, self.model.streams["start"].integers(1, horizon + 1, size=count))

    def new_leads(self, count: int, day: int) -> np.ndarray:
        """``count`` people become leads: new rows and new Customer agents."""
        ids = self._add(count, LEAD)
        self._record(day, "lead", ids)
        return ids

    def _add(self, count: int, place: int) -> np.ndarray:
        start, end = self.n, self.n + count
        if end > len(self.place):
            self._grow(end)
        ids = np.arange(start, end, dtype=np.int64)
        self.place[start:end] = place
        self.n = end
        model, agents = self.model, self._agents
        for cid in range(start, end):
            agents[cid] = Customer(model, cid)
        return ids

    def leave_as_lead(self, ids: np.ndarray, place: int, day: int) -> None:
        """Leads who never bought leave: lost waiting, or not converted."""
        if len(ids):
            self.place[ids] = place
            self._remove_agents(ids)
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
        batches = self._calendar.pop(day, None)
        if not batches:
            return np.empty(0, dtype=np.int64)
        ids = batches[0] if len(batches) == 1 else np.concatenate(batches)
        self.place[ids] = ORDERED
        self.orders[ids] += 1
        self._record(day, "repeat_order", ids)
        return ids

    # -- experiences --------------------------------------------------------------
    def delivered(self, ids: np.ndarray, right: np.ndarray, late: np.ndarray, day: int) -> np.ndarray:
        """Customers judge a delivery; some complain, the rest decide whether to return.

        Returns:
            The ids of customers who complain to Customer Service.
        """
        if not len(ids):
            return ids
        scenario = self.model.params
        judge, keep = scenario.customers, scenario.retention
        value = rules.delivery_value(right, late, judge.late_penalty)
        sat = rules.satisfaction(value, self.expectation[ids])
        problem = rules.is_problem(sat, judge.tolerance)
        prior = self.problems[ids]
        self.problems[ids] = prior + problem
        self._rate(ids, sat, UNHAPPY_OPERATIONS)
        if self.log is not None:
            kinds = np.where(~right, 2, np.where(late, 1, 0))
            self.log.record_coded(day, _DELIVERY_EVENTS[kinds], ids)
        ledger = self.model.ledger
        ledger.problems += int(problem.sum())

        complains = problem & (self.model.streams["complaints"].random(len(ids)) < judge.complain_probability)
        complainers = ids[complains]
        self.place[complainers] = COMPLAINING
        self._record(day, "complaint", complainers)

        deciding = ~complains
        silent = problem[deciding]
        classes = np.where(silent, SILENT_PROBLEM, NO_PROBLEM)
        episode = np.where(
            silent,
            rules.episode_retention(keep.silent_problem, prior[deciding],
                                    keep.repeat_failure_factor),
            1.0,
        )
        self._decide(ids[deciding], episode, classes, day)
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
        """Customers hear how their complaint ended, feel it, and decide whether to return.

        ``classes`` holds UNRESOLVED, RESOLVED or RESOLVED_QUICKLY per customer.
        """
        if not len(ids):
            return
        scenario = self.model.params
        svc, keep = scenario.service, scenario.retention
        sat = self.satisfaction[ids]
        before = rules.no_failure_satisfaction(self.expectation[ids])
        sat = np.select(
            [classes == RESOLVED_QUICKLY, classes == RESOLVED],
            [rules.recover_quickly(sat, svc.recovery_quick, svc.recovery_paradox, before),
             rules.recover(sat, svc.recovery_slow, before)],
            rules.aggravate(sat, svc.hassle),
        )
        self._rate(ids, sat, UNHAPPY_SERVICE)
        if self.log is not None:
            self.log.record_coded(day, _OUTCOME_EVENTS[classes - UNRESOLVED], ids)
        base = np.array([0.0, 0.0, keep.unresolved, keep.resolved, keep.resolved_quickly,
                         0.0])[classes]
        prior = self.problems[ids] - 1  # the complaint's own problem is already counted
        episode = rules.episode_retention(base, prior, keep.repeat_failure_factor)
        # A complaint resolved is forgiven: it no longer counts against the next problem.
        # One left unresolved is remembered (seed 004: "it had happened in exactly the
        # same way six months earlier, which I mentioned").
        self.problems[ids[classes != UNRESOLVED]] -= 1
        self._decide(ids, episode, classes, day)

    # -- internals -------------------------------------------------------------
    def _rate(self, ids: np.ndarray, sat: np.ndarray, blame: int) -> None:
        """Set satisfaction and mood (unhappy ones blame ``blame``), keeping counts in step."""
        old_mood = self.mood[ids]
        was_rated = old_mood != UNRATED
        new_mood = np.where(rules.is_problem(sat, self.model.params.customers.tolerance),
                            blame, SATISFIED).astype(np.int8)
        self._satisfaction_sum += float(sat.sum() - self.satisfaction[ids][was_rated].sum())
        self._rated += int((~was_rated).sum())
        self.moods += np.bincount(new_mood, minlength=4) - np.bincount(old_mood, minlength=4)
        self.satisfaction[ids] = sat
        self.mood[ids] = new_mood

    def _decide(self, ids: np.ndarray, episode: np.ndarray, classes: np.ndarray,
                day: int) -> None:
        """After an order: come back when the next order falls due, or leave.

        The customer stays if they get over the episode (``episode``: 1 when there
        was no problem) and are not lost to everyday churn before the next order.
        """
        if not len(ids):
            return
        keep = self.model.params.retention
        streams = self.model.streams
        gaps = rules.days_to_next_order(streams["intervals"], len(ids), keep.interval_days,
                                        keep.interval_spread)
        p_stay = episode * rules.everyday_loyalty(keep.churn_per_year, gaps, keep.no_problem)
        stays = streams["retention"].random(len(ids)) < p_stay
        stayers, leavers = ids[stays], ids[~stays]
        if len(stayers):
            self.place[stayers] = WAITING
            self._schedule(stayers, day + gaps[stays])
            self._record(day, "stays", stayers, classes[stays])
        if len(leavers):
            self._churn(leavers, day, classes[~stays])
            self.model.ledger.churn(classes[~stays])

    def _churn(self, ids: np.ndarray, day: int, classes: np.ndarray) -> None:
        mood = self.mood[ids]
        counts = np.bincount(mood, minlength=4)
        unhappy = counts[UNHAPPY_OPERATIONS:]
        self.place[ids] = CHURNED
        self.active -= len(ids)
        self.moods -= counts
        rated = mood != UNRATED
        self._rated -= int(rated.sum())
        self._satisfaction_sum -= float(self.satisfaction[ids][rated].sum())
        talk_days = self.model.params.word_of_mouth.detractor_days
        if unhappy.any() and talk_days > 0:
            self.left_unhappy += unhappy
            end = day + talk_days
            self._talk_ends[end] = self._talk_ends.get(end, 0) + unhappy
        self._remove_agents(ids)
        self._record(day, "leaves", ids, classes)

    def end_day(self, day: int) -> None:
        """Customers who left unhappy long enough ago stop talking."""
        ended = self._talk_ends.pop(day, None)
        if ended is not None:
            self.left_unhappy -= ended
        if self._rated == 0:
            self._satisfaction_sum = 0.0  # no drift left over from removed customers

    def _schedule(self, ids: np.ndarray, wake_days: np.ndarray) -> None:
        calendar = self._calendar
        first = wake_days[0]
        if (wake_days == first).all():
            calendar.setdefault(int(first), []).append(ids)
            return
        order = np.argsort(wake_days, kind="stable")
        wake_sorted = wake_days[order]
        days, starts = np.unique(wake_sorted, return_index=True)
        for d, part in zip(days.tolist(), np.split(ids[order], starts[1:]), strict=True):
            calendar.setdefault(d, []).append(part)

    def scheduled(self) -> int:
        """Customers waiting in the calendar (for checks)."""
        return sum(len(ids) for batches in self._calendar.values() for ids in batches)

    def _remove_agents(self, ids: np.ndarray) -> None:
        pop = self._agents.pop
        for cid in ids.tolist():
            pop(cid).remove()

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
