"""The Router: turn a request and the caller's hints into a Plan (ordered attempts, each with why).

``plan`` is synchronous and cheap: named models and tiers use precomputed chains, and ``auto`` uses
the fast classifier. ``plan_async`` may also run the learned classifier and the trained router for
``auto`` (one embedding, on a worker thread).
"""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path
from typing import Any

from tierroute.catalog import TIERS, FamilyMatch, ModelInfo
from tierroute.config.loader import ConfigError, Settings, fallback_chain
from tierroute.embedding import Embedder, MiniLMEmbedder, default_embedder
from tierroute.errors import ModelNotFound, NoCandidate, QuotaExhausted
from tierroute.routing.affinity import Warm, has_marks, session_key, warm_from_answer
from tierroute.routing.affinity_store import LocalAffinityStore, RedisAffinityStore, build_affinity_store
from tierroute.routing.classify import LearnedClassifier, classify_fast, merge, prompt_text
from tierroute.routing.config import RoutingConfig
from tierroute.routing.learned import TrainedRouter
from tierroute.routing.rules import TIER_RANK, NamedRoute, RoutingRules, Rule
from tierroute.routing.select import (
    DeploymentGate,
    Needs,
    Selection,
    demote_failing,
    dropped_summary,
    quantile_to_complexity,
    rank_by_price,
)
from tierroute.routing.tokens import estimate_prompt_tokens
from tierroute.types import (
    Attempt,
    Candidate,
    ChatRequest,
    Classification,
    Deployment,
    Plan,
    RouteHints,
    Usage,
)

log = logging.getLogger("tierroute.routing")

# Complexity at and above which the shipped rules treat work as hard; the trained router's
# willingness-to-pay share is mapped onto it.
COMPLEX_FROM = 0.6


class Router:
    def __init__(self, settings: Settings, rules: RoutingRules, cfg: RoutingConfig, *, health: Any = None,
                 limits: Any = None, embedder: Embedder | None = None,
                 trained: TrainedRouter | None = None,
                 affinity: LocalAffinityStore | RedisAffinityStore | None = None) -> None:
        self.settings = settings
        self.catalog = settings.catalog
        self.rules = rules
        self.cfg = cfg
        self.gate = DeploymentGate(health, limits)
        # Session affinity (routing/affinity.py): in Redis when the limits share state there.
        self.affinity = (affinity or build_affinity_store(limits, cfg.affinity.max_sessions)
                         if cfg.affinity.enabled else None)
        rules.validate(self.catalog)
        self._embedder = embedder
        self._learned: LearnedClassifier | None = None
        self.trained = trained
        if trained is None and cfg.router:
            path = Path(cfg.router)
            if not path.is_absolute():
                path = settings.path.parent / path
            try:
                self.trained = TrainedRouter.load(path)
            except (OSError, ValueError, KeyError) as e:
                raise ConfigError(settings.path, "routing.router", f"cannot load trained router {path}: {e}",
                                  "train one with `tierroute router train --data FILE --out PATH` "
                                  "or remove routing.router") from None
        emb_name = embedder.name if embedder is not None else MiniLMEmbedder.name
        if self.trained is not None and self.trained.embedder_name != emb_name:
            raise ConfigError(settings.path, "routing.router",
                              f"the router was trained on {self.trained.embedder_name} embeddings, "
                              f"the gateway uses {emb_name}", "retrain it with `tierroute router train`")
        self._chains: dict[str, list[ModelInfo]] = {}
        for m in self.catalog.enabled():
            self._chains[m.name] = [fb for n in fallback_chain(settings, m.name)
                                    if (fb := self.catalog.models.get(n)) is not None and fb.enabled
                                    and fb.kind == "chat" and fb.deployments]
        tiers = settings.gateway.fallbacks.tiers
        self._tiers: dict[str, list[ModelInfo]] = {}
        for t in TIERS:
            names = [self.catalog.resolve(n) for n in tiers.get(t, [])]
            chain = [self.catalog.models[n] for n in names if n]
            listed = {m.name for m in chain}
            chain += [m for m in self.catalog.tier(t) if m.name not in listed]
            self._tiers[t] = chain
        # The fast path for a plain request to a named model: attempts built once.
        self._min_window = min((m.context_window for m in self.catalog.enabled()), default=0)
        self._fast: dict[str, list[Attempt]] = {}
        self._fast_cands: dict[str, list[Candidate]] = {}

    # ------------------------------------------------------------------ public

    def plan(self, req: ChatRequest, hints: RouteHints, *, warm: Warm | None = None) -> Plan:
        """``warm``: the session's warm caches when the caller has them (``session_and_warm``); else this
        instance's own view of them is used (``plan_async`` reads the shared store)."""
        if warm is None:
            warm = self.warm_now(req)
        model = req.model
        named = self._named(model)
        if model == "auto" or named is not None:
            tokens = estimate_prompt_tokens(req)
            c = classify_fast(req, hints, tokens=tokens)
            return self._plan_auto(req, hints, c, tokens, named=named, warm=warm)
        if model in TIERS:
            return self._plan_tier(req, model, warm)
        name = self.catalog.resolve(model)
        if name is None:
            family = self.catalog.family(model)
            if family is None:
                raise ModelNotFound(self.catalog.not_found_message(model), param="model")
            return self._plan_family(req, family, warm)
        return self._plan_model(req, name, warm)

    # ------------------------------------------------------------------ session affinity

    def _session(self, req: ChatRequest) -> str | None:
        if self.affinity is None:
            return None
        return session_key(req, self.cfg.affinity.min_prefix_tokens)

    def _warm(self, req: ChatRequest, key: str, entries: list) -> Warm | None:
        w = Warm.live(key, entries)
        if not w.entries:
            return None  # nothing warm: the plain list-price plan, as for a request without a session
        w.marks = has_marks(req)
        return w

    def warm_now(self, req: ChatRequest) -> Warm | None:
        """The session's warm caches as this instance knows them (no I/O)."""
        key = self._session(req)
        if key is None:
            return None
        assert self.affinity is not None
        return self._warm(req, key, self.affinity.get_now(key))

    async def session_and_warm(self, req: ChatRequest) -> tuple[str | None, Warm | None]:
        """The session key and its warm caches from the (shared) store: one Redis HGETALL, or a dict get."""
        key = self._session(req)
        if key is None:
            return None, None
        assert self.affinity is not None
        return key, self._warm(req, key, await self.affinity.get(key))

    async def note_answer(self, req: ChatRequest, dep: Deployment, usage: Usage, plan: Plan | None = None) -> None:
        """After a successful upstream answer: remember what it left cached on ``dep`` for the session,
        with the vendor's TTL. ``plan``: the request's plan from ``plan_async``, which knows the session
        already. Cheap and never raises."""
        try:
            key = plan.session if plan is not None else self._session(req)
            if key is None:
                return
            e = warm_from_answer(req, dep, usage, ttl_s=self.cfg.affinity.ttl_s)
            if e is not None:
                assert self.affinity is not None
                await self.affinity.put(key, e)
        except Exception:  # noqa: BLE001 - affinity is an optimisation, never a failure
            log.exception("routing: recording session affinity failed")

    def _named(self, model: str) -> NamedRoute | None:
        """routing_rules.yaml `named:`: a requested id routed as auto (tiers and auto are never renamed)."""
        if model == "auto" or model in TIERS:
            return None
        return self.rules.named_route(model)

    async def plan_async(self, req: ChatRequest, hints: RouteHints, *, vector: Any = None) -> Plan:
        """``vector``: the shared embedder's vector of the last user turn, when the caller already has
        it (the semantic cache embeds the same text for its lookup); then no embedding is computed here
        and the trained router's decision costs well under a millisecond."""
        named = self._named(req.model)
        key, warm = await self.session_and_warm(req)
        if req.model != "auto" and named is None:
            plan = self.plan(req, hints, warm=warm or _NO_WARM)
            plan.session = key
            return plan
        tokens = estimate_prompt_tokens(req)
        c = classify_fast(req, hints, tokens=tokens)
        want_learned = (self.cfg.classifier.learned and c.source != "hint" and c.task != "vision"
                        and c.task_confidence < self.cfg.classifier.min_confidence)
        want_trained = self.trained is not None and (hints.complexity is None)
        if want_learned or want_trained:
            if vector is not None and (not want_learned or self._learned is not None):
                vec = vector
            else:
                vec = await asyncio.to_thread(self._embed_and_warm, prompt_text(req), want_learned, vector)
            if want_learned and self._learned is not None:
                p = self._learned.probs(vec)
                best = max(p, key=p.__getitem__)
                c = merge(c, best, p[best])
            if want_trained and self.trained is not None:
                self._apply_trained(c, vec, hints, prompt_text(req))
        plan = self._plan_auto(req, hints, c, tokens, trained_done=True, named=named, warm=warm or _NO_WARM)
        plan.session = key
        return plan

    # ------------------------------------------------------------------ embeddings

    def embedder(self) -> Embedder:
        if self._embedder is None:
            self._embedder = default_embedder()
        return self._embedder

    def _embed_and_warm(self, text: str, learned: bool, vec: Any = None) -> Any:
        if learned and self._learned is None:
            self._learned = LearnedClassifier(self.embedder())
            self._learned._fit()
        return vec if vec is not None else self.embedder().embed([text])[0]

    def _apply_trained(self, c: Classification, vec: Any, hints: RouteHints, text: str) -> None:
        assert self.trained is not None
        q = self.trained.need_quantile(vec, text)
        share = hints.willingness_to_pay if hints.willingness_to_pay is not None else self.cfg.willingness_to_pay
        c.complexity = round(quantile_to_complexity(q, share, COMPLEX_FROM), 3)
        c.complexity_confidence = 0.8
        c.reasons.append(f"trained router: need quantile {q:.2f}, willingness to pay {share:.2f}")

    # ------------------------------------------------------------------ named model, tier

    def _selection(self, req: ChatRequest, tokens: int, task: str | None = None,
                   warm: Warm | None = None) -> Selection:
        return Selection(self.catalog, Needs(req, tokens, task), self.gate, self.cfg.max_cost_per_request_usd,
                         self.cfg.expected_output_tokens, warm=_real(warm))

    def _plan_model(self, req: ChatRequest, name: str, warm: Warm | None = None) -> Plan:
        route = f"model:{name}"
        info = self.catalog.models[name]
        if info.kind != "chat":
            raise NoCandidate(f"'{req.model}' is not a chat model ({info.kind}): use it with /v1/embeddings",
                              param="model")
        plain = (info.enabled and not self.gate.active and not req.tools and req.response_format is None
                 and req.output_limit() is None and self.cfg.max_cost_per_request_usd is None)
        if plain:
            # Cheap upper bound first (4 chars/token never undercounts by more than the margin).
            chars = 0
            for m in req.messages:
                c = m.content
                if isinstance(c, str):
                    chars += len(c)
                else:
                    plain = False
                    break
            if plain and (chars // 3 + 200) * 1.1 < self._min_window:
                attempts = self._fast.get(name)
                if attempts is None:
                    attempts = self._build_fast(name)
                plan = Plan(requested_model=req.model, route=route, attempts=list(attempts),
                            candidates=list(self._fast_cands[name]))
                w = _real(warm)
                if w is not None:
                    plan.attempts, suffix = _keep_warm(plan.attempts, w, None, False)
                    plan.route += suffix
                return plan
        tokens = estimate_prompt_tokens(req)
        sel = self._selection(req, tokens, warm=warm)
        m = self.catalog.models[name]
        if sel.consider(m, "requested"):
            sel.add(m, "requested model")
        for fb in self._chains.get(name, []):
            if sel.consider(fb, f"fallback for {name}"):
                sel.add(fb, f"fallback for {name}")
        if not sel.fits(m):
            # Context-window (or capability) fallback: models that can take what the named one cannot.
            for other in sel.larger_context(m.tier):
                why = ("context-window fallback" if sel.needs.context_needed() > m.context_window
                       else f"capability fallback for {name}")
                if sel.consider(other, why):
                    sel.add(other, why)
                if len(sel.attempts) >= 4:
                    break
        return self._finish(req, route, sel, None)

    def _plan_family(self, req: ChatRequest, fam: FamilyMatch, warm: Warm | None = None) -> Plan:
        """An id the catalog lacks but whose family it knows: the family's provider serves that very id,
        priced and capability-checked as the family's price_from model, whose fallback chain follows."""
        info = fam.info
        tokens = estimate_prompt_tokens(req)
        sel = self._selection(req, tokens, warm=warm)
        why = f"requested id, family {fam.family.name} ({fam.pattern}), priced as {info.name}"
        if sel.consider(info, why):
            sel.add(info, why)
        for fb in self._chains.get(info.name, []):
            if sel.consider(fb, f"fallback for {info.name}"):
                sel.add(fb, f"fallback for {info.name}")
        if not sel.fits(info):
            for other in sel.larger_context(info.tier):
                if sel.consider(other, "context-window/capability fallback"):
                    sel.add(other, "context-window/capability fallback")
                if len(sel.attempts) >= 4:
                    break
        return self._finish(req, fam.route, sel, None)

    def _build_fast(self, name: str) -> list[Attempt]:
        attempts: list[Attempt] = []
        cands: list[Candidate] = []
        m = self.catalog.models[name]
        for mi, why in [(m, "requested model")] + [(fb, f"fallback for {name}") for fb in self._chains.get(name, [])]:
            if any(c.model == mi.name for c in cands):
                continue
            cands.append(Candidate(model=mi.name, kept=True, reason=why))
            attempts += [Attempt(deployment=d, reason=why) for d in mi.deployments]
        self._fast[name] = attempts
        self._fast_cands[name] = cands
        return attempts

    def _plan_tier(self, req: ChatRequest, tier: str, warm: Warm | None = None) -> Plan:
        tokens = estimate_prompt_tokens(req)
        sel = self._selection(req, tokens, warm=warm)
        for m in self._tiers[tier]:
            why = f"tier {tier}"
            if sel.consider(m, why):
                sel.add(m, why)
        if not sel.attempts:
            for other in sel.larger_context(tier):
                if sel.consider(other, f"no {tier} model fits: context-window/capability fallback"):
                    sel.add(other, f"no {tier} model fits")
                if len(sel.attempts) >= 4:
                    break
        return self._finish(req, f"tier:{tier}", sel, None)

    # ------------------------------------------------------------------ auto

    def _plan_auto(self, req: ChatRequest, hints: RouteHints, c: Classification, tokens: int,
                   trained_done: bool = False, named: NamedRoute | None = None,
                   warm: Warm | None = None) -> Plan:
        if (hints.willingness_to_pay is not None and not (trained_done and self.trained is not None)
                and hints.complexity is None):
            # Without a trained router the knob nudges the complexity score around its default.
            c.complexity = round(min(1.0, max(0.0, c.complexity + hints.willingness_to_pay
                                              - self.cfg.willingness_to_pay)), 3)
            c.reasons.append(f"willingness to pay {hints.willingness_to_pay:.2f}")
        sel = self._selection(req, tokens, c.task, warm)
        rule = self.rules.match(c, req, tokens)
        if rule is None:
            route = f"default:{self.rules.default_tier}"
            rule = Rule(name="default", tier=self.rules.default_tier)
        else:
            route = f"rule:{rule.name}"
        floor = named.floor_for(c.task) if named is not None else None
        if named is not None:
            route = f"named:{named.match} -> {route}" + (f" (floor {floor})" if floor else "")
        kept = self._rule_models(rule, sel, floor)
        cascade = rule.cascade and len(kept) > 1
        for i, m in enumerate(kept):
            why = f"rule {rule.name}" + (f", cascade step {i}" if cascade else "")
            sel.add(m, why, step=i if cascade else 0)
        last = len(kept) - 1 if cascade else 0
        for m in list(kept):
            for fb in self._chains.get(m.name, []):
                if _below(fb, floor):
                    continue
                if sel.consider(fb, f"fallback for {m.name}"):
                    sel.add(fb, f"fallback for {m.name}", step=max(last, 0))
        if not sel.attempts:
            for other in sel.larger_context(None):
                if sel.consider(other, "no rule candidate fits: widened to any model that does"):
                    sel.add(other, "widened: no rule candidate fits")
                if len(sel.attempts) >= 4:
                    break
        plan = self._finish(req, route, sel, c, price_ranked=rule.ordering() == "price")
        plan.cascade = cascade and len({a.step for a in plan.attempts}) > 1
        return plan

    def _rule_models(self, rule: Rule, sel: Selection, floor: str | None = None) -> list[ModelInfo]:
        models: list[ModelInfo] = []
        names = [self.catalog.resolve(n) for n in rule.models]
        models = [self.catalog.models[n] for n in names if n]
        if rule.tier is not None:
            listed = {m.name for m in models}
            models += [m for m in self.catalog.tier(rule.tier) if m.name not in listed]
        if floor is not None:
            # A named route's tier floor: the rule's models at or above it, else the floor tier's own chain.
            models = [m for m in models if not _below(m, floor)] or list(self._tiers[floor])
        kept = [m for m in models if sel.consider(m, f"rule {rule.name}")]
        if rule.ordering() == "price":
            costs = {m.name: sel.cost(m) for m in kept}
            return rank_by_price(kept, costs, self.gate, sel.needs.task)
        return demote_failing(kept, self.gate)

    # ------------------------------------------------------------------ common

    def _finish(self, req: ChatRequest, route: str, sel: Selection, c: Classification | None,
                price_ranked: bool = False) -> Plan:
        attempts = sel.finish()
        if not attempts:
            if sel.quota_dropped and sel.quota_only:
                raise QuotaExhausted(f"Every candidate for '{req.model}' is out of quota: "
                                     f"{dropped_summary(sel.candidates)}", retry_after=sel.retry_after(),
                                     param="model")
            raise NoCandidate(f"No model can take this request for '{req.model}': {dropped_summary(sel.candidates)}",
                              param="model")
        if sel.warm is not None:
            attempts, suffix = _keep_warm(attempts, sel.warm, sel, price_ranked)
            route += suffix
        return Plan(requested_model=req.model, route=route, attempts=attempts, classification=c,
                    candidates=sel.candidates)


def _below(m: ModelInfo, floor: str | None) -> bool:
    return floor is not None and TIER_RANK.get(m.tier, 0) < TIER_RANK[floor]


# ``plan_async`` read the store and found nothing: ``plan`` must not look again.
_NO_WARM = Warm("", {})


def _real(warm: Warm | None) -> Warm | None:
    return warm if warm is not None and warm.entries else None


def _keep_warm(attempts: list[Attempt], warm: Warm, sel: Selection | None,
               price_ranked: bool) -> tuple[list[Attempt], str]:
    """Session affinity: the deployment that answered the session last, while its cache is warm, goes
    first among the attempts of its cascade step (in a price-ranked list: among its own model's
    deployments, since the ranking already counted the warm cache). Returns the attempts and the
    route's suffix: ``+affinity:warm`` (kept first) or ``+affinity:moved`` (and why, in the first
    attempt's reason)."""
    latest = warm.latest
    if latest is None or not attempts:
        return attempts, ""
    idx = next((i for i, a in enumerate(attempts) if a.deployment.id == latest.dep), None)
    left = max(0, int(latest.expires - time.time()))
    if idx is not None:
        a = attempts[idx]
        if price_ranked:
            to = next(i for i, x in enumerate(attempts) if x.deployment.model == a.deployment.model)
        else:
            to = next(i for i, x in enumerate(attempts) if x.step == a.step)
        attempts = list(attempts)
        attempts.pop(idx)
        attempts.insert(to, Attempt(deployment=a.deployment, step=a.step,
                                    reason=f"session affinity: warm cache of {latest.tokens:,} tokens "
                                           f"({left}s left); {a.reason}"))
        if to == 0:
            return attempts, " +affinity:warm"
    why = _why_moved(attempts, latest.dep, sel, idx is not None)
    first = attempts[0]
    attempts = list(attempts)
    attempts[0] = Attempt(deployment=first.deployment, step=first.step,
                          reason=f"{first.reason}; session moved off warm {latest.dep}: {why}")
    return attempts, " +affinity:moved"


def _why_moved(attempts: list[Attempt], dep: str, sel: Selection | None, present: bool) -> str:
    if sel is None:
        return "not among this route's deployments"
    model = next((m.name for m in sel.catalog.models.values() if any(d.id == dep for d in m.deployments)), None)
    if present and model is not None:
        first = sel.catalog.models.get(attempts[0].deployment.model)
        warm_m = sel.catalog.models[model]
        if first is not None and attempts[0].step == next(a.step for a in attempts if a.deployment.id == dep):
            return (f"{first.name} costs less even cold (${sel.cost(first):.5f} vs ${sel.cost(warm_m):.5f} "
                    f"warm on {model})")
        return "a cascade starts from its first step"
    for c in sel.candidates:
        if not c.kept and c.reason.startswith(dep + ":"):
            return c.reason[len(dep) + 1:].strip()
    for c in sel.candidates:
        if c.model == model and not c.kept:
            return c.reason
    return "its model is not a candidate for this route"
