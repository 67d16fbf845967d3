"""Operations: delivers what Sales promised."""

from __future__ import annotations

import numpy as np

from . import rules
from .frontline import FrontLineFunction


class Operations(FrontLineFunction):
    """Delivers up to ``capacity`` orders a day from its backlog, first in, first out.

    A delivery is right when the hand-off captured the need and Operations did the
    work right; it is late when the order waited longer than the promised days.
    An order not started within ``patience`` days is cancelled: the customer goes
    elsewhere, unhappy. First orders come from Sales, repeat orders straight from
    returning customers.
    """

    name = "operations"

    def step(self) -> None:
        model = self.model
        day, ledger, p = model.day, model.ledger, self.params
        self.open_day(day)

        cancelled = self.queue.expire(day, p.patience)
        ledger.cancelled_orders += len(cancelled)
        model.customers.cancelled(cancelled, day)

        orders, waited = self.queue.pop(self.slots, day)
        self.handled = n = len(orders)
        if not n:
            return
        p_right = rules.right_first_time(p.quality, model.params.handoff.quality)
        right = self.stream.random(n) < p_right
        late = waited > p.promised_days
        ledger.deliveries += n
        ledger.late_deliveries += int(np.count_nonzero(late))
        ledger.failed_deliveries += n - int(np.count_nonzero(right))

        complainers = model.customers.delivered(orders, right, late, day)
        ledger.complaints += len(complainers)
        model.service.receive(complainers, day)
