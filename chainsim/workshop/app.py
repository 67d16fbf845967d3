"""The workshop page: the chain, live, for a room.

Served by ``chainsim workshop`` (``solara run chainsim.workshop.app``); the
starting story comes from ``CHAINSIM_WORKSHOP_SCENARIO`` and projector mode
from ``CHAINSIM_WORKSHOP_PROJECTOR``.

The page is built with Solara, the library Mesa's SolaraViz is made of, but
not with SolaraViz's own controller: that one steps the model in one thread
while the page reads it in another, restarts its play settings with every new
model, and draws matplotlib pictures on the server. Here each page has a
:class:`~chainsim.workshop.session.Session` (its business, behind a lock),
redraws from frozen snapshots, plays in a thread that stops when the page
closes, and draws its charts in the browser (:mod:`chainsim.workshop.charts`).
"""

from __future__ import annotations

import html
import math
import os
import threading
import time
from collections.abc import Callable
from typing import Any

import solara

from ..plots import FUNCTION_COLORS
from ..scenarios import builtin_scenarios, load_scenario
from ..schema import FUNCTIONS, UNLIMITED
from .business import RECENT_DAYS, VERDICTS, slider_specs
from .charts import CHART_HEIGHT, LiveChartWidget, chart_parts
from .session import SPEEDS, BusinessView, Session, Snapshot, frame_interval

#: The fast-forward buttons: a month and a quarter at a time.
FAST_FORWARD_DAYS = (30, 90)
#: Always shown; the other teaching knobs fold away under "More knobs".
CORE = tuple(f"{f}.{k}" for f in FUNCTIONS for k in ("capacity", "quality"))


def initial_scenario() -> str:
    name = os.environ.get("CHAINSIM_WORKSHOP_SCENARIO", "balanced")
    return name if name in builtin_scenarios() else "balanced"


def projector_default() -> bool:
    return os.environ.get("CHAINSIM_WORKSHOP_PROJECTOR", "") == "1"


CSS = """
.chainsim-page { font-size: 15px; }
.chainsim-page .v-application--wrap { min-height: 0; }
.chainsim-toolbar { position: sticky; top: 0; z-index: 20; background: #fafafa;
  border-bottom: 1px solid #ddd; padding: 6px 10px; display: flex; flex-wrap: wrap;
  align-items: center; gap: 8px; }
.chainsim-toolbar .v-input { flex: 0 0 auto; margin-top: 0; padding-top: 0; }
.chainsim-main { display: flex; gap: 10px; padding: 6px 10px; align-items: flex-start; }
.chainsim-knobs { flex: 0 0 300px; position: sticky; top: 70px; max-height: calc(100vh - 80px);
  overflow-y: auto; }
.chainsim-view { flex: 1 1 auto; min-width: 0; }
.chainsim-error { color: #b00020; font-weight: bold; }
/* each redraw repaints only what changed: the chart, the chain, the clock */
.chain-charts { contain: strict; will-change: transform; }
.chain-diagram { contain: content; }
.journey td, .journey th { padding: 0 10px 0 0; font-size: 90%; }
[data-testid=clock] { display: inline-block; min-width: 150px; contain: content; }
.chainsim-changes li { margin: 0; }
.chainsim-projector { font-size: 20px; }
.chainsim-projector .chainsim-toolbar { padding: 2px 6px; gap: 4px; flex-wrap: nowrap; }
.chainsim-projector .chainsim-toolbar .v-btn { font-size: 15px !important;
  padding: 0 6px !important; min-width: 0 !important; letter-spacing: 0 !important; }
.chainsim-projector .chainsim-toolbar .story-select { min-width: 175px; max-width: 175px; }
.chainsim-projector .chainsim-toolbar .speed-select { max-width: 128px; }
.chainsim-projector .chainsim-knobs { flex-basis: 300px; top: 64px;
  max-height: calc(100vh - 70px); }
.chainsim-projector .knob-slider label { font-size: 18px !important; }
.chainsim-projector .chainsim-changes { font-size: 24px; font-weight: bold; }
.chainsim-projector .chain-link { font-size: 17px; padding: 4px 6px !important;
  min-width: 0 !important; }
.chainsim-projector .chain-diagram { font-size: 18px; }
.chainsim-projector .verdict { font-size: 20px; font-weight: bold; }
/* a 1024-pixel projector: the toolbar takes two lines rather than hiding its end */
@media (max-width: 1200px) { .chainsim-projector .chainsim-toolbar { flex-wrap: wrap; } }
"""


# -- the chain ----------------------------------------------------------------------


def _capacity_text(capacity) -> str:
    return "unlimited" if capacity == UNLIMITED else f"{capacity:g}"


def chain_html(business: BusinessView) -> str:
    """Four links side by side: queue, load, people lost lately; the weakest stands out."""
    boxes = []
    for state in business.links:
        name = state["name"]
        load = round(100 * state["utilization"])
        border = "4px solid #d62728" if state["weakest"] else "2px solid #999"
        badge = ('<div class="weakest-badge" style="color:#d62728;font-weight:bold">'
                 "weakest link</div>" if state["weakest"] else "<div>&nbsp;</div>")
        queue = "no queue" if name == "marketing" else f"queue: <b>{state['queue']}</b>"
        boxes.append(
            f'<div class="chain-link" data-link="{name}" data-queue="{state["queue"]}" '
            f'data-weakest="{str(state["weakest"]).lower()}" '
            f'style="flex:1;border:{border};border-radius:8px;padding:8px;min-width:130px;'
            f'background:#fff">'
            f'<div style="font-weight:bold;color:{FUNCTION_COLORS[name]}">{name.capitalize()}'
            f"</div>{badge}<div>{queue}</div>"
            f"<div>load: {load} %</div>"
            f'<div style="background:#eee;height:8px;border-radius:4px">'
            f'<div style="width:{load}%;height:8px;border-radius:4px;'
            f'background:{FUNCTION_COLORS[name]}"></div></div>'
            f'<div style="font-size:85%">capacity {_capacity_text(state["capacity"])} '
            f'&middot; quality {state["quality"]:.2f}</div>'
            f'<div style="font-size:85%">lost, last {RECENT_DAYS} days: <b>{state["lost"]}</b>'
            "</div></div>")
    verdict = business.verdict
    arrow = '<div style="align-self:center;font-size:24px;color:#777">&#10140;</div>'
    weak_handoff = verdict is not None and verdict.link == "handoff"
    color = "#d62728" if weak_handoff else "#777"
    handoff = (f'<div class="chain-link" data-link="handoff" '
               f'data-weakest="{str(weak_handoff).lower()}" style="align-self:center;'
               f"font-size:80%;color:{color};text-align:center;"
               f'{"font-weight:bold" if weak_handoff else ""}">'
               f"&#10140;<br>hand-off<br>{business.handoff_quality:.2f}"
               f'{"<br>weakest link" if weak_handoff else ""}</div>')
    row = boxes[0] + arrow + boxes[1] + handoff + boxes[2] + arrow + boxes[3]
    if verdict is None:
        said = "working out the weakest link (the same as <code>chainsim run</code>) ..."
    else:
        said = html.escape(verdict.text)
    return (f'<div style="margin:4px 0"><b>{html.escape(business.label)}</b> &mdash; '
            f"day {business.day}: {business.active:,} active customers, "
            f"{business.promoters:,} promoters, {business.detractors:,} detractors</div>"
            f'<div style="display:flex;gap:6px;align-items:stretch">{row}</div>'
            f'<div class="verdict" data-weakest="{verdict.link if verdict else ""}" '
            f'style="margin:4px 0 10px 0">{said}</div>')


def diagram_attributes(snapshot: Snapshot) -> dict[str, str]:
    return {"class": "chain-diagram", "data-testid": "chain-diagram",
            "data-day": str(snapshot.day), "data-story": snapshot.story,
            "data-version": str(snapshot.version)}


def clock_html(snapshot: Snapshot) -> str:
    measured = snapshot.measured_speed
    return (f"day <b>{snapshot.day}</b>"
            + (f" &middot; {measured:.0f} days/s" if not math.isnan(measured) else ""))


class Feed:
    """Puts each redraw straight on the page's three live widgets: chain, clock, chart.

    A playing page redraws several times a second. Through Solara's renderer a
    redraw was a new value for a reactive variable, then the page's component
    tree walked to find what reads it and the widgets' new values diffed: some
    20 ms of the server's time a redraw, most of its share of a room of twenty.
    Here the page's components make the three widgets once and hand them to the
    feed (:meth:`attach`); the feed sets their content for each snapshot, from
    whichever thread has one (the play loop, a button), one at a time. Solara
    still draws everything else (the knobs, the room's changes, the followed
    customer), which changes only when the room does something. The widgets'
    content is the feed's alone: the components never pass it, so a component
    drawn again never puts back an old day.
    """

    def __init__(self, snapshot: Snapshot, projector: bool = False):
        self._lock = threading.RLock()
        self.snapshot = snapshot
        self.projector = projector
        self.width: int | None = None  # the chart's width on the page, once it has said
        self._widgets: dict[str, Any] = {}
        self._parts: tuple[tuple, tuple[str, str]] | None = None  # chart_parts, memoized

    def show(self, snapshot: Snapshot) -> bool:
        """Draw ``snapshot``; True if the chart's numbers changed (the page will say when
        they are on screen), False if there is no new chart to wait for."""
        with self._lock:
            self.snapshot = snapshot
            return self._draw(self._widgets)

    def attach(self, part: str, widget) -> Callable[[], None]:
        """``widget`` shows ``part`` ("chain", "clock" or "chart") from now on; returns
        the function that lets it go (for ``use_effect``)."""
        if part not in ("chain", "clock", "chart"):
            raise ValueError(f"no such part of the page: {part!r}")
        with self._lock:
            self._widgets[part] = widget
            self._draw({part: widget})

        def detach() -> None:
            with self._lock:
                if self._widgets.get(part) is widget:
                    del self._widgets[part]
        return detach

    def set_width(self, pixels: float) -> None:
        """The chart is ``pixels`` wide on the page: lay the legends out for it (to the
        nearest 10 pixels, so a window dragged wider does not re-lay it each pixel)."""
        with self._lock:
            width = 10 * round(pixels / 10)
            if width != self.width:
                self.width = width
                self._draw({k: w for k, w in self._widgets.items() if k == "chart"})

    def set_projector(self, on: bool) -> None:
        with self._lock:
            if bool(on) != self.projector:
                self.projector = bool(on)
                self._draw({k: w for k, w in self._widgets.items() if k == "chart"})

    def chart_parts(self) -> tuple[str, str]:
        """The chart's layout and data for the current snapshot (made once per snapshot)."""
        key = (self.snapshot.version, self.projector, self.width)
        if self._parts is None or self._parts[0] != key:
            self._parts = (key, chart_parts(self.snapshot, projector=self.projector,
                                            chart_width=self.width))
        return self._parts[1]

    def _draw(self, widgets: dict[str, Any]) -> bool:
        snapshot, sent = self.snapshot, False
        for part, widget in widgets.items():
            with widget.hold_sync():
                if part == "chain":
                    widget.attributes = diagram_attributes(snapshot)
                    widget.unsafe_innerHTML = "".join(chain_html(b) for b in snapshot.businesses)
                elif part == "clock":
                    widget.attributes = {"data-testid": "clock", "data-day": str(snapshot.day)}
                    widget.unsafe_innerHTML = clock_html(snapshot)
                else:
                    layout, data = self.chart_parts()
                    sent = data != widget.data_json or layout != widget.layout_json
                    widget.layout_json = layout
                    widget.data_json = data
                    widget.drawn_label = str(snapshot.day)
        return sent


def _attached(feed: Feed, part: str, element):
    """Hand the widget ``element`` becomes to ``feed`` (and take it back when it goes)."""
    solara.use_effect(lambda: feed.attach(part, solara.get_widget(element)), [])
    return element


@solara.component
def ChainDiagram(feed: Feed):
    return _attached(feed, "chain", solara.widgets.HTML.element(tag="div"))


@solara.component
def Charts(session: Session, feed: Feed, projector: bool, labels: tuple[str, ...]):
    solara.use_effect(lambda: feed.set_projector(projector), [projector])
    height = "calc(100vh - 410px)" if projector else f"{CHART_HEIGHT}px"
    # always there (empty unless comparing), so ticking Compare keeps the chart widget
    key = "" if len(labels) < 2 else (
        f"Solid lines: <b>{html.escape(labels[0])}</b>; dashed lines: "
        f"<b>{html.escape(labels[1])}</b>")
    solara.HTML(tag="div", classes=["chain-charts-key"], unsafe_innerHTML=key)
    # the attributes stay the same from one redraw to the next (a change would make the
    # page lay the chart out again); the day drawn is in the chart's data-drawn
    _attached(feed, "chart", LiveChartWidget.element(
        on_drawn=session.drawn, on_resized=feed.set_width, attributes={
            "style": f"height: {height}; min-height: 280px; width: 100%;",
            "class": "chain-charts"}))


# -- follow a customer ----------------------------------------------------------------


def follow_html(follow: dict | None) -> str:
    """The followed customer's story so far, as a small table."""
    if follow is None:
        return "No customer yet: step the business forward."
    sat = follow["satisfaction"]
    rows = "".join(
        f"<tr><td style='text-align:right'>{r['day']}</td><td>{html.escape(r['event'])}</td>"
        f"<td>{html.escape(r['function'])}</td></tr>"
        for r in follow["journey"])
    return (f"<p><b>Customer {follow['id']}</b> is now "
            f"<i>{html.escape(follow['place'].replace('_', ' '))}</i>; satisfaction "
            f"{'-' if sat is None else f'{sat:.2f}'}, {follow['problems']} problem(s), "
            f"{follow['orders']} order(s).</p>"
            "<table class='journey'><tr><th>day</th><th>event</th><th>link</th></tr>"
            f"{rows}</table>")


@solara.component
def FollowCustomer(session: Session, followed: solara.Reactive[dict | None], show):
    follow = followed.value
    with solara.Card("Follow a customer", classes=["follow-customer"]):
        with solara.Row():
            solara.InputInt("Customer id", value=follow["id"] if follow else 0,
                            on_value=lambda v: show(session.follow(v)))
            solara.Button("Pick another", on_click=lambda: show(session.follow_another()))
        # one widget whose content changes: no widgets made and dropped as the story grows
        solara.HTML(tag="div", unsafe_innerHTML=follow_html(follow))


# -- the knobs -------------------------------------------------------------------------


@solara.component
def KnobSlider(session: Session, spec, initial, show):
    """One schema knob as a slider; moving it changes the running business at once."""
    value = solara.use_reactive(initial)
    changed = solara.use_reactive(spec.path in session.changes)

    def on_value(v):
        v = int(v) if spec.integer else float(v)
        snap = session.change(spec.path, v)
        if snap.error is None:
            value.set(v)
            changed.set(True)
        show(snap)

    widget = solara.SliderInt if spec.integer else solara.SliderFloat
    with solara.Tooltip(spec.help):
        with solara.Div(classes=["knob-slider"], attributes={"data-knob": spec.path}):
            widget(f"{spec.label}: {value.value:g}{' *' if changed.value else ''}",
                   value=value.value, min=spec.min, max=spec.max, step=spec.step,
                   on_value=on_value)


@solara.component
def Knobs(session: Session, story: str, show):
    specs = slider_specs(load_scenario(story))
    current = dict(session.changes)
    solara.Markdown("**The links** (changes apply at once)")
    for spec in specs:
        if spec.path in CORE:
            KnobSlider(session, spec, current.get(spec.path, spec.value), show)
    with solara.Details("More knobs: word of mouth, patience, promises, hand-off, loyalty"):
        for spec in specs:
            if spec.path not in CORE:
                KnobSlider(session, spec, current.get(spec.path, spec.value), show)


@solara.component
def Changes(changes: solara.Reactive[tuple]):
    marks, current = changes.value
    if not marks and not current:
        return
    items = "".join(f"<li>day {m.day}: {html.escape(m.text)}</li>" for m in marks)
    if not items:
        items = "".join(f"<li>{html.escape(k)} = {v:g}</li>" for k, v in current)
    solara.HTML(tag="div", unsafe_innerHTML=f"<b>The room's changes</b><ul>{items}</ul>",
                classes=["chainsim-changes"])


@solara.component
def Clock(feed: Feed):
    return _attached(feed, "clock", solara.widgets.HTML.element(tag="span"))


@solara.component
def ErrorLine(error: solara.Reactive[str | None]):
    if error.value:
        solara.HTML(tag="div", unsafe_innerHTML=html.escape(error.value),
                    classes=["chainsim-error"])


@solara.component
def VerdictWaiter(session: Session, pending_r: solara.Reactive[tuple], playing, show):
    """Redraws once the weakest link of a business on the page has been worked out."""
    pending = pending_r.value

    def wait(cancel):
        for scenario in pending:
            VERDICTS.wait(scenario, timeout=600, cancel=cancel)
            if cancel.is_set():
                return
        if pending and not playing.value:  # while playing, the next frame shows it
            show(session.snapshot())

    solara.use_thread(wait, dependencies=[tuple(VERDICTS.key(sc) for sc in pending)],
                      intrusive_cancel=False)


# -- the page -------------------------------------------------------------------------


def _connected(context) -> bool:
    """Whether the page is still there (a closed or lost tab stops its play loop)."""
    if context is None:
        return True
    try:
        from solara.server.kernel_context import PageStatus

        return context.closed_event.is_set() is False and any(
            status == PageStatus.CONNECTED for status in context.page_status.values())
    except Exception:  # noqa: BLE001 - outside a server (tests): always there
        return True


@solara.component
def Page():
    """The single page, or in room mode (``chainsim workshop --room``) the room's pages."""
    from .roompages import RoomApp, room_mode

    if room_mode():
        RoomApp()
    else:
        SinglePage()


@solara.component
def SinglePage():
    stories = solara.use_memo(lambda: list(builtin_scenarios()), [])
    session = solara.use_memo(lambda: Session(initial_scenario()), [])
    first = solara.use_memo(session.snapshot, [])
    feed = solara.use_memo(lambda: Feed(first, projector_default()), [])
    # what the toolbar and the knobs show; each redraw goes through the feed, straight
    # to the widgets that show it, so a redraw does not rebuild the page
    setup = solara.use_reactive((session.story, session.compare, session.speed, 0))
    playing = solara.use_reactive(False)
    projector = solara.use_reactive(projector_default())

    def context_now():
        try:
            from solara.server.kernel_context import get_current_context

            return get_current_context()
        except Exception:  # noqa: BLE001 - rendered outside a server
            return None

    context = solara.use_memo(context_now, [])
    solara.use_effect(lambda: session.close, [])  # the page is gone: stop its business

    # Parts of the page that change less often than each redraw listen to their own
    # piece of it (Solara redraws a component only when what it reads changes).
    followed = solara.use_reactive(first.follow)
    changes = solara.use_reactive((first.marks, first.changes))
    error = solara.use_reactive(first.error)
    pending = solara.use_reactive(tuple(b.scenario for b in first.businesses if b.verdict is None))
    labels = solara.use_reactive(tuple(b.label for b in first.businesses))

    def show(snap: Snapshot) -> bool:
        """Draw a snapshot; True if the page will say when its chart is on screen."""
        sent = feed.show(snap)
        labels.set(tuple(b.label for b in snap.businesses))
        followed.set(snap.follow)
        changes.set((snap.marks, snap.changes))
        error.set(snap.error)
        pending.set(tuple(b.scenario for b in snap.businesses if b.verdict is None))
        return sent

    def renew(snap: Snapshot) -> None:
        """A new business (story, compare, clear): fresh knobs too."""
        show(snap)
        setup.set((session.story, session.compare, session.speed, setup.value[3] + 1))

    def play_loop(cancel):
        if not playing.value:
            return
        last = time.monotonic()
        lost_since = None
        while not cancel.is_set() and not session.closed:
            if _connected(context):
                lost_since = None
            else:  # the tab is closed or unreachable: pause after a second
                lost_since = lost_since or time.monotonic()
                if time.monotonic() - lost_since > 1.0:
                    session.set_playing(False)
                    return
            start = time.monotonic()
            session.expect_drawing()
            if not show(session.frame(start - last)):
                session.drawn()  # the chart did not change (no day due): nothing to wait for
            last = start
            # the page draws at its own pace: the next frame waits until this one is on
            # screen (a slow laptop gets fewer frames, each with more days, not a backlog)
            session.wait_drawn(timeout=1.0)
            cancel.wait(max(0.005, frame_interval() - (time.monotonic() - start)))

    solara.use_thread(play_loop, dependencies=[playing.value], intrusive_cancel=False)

    def set_playing(on: bool) -> None:
        show(session.set_playing(on))
        playing.set(on)

    def paused(action):
        def run(*args):
            if playing.value:
                set_playing(False)
            return action(*args)
        return run

    story, compare, speed, version = setup.value
    root = "chainsim-page chainsim-projector" if projector.value else "chainsim-page"
    solara.Style(CSS)
    VerdictWaiter(session, pending, playing, show)
    with solara.Div(classes=[root]):
        with solara.Div(classes=["chainsim-toolbar"]):
            solara.Select("Story", values=stories, value=story,
                          on_value=paused(lambda s: renew(session.switch(s))),
                          classes=["story-select"])
            solara.Checkbox(label="Compare", value=compare,
                            on_value=paused(lambda on: renew(session.set_compare(on))))
            solara.Button("Reset", on_click=paused(lambda: show(session.reset())),
                          color="primary", outlined=True)
            solara.Button("Pause" if playing.value else "Play",
                          on_click=lambda: set_playing(not playing.value), color="primary")
            solara.Button("Step", on_click=lambda: show(session.step(1)),
                          disabled=playing.value, color="primary", outlined=True)
            for days in FAST_FORWARD_DAYS:
                solara.Button(f"+{days} days", outlined=True,
                              on_click=lambda days=days: show(session.step(days)))

            def set_speed(text: str) -> None:
                show(session.set_speed(int(text.split()[0])))
                setup.set((story, compare, session.speed, version))

            solara.Select("Speed", values=[f"{s} days/s" for s in sorted(SPEEDS)],
                          value=f"{speed} days/s", on_value=set_speed,
                          classes=["speed-select"])
            Clock(feed)
            solara.Checkbox(label="Projector", value=projector.value, on_value=projector.set)
            solara.Button("Clear changes", outlined=True,
                          on_click=paused(lambda: renew(session.clear_changes())))
        with solara.Div(classes=["chainsim-main"]):
            with solara.Div(classes=["chainsim-knobs"], attributes={"data-story": story}):
                Knobs(session, story, show).key(f"knobs-{story}-{version}")
                Changes(changes)
            with solara.Div(classes=["chainsim-view"]):
                ErrorLine(error)
                ChainDiagram(feed)
                Charts(session, feed, projector.value, labels.value)
                if not projector.value:
                    FollowCustomer(session, followed, show)


@solara.component
def Layout(children=[]):  # noqa: B006 - Solara's signature
    """No app bar or sidebar: the page has its own toolbar."""
    return solara.Column(children=children, style={"padding": "0", "gap": "0"})


page = Page

#: The page, and in room mode the facilitator's page (the same component routes both).
routes = [solara.Route(path="/", component=Page, layout=Layout),
          solara.Route(path="facilitator", component=Page, layout=Layout)]
