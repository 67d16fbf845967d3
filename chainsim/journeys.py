"""Journeys: one row per customer event, for following customers and for checks.

Recording is off unless asked for (``ChainModel(..., journeys=True)``, ``chainsim
run --journeys``); when on, every event is kept as a whole-day array of customer
ids, so recording costs a few list appends a day, not one object per event.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .rules import EXPERIENCES

#: Journey events, and the function each belongs to.
EVENTS: dict[str, str] = {
    "existing_customer": "customer",
    "lead": "marketing",
    "lead_lost": "sales",
    "not_converted": "sales",
    "declined_wait": "operations",
    "sale": "sales",
    "repeat_order": "operations",
    "delivered": "operations",
    "delivered_late": "operations",
    "delivered_wrong": "operations",
    "cancelled": "operations",
    "complaint": "service",
    "resolved_quickly": "service",
    "resolved": "service",
    "unresolved": "service",
    "stays": "customer",
    "leaves": "customer",
}
EVENT_CODE = {name: i for i, name in enumerate(EVENTS)}
DELIVERY_EVENTS = np.array([EVENT_CODE[e] for e in ("delivered", "delivered_late",
                                                    "delivered_wrong")])
OUTCOME_EVENTS = np.array([EVENT_CODE[e] for e in ("unresolved", "resolved", "resolved_quickly")])


class JourneyLog:
    """One row per customer event, gathered as whole-day arrays.

    A decision (``stays`` / ``leaves``) also carries the experience class of the
    order it closes (``no_problem``, ``silent_problem``, ..., ``cancelled``).
    """

    def __init__(self) -> None:
        # (day, event code, ids, experience codes or None)
        self._chunks: list[tuple[int, int, np.ndarray, np.ndarray | None]] = []
        self._joined = 0  # chunks already in the columns
        # the columns (ids, days, codes, experience), grown by doubling: the first
        # ``_rows`` rows hold every event in the chunks joined so far
        self._columns: tuple[np.ndarray, ...] = tuple(np.empty(0, dtype=np.int64)
                                                      for _ in range(4))
        self._rows = 0

    def record(self, day: int, event: str, ids: np.ndarray,
               experience: np.ndarray | None = None) -> None:
        if len(ids):
            self._chunks.append((day, EVENT_CODE[event], ids, experience))

    def record_coded(self, day: int, codes: np.ndarray, ids: np.ndarray) -> None:
        """Record events whose kind differs per customer (``codes`` from ``EVENT_CODE``)."""
        first = codes[0]
        if (codes == first).all():  # usually: every delivery today was on time and right
            self._chunks.append((day, int(first), ids, None))
            return
        for code in np.flatnonzero(np.bincount(codes)).tolist():
            self._chunks.append((day, code, ids[codes == code], None))

    def since(self, start: int) -> tuple[int, list[tuple[int, str, np.ndarray]]]:
        """Events recorded after the first ``start`` batches: ``(next start, [(day, event, ids)])``."""
        new = self._chunks[start:]
        names = list(EVENTS)
        return len(self._chunks), [(day, names[code], ids) for day, code, ids, _ in new]

    def columns(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Every event so far as four arrays: ``ids, days, codes, experience`` (-1: none).

        The batches recorded since the last call are written after the rows kept
        from it (the columns grow by doubling), so asking again and again as a
        run goes on (the workshop's follow-a-customer) costs what is new, not the
        whole history. The arrays returned are views of rows that are never
        written again.
        """
        chunks, done, rows = self._chunks, self._joined, self._rows
        if done < len(chunks):
            new = chunks[done:]
            lengths = np.array([len(c[2]) for c in new])
            parts = (
                np.concatenate([c[2] for c in new]),
                np.repeat(np.array([c[0] for c in new], dtype=np.int64), lengths),
                np.repeat(np.array([c[1] for c in new], dtype=np.int64), lengths),
                np.concatenate([np.full(len(c[2]), -1, dtype=np.int64) if c[3] is None
                                else np.asarray(c[3], dtype=np.int64) for c in new]),
            )
            end = rows + len(parts[0])
            if end > len(self._columns[0]):
                size = max(end, 2 * len(self._columns[0]), 1024)
                grown = tuple(np.empty(size, dtype=np.int64) for _ in range(4))
                for old, bigger in zip(self._columns, grown, strict=True):
                    bigger[:rows] = old[:rows]
                self._columns = grown
            for column, part in zip(self._columns, parts, strict=True):
                column[rows:end] = part
            self._rows, self._joined = end, len(chunks)
        return tuple(column[: self._rows] for column in self._columns)

    def events_of(self, customer_id: int) -> list[tuple[int, str, str]]:
        """One customer's events in the order they happened: ``(day, event, function)``."""
        ids, days, codes, _ = self.columns()
        where = np.flatnonzero(ids == customer_id)
        names = list(EVENTS)
        return [(day, names[code], EVENTS[names[code]])
                for day, code in zip(days[where].tolist(), codes[where].tolist(), strict=True)]

    def frame(self, customer_id: int | None = None) -> pd.DataFrame:
        names = list(EVENTS)
        functions = list(dict.fromkeys(EVENTS.values()))
        ids, days, codes, experience = self.columns()
        if customer_id is not None:
            keep = ids == customer_id
            ids, days, codes, experience = ids[keep], days[keep], codes[keep], experience[keep]
        # Stable sort by customer keeps each customer's events in the order they happened.
        order = np.lexsort((np.arange(len(ids)), days, ids)) if customer_id is None else slice(None)
        event = pd.Categorical.from_codes(codes[order], names)
        fn_codes = np.array([functions.index(EVENTS[n]) for n in names])[codes[order]]
        return pd.DataFrame({
            "customer_id": ids[order].astype(np.int64),
            "day": days[order].astype(np.int64),
            "event": event,
            "function": pd.Categorical.from_codes(fn_codes, functions),
            "experience": pd.Categorical.from_codes(experience[order], list(EXPERIENCES)),
        })
