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

    def read_scenario(self, scenario, params) -> None:
        # the chance a delivery is right, as a 0-d array for the day's draws
        self._p_right = np.array(rules.right_first_time(params.quality,
                                                        scenario.handoff.quality))

    def step(self) -> None:
        model = self.model
        day, ledger = model.day, model.ledger
        p = self.open_day(day)

        cancelled = self.queue.expire(day, p.patience)
        ledger.cancelled_orders += len(cancelled)
        model.customers.cancelled(cancelled, day)

        orders, waited = self.queue.take(self.slots, day)
        self.handled = n = len(orders)
        if not n:
            return
        right = self.stream.random(n) < self._p_right
        # late=None: nobody was late (delivered() then skips the late penalty)
        if isinstance(waited, np.ndarray):  # orders from several days
            late = waited > p.promised_days
            n_late = int(np.count_nonzero(late))
            if not n_late:
                late = None
        else:  # all placed on one day: all late or none
            n_late = n if waited > p.promised_days else 0
            late = np.ones(n, dtype=bool) if n_late else None
        ledger.deliveries += n
        ledger.late_deliveries += n_late
        ledger.failed_deliveries += n - int(np.count_nonzero(right))

        complainers = model.customers.delivered(orders, right, late, day)
        ledger.complaints += len(complainers)
        model.service.receive(complainers, day)
