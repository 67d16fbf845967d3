"""The business rules as small pure functions.

Each function takes numbers (or numpy arrays) and, where chance is involved, a
numpy ``Generator``; none touches the model. They are the part of chainsim a
business teacher can read line by line, and each is tested on its own. Sources
are named where a rule comes from a published result; docs/model.md explains them.
"""

from __future__ import annotations

import math

import numpy as np

# Constants for arithmetic on small arrays, as 0-d arrays: numpy converts a Python
# number on every call (about 0.2 us each, a good part of an operation on 50
# customers). On the float64, int64 and bool arrays the engine passes, the values,
# and so the results, are the same (a float32 array would now give float64: a 0-d
# array is not a "weak" scalar). Read-only: every model shares them.
_0, _1, _HALF = np.array(0.0), np.array(1.0), np.array(0.5)
_ONE_DAY = np.array(1, dtype=np.int64)
for _constant in (_0, _1, _HALF, _ONE_DAY):
    _constant.setflags(write=False)

# -- capacity -----------------------------------------------------------------


def slots_on_day(capacity: float, day: int) -> float:
    """Whole cases a function can handle on ``day`` (days count from 1).

    A fractional capacity is spread evenly over the days: 2.5 cases a day gives
    2, 3, 2, 3, ... so that any run of days gets ``capacity x days`` cases,
    give or take one. ``math.inf`` (unlimited) stays infinite.
    """
    if math.isinf(capacity):
        return math.inf
    return float(math.floor(capacity * day + 1e-9) - math.floor(capacity * (day - 1) + 1e-9))


def utilization(handled: int, slots: float, work_waiting: bool) -> float:
    """Share of today's slots that were used, in [0, 1].

    Unlimited capacity is never loaded (0). A function with no slots at all is
    fully loaded when work is waiting for it.
    """
    if math.isinf(slots):
        return 0.0
    if slots <= 0:
        return 1.0 if work_waiting else 0.0
    return min(1.0, handled / slots)


# -- marketing and word of mouth (Bass 1969) ---------------------------------


def new_leads(
    rng: np.random.Generator,
    *,
    unreached: int,
    size: int,
    contacts: float,
    quality: float,
    promoters: int,
    contact_rate: float,
    adoption: float,
    detractors: float,
    detractor_talk: float,
    negative_word: float,
) -> tuple[int, int]:
    """People not yet reached who become leads today, and who are put off for good.

    Marketing's ``contacts`` and each promoter's ``contact_rate`` contacts are drawn
    from the whole market, so a contact lands on a person not yet reached with
    chance ``unreached / size``. A person receiving ``k`` independent contacts,
    each taking with chance ``a``, stays untouched with chance ``(1 - a/size)^k``
    -- ``exp(-k a / size)`` for a large market. Per person the daily hazards are

    * becoming a lead:  ``(contacts x quality + promoters x contact_rate x adoption) / size``
    * being put off:    ``detractors x contact_rate x detractor_talk x negative_word / size``

    which are Bass's ``p + q F(t)`` with ``p = capacity x quality / size`` and
    ``q = contact_rate x adoption`` when every customer is a promoter. The two
    outcomes compete; one multinomial draw splits the unreached.

    Returns:
        ``(leads, put_off)``, with ``leads + put_off <= unreached``.
    """
    if unreached <= 0:
        return 0, 0
    marketing = contacts * quality if contacts > 0 and quality > 0 else 0.0  # no inf x 0
    positive = marketing + promoters * contact_rate * adoption
    negative = detractors * contact_rate * detractor_talk * negative_word
    if math.isinf(positive):
        return unreached, 0
    total = (positive + negative) / size
    if total <= 0:
        return 0, 0
    p_any = -math.expm1(-total)
    p_lead = p_any * positive / (positive + negative)
    p_off = max(0.0, p_any - p_lead)
    leads, off, _ = rng.multinomial(unreached, [p_lead, p_off, max(0.0, 1.0 - p_lead - p_off)])
    if negative <= 0:
        # Without detractors p_off is only rounding (p_any - p_lead, about 1e-17), which a
        # market of 1e12 can turn into a person put off by no one. The draw is kept as it
        # is, so every seed's random stream stays the same.
        off = 0
    return int(leads), int(off)


def bass_cumulative(t: np.ndarray | float, p: float, q: float) -> np.ndarray | float:
    """Bass (1969) share of the market that has adopted by time ``t``.

    ``F(t) = (1 - exp(-(p+q) t)) / (1 + (q/p) exp(-(p+q) t))``.
    """
    e = np.exp(-(p + q) * np.asarray(t, dtype=float))
    return (1.0 - e) / (1.0 + (q / p) * e)


def bass_peak_time(p: float, q: float) -> float:
    """Time of the adoption peak, ``ln(q/p) / (p+q)`` (0 when ``q <= p``)."""
    return max(0.0, math.log(q / p) / (p + q)) if q > 0 else 0.0


# -- sales ----------------------------------------------------------------------


def conversion_probability(quality: float, overpromise: float) -> float:
    """Chance a handled lead buys: ``quality``, raised by the share over-promised."""
    return min(1.0, quality * (1.0 + overpromise))


def quoted_wait(backlog: int, capacity: float) -> float:
    """Days of work ahead of a new order: Operations' backlog over its daily capacity."""
    if backlog <= 0 or math.isinf(capacity):
        return 0.0
    return backlog / capacity if capacity > 0 else math.inf


def wait_acceptance(wait: float, promised_days: int, patience: int, told: float) -> float:
    """Share of would-be buyers who still buy when told the wait (Forrester 1968).

    A wait within the promised lead time puts no one off; past it, the share
    who buy falls in a straight line to none at Operations' patience (an order
    that would be cancelled anyway). Only the leads who are told the wait react:
    ``told`` is the chance that Sales tells them.
    """
    if wait <= promised_days:
        return 1.0
    span = patience - promised_days
    seen = max(0.0, min(1.0, (patience - wait) / span)) if span > 0 else 0.0
    return 1.0 - told * (1.0 - seen)


def expectation(overpromise: float) -> float:
    """What the customer expects, where 1 is what Operations normally delivers."""
    return 1.0 + overpromise


# -- operations -----------------------------------------------------------------


def right_first_time(ops_quality: float, handoff_quality: float) -> float:
    """Chance a delivery is what the customer needs.

    It must have been captured right at the hand-off *and* done right by
    Operations: two independent chances to miss (the silo story).
    """
    return ops_quality * handoff_quality


def delivery_value(right: np.ndarray, late: np.ndarray, late_penalty: float) -> np.ndarray:
    """What a delivery is worth to the customer: 1 right and on time, 0 wrong."""
    return right * (1.0 - late_penalty * late)


# -- customer experience (Oliver 1980) -------------------------------------------


def satisfaction(value: np.ndarray, expected: np.ndarray | float) -> np.ndarray:
    """Satisfaction in [0, 1] from expectation-disconfirmation.

    Performance meeting expectation gives 1; each unit short of it takes one off.
    An honest promise met in full is the only way to 1.
    """
    return np.minimum(np.maximum(_1 + value - expected, _0), _1)  # ufuncs: cheaper than clip


def is_problem(sat: np.ndarray, tolerance: float) -> np.ndarray:
    """A delivery falling short by more than the zone of tolerance is a problem."""
    return sat < problem_threshold(tolerance)


def problem_threshold(tolerance: float) -> float:
    """Satisfaction below this is a problem (:func:`is_problem`)."""
    return 1.0 - tolerance - 1e-12


def no_failure_satisfaction(expected: np.ndarray | float) -> np.ndarray:
    """What a delivery right and on time would have given: the level before a failure."""
    return satisfaction(1.0, expected)


def recover(sat: np.ndarray, share: float, before: np.ndarray | float = 1.0) -> np.ndarray:
    """Satisfaction after a resolved complaint: ``share`` of what was lost given back.

    What was lost is the distance to ``before``, the satisfaction the delivery
    would have given without the failure.
    """
    return sat + (before - sat) * share


def recover_quickly(sat: np.ndarray, share: float, paradox: float,
                    before: np.ndarray | float = 1.0) -> np.ndarray:
    """Satisfaction after a complaint resolved quickly: the service recovery paradox.

    A quick, successful recovery gives back ``share`` of what was lost and adds
    ``paradox`` on top, up to ``paradox`` above ``before``: after a mild failure
    the customer ends more satisfied than if nothing had gone wrong. de Matos,
    Henrique & Rossi (2007) found this paradox for satisfaction only; repurchase
    is not lifted by it (see :func:`episode_retention`).
    """
    return np.minimum(recover(sat, share, before) + paradox, before + paradox)


def aggravate(sat: np.ndarray, hassle: float) -> np.ndarray:
    """Satisfaction after an unresolved complaint: the hassle takes a share away."""
    return sat * (1.0 - hassle)


# -- retention (TARP 1986; de Matos et al. 2007) ---------------------------------

#: Experience classes after an order, in TARP's terms, plus an order cancelled
#: because Operations never started it.
NO_PROBLEM, SILENT_PROBLEM, UNRESOLVED, RESOLVED, RESOLVED_QUICKLY, CANCELLED = range(6)
EXPERIENCES = ("no_problem", "silent_problem", "unresolved", "resolved", "resolved_quickly",
               "cancelled")

DAYS_PER_YEAR = 365.0


def everyday_loyalty(churn_per_year: float, gap_days: np.ndarray | float,
                     no_problem: float | None = None) -> np.ndarray:
    """Chance that a customer is still a customer when their next order falls due.

    Everyday churn -- people move, stop needing the service -- is a hazard in
    time: ``(1 - churn_per_year) ** (gap_days / 365)``, so a year of loyalty costs
    the same whether it holds twelve orders or two. A per-order rate
    ``no_problem``, if given, replaces it.
    """
    if no_problem is not None:
        return np.full(np.shape(gap_days), float(no_problem))
    return np.power(1.0 - churn_per_year, np.divide(gap_days, DAYS_PER_YEAR))


def episode_retention(base: float | np.ndarray, prior_problems: np.ndarray,
                      repeat_failure_factor: float) -> np.ndarray:
    """Chance of staying after one problem episode, judged once for the episode.

    ``base`` is TARP's rate for what happened (silent, unresolved, resolved,
    resolved quickly). Each earlier problem the customer still holds against the
    business (see :meth:`CustomerBook.complaint_outcome`: a resolved complaint is
    forgiven) multiplies it by ``repeat_failure_factor``. ``base`` is at most 1,
    so a recovery never makes repurchase beat a delivery without failure
    (de Matos et al. 2007).
    """
    return np.multiply(base, np.power(repeat_failure_factor, prior_problems), dtype=float)


def days_to_next_order(
    rng: np.random.Generator, n: int, mean_days: float, spread: float
) -> np.ndarray:
    """Whole days until each of ``n`` customers orders again (at least 1).

    Gamma-distributed with the given mean and coefficient of variation, rounded
    to the nearest day; ``spread = 0`` gives exactly ``mean_days`` every time.
    """
    if spread <= 0:
        days = np.full(n, mean_days)
    else:
        shape = 1.0 / spread**2
        days = rng.gamma(shape, mean_days / shape, size=n)
    whole = (days + _HALF).astype(np.int64)  # rounds half up: the days are never negative
    return np.maximum(whole, _ONE_DAY, out=whole)


# -- economics -------------------------------------------------------------------


def function_cost(
    slots: float, handled: int, unit_cost: float, quality: float, premium: float
) -> float:
    """Daily cost of a function: its capacity, paid whether used or not.

    Unlimited capacity is paid per case handled. Better quality costs more per
    unit: ``unit_cost x`` :func:`quality_factor`.
    """
    return capacity_cost(slots, handled, unit_cost, quality_factor(quality, premium))


def capacity_cost(slots: float, handled: int, unit_cost: float, factor: float) -> float:
    """:func:`function_cost` with the quality factor already worked out."""
    units = handled if math.isinf(slots) else slots
    return units * unit_cost * factor


#: Failures never cost less than this share to avoid: quality 1 is priced as 99.9 %.
FAILURE_FLOOR = 1e-3


def quality_halvings(quality: float) -> float:
    """How many times the failure rate has been halved from quality 0: ``log2(1 / (1 - q))``."""
    return math.log2(1.0 / max(1.0 - quality, FAILURE_FLOOR))


def quality_factor(quality: float, premium: float) -> float:
    """How much a unit of capacity costs at ``quality`` relative to quality 0.

    Each halving of the failures costs ``premium`` times the base cost again
    (Juran's cost of quality: the last defects are the dearest to avoid):
    ``1 + premium x log2(1 / (1 - quality))``, so 0.5 costs ``1 + premium``,
    0.75 ``1 + 2 premium``, 0.95 ``1 + 4.3 premium``; quality 1 is priced as
    99.9 % (``1 + 10 premium``).
    """
    return 1.0 + premium * quality_halvings(quality)


def customer_lifetime_value(margin: float, retention: float, discount: float) -> float:
    """Gupta & Lehmann (2003): ``m r / (1 + d - r)`` for margin per period ``m``,
    retention ``r`` and discount rate ``d`` per period."""
    return margin * retention / (1.0 + discount - retention)
