"""Plans for named models, aliases, tiers and auto: capability filtering, fallback chains,
context-window fallback, quota and health, and the hot path's speed."""

from __future__ import annotations

import time
from types import SimpleNamespace

import pytest
from routing_helpers import chat

from tierroute.config.loader import fallback_chain
from tierroute.errors import ModelNotFound, NoCandidate, QuotaExhausted
from tierroute.routing import Router, RoutingConfig, estimate_prompt_tokens
from tierroute.types import (
    ChatRequest,
    FunctionDef,
    ImagePart,
    ImageURL,
    Message,
    ResponseFormat,
    RouteHints,
    TextPart,
    Tool,
)

NO_HINTS = RouteHints()


def models(plan) -> list[str]:
    out: list[str] = []
    for a in plan.attempts:
        if a.deployment.model not in out:
            out.append(a.deployment.model)
    return out


def image_req(model: str = "auto") -> ChatRequest:
    return ChatRequest(model=model, messages=[Message(role="user", content=[
        TextPart(text="Describe this chart."), ImagePart(image_url=ImageURL(url="https://example.com/c.png"))])])


def test_named_model_then_its_fallback_chain(router: Router, settings) -> None:
    plan = router.plan(chat("hello", model="claude-opus-4"), NO_HINTS)
    assert plan.route == "model:claude-opus-4"
    chain = fallback_chain(settings, "claude-opus-4")  # tierroute.yaml fallbacks
    assert chain and models(plan) == ["claude-opus-4", *chain]
    assert plan.attempts[0].reason == "requested model"
    assert "fallback for claude-opus-4" in plan.attempts[1].reason


def test_alias_resolves_and_unknown_model_is_404(router: Router) -> None:
    assert models(router.plan(chat("hi", model="opus"), NO_HINTS))[0] == "claude-opus-4"
    with pytest.raises(ModelNotFound) as e:
        router.plan(chat("hi", model="gpt-17"), NO_HINTS)
    assert e.value.status == 404 and e.value.param == "model"


def test_both_deployments_of_a_model_are_tried(router: Router) -> None:
    plan = router.plan(chat("sort a list", model="qwen-coder"), NO_HINTS)
    deps = [a.deployment.id for a in plan.attempts if a.deployment.model == "qwen-2.5-coder"]
    assert deps == ["openrouter/qwen-2.5-coder", "together/qwen-2.5-coder"]


def test_tier_uses_its_chain(router: Router, settings) -> None:
    plan = router.plan(chat("hi", model="standard"), NO_HINTS)
    assert plan.route == "tier:standard"
    assert models(plan) == settings.gateway.fallbacks.tiers["standard"]


def test_300k_prompt_never_goes_to_a_128k_model(router: Router, settings) -> None:
    req = chat("word " * 300_000, model="gpt-4o")  # ~300k tokens; gpt-4o has a 128k window
    assert estimate_prompt_tokens(req) > 290_000
    plan = router.plan(req, NO_HINTS)
    for a in plan.attempts:
        assert settings.catalog.models[a.deployment.model].context_window >= 300_000
    dropped = {c.model: c.reason for c in plan.candidates if not c.kept}
    assert "exceeds its 128000-token window" in dropped["gpt-4o"]
    assert any("context-window fallback" in a.reason for a in plan.attempts)
    # the same holds for auto and for tiers
    for m in ("auto", "premium"):
        p = router.plan(chat("word " * 300_000, model=m), NO_HINTS)
        assert all(settings.catalog.models[a.deployment.model].context_window >= 300_000 for a in p.attempts)


def test_context_window_fallback_prefers_the_chain(router: Router, settings) -> None:
    # ~40k tokens: too long for qwen-2.5-coder (32k); its configured chain comes first, then other
    # models with a window large enough, same tier first
    chain = fallback_chain(settings, "qwen-2.5-coder")
    plan = router.plan(chat("x = 1\n" * 26_000, model="qwen-2.5-coder"), NO_HINTS)
    got = models(plan)
    assert "qwen-2.5-coder" not in got
    assert got[: len(chain)] == chain
    extra = got[len(chain):]
    assert extra and settings.catalog.models[extra[0]].tier == "standard"
    assert any(a.reason == "context-window fallback" for a in plan.attempts)


def test_image_never_goes_to_a_text_only_model(router: Router, settings) -> None:
    for m in ("auto", "deepseek-v3", "standard", "qwq-32b"):
        plan = router.plan(image_req(m), NO_HINTS)
        assert plan.attempts, m
        for a in plan.attempts:
            assert settings.catalog.models[a.deployment.model].vision, (m, a.deployment.model)
    auto = router.plan(image_req(), NO_HINTS)
    assert auto.route == "rule:vision" and models(auto)[0] == "llama-3.2-vision"


def test_tools_and_json_mode_filter(router: Router, settings) -> None:
    tools = [Tool(function=FunctionDef(name="get_weather", parameters={"type": "object"}))]
    plan = router.plan(chat("weather in Paris?", model="deepseek-r1", tools=tools), NO_HINTS)
    assert "deepseek-r1" not in models(plan)
    assert all(settings.catalog.models[a.deployment.model].tools for a in plan.attempts)
    jplan = router.plan(chat("give JSON", model="auto", response_format=ResponseFormat(type="json_object")),
                        NO_HINTS)
    assert all(settings.catalog.models[a.deployment.model].json_mode for a in jplan.attempts)


def test_nothing_fits_is_no_candidate(router: Router) -> None:
    with pytest.raises(NoCandidate) as e:
        router.plan(chat("word " * 2_000_000), NO_HINTS)  # bigger than every window
    assert "exceeds" in e.value.message and e.value.status == 400


@pytest.mark.parametrize(("text", "hints", "rule", "first"), [
    ("Write a docstring for this function: def f(x): return x", NO_HINTS, "documentation", "deepseek-v3"),
    ("Write a simple Python function that reverses a string.", NO_HINTS, "coding-simple", "deepseek-v3"),
    ("Design a scalable, fault-tolerant microservices architecture for a global bank; discuss trade-offs and "
     "consistency in production.", NO_HINTS, "architecture-complex", "claude-opus-4"),
    ("Prove that there are infinitely many primes.", NO_HINTS, "maths", "qwq-32b"),
    ("What's the capital of Peru?", NO_HINTS, "fast-cheap", "mistral-small"),
    ("What's the capital of Peru?", RouteHints(task="architecture", complexity=0.9), "architecture-complex",
     "claude-opus-4"),
    ("What's the capital of Peru?", RouteHints(task="coding", complexity="high" and 0.85), "coding-complex",
     "claude-sonnet-4"),
])
def test_auto_rules(router: Router, text: str, hints: RouteHints, rule: str, first: str) -> None:
    plan = router.plan(chat(text), hints)
    assert plan.route == f"rule:{rule}", plan.classification
    assert models(plan)[0] == first
    assert plan.classification is not None


def test_documentation_goes_to_the_cheapest_standard_model(router: Router, settings) -> None:
    plan = router.plan(chat("Write a README for my CLI tool"), NO_HINTS)
    first = settings.catalog.models[plan.attempts[0].deployment.model]
    cheapest = min(m.input_per_m + m.output_per_m for m in settings.catalog.tier("standard"))
    assert first.tier == "standard" and first.input_per_m + first.output_per_m == cheapest


def test_cascade_plan_has_rising_steps(router: Router) -> None:
    plan = router.plan(chat("Solve for x: x^2 = 49"), NO_HINTS)
    assert plan.cascade
    steps = [a.step for a in plan.attempts]
    assert steps == sorted(steps) and steps[0] == 0 and steps[-1] >= 2
    step_models = {a.step: a.deployment.model for a in plan.attempts}
    assert step_models[0] == "qwq-32b"
    non_cascade = router.plan(chat("hi", model="gpt-4o"), NO_HINTS)
    assert not non_cascade.cascade


class Health:
    def __init__(self, down: set[str], err: dict[str, float] | None = None) -> None:
        self.down, self.err = down, err or {}

    def available(self, dep_id: str) -> bool:  # the router's read-only check (allow() claims a probe)
        return dep_id not in self.down

    def stats(self, dep_id: str):
        return SimpleNamespace(latency_ms=100.0, error_rate=self.err.get(dep_id, 0.0))


class Limits:
    def __init__(self, spent: dict[str, float]) -> None:
        self.spent = spent

    def headroom(self, dep_id: str):
        if dep_id in self.spent:
            return False, self.spent[dep_id], "requests per day"
        return True, None, ""


def test_health_and_quota_drop_deployments(settings, rules) -> None:
    r = Router(settings, rules, RoutingConfig(), health=Health({"openrouter/qwen-2.5-coder"}),
               limits=Limits({"openrouter/deepseek-v3": 30.0}))
    plan = r.plan(chat("hi", model="deepseek-v3"), NO_HINTS)
    ids = [a.deployment.id for a in plan.attempts]
    assert "openrouter/deepseek-v3" not in ids and "openrouter/qwen-2.5-coder" not in ids
    assert ids[0] == "together/qwen-2.5-coder"
    reasons = " ".join(c.reason for c in plan.candidates if not c.kept)
    assert "quota: requests per day" in reasons and "cooling down" in reasons


def test_all_out_of_quota_is_429_with_retry_after(settings, rules) -> None:
    spent = {d.id: 12.0 for d in settings.catalog.deployments()}
    r = Router(settings, rules, RoutingConfig(), limits=Limits(spent))
    with pytest.raises(QuotaExhausted) as e:
        r.plan(chat("hi", model="gpt-4o"), NO_HINTS)
    assert e.value.status == 429 and e.value.headers()["Retry-After"] == "12"


def test_failing_model_is_ranked_behind(settings, rules) -> None:
    err = {"openrouter/deepseek-v3": 0.9}
    r = Router(settings, rules, RoutingConfig(), health=Health(set(), err))
    plan = r.plan(chat("Write a README for my CLI tool"), NO_HINTS)  # documentation: ranked by price
    assert plan.attempts[0].deployment.model != "deepseek-v3"


def test_budget_drops_expensive_models(settings, rules) -> None:
    r = Router(settings, rules, RoutingConfig(max_cost_per_request_usd=0.001))
    plan = r.plan(chat("hello", model="claude-opus-4"), NO_HINTS)
    assert "claude-opus-4" not in models(plan)
    assert any("budget" in c.reason for c in plan.candidates if c.model == "claude-opus-4")


def test_named_model_plan_is_fast(router: Router) -> None:
    req = chat("Say hello in French.", model="gpt-4o")
    router.plan(req, NO_HINTS)
    n = 2000
    batches = []
    for _ in range(5):
        t = time.process_time()
        for _ in range(n):
            router.plan(req, NO_HINTS)
        batches.append((time.process_time() - t) / n * 1000)
    # The target is 0.05 ms; the best of five batches filters out other processes' noise.
    assert min(batches) < 0.05, batches


async def test_plan_async_uses_the_learned_layer(router: Router) -> None:
    # No keyword the fast layer knows; the learned layer decides.
    req = chat("Could you put together notes for new developers describing what each module in our repo is for?")
    fast = router.plan(req, NO_HINTS)
    slow = await router.plan_async(req, NO_HINTS)
    assert slow.classification.source == "learned"
    assert slow.classification.task == "documentation", (fast.classification, slow.classification)


def test_embedding_model_is_not_a_chat_candidate(router: Router) -> None:
    with pytest.raises(NoCandidate) as e:
        router.plan(chat("hi", model="text-embedding-3-small"), NO_HINTS)
    assert "not a chat model" in e.value.message


def test_willingness_to_pay_moves_auto_without_a_trained_router(router: Router) -> None:
    req = chat("Write a simple Python function that reverses a string.")
    cheap = router.plan(req, RouteHints(willingness_to_pay=0.0))
    rich = router.plan(req, RouteHints(willingness_to_pay=1.0))
    assert cheap.route == "rule:coding-simple"
    assert rich.route == "rule:coding-complex"
    assert rich.classification.complexity > cheap.classification.complexity
