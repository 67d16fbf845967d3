"""chainsim's rules written the way a Mesa user would write them: a second implementation.

Every person who becomes a lead is a :class:`Person` agent; every agent is
stepped every day (``model.agents_by_type[Person].shuffle_do("step")``); queues
are Python lists; chance is drawn person by person from Mesa's ``model.random``.
It shares only the rule formulas of :mod:`chainsim.rules` (satisfaction,
retention, word of mouth, ...) with chainsim -- none of its engine: not the
customer book, the cohort queues, the wake-up calendar, the end-of-day
settlement or the running counts. Two uses:

* ``tests/test_reference.py``: the two implementations agree in distribution
  on two scenarios (a check of chainsim's engine by one that shares none of it);
* ``benchmarks/reference_speed.py``: how much faster chainsim's engine is.

Not implemented (and refused): per-order ``retention.no_problem``; journeys;
money beyond revenue.
"""

from __future__ import annotations

import math

import mesa

from chainsim import rules
from chainsim.schema import Scenario, capacity_value

LEAD, ORDERED, COMPLAINING, WAITING, GONE = range(5)
UNRATED, SATISFIED, UNHAPPY_OPERATIONS, UNHAPPY_SERVICE = range(4)
METRICS = ("leads_new", "first_purchases", "repeat_purchases", "deliveries", "late_deliveries",
           "failed_deliveries", "cancelled_orders", "complaints", "complaints_resolved",
           "churned", "leads_lost", "declined_wait", "put_off")


class Person(mesa.Agent):
    """Someone who became a lead: where they are, what they expect and remember."""

    def __init__(self, model: ReferenceModel):
        super().__init__(model)
        self.place = LEAD
        self.mood = UNRATED
        self.satisfaction = math.nan
        self.expectation = 1.0
        self.problems = 0
        self.next_order = -1
        self.talks_until = -1  # left unhappy: still talking until this day
        self.blame = UNRATED

    def step(self) -> None:
        """A customer whose next order falls today orders again (straight to Operations)."""
        model = self.model
        if self.place == WAITING and self.next_order == model.day:
            self.place = ORDERED
            model.count["repeat_purchases"] += 1
            model.ops_queue.append((self, model.day))

    def rate(self, sat: float, blame: int) -> bool:
        problem = rules.is_problem(sat, self.model.sc.customers.tolerance)
        self.satisfaction = sat
        self.mood = blame if problem else SATISFIED
        return bool(problem)


class ReferenceModel(mesa.Model):
    """The chain, one day a step, every customer an agent."""

    def __init__(self, scenario: Scenario, seed: int = 0):
        super().__init__(rng=seed)
        if scenario.retention.no_problem is not None:
            raise ValueError("the reference implements everyday churn per year only")
        self.sc = sc = scenario
        self.day = 0
        self.unreached = sc.market.size
        self.sales_queue: list = []
        self.ops_queue: list = []
        self.service_queue: list = []
        self.pending: list = []  # (person, episode retention, class): decided at day's end
        self.count = dict.fromkeys(METRICS, 0)
        self.rows: list[dict] = []
        start = sc.market.customers_at_start
        self.unreached -= start
        horizon = max(1, round(sc.retention.interval_days))
        for _ in range(start):
            p = Person(self)
            p.place, p.expectation = WAITING, rules.expectation(sc.sales.overpromise)
            p.rate(1.0, UNHAPPY_OPERATIONS)
            p.next_order = self.random.randint(1, horizon)

    # -- helpers --------------------------------------------------------------------
    def people(self):
        return self.agents_by_type[Person] if Person in self.agents_by_type else []

    def slots(self, section) -> float:
        return rules.slots_on_day(capacity_value(section.capacity), self.day)

    @staticmethod
    def take(queue: list, slots: float) -> list:
        n = len(queue) if math.isinf(slots) else min(len(queue), int(slots))
        taken = queue[:n]
        del queue[:n]
        return taken

    def expire(self, queue: list, patience: int) -> list:
        gone = []
        while queue and self.day - queue[0][1] > patience:
            gone.append(queue.pop(0)[0])
        return gone

    def leave(self, person: Person, experience: int) -> None:
        self.count["churned"] += 1
        person.place = GONE
        talk = self.sc.word_of_mouth.detractor_days
        if person.mood in (UNHAPPY_OPERATIONS, UNHAPPY_SERVICE) and talk > 0:
            person.talks_until, person.blame = self.day + talk, person.mood
        else:
            person.remove()

    # -- one day --------------------------------------------------------------------
    def step(self) -> None:
        self.day = int(self.time)
        self.count = dict.fromkeys(METRICS, 0)
        if Person in self.agents_by_type:
            self.agents_by_type[Person].shuffle_do("step")
        self.marketing()
        self.sales()
        self.operations()
        self.service()
        self.settle()
        for p in list(self.people()):  # those who stopped talking are gone for good
            if p.place == GONE and p.talks_until == self.day:
                p.remove()
        self.record()

    def marketing(self) -> None:
        sc, people = self.sc, list(self.people())
        promoters = sum(1 for p in people if p.place in (ORDERED, COMPLAINING, WAITING)
                        and p.mood == SATISFIED)
        detractors = sum(1 for p in people if p.mood in (UNHAPPY_OPERATIONS, UNHAPPY_SERVICE)
                         and (p.place != GONE or p.talks_until >= self.day))
        wom = sc.word_of_mouth
        leads, put_off = rules.new_leads(
            self.rng, unreached=self.unreached, size=sc.market.size,
            contacts=self.slots(sc.marketing), quality=sc.marketing.quality,
            promoters=promoters, contact_rate=wom.contact_rate, adoption=wom.adoption,
            detractors=detractors, detractor_talk=wom.detractor_talk,
            negative_word=wom.negative_word)
        self.unreached -= leads + put_off
        self.count["leads_new"] += leads
        self.count["put_off"] += put_off
        for _ in range(leads):
            self.sales_queue.append((Person(self), self.day))

    def sales(self) -> None:
        sc, p = self.sc, self.sc.sales
        for person in self.expire(self.sales_queue, p.patience):
            self.count["leads_lost"] += 1
            person.remove()
        convert = rules.conversion_probability(p.quality, p.overpromise)
        ops = sc.operations
        accept = rules.wait_acceptance(
            rules.quoted_wait(len(self.ops_queue), capacity_value(ops.capacity)),
            ops.promised_days, ops.patience, p.quotes_lead_time)
        for person, _ in self.take(self.sales_queue, self.slots(p)):
            u = self.random.random()
            if u < convert * accept:
                person.place, person.expectation = ORDERED, rules.expectation(p.overpromise)
                self.count["first_purchases"] += 1
                self.ops_queue.append((person, self.day))
            else:
                if u < convert:
                    self.count["declined_wait"] += 1
                person.remove()

    def operations(self) -> None:
        sc, p = self.sc, self.sc.operations
        for person in self.expire(self.ops_queue, p.patience):
            self.count["cancelled_orders"] += 1
            person.problems += 1
            person.rate(0.0, UNHAPPY_OPERATIONS)
            self.leave(person, rules.CANCELLED)
        p_right = rules.right_first_time(p.quality, sc.handoff.quality)
        keep, judge = sc.retention, sc.customers
        for person, arrived in self.take(self.ops_queue, self.slots(p)):
            right = self.random.random() < p_right
            late = self.day - arrived > p.promised_days
            self.count["deliveries"] += 1
            self.count["late_deliveries"] += late
            self.count["failed_deliveries"] += not right
            value = float(rules.delivery_value(right, late, judge.late_penalty))
            sat = float(rules.satisfaction(value, person.expectation))
            prior = person.problems
            problem = person.rate(sat, UNHAPPY_OPERATIONS)
            person.problems += problem
            if problem and self.random.random() < judge.complain_probability:
                person.place = COMPLAINING
                self.count["complaints"] += 1
                self.service_queue.append((person, self.day))
            elif problem:
                episode = float(rules.episode_retention(keep.silent_problem, prior,
                                                        keep.repeat_failure_factor))
                self.pending.append((person, episode))
            else:
                self.pending.append((person, 1.0))

    def service(self) -> None:
        sc, p = self.sc, self.sc.service
        keep = sc.retention
        outcomes = [(person, rules.UNRESOLVED, 0)
                    for person in self.expire(self.service_queue, p.patience)]
        for person, arrived in self.take(self.service_queue, self.slots(p)):
            if self.random.random() < p.quality:
                quick = self.day - arrived <= p.quick_days
                outcomes.append((person, rules.RESOLVED_QUICKLY if quick else rules.RESOLVED, 0))
            else:
                outcomes.append((person, rules.UNRESOLVED, 0))
        base = {rules.UNRESOLVED: keep.unresolved, rules.RESOLVED: keep.resolved,
                rules.RESOLVED_QUICKLY: keep.resolved_quickly}
        for person, outcome, _ in outcomes:
            sat = person.satisfaction
            if outcome == rules.UNRESOLVED:
                sat = float(rules.aggravate(sat, p.hassle))
            else:
                self.count["complaints_resolved"] += 1
                quick = outcome == rules.RESOLVED_QUICKLY
                before = float(rules.no_failure_satisfaction(person.expectation))
                sat = float(rules.recover_quickly(
                    sat, p.recovery_quick if quick else p.recovery_slow,
                    p.recovery_paradox if quick else 0.0, before))
            person.rate(sat, UNHAPPY_SERVICE)
            episode = float(rules.episode_retention(base[outcome], person.problems - 1,
                                                    keep.repeat_failure_factor))
            if outcome != rules.UNRESOLVED:
                person.problems -= 1  # a resolved complaint is forgiven
            self.pending.append((person, episode))

    def settle(self) -> None:
        keep = self.sc.retention
        shape = 1.0 / keep.interval_spread**2 if keep.interval_spread > 0 else None
        for person, episode in self.pending:
            if shape is None:
                gap = keep.interval_days
            else:
                gap = self.random.gammavariate(shape, keep.interval_days / shape)
            gap = max(1, math.floor(gap + 0.5))
            stay = episode * (1.0 - keep.churn_per_year) ** (gap / rules.DAYS_PER_YEAR)
            if self.random.random() < stay:
                person.place, person.next_order = WAITING, self.day + gap
            else:
                self.leave(person, 0)
        self.pending = []

    def record(self) -> None:
        people = list(self.people())
        active = [p for p in people if p.place in (ORDERED, COMPLAINING, WAITING)]
        self.rows.append({"day": self.day, **self.count, "active_customers": len(active),
                          "queue_operations": len(self.ops_queue)})

    def run(self, days: int) -> dict[str, float]:
        self.run_for(days)  # Mesa's own loop, as chainsim's run uses
        return summary(self.rows)


def summary(rows: list[dict]) -> dict[str, float]:
    """The figures the agreement test compares: totals of each flow, and the end state."""
    out = {m: float(sum(r[m] for r in rows)) for m in METRICS}
    out["active_customers"] = float(rows[-1]["active_customers"])
    out["operations_queue_mean"] = sum(r["queue_operations"] for r in rows) / len(rows)
    return out


def chainsim_summary(scenario: Scenario, seed: int, days: int) -> dict[str, float]:
    """The same figures from chainsim itself."""
    from chainsim import ChainModel

    ts = ChainModel(scenario, rng=seed).run(days).timeseries
    out = {m: float(ts[m].sum()) for m in METRICS}
    out["active_customers"] = float(ts.active_customers.iloc[-1])
    out["operations_queue_mean"] = float(ts.operations_queue.mean())
    return out
