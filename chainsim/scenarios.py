"""Scenario files: TOML in ``scenarios/``, one business each.

A file sets only the keys that differ from the defaults in :mod:`chainsim.schema`
and may start from another scenario with ``extends = "balanced"`` (a built-in
name, or a path relative to the file). Loading resolves the chain of
``extends``, merges section by section (the later file wins key by key), applies
``--set`` overrides, and validates the result into a frozen
:class:`~chainsim.schema.Scenario`. Every problem raises a one-line
:class:`~chainsim.schema.ScenarioError` naming the file, the key and what is allowed.
"""

from __future__ import annotations

import json
import re
import tomllib
from importlib import resources
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .schema import Scenario, ScenarioError, split_path, suggest

def builtin_dir(kind: str) -> Path:
    """Where the built-in ``scenarios`` or ``experiments`` are.

    Inside an installed package they are in ``chainsim/_data/`` (the build copies
    them there); in a source tree (an editable install, ``make``) they are the
    project's own ``scenarios/`` and ``experiments/``.
    """
    packaged = Path(str(resources.files("chainsim").joinpath("_data", kind)))
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parent.parent / kind


#: Where the built-in scenarios live.
BUILTIN_DIR = builtin_dir("scenarios")


@dataclass(frozen=True)
class ScenarioInfo:
    name: str
    path: Path
    description: str
    lesson: str = ""


def builtin_scenarios() -> dict[str, ScenarioInfo]:
    """Built-in scenarios by name, with their one-line stories."""
    out = {}
    for path in sorted(BUILTIN_DIR.glob("*.toml")):
        data = read_toml(path)
        out[path.stem] = ScenarioInfo(path.stem, path, str(data.get("description", "")),
                                      str(data.get("lesson", "")))
    return out


def resolve_path(ref: str | Path, *, relative_to: Path | None = None) -> Path:
    """The file a scenario reference points to: a path, or a built-in name."""
    text = str(ref)
    looks_like_path = text.endswith(".toml") or "/" in text or "\\" in text
    if looks_like_path:
        path = Path(text)
        if relative_to is not None and not path.is_absolute():
            path = relative_to / path
        if not path.is_file():
            raise ScenarioError(f"scenario file not found: {text}")
        return path
    builtin = BUILTIN_DIR / f"{text}.toml"
    if builtin.is_file():
        return builtin
    names = sorted(p.stem for p in BUILTIN_DIR.glob("*.toml"))
    raise ScenarioError(
        f"unknown scenario {text!r}{suggest(text, names)}; built-in scenarios: {', '.join(names)}"
        " (or give a path to a .toml file)"
    )


def load_scenario(
    ref: str | Path,
    overrides: Mapping[str, Any] | None = None,
    *,
    days: int | None = None,
    seed: int | None = None,
) -> Scenario:
    """Load, resolve ``extends``, apply overrides and validate a scenario.

    Args:
        ref: a built-in name (``"balanced"``) or a path to a TOML file.
        overrides: ``{"section.key": value}``, applied last (``--set``).
        days, seed: shortcuts for ``run.days`` and ``run.seed``.
    """
    path = resolve_path(ref)
    data = _resolve(path, chain=())
    data.setdefault("name", path.stem)
    scenario = Scenario.from_dict(data, source=str(path))
    changes = dict(overrides or {})
    if days is not None:
        changes["run.days"] = days
    if seed is not None:
        changes["run.seed"] = seed
    options = {"run.days": "--days", "run.seed": "--seed"}
    for key, value in changes.items():  # one at a time, so an error names its own --set
        try:
            scenario = scenario.replace({key: value})
        except ScenarioError as err:
            given = (f"{options[key]} {value}" if key in options and key not in (overrides or {})
                     else f"--set {key}={_toml(value)}")
            raise ScenarioError(err.detail, source=given) from None
    return scenario


def _toml(value: Any) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    return str(value)


#: How deep ``extends`` may go (a chain longer than this is a mistake, or a loop in disguise).
MAX_EXTENDS = 32


def _resolve(path: Path, chain: tuple[Path, ...]) -> dict[str, Any]:
    real = path.resolve()
    if len(chain) >= MAX_EXTENDS:
        raise ScenarioError(f"extends goes more than {MAX_EXTENDS} files deep; a scenario "
                            "should start from a built-in one in a step or two",
                            source=str(path))
    if real in chain:
        cycle = " -> ".join(p.name for p in (*chain, real))
        raise ScenarioError(f"extends cycle: {cycle}", source=str(path))
    data = read_toml(path)
    parent_ref = data.pop("extends", None)
    if parent_ref is None:
        return data
    if not isinstance(parent_ref, str):
        raise ScenarioError(f"extends = {parent_ref!r} is not allowed: must be a scenario name "
                            "or a path to a .toml file", source=str(path))
    try:
        parent_path = resolve_path(parent_ref, relative_to=path.parent)
    except ScenarioError as err:
        raise ScenarioError(f"extends: {err.detail}", source=str(path)) from None
    parent = _resolve(parent_path, (*chain, real))
    for own in ("name", "description", "lesson"):  # these describe the parent, not the child
        parent.pop(own, None)
    return merge(parent, data)


def merge(base: Mapping[str, Any], top: Mapping[str, Any]) -> dict[str, Any]:
    """Section-wise merge: keys in ``top`` win, other keys of ``base`` stay."""
    out = {k: dict(v) if isinstance(v, Mapping) else v for k, v in base.items()}
    for key, value in top.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = {**out[key], **value}
        else:
            out[key] = dict(value) if isinstance(value, Mapping) else value
    return out


def read_toml(path: Path, what: str = "scenario file") -> dict[str, Any]:
    """A TOML file's tables; ScenarioError, in one line, for a missing, unreadable, not-UTF-8
    or malformed file (``what`` names it when it is missing)."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ScenarioError(f"{what} not found: {path}") from None
    except UnicodeDecodeError:
        raise ScenarioError("the file is not UTF-8 text (save it as UTF-8)",
                            source=str(path)) from None
    except OSError as err:
        raise ScenarioError(f"cannot read the file: {err.strerror or err}",
                            source=str(path)) from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise ScenarioError(f"TOML syntax error: {err}", source=str(path)) from None


_BARE_WORD = re.compile(r"^[A-Za-z_][A-Za-z0-9_\-]*$")


def parse_assignment(text: str) -> tuple[str, Any]:
    """Parse one ``--set section.key=value``; the value is read as a TOML value.

    Bare words (``unlimited``, ``large_ticket``) are taken as text, so quotes are
    not needed on the command line.
    """
    if "=" not in text:
        raise ScenarioError(f"--set {text}: expected section.key=value, e.g. operations.capacity=60")
    key, _, raw = text.partition("=")
    key, raw = key.strip(), raw.strip()
    try:
        split_path(key)
    except ScenarioError as err:
        raise ScenarioError(f"--set {text}: {err.detail}") from None
    if _BARE_WORD.match(raw) and raw not in ("true", "false", "inf", "nan"):
        return key, raw
    try:
        return key, tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        raise ScenarioError(
            f"--set {text}: cannot read {raw!r} as a value (a number, true/false, or a word "
            "such as unlimited)") from None


def parse_assignments(items: Iterable[str]) -> dict[str, Any]:
    return dict(parse_assignment(item) for item in items)


def scenario_toml(base: str, changes: Mapping[str, Any], *, description: str = "") -> str:
    """A scenario file that ``extends`` the built-in ``base`` with ``changes`` ({"a.b": v})."""
    lines = []
    if description:
        lines.append(f"description = {json.dumps(description)}")
    lines.append(f"extends = {json.dumps(base)}")
    sections: dict[str, dict[str, Any]] = {}
    for path, value in sorted(changes.items()):
        section, key = path.split(".", 1)
        sections.setdefault(section, {})[key] = value
    for section, values in sections.items():
        lines += ["", f"[{section}]"]
        lines += [f"{key} = {json.dumps(value) if isinstance(value, str) else _toml(value)}"
                  for key, value in values.items()]
    return "\n".join(lines) + "\n"


def read_changes(path: Path, allowed: Iterable[str]) -> dict[str, Any]:
    """The ``section.key`` values a scenario file sets among ``allowed`` (its own, not its
    parent's), checked as a scenario would be."""
    data = read_toml(Path(path))
    allowed = set(allowed)
    out: dict[str, Any] = {}
    for section, values in data.items():
        if not isinstance(values, Mapping):
            continue
        for key, value in values.items():
            if f"{section}.{key}" in allowed:
                out[f"{section}.{key}"] = value
    base = data.get("extends")
    if isinstance(base, str):
        load_scenario(base).replace(out)  # raises ScenarioError, one line, when out of range
    return out
