"""The workshop page: Mesa's SolaraViz, with the chain drawn and sliders per link.

Served by ``chainsim workshop`` (``solara run chainsim/workshop/app.py``). The
initial scenario comes from the ``CHAINSIM_WORKSHOP_SCENARIO`` environment
variable. SolaraViz provides the frame, play / pause / step / reset and the
play speed; this module adds:

* a scenario picker with the built-in stories, and a compare switch;
* sliders for each link's capacity and quality and the other teaching knobs,
  generated from the schema; they change the running business at once, and the
  room's changes survive a reset;
* fast-forward buttons (+30 / +90 days);
* the chain diagram, the charts, and one customer's journey.
"""

from __future__ import annotations

import html
import os
import threading

import numpy as np
import solara
from matplotlib.figure import Figure
from mesa.visualization import SolaraViz
from mesa.visualization.utils import force_update, update_counter

from ..plots import FUNCTION_COLORS
from ..scenarios import builtin_scenarios, load_scenario
from ..schema import FUNCTIONS, UNLIMITED
from .business import (
    RECENT_DAYS,
    VERDICTS,
    Room,
    WorkshopModel,
    journey_of,
    link_states,
    verdict_of,
    pick_customer,
    slider_specs,
)

PLAY_INTERVAL_MS = 150


def initial_scenario() -> str:
    return os.environ.get("CHAINSIM_WORKSHOP_SCENARIO", "balanced")


# -- the chain ----------------------------------------------------------------------


def _capacity_text(capacity) -> str:
    return "unlimited" if capacity == UNLIMITED else f"{capacity:g}"


def chain_html(label: str, model) -> str:
    """Four links side by side: queue, load, people lost lately; the weakest stands out."""
    boxes = []
    for state in link_states(model):
        name = state["name"]
        load = round(100 * state["utilization"])
        border = "4px solid #d62728" if state["weakest"] else "2px solid #999"
        badge = ('<div class="weakest-badge" style="color:#d62728;font-weight:bold">'
                 "weakest link</div>" if state["weakest"] else "<div>&nbsp;</div>")
        queue = "no queue" if name == "marketing" else f"queue: <b>{state['queue']}</b>"
        boxes.append(
            f'<div class="chain-link" data-link="{name}" data-queue="{state["queue"]}" '
            f'data-weakest="{str(state["weakest"]).lower()}" '
            f'style="flex:1;border:{border};border-radius:8px;padding:8px;min-width:140px;'
            f'background:#fff">'
            f'<div style="font-weight:bold;color:{FUNCTION_COLORS[name]}">{name.capitalize()}</div>'
            f"{badge}<div>{queue}</div>"
            f'<div>load: {load} %</div>'
            f'<div style="background:#eee;height:8px;border-radius:4px">'
            f'<div style="width:{load}%;height:8px;border-radius:4px;'
            f'background:{FUNCTION_COLORS[name]}"></div></div>'
            f'<div style="font-size:85%">capacity {_capacity_text(state["capacity"])} '
            f'&middot; quality {state["quality"]:.2f}</div>'
            f'<div style="font-size:85%">lost, last {RECENT_DAYS} days: <b>{state["lost"]}</b></div>'
            "</div>")
    verdict = verdict_of(model)
    arrow = '<div style="align-self:center;font-size:24px;color:#777">&#10140;</div>'
    weak_handoff = verdict is not None and verdict.link == "handoff"
    color = "#d62728" if weak_handoff else "#777"
    handoff = (f'<div class="chain-link" data-link="handoff" '
               f'data-weakest="{str(weak_handoff).lower()}" style="align-self:center;'
               f'font-size:80%;color:{color};text-align:center;'
               f'{"font-weight:bold" if weak_handoff else ""}">'
               f"&#10140;<br>hand-off<br>{model.params.handoff.quality:.2f}"
               f'{"<br>weakest link" if weak_handoff else ""}</div>')
    row = boxes[0] + arrow + boxes[1] + handoff + boxes[2] + arrow + boxes[3]
    book = model.customers
    if verdict is None:
        said = "working out the weakest link (the same as <code>chainsim run</code>) ..."
    else:
        said = html.escape(verdict.text)
    return (f'<div style="margin:4px 0"><b>{html.escape(label)}</b> &mdash; day {model.day}: '
            f"{book.active:,} active customers, {book.promoters:,} promoters, "
            f"{book.detractors:,} detractors</div>"
            f'<div style="display:flex;gap:6px;align-items:stretch">{row}</div>'
            f'<div class="verdict" data-weakest="{verdict.link if verdict else ""}" '
            f'style="margin:4px 0 10px 0">{said}</div>')


@solara.component
def ChainDiagram(model: WorkshopModel):
    update_counter.get()
    businesses = model.businesses()
    keys = [VERDICTS.key(business.params) for _, business in businesses]

    def redraw_when_the_verdicts_are_in():
        if all(verdict_of(business) is not None for _, business in businesses):
            return

        def wait():
            try:
                for _, business in businesses:
                    VERDICTS.wait(business.params, timeout=300)
            except TimeoutError:
                return
            force_update()

        threading.Thread(target=wait, daemon=True).start()

    solara.use_effect(redraw_when_the_verdicts_are_in, keys)
    parts = [chain_html(label, business) for label, business in businesses]
    solara.HTML(tag="div", unsafe_innerHTML="".join(parts),
                attributes={"data-testid": "chain-diagram"}, classes=["chain-diagram"])


#: The fast-forward buttons: a month and a quarter at a time.
FAST_FORWARD_DAYS = (30, 90)


@solara.component
def FastForward(model: WorkshopModel):
    """Jump ahead a month or a quarter, with one redraw at the end."""
    def jump(days: int):
        model.advance(days)
        force_update()

    with solara.Row(classes=["fast-forward"]):
        for days in FAST_FORWARD_DAYS:
            solara.Button(f"+{days} days", on_click=lambda days=days: jump(days), outlined=True)


# -- the charts ---------------------------------------------------------------------

CHARTS = (
    ("Flows through the chain (per day)",
     ("leads_new", "first_purchases", "repeat_purchases", "deliveries", "cancelled_orders",
      "complaints", "churned")),
    ("Queues", ("sales_queue", "operations_queue", "service_queue")),
    ("Utilization", tuple(f"{f}_utilization" for f in FUNCTIONS)),
    ("Satisfaction", ("satisfaction_mean",)),
    ("Customers", ("active_customers", "repeat_purchases_total")),
    ("Money (per day)", ("revenue", "profit")),
)
COLORS = {**{f"{f}_{k}": c for f, c in FUNCTION_COLORS.items() for k in ("queue", "utilization")},
          "leads_new": "#1b9e77", "first_purchases": "#d95f02", "repeat_purchases": "#66a61e",
          "deliveries": "#7570b3", "cancelled_orders": "#a6761d", "complaints": "#e7298a",
          "churned": "#666666",
          "satisfaction_mean": "#1f78b4", "active_customers": "#1f78b4",
          "repeat_purchases_total": "#66a61e", "revenue": "#1f78b4", "profit": "#33a02c"}


def charts_figure(model: WorkshopModel) -> Figure:
    """The live charts, one figure; in compare mode the proposal is dashed."""
    fig = Figure(figsize=(12, 6.4), layout="constrained")
    axes = list(fig.subplots(2, 3).flat)
    for (title, _), ax in zip(CHARTS, axes, strict=True):
        ax.set_title(title, fontsize=9, loc="left")
        ax.grid(alpha=0.3)
        ax.tick_params(labelsize=7)
    for style, (label, business) in zip(("-", "--"), model.businesses(), strict=False):
        data = business.datacollector.model_vars
        days = data.get("day", [])
        if not days:
            continue
        series = {**data, "repeat_purchases_total": np.cumsum(data["repeat_purchases"])}
        for (_, columns), ax in zip(CHARTS, axes, strict=True):
            for col in columns:
                name = col.replace("_", " ") + ("" if label == "business" else f" ({label})")
                ax.plot(days, series[col], ls=style, color=COLORS[col], label=name, lw=1.2)
    for ax, (title, _) in zip(axes, CHARTS, strict=True):
        if title == "Utilization":
            ax.set_ylim(-0.02, 1.02)  # shares: keep the scale fixed
        elif title == "Satisfaction":  # 1 = as promised; a quick recovery can lift it a little
            ax.set_ylim(-0.02, 1.12)
        if ax.lines:
            ax.legend(fontsize=6, loc="upper left")
    return fig


@solara.component
def Charts(model: WorkshopModel):
    counter = update_counter.get()
    fig = charts_figure(model)
    with solara.Column(classes=["chain-charts"]):
        solara.FigureMatplotlib(fig, dependencies=[counter, id(model)], format="png")


# -- follow a customer ----------------------------------------------------------------


@solara.component
def FollowCustomer(model: WorkshopModel):
    update_counter.get()
    chosen = solara.use_reactive(None)
    cid = chosen.value
    if cid is None or not 0 <= cid < model.customers.n:
        cid = pick_customer(model)  # until the room picks one, follow an active customer
    with solara.Card("Follow a customer", classes=["follow-customer"]):
        with solara.Row():
            solara.InputInt("Customer id", value=cid, on_value=chosen.set)
            solara.Button("Pick another", on_click=lambda: chosen.set(
                pick_customer(model, rng_seed=(cid or 0) + model.day + 1)))
        if cid is None:
            solara.Text("No customer yet: step the business forward.")
            return
        book = model.customers
        from ..customers import PLACES

        sat = book.satisfaction[cid]
        solara.Markdown(
            f"**Customer {cid}** is now *{PLACES[book.place[cid]]}*; "
            f"satisfaction {'-' if sat != sat else f'{sat:.2f}'}, "
            f"{int(book.problems[cid])} problem(s), {int(book.orders[cid])} order(s).")
        rows = journey_of(model, cid)[-30:]
        lines = ["| day | event | link |", "|---:|---|---|"]
        lines += [f"| {r['day']} | {r['event'].replace('_', ' ')} | {r['function']} |"
                  for r in rows]
        solara.Markdown("\n".join(lines))


# -- the sidebar: scenario, compare, sliders ------------------------------------------


#: Always shown; the other teaching knobs fold away under "More knobs".
CORE = tuple(f"{f}.{k}" for f in FUNCTIONS for k in ("capacity", "quality"))


@solara.component
def Sliders(model: solara.Reactive[WorkshopModel], base_name: str):
    specs = slider_specs(load_scenario(base_name))
    for spec in specs:
        if spec.path in CORE:
            KnobSlider(model, spec)
    with solara.Details("More knobs: word of mouth, patience, promises, hand-off, loyalty"):
        for spec in specs:
            if spec.path not in CORE:
                KnobSlider(model, spec)


@solara.component
def KnobSlider(model: solara.Reactive[WorkshopModel], spec):
    """One schema knob as a slider; moving it changes the running business."""
    update_counter.get()  # redraw the value shown in the label
    room = model.value.room

    def on_value(value):
        model.value.change(spec.path, int(value) if spec.integer else float(value))
        force_update()

    current = room.changes.get(spec.path, spec.value)
    widget = solara.SliderInt if spec.integer else solara.SliderFloat
    changed = " *" if spec.path in room.changes else ""
    with solara.Tooltip(spec.help):
        with solara.Div(classes=["knob-slider"], attributes={"data-knob": spec.path}):
            widget(f"{spec.label}: {current:g}{changed}", value=current, min=spec.min,
                   max=spec.max, step=spec.step, on_value=on_value)


@solara.component
def Page():
    stories = builtin_scenarios()
    name = solara.use_reactive(initial_scenario())
    room = solara.use_memo(Room, [name.value])
    model = solara.use_reactive(None)
    if model.value is None or model.value.scenario_name != name.value:
        model.value = WorkshopModel(name.value, room)

    def set_compare(on: bool):
        room.compare = on
        model.value = WorkshopModel(name.value, room, seed=model.value.seed)

    def clear_changes():
        room.changes.clear()
        model.value = WorkshopModel(name.value, room, seed=model.value.seed)

    SolaraViz(
        model,
        components=[],
        model_params={"scenario_name": name.value, "room": room,
                      "seed": {"type": "SliderInt", "value": model.value.seed, "min": 0,
                               "max": 100, "step": 1, "label": "Seed (applies on Reset)"}},
        name=f"chainsim workshop: {name.value}",
        play_interval=PLAY_INTERVAL_MS,
    ).key(f"viz-{name.value}")
    with solara.Sidebar():
        with solara.Card("Scenario"):
            solara.Select("Story", values=list(stories), value=name)
            solara.Markdown(f"*{stories[name.value].description}*" if name.value in stories else "")
            solara.Checkbox(label="Compare: run the room's proposal beside the business as it is",
                            value=room.compare, on_value=set_compare)
            solara.Button("Clear the room's changes", on_click=clear_changes, outlined=True)
        with solara.Card("The links (changes apply at once)"):
            # a new business (story, compare, clear) brings fresh sliders
            Sliders(model, name.value).key(f"sliders-{name.value}-{id(model.value)}")
    with solara.Column(style={"padding": "8px"}):
        FastForward(model.value)
        ChainDiagram(model.value)
        Charts(model.value)
        FollowCustomer(model.value)


page = Page
