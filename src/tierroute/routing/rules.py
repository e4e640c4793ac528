"""config/routing_rules.yaml: the user-editable policy that maps a classified request to models.

Rules are tried top to bottom; the first whose ``when`` matches names the candidates (a list of
models, or a tier's models cheapest first) and whether to cascade through them. ``named:`` maps a
requested model id (a glob) to ``auto``, so an agent can keep its default model setting while
tierroute picks per call. A bad file is a ``ConfigError`` naming the file, the key and the fix.
"""

from __future__ import annotations

import fnmatch
import re
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal

import msgspec
import yaml
from msgspec import Meta

from tierroute.catalog import TIERS, Catalog
from tierroute.config.loader import ConfigError
from tierroute.types import TASK_TYPES, ChatRequest, Classification

Share = Annotated[float, Meta(ge=0, le=1)]


class When(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    task: str | list[str] | None = None
    min_complexity: Share | None = None
    max_complexity: Share | None = None
    min_prompt_tokens: Annotated[int, Meta(ge=0)] | None = None
    max_prompt_tokens: Annotated[int, Meta(ge=0)] | None = None
    tools: bool | None = None
    vision: bool | None = None
    json: bool | None = None
    min_messages: Annotated[int, Meta(ge=1)] | None = None


class Rule(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    name: str
    description: str = ""
    when: When = msgspec.field(default_factory=When)
    models: list[str] = msgspec.field(default_factory=list)
    tier: Literal["premium", "standard", "specialist"] | None = None
    # listed: try models in the order written; price: cheapest first (live latency and errors break ties)
    order: Literal["listed", "price"] | None = None
    # Answer with the first model and escalate down the list when the answer fails the checks.
    cascade: bool = False

    def tasks(self) -> tuple[str, ...] | None:
        t = self.when.task
        return None if t is None else (t,) if isinstance(t, str) else tuple(t)

    def ordering(self) -> str:
        return self.order or ("listed" if self.models else "price")


TierName = Literal["premium", "standard", "specialist"]
# For a floor: a specialist model is not below a standard one in price, but it is narrower, so a
# floor of `standard` keeps standard and premium models and drops specialists.
TIER_RANK = {"specialist": 0, "standard": 1, "premium": 2}


class NamedRoute(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """A requested model id (glob) routed as ``auto``, optionally no lower than a tier."""

    match: str
    route: Literal["auto"] = "auto"
    # One tier for every call, or per task type ({architecture: premium}); tasks not named have none.
    floor: TierName | dict[str, TierName] | None = None

    def floor_for(self, task: str) -> str | None:
        return self.floor.get(task) if isinstance(self.floor, dict) else self.floor


class RoutingRules(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    rules: list[Rule]
    # Requested model ids routed as `auto` (first matching pattern wins); empty: named models are honoured.
    named: list[NamedRoute] = msgspec.field(default_factory=list)
    # When no rule matches (the shipped file ends with a catch-all, so this is a safety net).
    default_tier: Literal["premium", "standard", "specialist"] = "standard"
    path: str = ""

    def match(self, c: Classification, req: ChatRequest, tokens: int) -> Rule | None:
        for r in self.rules:
            if _matches(r, c, req, tokens):
                return r
        return None

    def named_route(self, model: str) -> NamedRoute | None:
        """The `named:` entry for a requested id (first matching pattern), or None."""
        if not self.named:
            return None
        i = _first_match(tuple(n.match for n in self.named), model)
        return self.named[i] if i >= 0 else None

    def validate(self, catalog: Catalog) -> None:
        """Every model a rule names must be in the catalog (name or alias)."""
        for i, r in enumerate(self.rules):
            for j, m in enumerate(r.models):
                if catalog.resolve(m) is None:
                    raise ConfigError(self.path, f"rules[{i}] ({r.name}).models[{j}]", f"unknown model '{m}'",
                                      "use a model name or alias from models.yaml")


@lru_cache(maxsize=4096)
def _first_match(patterns: tuple[str, ...], model: str) -> int:
    """Memoised: an agent sends the same few ids on every call."""
    return next((i for i, p in enumerate(patterns) if fnmatch.fnmatchcase(model, p)), -1)


_PATTERN = re.compile(r"[A-Za-z0-9*?][A-Za-z0-9._:/@*?-]*")


def _matches(r: Rule, c: Classification, req: ChatRequest, tokens: int) -> bool:
    w = r.when
    tasks = r.tasks()
    if tasks is not None and c.task not in tasks:
        return False
    if w.min_complexity is not None and c.complexity < w.min_complexity:
        return False
    if w.max_complexity is not None and c.complexity >= w.max_complexity:
        return False
    if w.min_prompt_tokens is not None and tokens < w.min_prompt_tokens:
        return False
    if w.max_prompt_tokens is not None and tokens > w.max_prompt_tokens:
        return False
    if w.tools is not None and bool(req.tools) != w.tools:
        return False
    if w.vision is not None and req.has_image() != w.vision:
        return False
    if w.json is not None and req.wants_json() != w.json:
        return False
    return not (w.min_messages is not None and len(req.messages) < w.min_messages)


def load_rules(path: str | Path, catalog: Catalog | None = None) -> RoutingRules:
    p = Path(path)
    try:
        raw = yaml.safe_load(p.read_text())
    except FileNotFoundError:
        raise ConfigError(p, "", "file not found", "create it (copy the shipped config/routing_rules.yaml)") from None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise ConfigError(p, where, f"not valid YAML: {getattr(e, 'problem', e)}",
                          "fix the YAML syntax at that line (indentation, quotes, colons)") from None
    if not isinstance(raw, dict) or "rules" not in raw:
        raise ConfigError(p, "rules", "missing", "the file needs a top-level `rules:` list (see the shipped file)")
    try:
        rules = msgspec.convert(raw, RoutingRules, strict=False)
    except msgspec.ValidationError as e:
        msg = str(e)
        key = msg.split("at `$", 1)[1].rstrip("`") if "at `$" in msg else ""
        key = key.replace("[", ".").replace("]", "").lstrip(".")
        raise ConfigError(p, key, msg.split(" - at `")[0],
                          "see the comment at the top of the shipped config/routing_rules.yaml") from None
    rules.path = str(p)
    names: set[str] = set()
    for i, r in enumerate(rules.rules):
        where = f"rules[{i}] ({r.name})"
        if r.name in names:
            raise ConfigError(p, f"{where}.name", f"duplicate rule name '{r.name}'", "give each rule its own name")
        names.add(r.name)
        for t in r.tasks() or ():
            if t not in TASK_TYPES:
                raise ConfigError(p, f"{where}.when.task", f"unknown task '{t}'", f"use one of {list(TASK_TYPES)}")
        if not r.models and r.tier is None:
            raise ConfigError(p, where, "names no models", f"add `models: [...]` or `tier:` (one of {list(TIERS)})")
        w = r.when
        if w.min_complexity is not None and w.max_complexity is not None and w.min_complexity >= w.max_complexity:
            raise ConfigError(p, f"{where}.when", "min_complexity is not below max_complexity",
                              "make min_complexity < max_complexity (the range is [min, max))")
    _check_named(rules, p)
    if catalog is not None:
        rules.validate(catalog)
    return rules


def _check_named(rules: RoutingRules, p: Path) -> None:
    for i, n in enumerate(rules.named):
        where = f"named[{i}] ({n.match})"
        if not _PATTERN.fullmatch(n.match) or "**" in n.match:
            raise ConfigError(p, f"{where}.match", f"bad pattern '{n.match}'",
                              "write a glob of a requested model id: letters, digits and . _ - : / @ with * or ? "
                              "as wildcards, e.g. claude-opus-*")
        for task in n.floor if isinstance(n.floor, dict) else ():
            if task not in TASK_TYPES:
                raise ConfigError(p, f"{where}.floor.{task}", f"unknown task '{task}'",
                                  f"use one of {list(TASK_TYPES)}, or one tier for every task (floor: premium)")
