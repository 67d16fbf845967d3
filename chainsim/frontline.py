"""What the four front-line functions share: a capacity, a quality, a queue, a cost."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

import mesa

from . import rules
from .queues import CohortQueue
from .schema import capacity_value

if TYPE_CHECKING:
    from .model import ChainModel


class FrontLineFunction(mesa.Agent):
    """One link of the chain. Subclasses say what a case is and how it is handled.

    Each day the function gets ``slots`` cases of capacity (whole cases; a
    fractional capacity is spread over the days), works its first-in-first-out
    queue, and reports how loaded it was and what it cost.
    """

    name: ClassVar[str]

    def __init__(self, model: ChainModel):
        super().__init__(model)
        self.stream = model.streams[self.name]  # this link's own random numbers
        self.queue = CohortQueue()
        self.slots = 0.0
        self.handled = 0
        self.work_waiting = False

    @property
    def params(self):
        """This function's section of the current scenario."""
        return getattr(self.model.params, self.name)

    def open_day(self, day: int) -> None:
        """Start the day with today's capacity and nothing handled yet."""
        self.slots = rules.slots_on_day(capacity_value(self.params.capacity), day)
        self.handled = 0
        self.work_waiting = len(self.queue) > 0

    def receive(self, ids, day: int) -> None:
        """Cases join the back of the queue."""
        self.queue.push(day, ids)

    @property
    def utilization(self) -> float:
        return rules.utilization(self.handled, self.slots, self.work_waiting)

    def cost(self) -> float:
        """Today's cost of this function's capacity."""
        economics = self.model.params.economics
        return rules.function_cost(self.slots, self.handled, self.params.cost,
                                   self.params.quality, economics.quality_premium)

    def step(self) -> None:  # pragma: no cover - every subclass defines its day
        raise NotImplementedError
