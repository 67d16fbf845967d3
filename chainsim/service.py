"""Customer Service: handles complaints and keeps customers satisfied."""

from __future__ import annotations

import numpy as np

from .customers import FEW
from .frontline import FrontLineFunction
from .rules import RESOLVED, RESOLVED_QUICKLY, UNRESOLVED

assert (RESOLVED, RESOLVED_QUICKLY) == (UNRESOLVED + 1, UNRESOLVED + 2)


class Service(FrontLineFunction):
    """Handles up to ``capacity`` complaints a day, first in, first out.

    A complaint not answered within the customer's patience counts as unresolved.
    A handled complaint is resolved with chance ``quality``, quickly if the
    customer waited no more than ``quick_days``.
    """

    name = "service"

    def step(self) -> None:
        model = self.model
        day, ledger = model.day, model.ledger
        p = self.open_day(day)

        ignored = self.queue.expire(day, p.patience)
        handled, waited = self.queue.take(self.slots, day)  # waited: one number if one day
        self.handled = n = len(handled)
        if not n and not len(ignored):
            return
        draws = self.stream.random(n)
        if n <= FEW and not len(ignored):  # a handful: one by one, as below
            quality, quick_days = p.quality, p.quick_days
            outcome, fixed, quick = [], 0, 0
            waits = waited.tolist() if isinstance(waited, np.ndarray) else [waited] * n
            for draw, wait in zip(draws.tolist(), waits, strict=True):
                if draw < quality:
                    fixed += 1
                    if wait <= quick_days:
                        quick += 1
                        outcome.append(RESOLVED_QUICKLY)
                    else:
                        outcome.append(RESOLVED)
                else:
                    outcome.append(UNRESOLVED)
            ledger.complaints_resolved += fixed
            ledger.complaints_resolved_quickly += quick
            ledger.complaints_unresolved += n - fixed
            model.customers.complaint_outcome(handled, np.array(outcome), day)
            return
        resolved = draws < p.quality
        quick = resolved & (waited <= p.quick_days)
        # UNRESOLVED, one up if resolved, two if quickly (the classes are consecutive)
        outcome = resolved.astype(np.int64)
        outcome += quick
        outcome += UNRESOLVED
        if len(ignored):
            handled = np.concatenate([ignored, handled])
            outcome = np.concatenate([np.full(len(ignored), UNRESOLVED), outcome])
        fixed = int(np.count_nonzero(resolved))
        ledger.complaints_resolved += fixed
        ledger.complaints_resolved_quickly += int(np.count_nonzero(quick))
        ledger.complaints_unresolved += len(handled) - fixed
        model.customers.complaint_outcome(handled, outcome, day)
