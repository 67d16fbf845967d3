"""The scenario schema: the one source of truth for every knob.

A scenario describes one business: its market, its four front-line functions
(Marketing, Sales, Operations, Customer Service), the hand-off between Sales and
Operations, how customers judge what they get, and the economics. Every knob has
exactly one definition here -- name, type, allowed range, default, unit and help
text. Scenario files, ``chainsim run --set``, experiment factors and the workshop
sliders all read it through :func:`knobs`; nothing else retypes a default.

The defaults are the ``balanced`` business: four links sized for each other.
The engine never sees a raw dict: files and overrides are validated into a frozen
:class:`Scenario` first. Validation failures are raised as :class:`ScenarioError`
(a ``ValueError``) whose message names the key and the allowed values.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any, Literal, get_args

import annotated_types
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

UNLIMITED = "unlimited"

#: Upper bounds no business reaches: they keep every figure finite (and a typo in an
#: exponent from running for hours); each shows in the knob's error message.
MAX_CASES = 1e9  # a capacity: cases a day
MAX_PEOPLE = 10**12  # a market: more people than there are
MAX_DAYS = 36_500  # a wait, a memory, a run: a hundred years
MAX_MONEY = 1e12  # a price or a daily cost

#: Cases per day, or the string ``"unlimited"``.
Capacity = Annotated[float, Field(ge=0, le=MAX_CASES, allow_inf_nan=False)] | \
    Literal["unlimited"]

#: TARP repurchase rows (Technical Assistance Research Programs, 1986): share of
#: customers who buy again after one problem episode, by what happened next. They
#: are applied once per episode; the everyday loyalty of customers without a
#: problem is a separate knob (``retention.churn_per_year``), not part of TARP.
TARP_ROWS: dict[str, dict[str, float]] = {
    "small_ticket": {
        "silent_problem": 0.37,
        "unresolved": 0.46,
        "resolved": 0.70,
        "resolved_quickly": 0.95,
    },
    "large_ticket": {
        "silent_problem": 0.09,
        "unresolved": 0.19,
        "resolved": 0.54,
        "resolved_quickly": 0.82,
    },
}


def knob(
    default: Any,
    help: str,
    *,
    unit: str | None = None,
    ge: float | None = None,
    le: float | None = None,
    gt: float | None = None,
    teach: bool = False,
    finite: bool = True,
) -> Any:
    """A schema field with its help text and unit (shown by the CLI, docs and UI).

    ``teach=True`` marks the handful of knobs the workshop UI shows as sliders.
    """
    extra: dict[str, Any] = {"teach": teach}
    if unit:
        extra["unit"] = unit
    if finite:  # inf and nan are never a knob's value (a capacity says "unlimited")
        return Field(default, description=help, ge=ge, le=le, gt=gt, allow_inf_nan=False,
                     json_schema_extra=extra)
    return Field(default, description=help, ge=ge, le=le, gt=gt, json_schema_extra=extra)


class Section(BaseModel):
    """A TOML table of a scenario file: strict types, no unknown keys, immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, validate_default=True)


class MarketParams(Section):
    """The people who could ever buy. The untouched market is a count, not agents."""

    size: int = knob(20_000, "People in the market who could ever buy.", unit="people", ge=1,
                     le=MAX_PEOPLE)
    customers_at_start: int = knob(
        600, "Customers the business already has on day 1 (satisfied, each due to order "
        "again within one inter-purchase time). Part of the market's size.",
        unit="people", ge=0, le=10**8,
    )


class MarketingParams(Section):
    """Marketing gets people to walk in: contacts per day, and how many of them take."""

    capacity: Capacity = knob(
        100, "Contacts Marketing makes per day, drawn from the whole market.",
        unit="contacts/day", teach=True, finite=False,
    )
    quality: float = knob(
        0.1, "Chance that a contacted person not yet reached becomes a lead.",
        ge=0, le=1, teach=True,
    )
    cost: float = knob(2.0, "Daily cost of one contact of capacity (at quality 0).",
                       unit="money/contact/day", ge=0, le=MAX_MONEY)


class WordOfMouthParams(Section):
    """Customers talk: promoters bring leads, detractors put people off (Bass 1969)."""

    contact_rate: float = knob(
        0.02, "Contacts a promoter (a currently satisfied customer) makes per day.",
        unit="contacts/customer/day", ge=0, le=1000, teach=True,
    )
    adoption: float = knob(
        0.1, "Chance that a person not yet reached who hears a promoter becomes a lead.",
        ge=0, le=1, teach=True,
    )
    negative_word: float = knob(
        0.1, "Chance that a person not yet reached who hears a detractor is put off for good.",
        ge=0, le=1, teach=True,
    )
    detractor_talk: float = knob(
        2.0, "How many times as many people a detractor tells as a promoter "
        "(TARP: unhappy customers tell about twice as many).", ge=0, le=1000,
    )
    detractor_days: int = knob(
        90, "Days a customer who left unhappy keeps talking about it.", unit="days", ge=0,
        le=MAX_DAYS,
    )


class SalesParams(Section):
    """Sales converts leads and sets what they expect."""

    capacity: Capacity = knob(
        20, "Leads Sales can handle per day (first in, first out).",
        unit="leads/day", teach=True, finite=False,
    )
    quality: float = knob(
        0.5, "Chance that a handled lead buys (with an honest promise).",
        ge=0, le=1, teach=True,
    )
    patience: int = knob(
        3, "Days a lead waits to be handled before going elsewhere (the unanswered call).",
        unit="days", ge=0, le=MAX_DAYS, teach=True,
    )
    overpromise: float = knob(
        0.0, "How far the promise exceeds what Operations normally delivers "
        "(0 = honest). Raises conversion by this share, and the customer's expectation.",
        ge=0, le=1, teach=True,
    )
    quotes_lead_time: float = knob(
        1.0, "Chance that Sales tells a lead how long Operations' backlog will make them "
        "wait; a lead told a wait past the promise buys less, and not at all past "
        "Operations' patience (0 = Sales sells regardless of the backlog).", ge=0, le=1,
    )
    cost: float = knob(8.0, "Daily cost of one lead per day of capacity (at quality 0).",
                       unit="money/lead/day", ge=0, le=MAX_MONEY)


class HandoffParams(Section):
    """The hand-off from Sales to Operations: was the customer's need captured right?"""

    quality: float = knob(
        0.95, "Chance that what the customer needs is passed on correctly.",
        ge=0, le=1, teach=True,
    )
    cost: float = knob(
        150.0, "Daily cost of the hand-off (meetings, a shared order form) at quality 0; "
        "better quality costs more, as for a function's capacity (economics.quality_premium).",
        unit="money/day", ge=0, le=MAX_MONEY,
    )


class OperationsParams(Section):
    """Operations delivers what was promised."""

    capacity: Capacity = knob(
        100, "Orders Operations can deliver per day (first in, first out).",
        unit="orders/day", teach=True, finite=False,
    )
    quality: float = knob(
        0.95, "Chance that an order correctly handed off is delivered right.",
        ge=0, le=1, teach=True,
    )
    promised_days: int = knob(
        3, "Lead time promised at the sale; a longer wait makes the delivery late.",
        unit="days", ge=0, le=MAX_DAYS, teach=True,
    )
    patience: int = knob(
        14, "Days an order waits to be started before the customer cancels it: they "
        "leave unhappy, are lost at Operations and talk as a detractor.",
        unit="days", ge=0, le=MAX_DAYS, teach=True,
    )
    cost: float = knob(10.0, "Daily cost of one order per day of capacity (at quality 0).",
                       unit="money/order/day", ge=0, le=MAX_MONEY)


class ServiceParams(Section):
    """Customer Service keeps customers satisfied and handles complaints."""

    capacity: Capacity = knob(
        10, "Complaints Customer Service can handle per day (first in, first out).",
        unit="complaints/day", teach=True, finite=False,
    )
    quality: float = knob(
        0.8, "Chance that a handled complaint is resolved.", ge=0, le=1, teach=True,
    )
    patience: int = knob(
        5, "Days a complaint waits to be answered before it counts as unresolved.",
        unit="days", ge=0, le=MAX_DAYS, teach=True,
    )
    quick_days: int = knob(
        1, "A complaint resolved within this many days is resolved quickly.",
        unit="days", ge=0, le=MAX_DAYS,
    )
    recovery_quick: float = knob(
        0.9, "Share of the lost satisfaction a quick resolution gives back.", ge=0, le=1,
    )
    recovery_slow: float = knob(
        0.6, "Share of the lost satisfaction a slow resolution gives back.", ge=0, le=1,
    )
    recovery_paradox: float = knob(
        0.1, "Satisfaction a quick resolution adds on top of what it gives back, up to this "
        "much above a delivery without failure: the service recovery paradox, found for "
        "satisfaction only (de Matos et al. 2007).", ge=0, le=1,
    )
    hassle: float = knob(
        0.5, "Share of the remaining satisfaction an unresolved complaint takes away "
        "(the lawn-care story: the attitude costs more than the lawn).", ge=0, le=1,
    )
    cost: float = knob(10.0, "Daily cost of one complaint per day of capacity (at quality 0).",
                       unit="money/complaint/day", ge=0, le=MAX_MONEY)


class CustomerParams(Section):
    """How customers judge a delivery against what they were promised (Oliver 1980)."""

    tolerance: float = knob(
        0.2, "Zone of tolerance: a delivery that falls short of expectation by more than "
        "this is a problem the customer remembers.", ge=0, le=1,
    )
    late_penalty: float = knob(
        0.5, "How much a late delivery takes off its value to the customer (0..1).",
        ge=0, le=1,
    )
    complain_probability: float = knob(
        0.5, "Chance that a customer with a problem complains to Customer Service "
        "(the rest stay silent).", ge=0, le=1,
    )


class RetentionParams(Section):
    """Whether a customer buys again: everyday loyalty, and the effect of a problem (TARP 1986).

    Two separate things decide it. Everyday churn (``churn_per_year``) takes
    customers away in time, whether or not anything went wrong, so loyalty does
    not depend on how often they buy. A problem episode (a delivery that fell
    short, and what Customer Service made of it) is judged once, at TARP's rate
    for what happened, lowered by the memory of earlier problems.
    """

    table: Literal["small_ticket", "large_ticket"] = Field(
        "small_ticket",
        description="TARP row the five probabilities default to: 'small_ticket' "
        "(under $100) or 'large_ticket' (over $100). Keys set explicitly win.",
        json_schema_extra={"teach": False},
    )
    churn_per_year: float = knob(
        0.1, "Everyday churn: share of customers who leave within a year although nothing "
        "went wrong (they move, stop needing it). Applied in time, so loyalty does not "
        "depend on how often they buy.", ge=0, le=1, teach=True,
    )
    no_problem: float | None = knob(
        None, "Optional per-order loyalty: chance of buying again after an order with no "
        "problem. Unset (the default), everyday loyalty comes from churn_per_year.",
        ge=0, le=1,
    )
    silent_problem: float = knob(
        0.37, "Chance of buying again after a problem episode the customer did not "
        "complain about (applied once per episode, on top of everyday churn).", ge=0, le=1)
    unresolved: float = knob(
        0.46, "... after a complaint that was not resolved.", ge=0, le=1)
    resolved: float = knob(
        0.70, "... after a complaint that was resolved, but not quickly.", ge=0, le=1)
    resolved_quickly: float = knob(
        0.95, "... after a complaint resolved quickly. At most 1, so recovery never beats "
        "a delivery without failure (de Matos et al. 2007).", ge=0, le=1)
    repeat_failure_factor: float = knob(
        0.5, "Each earlier problem the customer still holds against the business (silent, "
        "or complained about and not resolved) multiplies the chance of buying again after "
        "another (the car-dealership story: the second failure weighs more).", ge=0, le=1,
    )
    interval_days: float = knob(
        30, "Mean days between an order and the customer's next order.",
        unit="days", gt=0, le=MAX_DAYS,
    )
    interval_spread: float = knob(
        0.25, "Coefficient of variation of the days between orders (0 = always exactly "
        "interval_days).", ge=0, le=2,
    )

    @model_validator(mode="before")
    @classmethod
    def _fill_from_table(cls, data: Any) -> Any:
        if isinstance(data, Mapping):
            row = TARP_ROWS.get(data.get("table", "small_ticket"))
            if row is not None:
                data = {**row, **data}
        return data


class EconomicsParams(Section):
    """Money: price per order, cost of goods, and the cost of each function's capacity."""

    price: float = knob(100.0, "Price of one order.", unit="money/order", ge=0,
                        le=MAX_MONEY)
    cost_of_goods: float = knob(25.0, "Direct cost of delivering one order.",
                                unit="money/order", ge=0, le=MAX_MONEY)
    quality_premium: float = knob(
        0.25, "How much dearer a unit of capacity gets each time its failures are halved: "
        "cost = capacity x unit cost x (1 + premium x log2(1 / (1 - quality))); quality 0.5 "
        "costs 1 + premium, 0.75 costs 1 + 2 premium, quality 1 is priced as 0.999.", ge=0,
        le=100,
    )


class RunParams(Section):
    """How long to simulate and with which seed (the CLI's --days and --seed win)."""

    days: int = knob(365, "Days to simulate.", unit="days", ge=1, le=MAX_DAYS)
    seed: int = knob(1, "Seed of the random number generator.", ge=0, le=2**63 - 1)


SECTIONS: dict[str, type[Section]] = {
    "market": MarketParams,
    "marketing": MarketingParams,
    "word_of_mouth": WordOfMouthParams,
    "sales": SalesParams,
    "handoff": HandoffParams,
    "operations": OperationsParams,
    "service": ServiceParams,
    "customers": CustomerParams,
    "retention": RetentionParams,
    "economics": EconomicsParams,
    "run": RunParams,
}

#: The four front-line functions, in the order a customer meets them.
FUNCTIONS = ("marketing", "sales", "operations", "service")


class Scenario(BaseModel):
    """A fully resolved, validated, immutable description of one business."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, validate_default=True)

    name: str = Field("custom", description="Short name of the scenario.")
    description: str = Field("", description="One-line story of the scenario.")
    lesson: str = Field("", description="What the story teaches, in one sentence "
                        "(shown by 'chainsim list'; checked by the story tests).")
    extends: str | None = Field(
        None, description="Built-in scenario name or file this one starts from; "
        "its keys are overridden by the ones given here.")
    market: MarketParams = MarketParams()
    marketing: MarketingParams = MarketingParams()
    word_of_mouth: WordOfMouthParams = WordOfMouthParams()
    sales: SalesParams = SalesParams()
    handoff: HandoffParams = HandoffParams()
    operations: OperationsParams = OperationsParams()
    service: ServiceParams = ServiceParams()
    customers: CustomerParams = CustomerParams()
    retention: RetentionParams = RetentionParams()
    economics: EconomicsParams = EconomicsParams()
    run: RunParams = RunParams()

    @model_validator(mode="after")
    def _fits_the_market(self) -> Scenario:
        market = self.market
        if market.customers_at_start > market.size:
            raise ValueError(
                f"market.customers_at_start = {market.customers_at_start} is not allowed: "
                f"must be at most market.size ({market.size})")
        return self

    # -- construction -------------------------------------------------------
    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, source: str | None = None) -> Scenario:
        """Validate a nested dict (as read from TOML) into a Scenario.

        Raises:
            ScenarioError: naming the first bad key and what is allowed.
        """
        try:
            return cls.model_validate(dict(data))
        except ValidationError as err:
            raise ScenarioError(describe_validation_error(err), source=source) from None

    def to_dict(self) -> dict[str, Any]:
        """The scenario as a plain nested dict (TOML/JSON friendly, no ``extends``)."""
        return self.model_dump(exclude={"extends"})

    def get(self, path: str) -> Any:
        """The value at ``section.key``."""
        section, key = split_path(path)
        return getattr(getattr(self, section), key)

    def replace(self, changes: Mapping[str, Any]) -> Scenario:
        """A new scenario with ``{"section.key": value}`` changes applied and validated.

        Changing ``retention.table`` refills the TARP rates that still hold the old
        table's values, as a file with the new table would.
        """
        data = self.model_dump()
        if "retention.table" in changes:
            keep = data["retention"]
            for key, value in TARP_ROWS[self.retention.table].items():
                if keep[key] == value and f"retention.{key}" not in changes:
                    del keep[key]
        for path, value in changes.items():
            section, key = split_path(path)
            data[section][key] = value
        return Scenario.from_dict(data)


class ScenarioError(ValueError):
    """A scenario (file, override or value) that is not allowed. One line, fit for users."""

    def __init__(self, message: str, *, source: str | None = None):
        self.source = source
        self.detail = message
        super().__init__(f"{source}: {message}" if source else message)


# -- the knob catalogue: what --set, experiments and the UI read -------------


@dataclass(frozen=True)
class Knob:
    """One scenario key as the tools see it."""

    path: str  # "section.key"
    default: Any
    help: str
    unit: str | None
    kind: str  # "capacity", "probability", "integer", "number", "choice"
    minimum: float | None
    maximum: float | None
    exclusive_minimum: bool
    choices: tuple[str, ...]
    teach: bool

    @property
    def section(self) -> str:
        return self.path.split(".", 1)[0]

    @property
    def key(self) -> str:
        return self.path.split(".", 1)[1]

    @property
    def label(self) -> str:
        """A human label, e.g. 'Operations capacity'."""
        return f"{self.section.replace('_', ' ').capitalize()} {self.key.replace('_', ' ')}"

    def strengthen(self, value: Any, step: float) -> Any:
        """The value ``step`` stronger (0.2 = 20 %): what "strengthen this link" means.

        A capacity or other amount grows by the step (``x (1 + step)``); unlimited
        stays unlimited. A probability grows symmetrically: below 0.5 it gets
        ``step`` more successes (0.1 -> 0.12), above 0.5 ``step`` fewer failures
        (0.95 -> 0.96), so no move ever runs past 1 and both readings agree at 0.5.
        """
        if value == UNLIMITED:
            return value
        if self.kind == "probability":
            return value * (1 + step) if value <= 0.5 else 1 - (1 - value) * (1 - step)
        if self.kind in ("number", "capacity"):
            new = value * (1 + step)
            return min(new, self.maximum) if self.maximum is not None else new
        raise ValueError(f"{self.path} ({self.kind}) cannot be strengthened by a step")

    def allowed(self) -> str:
        """Plain-English description of the allowed values."""
        if self.kind == "capacity":
            return f'a number from 0 to {_fmt(MAX_CASES)}, or "unlimited"'
        if self.kind == "choice":
            return "one of " + ", ".join(f'"{c}"' for c in self.choices)
        noun = "a whole number" if self.kind == "integer" else "a number"
        lo, hi = self.minimum, self.maximum
        if lo is not None and hi is not None:
            if self.exclusive_minimum:
                return f"{noun} above {_fmt(lo)}, at most {_fmt(hi)}"
            return f"{noun} from {_fmt(lo)} to {_fmt(hi)}"
        if lo is not None:
            return f"{noun} {'>' if self.exclusive_minimum else '>='} {_fmt(lo)}"
        return noun


def _fmt(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else str(x)


def _constraints(field) -> tuple[float | None, float | None, bool]:
    lo = hi = None
    exclusive = False
    for meta in field.metadata:
        if isinstance(meta, annotated_types.Ge):
            lo = meta.ge
        elif isinstance(meta, annotated_types.Gt):
            lo, exclusive = meta.gt, True
        elif isinstance(meta, annotated_types.Le):
            hi = meta.le
    return lo, hi, exclusive


def _kind(field, lo, hi) -> tuple[str, tuple[str, ...]]:
    ann = field.annotation
    args = get_args(ann)
    if UNLIMITED in {a for arg in args for a in get_args(arg)} or ann == Capacity:
        return "capacity", ()
    if args and all(isinstance(a, str) for a in args):  # Literal[...]
        return "choice", tuple(args)
    if ann is int:
        return "integer", ()
    if lo == 0 and hi == 1:
        return "probability", ()
    return "number", ()


def _build_knobs() -> dict[str, Knob]:
    out: dict[str, Knob] = {}
    for section, cls in SECTIONS.items():
        for key, field in cls.model_fields.items():
            lo, hi, exclusive = _constraints(field)
            kind, choices = _kind(field, lo, hi)
            extra = field.json_schema_extra or {}
            out[f"{section}.{key}"] = Knob(
                path=f"{section}.{key}",
                default=field.default,
                help=field.description or "",
                unit=extra.get("unit"),
                kind=kind,
                minimum=0.0 if kind == "capacity" else lo,
                maximum=hi,
                exclusive_minimum=exclusive,
                choices=choices,
                teach=bool(extra.get("teach")),
            )
    return out


_KNOBS = _build_knobs()


def knobs() -> dict[str, Knob]:
    """Every scenario key, ``"section.key" -> Knob``, in file order."""
    return dict(_KNOBS)


def split_path(path: str) -> tuple[str, str]:
    """Split ``"section.key"``, raising a ScenarioError with a suggestion if unknown."""
    if path not in _KNOBS:
        raise ScenarioError(f"unknown key {path!r}{suggest(path, _KNOBS)}")
    section, key = path.split(".", 1)
    return section, key


def suggest(name: str, candidates) -> str:
    """' (did you mean 'x'?)' for the closest candidate, or ''."""
    close = difflib.get_close_matches(name, list(candidates), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def describe_validation_error(err: ValidationError) -> str:
    """Turn pydantic's first error into one line naming the key and what is allowed."""
    first = err.errors(include_url=False)[0]
    if first["type"] == "value_error" and not first["loc"]:  # a cross-key check of Scenario
        return str(first["ctx"]["error"])
    loc = [str(part) for part in first["loc"] if not isinstance(part, int)]
    # Union members (float | "unlimited") add their own tags to the location.
    loc = [part for part in loc if not part.startswith(("float", "literal", "constrained"))]
    path = ".".join(loc)
    kind = first["type"]
    value = first.get("input")
    if kind == "extra_forbidden":
        if len(loc) == 1:
            return f"unknown section or key {path!r}{suggest(path, list(SECTIONS) + ['name', 'description', 'extends'])}"
        return f"unknown key {path!r}{suggest(path, _KNOBS)}"
    knob_ = _KNOBS.get(path)
    if knob_ is not None:
        return f"{path} = {_show(value)} is not allowed: must be {knob_.allowed()}"
    if len(loc) == 1 and loc[0] in SECTIONS:
        return f"[{loc[0]}] must be a table of keys, got {_show(value)}"
    return f"{path or 'scenario'}: {first['msg']}"


def _show(value: Any) -> str:
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, Mapping):
        return "a table"
    return repr(value) if isinstance(value, str) else str(value).lower() if isinstance(value, bool) else str(value)


def capacity_value(capacity: float | str) -> float:
    """A capacity as a number: ``"unlimited"`` is ``math.inf``."""
    return math.inf if capacity == UNLIMITED else float(capacity)


def json_schema() -> dict[str, Any]:
    """The JSON Schema of scenario files (for editors and other tools)."""
    schema = Scenario.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "chainsim scenario"
    return schema
