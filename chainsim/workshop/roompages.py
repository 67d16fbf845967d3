"""Room mode's pages: teams join and decide; the facilitator plays the rounds and debriefs.

One :class:`~chainsim.workshop.room.Room` per server, loaded from the folder
``chainsim workshop --room`` made (``CHAINSIM_ROOM``). Teams open the join
address and give the room's code and their name; the facilitator's page is at
``/facilitator?key=...``, printed only in the facilitator's terminal. Every
page redraws when the room changes (a team joins or submits, a round is
played).
"""

from __future__ import annotations

import html
import math
import os
import threading
from pathlib import Path
from urllib.parse import parse_qs

import solara

from ..moves import LINKS, label
from ..plots import FUNCTION_COLORS
from ..schema import knobs
from .business import slider_specs
from .room import KPIS, ROLES, SCORES, Room, RoomError, money

_room: Room | None = None
_room_lock = threading.Lock()


def room() -> Room:
    """The server's room, loaded once from ``CHAINSIM_ROOM``."""
    global _room
    with _room_lock:
        if _room is None:
            _room = Room.resume(Path(os.environ["CHAINSIM_ROOM"]))
            _room.start_recommendation()
        return _room


def room_mode() -> bool:
    return bool(os.environ.get("CHAINSIM_ROOM"))


def join_address() -> str:
    return os.environ.get("CHAINSIM_ROOM_ADDRESS", "http://127.0.0.1:8765/")


CSS = """
.room-page { padding: 16px 24px; font-size: 17px; max-width: 1400px; }
.room-code { font-size: 44px; font-weight: bold; letter-spacing: 6px; }
.room-address { font-size: 26px; }
.room-table { border-collapse: collapse; margin: 8px 0; }
.room-table td, .room-table th { padding: 4px 12px; border-bottom: 1px solid #ddd;
  text-align: right; }
.room-table td:first-child, .room-table th:first-child { text-align: left; }
.room-over { color: #b00020; font-weight: bold; }
.room-ok { color: #2e7d32; font-weight: bold; }
.mini-chain { display: inline-flex; gap: 2px; font-size: 11px; }
.mini-chain span { border: 1px solid #999; border-radius: 3px; padding: 0 3px; }
"""


def _use_room_version(r: Room) -> int:
    """The room's version, kept current by a thread that waits for changes."""
    version = solara.use_reactive(r.version)

    def follow(cancel):
        seen = version.value
        while not cancel.is_set():
            now = r.wait_change(seen, timeout=0.5)
            if now != seen:
                seen = now
                version.set(now)

    solara.use_thread(follow, dependencies=[], intrusive_cancel=False)
    return version.value


def _fmt(key: str, value: float) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if key == "growth":
        return f"{100 * value:+.1f} %"
    if key.startswith("kpi_") and key != "kpi_marketing":
        return f"{100 * value:.0f} %"
    return f"{value:,.0f}"


def mini_chain(r: Room, team) -> str:
    business = r.business(team)
    parts = []
    for link in LINKS:
        params = getattr(business, link)
        cap = "" if link == "handoff" else f"{params.capacity:g} / "
        color = FUNCTION_COLORS.get(link, "#777")
        parts.append(f'<span style="color:{color}" title="{label(link)}">'
                     f"{label(link)[:4]} {cap}{params.quality:.2f}</span>")
    return f'<span class="mini-chain">{"".join(parts)}</span>'


# -- joining ------------------------------------------------------------------------------


@solara.component
def JoinPage(on_joined):
    r = room()
    code = solara.use_reactive("")
    name = solara.use_reactive("")
    role = solara.use_reactive(None)
    message = solara.use_reactive("")

    def join():
        try:
            team = r.join(code.value, name.value, role.value)
        except RoomError as err:
            message.set(str(err))
            return
        on_joined((team.index, role.value))

    with solara.Column(classes=["room-page"]):
        solara.Markdown(f"## Join the room: *{html.escape(r.config.story)}*")
        solara.InputText("Join code (from the facilitator's screen)", value=code,
                         continuous_update=True)
        solara.InputText("Team name", value=name, continuous_update=True)
        if r.config.silo:
            solara.Select("Your function (each of you owns one link of the chain)",
                          values=list(ROLES), value=role, classes=["role-select"])
        solara.Button("Join", on_click=join, color="primary")
        if message.value:
            solara.HTML(tag="div", unsafe_innerHTML=html.escape(message.value),
                        classes=["room-over", "join-error"])


# -- a team ---------------------------------------------------------------------------------


@solara.component
def TeamPage(team_index: int, role: str | None):
    r = room()
    _use_room_version(r)
    team = r.team(team_index)
    levers = r.levers(role)
    specs = {s.path: s for s in slider_specs(r.story) if s.path in levers}
    start = {**team.changes, **(team.proposal or {})}
    draft = solara.use_reactive({p: start.get(p, r.story.get(p)) for p in levers})
    message = solara.use_reactive("")
    # a new round: start the sliders from the team's business as it now stands
    round_seen = solara.use_reactive(r.round)
    if round_seen.value != r.round:
        round_seen.set(r.round)
        draft.set({p: team.changes.get(p, r.story.get(p)) for p in levers})

    cost = r.cost_of(draft.value, role)
    limit = r.allowance(role)
    who = f"{team.name}" + (f" - {role.capitalize()}" if role else "")
    over = r.round > r.config.rounds
    with solara.Column(classes=["room-page", "team-page"]):
        solara.Markdown(f"## {html.escape(who)}")
        if over:
            solara.Markdown(f"**The game is over** ({r.config.rounds} rounds). Look at the "
                            "facilitator's screen for the debrief.")
        else:
            solara.Markdown(
                f"**Round {r.round} of {r.config.rounds}** ({r.config.months} months). "
                f"Spend up to **{money(limit)} a month** more than the business cost at the "
                f"start{' on your links' if role else ''} ({money(r.config.budget)} more each "
                "round); cutting a link frees money for another.")
        if r.busy:
            solara.Markdown(f"*The facilitator is {r.busy} ...*")
        if not over:
            for path in levers:
                spec = specs[path]

                def set_value(v, path=path, integer=spec.integer):
                    draft.set({**draft.value, path: int(v) if integer else float(v)})
                    message.set("")

                widget = solara.SliderInt if spec.integer else solara.SliderFloat
                with solara.Div(attributes={"data-lever": path}):
                    widget(f"{knobs()[path].label}: {draft.value[path]:g}",
                           value=draft.value[path], min=spec.min, max=spec.max, step=spec.step,
                           on_value=set_value)
            state = "room-over" if cost > limit + 1e-6 else "room-ok"
            solara.HTML(tag="div", unsafe_innerHTML=(
                f"These changes cost <b>{money(cost)}</b> a month of your "
                f"<b>{money(limit)}</b>."), classes=[state, "team-cost"])

            def submit():
                try:
                    spent = r.submit(team, dict(draft.value), role)
                except RoomError as err:
                    message.set(str(err))
                    return
                message.set(f"Submitted for round {r.round}: {money(spent)} a month. You can "
                            "change it and submit again until the facilitator plays the round.")

            solara.Button("Submit", on_click=submit, color="primary",
                          disabled=bool(r.busy))
            if message.value:
                solara.HTML(tag="div", unsafe_innerHTML=html.escape(message.value),
                            classes=["team-message"])
            submitted = (role in team.submitted_roles) if role else team.proposal is not None
            # a slider moved after Submit (or a late key press) is not in the proposal: say so
            changed = submitted and any(
                draft.value[p] != start.get(p, r.story.get(p)) for p in levers)
            solara.Markdown("*Changed since you submitted: submit again to send this.*"
                            if changed else "*Submitted.*" if submitted
                            else "*Not submitted yet.*")
        if team.scores:
            last = team.scores[-1]
            solara.Markdown(f"### Round {last['round']}: how your business did")
            if role and not r.debriefed:  # the silo: your own figure, nothing else
                name, _ = KPIS[role]
                solara.HTML(tag="div", unsafe_innerHTML=(
                    f"<p class='room-address'>{html.escape(name)}: "
                    f"<b>{_fmt('kpi_' + role, last['kpi_' + role])}</b></p>"),
                    classes=["team-kpi"])
            else:
                rows = "".join(f"<tr><td>{text}</td><td>{_fmt(k, last[k])}</td></tr>"
                               for k, (text, _) in SCORES.items())
                solara.HTML(tag="table", unsafe_innerHTML=rows, classes=["room-table"])


# -- the facilitator ---------------------------------------------------------------------------


def scoreboard_html(r: Room) -> str:
    rows = r.scoreboard()
    if not rows:
        return ""
    silo_hidden = r.config.silo and not r.debriefed
    if silo_hidden:  # each function's figure only, as the departments see it
        head = "".join(f"<th>{html.escape(KPIS[role][0])}</th>" for role in ROLES)
        body = "".join(
            f"<tr><td>{html.escape(row['team'])}</td>"
            + "".join(f"<td>{_fmt('kpi_' + role, row['kpi_' + role])}</td>" for role in ROLES)
            + "</tr>" for row in rows)
        return (f"<h3>Round {r.round - 1}: each function's figure</h3>"
                f"<table class='room-table scoreboard'><tr><th>team</th>{head}</tr>{body}</table>")
    head = "".join(f"<th>{html.escape(text)}</th>" for text, _ in SCORES.values())
    body = []
    for row in rows:
        cells = "".join(
            f"<td>{_fmt(k, row[k])}" + (f" <small>({row[f'rank_{k}']})</small>"
                                        if f"rank_{k}" in row else "") + "</td>"
            for k in SCORES)
        team = r.baseline if row["index"] == 0 else r.team(row["index"])
        body.append(f"<tr><td>{html.escape(row['team'])}</td>{cells}"
                    f"<td>{money(row['spend'])}</td><td>{mini_chain(r, team)}</td></tr>")
    return (f"<h3>Round {r.round - 1}: scoreboard (rank in brackets)</h3>"
            f"<table class='room-table scoreboard'><tr><th>team</th>{head}"
            f"<th>spending a month</th><th>the chain (capacity / quality)</th></tr>"
            f"{''.join(body)}</table>")


def debrief_html(data: dict) -> str:
    rec = data["recommendation"]
    head = "".join(f"<th>{label(link)}</th>" for link in LINKS)
    body = "".join(
        f"<tr><td>{html.escape(t['team'])}</td>"
        + "".join(f"<td>{money(t['spend'][link])}</td>" for link in LINKS)
        + f"<td>{money(t['repeat_purchases_total'])}</td><td>{money(t['profit_total'])}</td></tr>"
        for t in data["teams"])
    return (f"<h2>Debrief</h2><p class='room-address'>What <code>chainsim diagnose</code> "
            f"recommends for this business: {html.escape(rec['text'])}</p>"
            "<p><i>chainsim's pick</i> spent each round's money on that move alone, on the "
            "same seeds as every team.</p>"
            f"<table class='room-table debrief'><tr><th>team</th>{head}"
            "<th>repeat purchases a month, summed over rounds</th><th>profit</th></tr>"
            f"{body}</table><p>Money a month on each link, at the end.</p>")


@solara.component
def FacilitatorPage():
    r = room()
    _use_room_version(r)
    error = solara.use_reactive("")

    def in_background(action):
        def run():
            try:
                action()
                error.set("")
            except RoomError as err:
                error.set(str(err))
        threading.Thread(target=run, daemon=True).start()

    over = r.round > r.config.rounds
    with solara.Column(classes=["room-page", "facilitator-page"]):
        solara.HTML(tag="div", unsafe_innerHTML=(
            f"<div class='room-address'>Join at <b>{html.escape(join_address())}</b></div>"
            f"<div>with the code <span class='room-code'>{r.config.join_code}</span></div>"
            f"<div>{html.escape(r.config.story)}: {r.config.rounds} rounds of "
            f"{r.config.months} months, {money(r.config.budget)} a month more each round, "
            f"{r.config.reps} replications{'; silo variant' if r.config.silo else ''}</div>"),
            attributes={"data-testid": "join-info"})
        status = r.status()
        rows = "".join(
            f"<tr><td>{html.escape(s['team'])}</td>"
            + (f"<td>{', '.join(s['members'])}</td>" if r.config.silo else "")
            + f"<td>{'submitted' if s['submitted'] else '...'}</td></tr>" for s in status)
        solara.HTML(tag="table", unsafe_innerHTML=(
            f"<tr><th>team ({len(status)})</th>{'<th>functions</th>' if r.config.silo else ''}"
            f"<th>round {min(r.round, r.config.rounds)}</th></tr>{rows}"),
            classes=["room-table", "team-status"])
        with solara.Row():
            solara.Button(f"Play round {r.round} ({r.config.months} months)" if not over
                          else "All rounds played",
                          on_click=lambda: in_background(r.play_round), color="primary",
                          disabled=over or bool(r.busy) or not status)
            solara.Button("Debrief", on_click=lambda: in_background(r.debrief),
                          disabled=r.round == 1 or bool(r.busy), outlined=True)
        if r.busy:
            solara.Markdown(f"*{r.busy} ...*")
        if error.value:
            solara.HTML(tag="div", unsafe_innerHTML=html.escape(error.value),
                        classes=["room-over"])
        solara.HTML(tag="div", unsafe_innerHTML=scoreboard_html(r),
                    attributes={"data-testid": "scoreboard"})
        if r.debrief_data is not None:
            solara.HTML(tag="div", unsafe_innerHTML=debrief_html(r.debrief_data),
                        attributes={"data-testid": "debrief"})


# -- routing ---------------------------------------------------------------------------------


@solara.component
def RoomApp():
    """``/facilitator?key=...`` for the facilitator; any other address joins a team."""
    router = solara.use_router()
    joined = solara.use_reactive(None)
    solara.Style(CSS)
    if router.path.strip("/") == "facilitator":
        key = parse_qs(router.search or "").get("key", [""])[0]
        if room().check_key(key):
            FacilitatorPage()
        else:
            solara.Markdown("This page needs the facilitator's key (printed where "
                            "`chainsim workshop --room` was started).")
        return
    if joined.value is None:
        JoinPage(joined.set)
    else:
        TeamPage(*joined.value)
