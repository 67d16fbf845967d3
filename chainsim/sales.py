"""Sales: converts leads into customers and sets what they expect."""

from __future__ import annotations

import numpy as np

from . import rules
from .customers import DECLINED_WAIT, LEAD_LOST, NOT_CONVERTED
from .frontline import FrontLineFunction
from .schema import capacity_value


class Sales(FrontLineFunction):
    """Handles up to ``capacity`` leads a day, first in, first out.

    A lead not handled within its patience goes elsewhere (the unanswered call of
    the call-in test). A handled lead buys with chance ``quality``, raised a
    little by over-promising -- which also raises what the customer expects. A
    lead told how long Operations' backlog would make them wait buys less the
    longer the wait (Forrester's market-growth model): not at all past the
    patience that would make them cancel.
    """

    name = "sales"

    def read_scenario(self, scenario, params) -> None:
        # the chance a handled lead buys, and as a 0-d array for the day's draws
        convert = rules.conversion_probability(params.quality, params.overpromise)
        self._convert = (convert, np.array(convert))

    def step(self) -> None:
        model = self.model
        day, book, ledger = model.day, model.customers, model.ledger
        p = self.open_day(day)

        lost = self.queue.expire(day, p.patience)
        book.leave_as_lead(lost, LEAD_LOST, day)
        ledger.leads_lost += len(lost)

        leads, _ = self.queue.pop(self.slots, day, waits=False)
        self.handled = len(leads)
        if not len(leads):
            return
        convert, convert_0d = self._convert
        ops = model.params.operations
        accept = rules.wait_acceptance(
            rules.quoted_wait(model.operations.queue.length, capacity_value(ops.capacity)),
            ops.promised_days, ops.patience, p.quotes_lead_time)
        # one draw per lead: buys, would buy but not at this wait, or does not buy
        draw = self.stream.random(len(leads))
        buys = draw < (convert_0d if accept == 1.0 else convert * accept)
        sold = leads[buys]
        book.first_purchase(sold, rules.expectation(p.overpromise), day)
        ledger.first_purchases += len(sold)
        if accept < 1.0:
            declined = ~buys & (draw < convert)
            book.leave_as_lead(leads[declined], DECLINED_WAIT, day)
            turned = int(np.count_nonzero(declined))
            ledger.declined_wait += turned
            book.leave_as_lead(leads[~buys & ~declined], NOT_CONVERTED, day)
        else:  # nobody is put off by the wait
            turned = 0
            book.leave_as_lead(leads[~buys], NOT_CONVERTED, day)
        ledger.not_converted += len(leads) - len(sold) - turned
        model.operations.receive(sold, day)
