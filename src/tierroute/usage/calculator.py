"""The cost calculator: price a workload (task mix, tokens per request, requests per day) on the
baseline (premium-only) model and on the model tierroute routes each task type to."""

from __future__ import annotations

import time
from typing import Any

import msgspec

from tierroute.catalog import Catalog, ModelInfo
from tierroute.routing.select import DeploymentGate, rank_by_price
from tierroute.types import ChatRequest, Classification, ImagePart, ImageURL, Message, TextPart
from tierroute.usage.reports import usage_summary


class TaskLoad(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    share: float
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    complexity: float | None = None  # picks the routing rule (e.g. coding-simple vs coding-complex)
    model: str | None = None


class Workload(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """A workload file (YAML) or the same given as flags."""

    tasks: dict[str, TaskLoad]
    requests_per_day: float = 1000.0
    prompt_tokens: int = 1000  # per request, for tasks that do not say
    completion_tokens: int = 500
    complexity: float = 0.3
    baseline: str | None = None


class CalcError(ValueError):
    def __init__(self, message: str, where: str) -> None:
        super().__init__(f"{where}: {message}")
        self.where = where


def default_model_for(catalog: Catalog, task: str) -> ModelInfo:
    """Without routing rules: the cheapest standard-tier model good at the task (vision tasks need a
    vision model), else the cheapest standard model."""
    standard = catalog.tier("standard")
    if not standard:
        raise CalcError("the catalog has no enabled standard-tier model to route to", "catalog")
    fit = [m for m in standard if task in m.strengths and (task != "vision" or m.vision)]
    if task == "vision" and not fit:
        fit = [m for m in standard if m.vision]
    return (fit or standard)[0]


EXPECTED_OUTPUT_TOKENS = 500  # as routing.expected_output_tokens defaults


def rules_model_for(
    rules: Any, catalog: Catalog, task: str, complexity: float, prompt_tokens: int
) -> tuple[ModelInfo, str] | None:
    """The first candidate of the routing rule a plain request of this task type and complexity
    matches (a vision task carries an image), and the rule's name; None if no rule matches."""
    content: Any = "x"
    if task == "vision":
        content = [TextPart(text="x"), ImagePart(image_url=ImageURL(url="data:image/png;base64,"))]
    req = ChatRequest(model="auto", messages=[Message(role="user", content=content)])
    rule = rules.match(Classification(task=task, complexity=complexity), req, prompt_tokens)
    if rule is None:
        return None
    if rule.models:
        for name in rule.models:
            resolved = catalog.resolve(name)
            if resolved is not None and catalog.models[resolved].enabled:
                return catalog.models[resolved], f"rule:{rule.name}"
        return None
    # The router's own ranking (price, then the task among the model's strengths), so the calculator
    # names the model a live request would get.
    tier = catalog.tier(rule.tier)
    costs = {m.name: m.cost(prompt_tokens, EXPECTED_OUTPUT_TOKENS) for m in tier}
    ranked = rank_by_price(tier, costs, DeploymentGate(), task)
    return (ranked[0], f"rule:{rule.name}") if ranked else None


def calculate(
    catalog: Catalog, workload: Workload, baseline: str, model_for: dict[str, str] | None = None,
    rules: Any = None,
) -> dict[str, Any]:  # fmt: skip
    """Per task type and weighted: cost per 1K tokens and per day on the baseline and on the routed
    model, and the saving. Shares are normalised to sum to 1. The routed model is, first found:
    ``model_for[task]``, the workload's ``model``, the first candidate of the matching routing rule
    (``rules``: a ``RoutingRules``), the cheapest standard model suited to the task. A cascade rule is
    priced at its first model (escalations are not modelled)."""
    model_for = model_for or {}
    base = _model(catalog, baseline, "baseline")
    total_share = sum(t.share for t in workload.tasks.values())
    if total_share <= 0:
        raise CalcError("task shares must add up to more than 0", "tasks")
    rows = []
    for task, load in workload.tasks.items():
        if load.share < 0:
            raise CalcError(f"share of {task} is negative", f"tasks.{task}.share")
        p = load.prompt_tokens if load.prompt_tokens is not None else workload.prompt_tokens
        c = load.completion_tokens if load.completion_tokens is not None else workload.completion_tokens
        name = model_for.get(task) or load.model
        complexity = load.complexity if load.complexity is not None else workload.complexity
        found = None if name or rules is None else rules_model_for(rules, catalog, task, complexity, p)
        if name:
            routed, why = _model(catalog, name, f"model for {task}"), "given"
        elif found is not None:
            routed, why = found
        else:
            routed, why = default_model_for(catalog, task), "cheapest standard"
        share = load.share / total_share
        per_day = workload.requests_per_day * share
        tokens = p + c
        b_req, r_req = base.cost(p, c), routed.cost(p, c)
        rows.append({
            "task": task, "share": share, "requests_per_day": per_day, "prompt_tokens": p,
            "completion_tokens": c, "routed_model": routed.name, "why": why,
            "baseline_per_1k": b_req / tokens * 1000 if tokens else 0.0,
            "routed_per_1k": r_req / tokens * 1000 if tokens else 0.0,
            "baseline_per_day": b_req * per_day, "routed_per_day": r_req * per_day,
            "saving_pct": (1 - r_req / b_req) * 100 if b_req > 0 else 0.0,
        })  # fmt: skip
    tok_day = sum((r["prompt_tokens"] + r["completion_tokens"]) * r["requests_per_day"] for r in rows)
    b_day = sum(r["baseline_per_day"] for r in rows)
    r_day = sum(r["routed_per_day"] for r in rows)
    total = {
        "task": "TOTAL (weighted)", "share": 1.0, "requests_per_day": workload.requests_per_day,
        "routed_model": "", "why": "", "baseline_per_1k": b_day / tok_day * 1000 if tok_day else 0.0,
        "routed_per_1k": r_day / tok_day * 1000 if tok_day else 0.0,
        "baseline_per_day": b_day, "routed_per_day": r_day,
        "saving_pct": (1 - r_day / b_day) * 100 if b_day > 0 else 0.0,
    }  # fmt: skip
    return {
        "baseline_model": base.name,
        "rows": rows,
        "total": total,
        "baseline_per_month": b_day * 30,
        "routed_per_month": r_day * 30,
    }


def _model(catalog: Catalog, name: str, what: str) -> ModelInfo:
    resolved = catalog.resolve(name)
    if resolved is None:
        known = ", ".join(sorted(catalog.models)[:12])
        raise CalcError(f"unknown model '{name}' (known: {known}, ...)", what)
    return catalog.models[resolved]


def parse_mix(text: str) -> dict[str, float]:
    """'coding=40,documentation=30,chat=30' (any positive weights) -> {task: weight}."""
    out: dict[str, float] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        task, sep, w = part.partition("=")
        try:
            if not sep:
                raise ValueError
            out[task.strip()] = float(w.rstrip("%"))
        except ValueError:
            raise CalcError(f"'{part}' is not task=weight (e.g. coding=40)", "--mix") from None
    if not out:
        raise CalcError("give at least one task=weight", "--mix")
    return out


async def workload_from_usage(store: Any, since_s: float, now: float | None = None) -> Workload:
    """The task mix, mean tokens per request and requests per day of recorded traffic."""
    now = now or time.time()
    rows = await usage_summary(store, "task", None, since_s, now)
    rows = [r for r in rows if r["requests"] > 0]
    if not rows:
        raise CalcError("no recorded requests in that window", "--from-usage")
    first = await store.query(f"SELECT MIN(ts) FROM {store.table} WHERE ts >= ?", (now - since_s,))
    span_s = max(now - float(first[0][0]), 3600.0)
    total = sum(r["requests"] for r in rows)
    cx = await store.query(
        f"SELECT COALESCE(task, 'unknown'), AVG(complexity) FROM {store.table} WHERE ts >= ? GROUP BY 1",
        (now - since_s,),
    )
    complexity = {t: float(v) for t, v in cx if v is not None}
    tasks = {
        r["task"]: TaskLoad(
            share=r["requests"] / total,
            prompt_tokens=round(r["prompt_tokens"] / r["requests"]),
            completion_tokens=round(r["completion_tokens"] / r["requests"]),
            complexity=complexity.get(r["task"]),
        )
        for r in rows
    }
    return Workload(tasks=tasks, requests_per_day=total / (min(span_s, since_s) / 86400))
