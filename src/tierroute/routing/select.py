"""Filter candidate models by what the request needs, then rank them and their deployments.

A model is dropped (with the reason kept in the plan) when the prompt plus the requested output
does not fit its context window, when the request has images / tools / JSON mode it lacks, when it
is disabled, or when its estimated cost is over budget. A deployment is dropped when its quota has
no headroom or its health says it is cooling down. Survivors are ranked by estimated price and by
live latency and error rate (exponentially weighted per deployment, from ``limits.health``).
"""

from __future__ import annotations

from typing import Any

from tierroute.catalog import Catalog, ModelInfo
from tierroute.routing.affinity import Warm, WarmEntry, cache_cost
from tierroute.types import Attempt, Candidate, ChatRequest, Deployment

# The token estimate can be ~10% low on ordinary text, so a model must fit with this headroom.
CONTEXT_MARGIN = 1.10


class Needs:
    """What one request needs from a model."""

    __slots__ = ("tokens", "output", "vision", "tools", "json", "task")

    def __init__(self, req: ChatRequest, tokens: int, task: str | None = None) -> None:
        self.tokens = tokens
        self.output = req.output_limit() or 0
        self.vision = req.has_image()
        self.tools = bool(req.tools)
        self.json = req.wants_json()
        self.task = task

    def context_needed(self) -> int:
        return int(self.tokens * CONTEXT_MARGIN) + self.output


def model_problem(m: ModelInfo, needs: Needs, budget: float | None, est: float) -> str | None:
    """Why ``m`` cannot take the request, or None."""
    if not m.enabled or not m.deployments:
        return "disabled (or no enabled provider)"
    if m.kind != "chat":
        return f"not a chat model ({m.kind})"
    # max_tokens is a cap, not a need: a model with a lower output limit answers with its limit (the
    # adapters cut max_tokens to it), as agents ask for far more than they use (Claude Code: 128000).
    need = int(needs.tokens * CONTEXT_MARGIN) + min(needs.output, m.max_output or needs.output)
    if need > m.context_window:
        return f"prompt ~{needs.tokens} tokens (+{needs.output} output) exceeds its {m.context_window}-token window"
    if needs.vision and not m.vision:
        return "request has images; model has no vision"
    if needs.tools and not m.tools:
        return "request uses tools; model has no tool calling"
    if needs.json and not m.json_mode:
        return "request asks for JSON mode; model has none"
    if budget is not None and est > budget:
        return f"estimated ${est:.5f} over the ${budget:.5f} budget"
    return None


def estimate_cost(m: ModelInfo, tokens: int, output: int, default_output: int) -> float:
    out = min(output or default_output, m.max_output or default_output)
    return m.cost(tokens, out)


class DeploymentGate:
    """Quota and health per deployment, duck-typed over the optional ``limits`` / ``health`` objects."""

    def __init__(self, health: Any = None, limits: Any = None) -> None:
        self.health = health
        self.limits = limits

    @property
    def active(self) -> bool:
        return self.health is not None or self.limits is not None

    def check(self, d: Deployment) -> tuple[str | None, float | None, bool]:
        """(why it is skipped or None, retry_after, skipped for quota)"""
        if self.limits is not None:
            ok, retry_after, why = self.limits.headroom(d.id)
            if not ok:
                return f"quota: {why}" if why else "quota exhausted", retry_after, True
        if self.health is not None and not self.health.available(d.id):
            return "cooling down after failures", None, False
        return None, None, False

    def live(self, d: Deployment) -> tuple[float, float]:
        """(error rate, latency ms): the live ranking signal; (0, 0) when nothing is known."""
        if self.health is None:
            return 0.0, 0.0
        s = self.health.stats(d.id)
        lat = getattr(s, "latency_ms", None)
        return float(getattr(s, "error_rate", 0.0) or 0.0), float(lat) if lat is not None else 0.0


def rank_deployments(deps: list[Deployment], gate: DeploymentGate) -> list[Deployment]:
    if len(deps) < 2 or gate.health is None:
        return deps
    # Error rate in coarse steps so noise does not flip order; latency breaks ties.
    return sorted(deps, key=lambda d: (round(gate.live(d)[0], 1), gate.live(d)[1]))


def model_live_score(m: ModelInfo, gate: DeploymentGate) -> tuple[float, float]:
    """The best (error rate, latency) among a model's deployments."""
    if gate.health is None or not m.deployments:
        return 0.0, 0.0
    return min(gate.live(d) for d in m.deployments)


def rank_by_price(models: list[ModelInfo], costs: dict[str, float], gate: DeploymentGate,
                  task: str | None) -> list[ModelInfo]:
    def key(m: ModelInfo) -> tuple[float, int, float]:
        err, lat = model_live_score(m, gate)
        # A failing model costs more in expectation: every failure is paid for with a retry elsewhere.
        return costs[m.name] * (1 + 2 * err) + (1.0 if err >= 0.5 else 0.0), int(task not in m.strengths), lat
    return sorted(models, key=key)


def demote_failing(models: list[ModelInfo], gate: DeploymentGate) -> list[ModelInfo]:
    """Keep the listed order, but move models whose every deployment is mostly failing behind the rest."""
    if gate.health is None:
        return models
    return sorted(models, key=lambda m: model_live_score(m, gate)[0] >= 0.5)


class Selection:
    """Accumulates attempts and candidate explanations for one plan."""

    def __init__(self, catalog: Catalog, needs: Needs, gate: DeploymentGate, budget: float | None,
                 default_output: int, warm: Warm | None = None) -> None:
        self.catalog = catalog
        # The session's warm prompt caches (None: no session, and cost is the plain list-price estimate).
        self.warm = warm
        self._cached: dict[str, tuple[float, str]] = {}
        self.needs = needs
        self.gate = gate
        self.budget = budget
        self.default_output = default_output
        self.attempts: list[Attempt] = []
        self.candidates: list[Candidate] = []
        self.seen: set[str] = set()
        self.quota_retry: list[float] = []
        self.quota_dropped = 0
        self.quota_only = True  # every dropped deployment was dropped for quota
        self.held_back: list[Attempt] = []  # cooling-down deployments, tried only if nothing else is left

    def cost(self, m: ModelInfo) -> float:
        if self.warm is None:
            return estimate_cost(m, self.needs.tokens, self.needs.output, self.default_output)
        return self._cache_cost(m)[0]

    def cache_note(self, m: ModelInfo) -> str | None:
        """Why ``m`` costs what it does with this session's cache (warm or cold), or None without a session."""
        return None if self.warm is None else self._cache_cost(m)[1]

    def warm_on(self, m: ModelInfo) -> WarmEntry | None:
        """The session's warm entry on one of ``m``'s deployments that can take the request now."""
        if self.warm is None:
            return None
        e = self.warm.on(m)
        if e is not None and self.gate.active:
            d = next((d for d in m.deployments if d.id == e.dep), None)
            if d is None or self.gate.check(d)[0] is not None:
                return None  # cooling down or out of quota: its cache is out of reach
        return e

    def _cache_cost(self, m: ModelInfo) -> tuple[float, str]:
        hit = self._cached.get(m.name)
        if hit is None:
            out = min(self.needs.output or self.default_output, m.max_output or self.default_output)
            assert self.warm is not None
            hit = self._cached[m.name] = cache_cost(m, self.needs.tokens, out, self.warm_on(m), self.warm.marks)
        return hit

    def fits(self, m: ModelInfo) -> bool:
        return model_problem(m, self.needs, self.budget, self.cost(m)) is None

    def consider(self, m: ModelInfo, reason: str) -> bool:
        """Record ``m`` as a candidate (once); True when it is kept."""
        if m.name in self.seen:
            return False
        self.seen.add(m.name)
        est = self.cost(m)
        problem = model_problem(m, self.needs, self.budget, est)
        if problem is not None:
            self.candidates.append(Candidate(model=m.name, kept=False, reason=problem, est_cost_usd=est))
            return False
        note = self.cache_note(m)
        self.candidates.append(Candidate(model=m.name, kept=True, reason=f"{reason}; {note}" if note else reason,
                                         est_cost_usd=est))
        return True

    def add(self, m: ModelInfo, reason: str, step: int = 0) -> int:
        """Append the usable deployments of a kept model; returns how many were added."""
        n = 0
        deps = rank_deployments(m.deployments, self.gate)
        for d in deps:
            if self.gate.active:
                why, retry_after, quota = self.gate.check(d)
                if why is not None:
                    self.candidates.append(Candidate(model=m.name, kept=False, reason=f"{d.id}: {why}"))
                    if quota:
                        self.quota_dropped += 1
                        if retry_after is not None:
                            self.quota_retry.append(retry_after)
                    else:
                        self.quota_only = False
                        self.held_back.append(Attempt(deployment=d, reason=f"{reason}; {why}, last resort",
                                                      step=step))
                    continue
            self.attempts.append(Attempt(deployment=d, reason=reason, step=step))
            n += 1
        return n

    def finish(self) -> list[Attempt]:
        if not self.attempts and self.held_back:
            self.attempts = self.held_back
        return self.attempts

    def retry_after(self) -> float | None:
        return min(self.quota_retry) if self.quota_retry else None

    def larger_context(self, tier: str | None) -> list[ModelInfo]:
        """Models that can take a request its first choice could not: same tier first, then cheapest."""
        out = [m for m in self.catalog.enabled() if m.name not in self.seen and self.fits(m)]
        return sorted(out, key=lambda m: (m.tier != tier, self.cost(m), m.name))


def dropped_summary(candidates: list[Candidate]) -> str:
    drops = [f"{c.model}: {c.reason}" for c in candidates if not c.kept]
    return "; ".join(drops[:6]) + ("; ..." if len(drops) > 6 else "")


def quantile_to_complexity(q: float, share: float, complex_from: float) -> float:
    """Map a router's need quantile so that the top ``share`` of prompts land at or above ``complex_from``."""
    share = min(max(share, 1e-6), 1 - 1e-6)
    cut = 1 - share
    if q >= cut:
        return complex_from + (1 - complex_from) * (q - cut) / share
    return complex_from * q / cut if cut > 0 else 0.0
