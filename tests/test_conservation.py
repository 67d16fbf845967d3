"""Every person is in exactly one place every day, and every count adds up.

A hypothesis state machine runs a small business day by day while a "room" keeps
changing capacities and qualities (as in a workshop). A shadow ledger, kept from
the daily flows alone, must agree with the model's levels after every step.
"""

from __future__ import annotations

import math

import numpy as np
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from chainsim import FUNCTIONS, ChainModel, Scenario
from chainsim.customers import (ACTIVE_PLACES, ENGAGED_PLACES, PLACES, SATISFIED,
                                UNHAPPY_OPERATIONS, Customer)
from chainsim.metrics import COLUMNS, LEVELS

# Small capacities come often, so queues build up and patience runs out.
capacity = st.one_of(st.integers(0, 4), st.integers(0, 40),
                     st.floats(0, 40).map(lambda x: round(x, 2)), st.just("unlimited"))
quality = st.floats(0, 1).map(lambda x: round(x, 3))
FLOWS = [c for c in COLUMNS if c not in LEVELS]


class ChainMachine(RuleBasedStateMachine):
    @initialize(
        size=st.integers(1, 3_000),
        start_share=st.sampled_from([0.0, 0.0, 0.1, 1.0]),
        seed=st.integers(0, 2**32 - 1),
        caps=st.tuples(capacity, capacity, capacity, capacity),
        qualities=st.tuples(quality, quality, quality, quality, quality),
        patience=st.integers(0, 4),
        interval=st.integers(1, 20),
        negative=quality,
        detractor_days=st.integers(0, 20),
    )
    def start(self, size, start_share, seed, caps, qualities, patience, interval, negative,
              detractor_days):
        data = {f: {"capacity": c, "quality": q}
                for f, c, q in zip(FUNCTIONS, caps, qualities, strict=False)}
        self.at_start = int(size * start_share)
        data["market"] = {"size": size, "customers_at_start": self.at_start}
        data["handoff"] = {"quality": qualities[-1]}
        data["word_of_mouth"] = {"contact_rate": 0.3, "negative_word": negative,
                                 "detractor_days": detractor_days}
        data["sales"]["patience"] = patience
        data["sales"]["quotes_lead_time"] = 1.0 if patience % 2 else 0.0
        data["operations"]["patience"] = patience + 1
        data["service"]["patience"] = patience
        data["retention"] = {"interval_days": interval, "interval_spread": 0.5}
        self.model = ChainModel(Scenario.from_dict(data), rng=seed)
        self.totals = dict.fromkeys(FLOWS, 0.0)
        self.rows = 0

    @rule(days=st.integers(1, 8))
    def run_days(self, days):
        model = self.model
        for _ in range(days):
            model.step()
            for c in FLOWS:
                self.totals[c] += getattr(model.ledger, c)
            self.rows += 1
            self.check_day()

    @rule(function=st.sampled_from(FUNCTIONS), value=capacity)
    def change_capacity(self, function, value):
        self.model.set(f"{function}.capacity", value)

    @rule(function=st.sampled_from(FUNCTIONS + ("handoff",)), value=quality)
    def change_quality(self, function, value):
        self.model.set(f"{function}.quality", value)

    @rule()
    def look_at_every_customer(self):
        """A Mesa user asks for the customers as agents: one view per engaged person."""
        views = self.model.customer_agents()
        census = self.model.census()
        engaged = census["lead"] + sum(census[PLACES[p]] for p in ACTIVE_PLACES)
        assert len(views) == engaged == len(self.model.agents_by_type.get(Customer, []))
        for view in views:
            assert view.place in ("lead", "ordered", "complaining", "waiting")

    @rule(value=quality)
    def change_overpromise(self, value):
        self.model.set("sales.overpromise", value)

    def check_day(self):
        """Bounds on what the day just recorded."""
        ledger = self.model.ledger
        for f in FUNCTIONS:
            assert getattr(ledger, f"{f}_queue") >= 0
            assert 0.0 <= getattr(ledger, f"{f}_utilization") <= 1.0
        s = ledger.satisfaction_mean
        top = 1 + self.model.params.service.recovery_paradox  # a quick recovery's lift
        assert math.isnan(s) or -1e-9 <= s <= top + 1e-9
        assert ledger.deliveries <= self.model.operations.slots
        assert ledger.late_deliveries <= ledger.deliveries
        assert ledger.failed_deliveries <= ledger.deliveries
        assert ledger.complaints <= ledger.problems <= ledger.deliveries
        assert ledger.put_off == ledger.put_off_by_operations + ledger.put_off_by_service
        assert ledger.churned == sum(getattr(ledger, c) for c in COLUMNS if c.startswith("churned_"))
        assert ledger.revenue == self.model.params.economics.price * ledger.deliveries
        assert ledger.profit == ledger.revenue - ledger.cost
        assert ledger.cost >= self.model.params.economics.cost_of_goods * ledger.deliveries

    @invariant()
    def everyone_is_in_exactly_one_place(self):
        model, book = self.model, self.model.customers
        census = model.census()
        assert sum(census.values()) == model.params.market.size
        assert set(census) == {"market", "put_off", *PLACES}
        # each place agrees with the structure that holds those people
        assert census["lead"] == len(model.sales.queue)
        assert census["ordered"] == len(model.operations.queue)
        assert census["complaining"] == len(model.service.queue)
        assert census["waiting"] == book.scheduled()
        assert len(model.marketing.queue) == 0
        # no one is in two queues at once
        queued = np.concatenate([f.queue.ids() for f in model.functions])
        assert len(np.unique(queued)) == len(queued)
        # Customer agents are views, built on demand, and only of people still engaged
        engaged = census["lead"] + sum(census[PLACES[p]] for p in ACTIVE_PLACES)
        views = list(model.agents_by_type.get(Customer, []))
        assert len(views) <= engaged
        assert all(book.place[v.customer_id] in ENGAGED_PLACES for v in views)

    @invariant()
    def levels_match_the_flows(self):
        model, t, book = self.model, self.totals, self.model.customers
        if self.rows == 0:
            return
        size = model.params.market.size
        assert model.market.unreached == size - self.at_start - t["leads_new"] - t["put_off"]
        assert book.customers_total == self.at_start + t["first_purchases"]
        assert book.active == self.at_start + t["first_purchases"] - t["churned"]
        handled_leads = t["first_purchases"] + t["not_converted"] + t["declined_wait"]
        assert len(model.sales.queue) == t["leads_new"] - t["leads_lost"] - handled_leads
        orders = t["first_purchases"] + t["repeat_purchases"]
        assert len(model.operations.queue) == orders - t["deliveries"] - t["cancelled_orders"]
        assert t["churned_cancelled"] == t["cancelled_orders"]
        answered = t["complaints_resolved"] + t["complaints_unresolved"]
        assert len(model.service.queue) == t["complaints"] - answered
        assert t["complaints_resolved_quickly"] <= t["complaints_resolved"]
        census = model.census()
        assert book.active == sum(census[PLACES[p]] for p in ACTIVE_PLACES)
        # promoters and unhappy customers are active customers with a mood
        assert 0 <= book.promoters and 0 <= book.unhappy
        assert book.promoters + book.unhappy <= book.active
        mood = book.mood[: book.n][np.isin(book.place[: book.n], ACTIVE_PLACES)]
        assert book.promoters == int((mood == SATISFIED).sum())
        assert book.unhappy == int((mood >= UNHAPPY_OPERATIONS).sum())
        assert min(book.left_unhappy) >= 0
        sat = book.satisfaction[: book.n]
        top = 1 + model.params.service.recovery_paradox
        assert np.all(np.isnan(sat) | ((sat >= 0) & (sat <= top + 1e-9)))


ChainMachine.TestCase.settings = settings(max_examples=60, stateful_step_count=25)
TestChainConservation = ChainMachine.TestCase
