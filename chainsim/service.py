"""Customer Service: handles complaints and keeps customers satisfied."""

from __future__ import annotations

import numpy as np

from .frontline import FrontLineFunction
from .rules import RESOLVED, RESOLVED_QUICKLY, UNRESOLVED


class Service(FrontLineFunction):
    """Handles up to ``capacity`` complaints a day, first in, first out.

    A complaint not answered within the customer's patience counts as unresolved.
    A handled complaint is resolved with chance ``quality``, quickly if the
    customer waited no more than ``quick_days``.
    """

    name = "service"

    def step(self) -> None:
        model = self.model
        day, ledger, p = model.day, model.ledger, self.params
        self.open_day(day)

        ignored = self.queue.expire(day, p.patience)
        handled, waited = self.queue.pop(self.slots, day)
        self.handled = len(handled)
        resolved = self.stream.random(len(handled)) < p.quality
        outcome = np.where(resolved, np.where(waited <= p.quick_days, RESOLVED_QUICKLY, RESOLVED),
                           UNRESOLVED)
        ids = np.concatenate([ignored, handled])
        outcome = np.concatenate([np.full(len(ignored), UNRESOLVED), outcome])

        ledger.complaints_resolved += int(resolved.sum())
        ledger.complaints_resolved_quickly += int((outcome == RESOLVED_QUICKLY).sum())
        ledger.complaints_unresolved += int((outcome == UNRESOLVED).sum())
        model.customers.complaint_outcome(ids, outcome, day)
