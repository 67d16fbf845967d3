"""Sales: converts leads into customers and sets what they expect."""

from __future__ import annotations

from . import rules
from .customers import LEAD_LOST, NOT_CONVERTED
from .frontline import FrontLineFunction


class Sales(FrontLineFunction):
    """Handles up to ``capacity`` leads a day, first in, first out.

    A lead not handled within its patience goes elsewhere (the unanswered call of
    the call-in test). A handled lead buys with chance ``quality``, raised a
    little by over-promising -- which also raises what the customer expects.
    """

    name = "sales"

    def step(self) -> None:
        model = self.model
        day, book, ledger, p = model.day, model.customers, model.ledger, self.params
        self.open_day(day)

        lost = self.queue.expire(day, p.patience)
        book.leave_as_lead(lost, LEAD_LOST, day)
        ledger.leads_lost += len(lost)

        leads, _ = self.queue.pop(self.slots, day)
        self.handled = len(leads)
        buys = self.stream.random(len(leads)) < rules.conversion_probability(p.quality, p.overpromise)
        sold = leads[buys]
        book.first_purchase(sold, rules.expectation(p.overpromise), day)
        book.leave_as_lead(leads[~buys], NOT_CONVERTED, day)
        ledger.first_purchases += len(sold)
        ledger.not_converted += len(leads) - len(sold)
        model.operations.receive(sold, day)
