"""Room mode: teams compete on the same market, round by round.

The game, as business simulation games run a room (HubNet, Capsim, The Fresh
Connection): each team gets the story's business and money to spend each
round; teams change their links within the budget and submit; the facilitator
advances the round, and every team's business is run on the same seeds (common
random numbers), with replications, for the round's months; a scoreboard ranks
the teams; the next round starts from each team's own business. The debrief
shows what ``chainsim diagnose`` would have recommended, played as one more team.

In the *silo* variant (seed 001: departments that never talk) each member of a
team owns one function's share of the budget and sees only that function's
figure until the debrief.

Everything here is plain Python, tested without a browser; the pages are in
:mod:`chainsim.workshop.roompages`. Nothing a browser sends becomes a path:
teams are files by number, and names are only shown, escaped.
"""

from __future__ import annotations

import csv
import hmac
import io
import json
import math
import os
import secrets
import threading
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

from ..intervals import mean_ci
from ..metrics import COLUMNS, LOSS_SOURCES
from ..model import ChainModel
from ..moves import DAYS_PER_MONTH, LEVERS, LINKS, budget_move, daily_cost, default_budget
from ..outputs import write_text_atomic
from ..parallel import replication_seed
from ..scenarios import load_scenario, scenario_toml
from ..schema import Scenario, ScenarioError

#: The levers a team can move: each link's capacity and quality (Marketing: contacts).
LEVER_PATHS = tuple(f"{link}.{knob}" for link in LINKS for knob in LEVERS[link])
#: Silo variant: who owns which links (the hand-off is the sale's promise, made by Sales).
ROLES: dict[str, tuple[str, ...]] = {
    "marketing": ("marketing",),
    "sales": ("sales", "handoff"),
    "operations": ("operations",),
    "service": ("service",),
}
#: Join codes: no 0/O or 1/I/L to misread from a projector.
CODE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
MAX_TEAMS = 30
MAX_NAME = 30


class RoomError(ValueError):
    """Something a team or the facilitator asked for that cannot be done; said in one line."""


@dataclass
class RoomConfig:
    """How the game is set up; saved as room.json in the session folder."""

    story: str
    budget: float  # added money a month, per round, per team
    months: int = 12  # per round
    rounds: int = 3
    reps: int = 5
    seed: int = 1
    silo: bool = False
    join_code: str = ""
    facilitator_key: str = ""
    created: str = ""

    def __post_init__(self) -> None:
        if not self.join_code:
            self.join_code = "".join(secrets.choice(CODE_ALPHABET) for _ in range(6))
        if not self.facilitator_key:
            self.facilitator_key = secrets.token_urlsafe(16)
        if not self.created:
            self.created = datetime.now().isoformat(timespec="seconds")


def new_config(story: str, *, budget: float | None = None, months: int = 12, rounds: int = 3,
               reps: int = 5, seed: int | None = None, silo: bool = False) -> RoomConfig:
    """A room for a built-in story; the budget defaults to what ``diagnose`` spends."""
    scenario = load_scenario(story)
    return RoomConfig(story=story, budget=budget or default_budget(scenario), months=months,
                      rounds=rounds, reps=reps,
                      seed=scenario.run.seed if seed is None else seed, silo=silo)


# -- money -------------------------------------------------------------------------------


def added_cost(base: Scenario, business: Scenario, links=LINKS) -> float:
    """What ``business`` costs a month more than ``base``, on these links (savings count)."""
    return sum(DAYS_PER_MONTH * (daily_cost(business, link) - daily_cost(base, link))
               for link in links)


def money(x: float) -> str:
    return f"{x:,.0f}"


# -- scores ------------------------------------------------------------------------------

_INDEX = {c: i for i, c in enumerate(COLUMNS)}
_LOST = tuple(c for cols in LOSS_SOURCES.values() for c in cols)

#: What the scoreboard ranks, with its label and whether more is better.
SCORES = {
    "repeat_purchases": ("repeat purchases a month", True),
    "growth": ("growth a month", True),
    "profit": ("profit a month", True),
    "lost": ("people lost", False),
}
#: Silo variant: each function's own figure.
KPIS = {
    "marketing": ("leads a month", lambda t: t["leads_new"].sum()),
    "sales": ("share of leads handled who bought",
              lambda t: _share(t["first_purchases"].sum(),
                               (t["first_purchases"] + t["not_converted"]
                                + t["declined_wait"]).sum())),
    "operations": ("deliveries on time and right", lambda t: _share(
        t["deliveries"].sum() - t["late_deliveries"].sum() - t["failed_deliveries"].sum(),
        t["deliveries"].sum())),
    "service": ("complaints resolved", lambda t: _share(t["complaints_resolved"].sum(),
                                                        t["complaints"].sum())),
}


def _share(part: float, whole: float) -> float:
    return float(part / whole) if whole else math.nan


def _window(model: ChainModel, start: int) -> dict[str, np.ndarray]:
    rows = model.datacollector.rows[start:]
    table = np.array(rows, dtype=float)
    return {c: table[:, i] for c, i in _INDEX.items()}


def round_scores(model: ChainModel, start: int, months: int) -> dict[str, float]:
    """One replication's figures over the days since ``start`` (rows), per month."""
    t = _window(model, start)
    before = (model.datacollector.rows[start - 1][_INDEX["active_customers"]] if start
              else model.params.market.customers_at_start)
    after = t["active_customers"][-1]
    growth = (after / before) ** (1.0 / months) - 1.0 if before > 0 else math.nan
    out = {
        "repeat_purchases": float(t["repeat_purchases"].sum() / months),
        "growth": float(growth),
        "profit": float(t["profit"].sum() / months),
        "lost": float(sum(t[c].sum() for c in _LOST)),
    }
    for role, (_, kpi) in KPIS.items():
        value = kpi(t)
        out[f"kpi_{role}"] = float(value / months if role == "marketing" else value)
    return out


# -- teams -------------------------------------------------------------------------------


@dataclass
class Team:
    """A team, its business as it stands, and what it has decided."""

    index: int
    name: str
    changes: dict[str, Any] = field(default_factory=dict)  # the business: story + changes
    proposal: dict[str, Any] | None = None  # submitted for the coming round (silo: merged)
    submitted_roles: set[str] = field(default_factory=set)
    members: set[str] = field(default_factory=set)  # silo roles taken
    scores: list[dict[str, Any]] = field(default_factory=list)  # one per round played
    pseudo: bool = False  # "as it is" and "chainsim's pick": not players

    @property
    def file(self) -> str:
        return f"team-{self.index:02d}"

    def submitted(self, silo: bool) -> bool:
        if silo:
            return bool(self.members) and self.members <= self.submitted_roles
        return self.proposal is not None


class Room:
    """The game: teams, rounds, scores, saved to a folder as it goes.

    Safe to call from many browser sessions at once (one lock). Models are
    kept in memory between rounds; on resume they are rebuilt by playing the
    saved decisions again on the same seeds, which gives the same businesses.
    """

    def __init__(self, config: RoomConfig, folder: Path) -> None:
        self.config = config
        self.folder = Path(folder)
        self.story = load_scenario(config.story)
        self.lock = threading.RLock()
        self.teams: list[Team] = []
        self.round = 1  # the round being decided (rounds played: round - 1)
        self.debriefed = False
        self.baseline = Team(0, "as it is", pseudo=True)
        self.debrief_data: dict[str, Any] | None = None
        self.pick = Team(-1, "chainsim's pick", pseudo=True)
        self._models: dict[int, list[ChainModel]] = {}
        self._recommendation: dict[str, Any] | None = None
        self._recommend_thread: threading.Thread | None = None
        self._failed_joins = 0
        self._playing = threading.Lock()
        self.version = 0  # goes up whenever something a page shows changes
        self.changed = threading.Condition(self.lock)
        self.busy = ""  # what the room is doing now ("playing round 2"), or ""

    def _bump(self) -> None:
        with self.lock:
            self.version += 1
            self.changed.notify_all()

    def wait_change(self, seen: int, timeout: float = 1.0) -> int:
        """Block until the room changes after version ``seen`` (or ``timeout``); the version."""
        with self.lock:
            if self.version == seen:
                self.changed.wait(timeout)
            return self.version

    # -- seeds and models ------------------------------------------------------------
    def _fresh_models(self) -> list[ChainModel]:
        return [ChainModel(self.story, rng=np.random.default_rng(
            replication_seed(self.config.seed, r))) for r in range(self.config.reps)]

    def _models_of(self, team: Team) -> list[ChainModel]:
        if team.index not in self._models:
            self._models[team.index] = self._fresh_models()
        return self._models[team.index]

    def business(self, team: Team, changes: dict[str, Any] | None = None) -> Scenario:
        return self.story.replace(team.changes if changes is None else changes)

    # -- joining ---------------------------------------------------------------------
    def check_code(self, code: str) -> None:
        given = (code or "").strip().upper().replace(" ", "").encode()
        if not hmac.compare_digest(given, self.config.join_code.encode()):
            self._failed_joins += 1
            time.sleep(min(2.0, 0.1 * self._failed_joins))  # guessing gets slow
            raise RoomError("that join code is not this room's: ask the facilitator for it")

    def check_key(self, key: str) -> bool:
        return hmac.compare_digest((key or "").encode(), self.config.facilitator_key.encode())

    def join(self, code: str, name: str, role: str | None = None) -> Team:
        """A team joins (or a member rejoins it) with the room's code and the team's name."""
        self.check_code(code)
        name = " ".join((name or "").split())
        if not name:
            raise RoomError("give your team a name")
        if len(name) > MAX_NAME:
            raise RoomError(f"a team name is at most {MAX_NAME} characters")
        if self.config.silo:
            if role not in ROLES:
                raise RoomError(f"pick your function: one of {', '.join(ROLES)}")
        with self.lock:
            team = next((t for t in self.teams if t.name.casefold() == name.casefold()), None)
            if team is None:
                if self.round > 1:
                    raise RoomError("the game has started: teams can join before round 1 only "
                                    f"(teams: {', '.join(t.name for t in self.teams)})")
                if len(self.teams) >= MAX_TEAMS:
                    raise RoomError(f"the room is full ({MAX_TEAMS} teams)")
                team = Team(len(self.teams) + 1, name)
                self.teams.append(team)
            if role:
                team.members.add(role)
            self._save_teams()
            self._bump()
            return team

    def team(self, index: int) -> Team:
        with self.lock:
            for t in self.teams:
                if t.index == index:
                    return t
        raise RoomError(f"no team {index}")

    # -- deciding ----------------------------------------------------------------------
    def allowance(self, role: str | None = None) -> float:
        """Added money a month a team (or, in the silo variant, one function) may spend now."""
        total = self.config.budget * self.round
        return total / len(ROLES) if role else total

    def levers(self, role: str | None = None) -> tuple[str, ...]:
        if role is None:
            return LEVER_PATHS
        return tuple(p for p in LEVER_PATHS if p.split(".")[0] in ROLES[role])

    def cost_of(self, changes: dict[str, Any], role: str | None = None) -> float:
        links = ROLES[role] if role else LINKS
        return added_cost(self.story, self.story.replace(changes), links)

    def check(self, team: Team, changes: dict[str, Any], role: str | None = None) -> float:
        """Validate a proposal (the team's whole business); return its added cost a month."""
        allowed = set(self.levers(role))
        for path in changes:
            if path not in LEVER_PATHS:
                raise RoomError(f"{path} is not a lever of the game: one of {', '.join(LEVER_PATHS)}")
            if path not in allowed and changes[path] != team.changes.get(
                    path, self.story.get(path)):
                raise RoomError(f"{path} belongs to {path.split('.')[0]}, not to {role}")
        try:
            self.story.replace(changes)
        except ScenarioError as err:
            raise RoomError(str(err)) from None
        cost = self.cost_of(changes, role)
        limit = self.allowance(role)
        if cost > limit + 1e-6:
            who = f"the {role} share of the allowance" if role else "your team's allowance"
            raise RoomError(f"over budget by {money(cost - limit)} a month: these changes cost "
                            f"{money(cost)} a month, {who} in round {self.round} is "
                            f"{money(limit)}")
        return cost

    def submit(self, team: Team, changes: dict[str, Any], role: str | None = None) -> float:
        """A team's (or a function's) decision for the coming round; refused over budget."""
        with self.lock:
            if self.round > self.config.rounds:
                raise RoomError("the game is over: no more rounds")
            if self.busy:
                raise RoomError(f"the facilitator is {self.busy}: submit again in a moment")
            changes = dict(changes)
            if self.config.silo:
                if role not in team.members:
                    raise RoomError("join the team as this function first")
                cost = self.check(team, changes, role)
                merged = {**team.changes, **(team.proposal or {})}
                for path in self.levers(role):
                    merged.pop(path, None)
                merged.update({p: v for p, v in changes.items() if p in self.levers(role)})
                team.proposal = merged
                team.submitted_roles.add(role)
            else:
                cost = self.check(team, changes)
                team.proposal = changes
            self._save_proposal(team)
            self._bump()
            return cost

    # -- playing a round ---------------------------------------------------------------------
    def play_round(self) -> list[dict[str, Any]]:
        """Run every team's business for the round's months, on the same seeds; score them.

        The businesses run outside the room's lock, so pages keep answering
        while a round is played; submissions wait for the next round.
        """
        with self._playing:  # one round at a time
            with self.lock:
                if self.round > self.config.rounds:
                    raise RoomError("the game is over: every round has been played")
                if not self.teams:
                    raise RoomError("no team has joined yet")
                self.busy = f"playing round {self.round}"
                plan = [(t, dict(t.proposal) if t.proposal is not None else None)
                        for t in (*self.teams, self.baseline)]
                self._bump()
            days = int(self.config.months * DAYS_PER_MONTH)
            try:
                for team, proposal in plan:
                    if proposal is not None:
                        team.changes = proposal
                    self._run(team, days)
            finally:
                with self.lock:
                    self.busy = ""
            with self.lock:
                self._save_round()
                for team in self.teams:
                    team.proposal = None
                    team.submitted_roles.clear()
                self.round += 1
                self._bump()
                return self.scoreboard()

    def _run(self, team: Team, days: int) -> None:
        models = self._models_of(team)
        business = self.business(team)
        start = models[0].day
        scores = []
        for model in models:
            for path in LEVER_PATHS:
                if business.get(path) != model.params.get(path):
                    model.set(path, business.get(path))
            model.run(days)
            scores.append(round_scores(model, start, self.config.months))
        summary: dict[str, Any] = {"round": len(team.scores) + 1, "spend": added_cost(
            self.story, business)}
        for key in scores[0]:
            values = [s[key] for s in scores]
            mean, _, lo, hi = mean_ci(values)
            summary[key] = mean
            summary[f"{key}_ci"] = (lo, hi)
        summary["per_rep"] = scores
        team.scores.append(summary)

    def scoreboard(self, round_: int | None = None) -> list[dict[str, Any]]:
        """Teams ranked by repeat purchases in a round (default: the last played), with
        their rank on every score; the business as it is, as a reference, unranked."""
        with self.lock:
            played = self.round - 1
            r = played if round_ is None else round_
            if r < 1:
                return []
            rows = [{"team": t.name, "index": t.index, **t.scores[r - 1]} for t in self.teams
                    if len(t.scores) >= r]
            for key, (_, more_is_better) in SCORES.items():  # ties share a rank: 1, 2, 2, 4
                sign = 1.0 if more_is_better else -1.0
                for row in rows:
                    row[f"rank_{key}"] = 1 + sum(1 for other in rows
                                                 if sign * other[key] > sign * row[key] + 1e-9)
            rows.sort(key=lambda x: (x["rank_repeat_purchases"], x["index"]))
            if len(self.baseline.scores) >= r:
                rows.append({"team": self.baseline.name, "index": 0,
                             **self.baseline.scores[r - 1]})
            return rows

    def status(self) -> list[dict[str, Any]]:
        with self.lock:
            return [{"team": t.name, "index": t.index, "submitted": t.submitted(self.config.silo),
                     "members": sorted(t.members), "roles_in": sorted(t.submitted_roles)}
                    for t in self.teams]

    # -- debrief -------------------------------------------------------------------------------
    def start_recommendation(self) -> None:
        """Work out, in the background, what ``chainsim diagnose`` recommends for the story."""
        with self.lock:
            if self._recommendation is not None or self._recommend_thread is not None:
                return
            self._recommend_thread = threading.Thread(target=self._recommend, daemon=True)
            self._recommend_thread.start()

    def _recommend(self) -> None:
        from ..diagnose import diagnose

        days = int(self.config.months * DAYS_PER_MONTH)
        scenario = self.story.replace({"run.seed": self.config.seed})
        d = diagnose(scenario, budget=self.config.budget, reps=10, days=days,
                     workers=min(2, os.cpu_count() or 1))
        v = d.verdict()
        best = d.ranking[0]
        with self.lock:
            self._recommendation = {"link": v.link, "move": best.move.path, "text": v.text,
                                    "title": best.move.title}

    def recommendation(self, timeout: float = 300.0) -> dict[str, Any]:
        self.start_recommendation()
        thread = self._recommend_thread
        if thread is not None:
            thread.join(timeout)
        with self.lock:
            if self._recommendation is None:
                raise RoomError("chainsim's recommendation could not be worked out in time")
            return self._recommendation

    def debrief(self) -> dict[str, Any]:
        """chainsim's pick played as one more team over the rounds played, and each team's
        spending and results beside it. In the silo variant, this is when everyone sees all."""
        rec = self.recommendation()
        with self.lock:
            played = self.round - 1
            if played < 1:
                raise RoomError("play a round first")
            pick = self.pick
            link, knob = rec["move"].split(".")
            days = int(self.config.months * DAYS_PER_MONTH)
            while len(pick.scores) < played:  # each round: the round's money on the best move
                current = self.business(pick)
                move = budget_move(current, link, knob, self.config.budget)
                pick.changes = {**pick.changes, move.path: move.after}
                self._run(pick, days)
            teams = []
            for t in (*self.teams, pick, self.baseline):
                business = self.business(t)
                spend = {lk: added_cost(self.story, business, (lk,)) for lk in LINKS}
                total = sum(s["repeat_purchases"] for s in t.scores[:played])
                teams.append({"team": t.name, "index": t.index, "spend": spend,
                              "repeat_purchases_total": total,
                              "growth_last": t.scores[played - 1]["growth"],
                              "profit_total": sum(s["profit"] for s in t.scores[:played])})
            self.debriefed = True
            out = {"recommendation": rec, "teams": teams, "rounds_played": played}
            self._save_debrief(out)
            self.debrief_data = out
            self._bump()
            return out

    # -- saving --------------------------------------------------------------------------------
    def save_config(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self.folder / "room.json"
        write_text_atomic(path, json.dumps(asdict(self.config), indent=2) + "\n")
        os.chmod(path, 0o600)  # it holds the join code and the facilitator's key

    def _save_teams(self) -> None:
        data = [{"index": t.index, "name": t.name, "members": sorted(t.members)}
                for t in self.teams]
        write_text_atomic(self.folder / "teams.json", json.dumps(data, indent=2) + "\n")

    def _round_dir(self, r: int) -> Path:
        path = self.folder / f"round-{r:02d}"
        (path / "decisions").mkdir(parents=True, exist_ok=True)
        return path

    def _save_proposal(self, team: Team) -> None:
        path = self._round_dir(self.round) / "decisions" / f"{team.file}.toml"
        roles = f" (submitted by: {', '.join(sorted(team.submitted_roles))})" if \
            self.config.silo else ""
        write_text_atomic(path, scenario_toml(
            self.config.story, team.proposal or {},
            description=f"Team {team.index}'s business for round {self.round}{roles}"))

    def _save_round(self) -> None:
        r = self.round
        folder = self._round_dir(r)
        for team in self.teams:  # the business each team played this round
            write_text_atomic(folder / "decisions" / f"{team.file}.toml", scenario_toml(
                self.config.story, team.changes,
                description=f"Team {team.index}'s business for round {r}"))
        runs = io.StringIO()
        keys = list(self.teams[0].scores[-1]["per_rep"][0])
        writer = csv.writer(runs)
        writer.writerow(["round", "team", "team_name", "replication", *keys])
        for team in (*self.teams, self.baseline):
            for rep, values in enumerate(team.scores[-1]["per_rep"]):
                writer.writerow([r, team.index, team.name, rep, *(values[k] for k in keys)])
        write_text_atomic(folder / "runs.csv", runs.getvalue())
        self._save_scoreboard()

    def _save_scoreboard(self) -> None:
        out = io.StringIO()
        writer = csv.writer(out)
        keys = list(SCORES) + [f"kpi_{role}" for role in ROLES]
        writer.writerow(["round", "team", "team_name", "spend", *keys,
                         *(f"rank_{k}" for k in SCORES)])
        for r in range(1, len(self.baseline.scores) + 1):
            for row in self.scoreboard(r):
                writer.writerow([r, row["index"], row["team"], round(row["spend"], 2),
                                 *(row[k] for k in keys),
                                 *(row.get(f"rank_{k}", "") for k in SCORES)])
        write_text_atomic(self.folder / "scoreboard.csv", out.getvalue())
        self._save_scoreboard_png()

    def _save_scoreboard_png(self) -> None:
        from matplotlib.figure import Figure

        teams = [t for t in (*self.teams, self.baseline) if t.scores]
        if not teams:
            return
        fig = Figure(figsize=(9, 4.5), layout="constrained")
        ax = fig.subplots()
        rounds = np.arange(1, len(teams[0].scores) + 1)
        width = 0.8 / len(teams)
        for i, t in enumerate(teams):
            ax.bar(rounds + (i - (len(teams) - 1) / 2) * width,
                   [s["repeat_purchases"] for s in t.scores], width,
                   label=t.name, color="#bbbbbb" if t.pseudo else None)
        ax.set_xticks(rounds, [f"round {r}" for r in rounds])
        ax.set_ylabel("repeat purchases a month")
        ax.set_title(f"chainsim room: {self.config.story}", loc="left")
        ax.legend(fontsize=7, ncol=2)
        tmp = self.folder / f".scoreboard.png.tmp-{os.getpid()}"
        fig.savefig(tmp, dpi=100, format="png")
        os.replace(tmp, self.folder / "scoreboard.png")

    def _save_debrief(self, data: dict[str, Any]) -> None:
        write_text_atomic(self.folder / "debrief.json", json.dumps(data, indent=2,
                                                                   default=float) + "\n")

    # -- resuming --------------------------------------------------------------------------------
    @classmethod
    def resume(cls, folder: Path) -> Room:
        """The room saved in ``folder``, with every played round played again (same seeds)."""
        folder = Path(folder)
        try:
            config = RoomConfig(**json.loads((folder / "room.json").read_text(encoding="utf-8")))
            teams = json.loads((folder / "teams.json").read_text(encoding="utf-8")) \
                if (folder / "teams.json").exists() else []
        except (OSError, ValueError, TypeError) as err:
            raise RoomError(f"{folder} is not a chainsim room folder that can be resumed "
                            f"({type(err).__name__}: {err})") from None
        room = cls(config, folder)
        for entry in teams:
            team = Team(int(entry["index"]), str(entry["name"])[:MAX_NAME],
                        members={m for m in entry.get("members", []) if m in ROLES})
            room.teams.append(team)
        from ..scenarios import read_changes

        while (folder / f"round-{room.round:02d}" / "runs.csv").exists():
            decisions = folder / f"round-{room.round:02d}" / "decisions"
            for team in room.teams:
                path = decisions / f"{team.file}.toml"
                team.proposal = read_changes(path, LEVER_PATHS) if path.exists() else None
            room.play_round()
        decisions = folder / f"round-{room.round:02d}" / "decisions"
        for team in room.teams:  # submissions for the round not yet played
            path = decisions / f"{team.file}.toml"
            if path.exists():
                team.proposal = read_changes(path, LEVER_PATHS)
                if config.silo:
                    team.submitted_roles = set(team.members)
        return room


__all__ = ["KPIS", "LEVER_PATHS", "ROLES", "SCORES", "Room", "RoomConfig", "RoomError", "Team",
           "added_cost", "new_config", "round_scores"]
