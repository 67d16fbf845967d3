"""What the four front-line functions share: a capacity, a quality, a queue, a cost."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, ClassVar

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
        self.queue_column = f"{self.name}_queue"
        self.utilization_column = f"{self.name}_utilization"
        # What the current scenario says of this link, read once per scenario (a
        # slider makes a new one), not once a day.
        self._read_for = None
        self._section = None  # this link's section of the scenario read last
        self._capacity = 0.0
        self._whole = None  # the capacity, when it is the same whole number of cases every day
        self._price = (0.0, 1.0)  # unit cost, quality factor

    @property
    def params(self):
        """This function's section of the current scenario."""
        return getattr(self.model.params, self.name)

    def open_day(self, day: int) -> Any:
        """Start the day with today's capacity and nothing handled yet.

        Returns this function's section of the current scenario (:attr:`params`).
        """
        scenario = self.model.params
        if scenario is not self._read_for:
            self._section = params = getattr(scenario, self.name)
            self._capacity = capacity = capacity_value(params.capacity) + 0.0  # no -0.0
            # a whole number of cases every day; below 2**24, capacity x day is exact in
            # slots_on_day for any run of up to 2**29 days
            whole = math.isinf(capacity) or (capacity.is_integer() and 0 <= capacity < 2**24)
            self._whole = capacity if whole else None  # slots_on_day's answer on every day
            self._price = (params.cost, rules.quality_factor(
                params.quality, scenario.economics.quality_premium))
            self.read_scenario(scenario, params)
            self._read_for = scenario
        whole = self._whole
        self.slots = whole if whole is not None else rules.slots_on_day(self._capacity, day)
        self.handled = 0
        self.work_waiting = self.queue.length > 0
        return self._section

    def read_scenario(self, scenario, params) -> None:
        """Work out, once per scenario, what this link's day needs of it (a subclass adds
        its own: ``params`` is its section of ``scenario``)."""

    def receive(self, ids, day: int) -> None:
        """Cases join the back of the queue."""
        self.queue.push(day, ids)

    @property
    def utilization(self) -> float:
        return rules.utilization(self.handled, self.slots, self.work_waiting)

    def cost(self) -> float:
        """Today's cost of this function's capacity (:func:`chainsim.rules.function_cost`)."""
        unit_cost, factor = self._price
        return rules.capacity_cost(self.slots, self.handled, unit_cost, factor)

    def step(self) -> None:  # pragma: no cover - every subclass defines its day
        raise NotImplementedError
