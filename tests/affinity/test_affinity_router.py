"""Session affinity through the Router: who a session is, what an answer leaves warm (with the vendor's
TTL), and a session kept on its warm deployment across turns unless that deployment is cooling down,
out of quota, or cannot take the request."""

from __future__ import annotations

import asyncio

from affinity_helpers import BIG, SMALL, turn, usage

from tierroute.errors import Timeout
from tierroute.limits import LimitsConfig, build_limits, parse_rate_limits
from tierroute.routing import Router, RoutingConfig, load_rules
from tierroute.routing.affinity import session_key, warm_from_answer
from tierroute.routing.config import AffinityConfig
from tierroute.types import ChatRequest, Message, RouteHints, TextPart

NO_HINTS = RouteHints()
QWEN_OR, QWEN_TOG = "openrouter/qwen-2.5-coder", "together/qwen-2.5-coder"


def router(settings, cfg: RoutingConfig | None = None, **kw) -> Router:  # noqa: ANN001, ANN003
    return Router(settings, load_rules(settings.routing_rules_path, settings.catalog), cfg or RoutingConfig(), **kw)


def dep(settings, dep_id: str):  # noqa: ANN001, ANN201
    d = settings.catalog.deployment(dep_id)
    assert d is not None, dep_id
    return d


def first(plan) -> str:  # noqa: ANN001
    return plan.attempts[0].deployment.id


# ---------------------------------------------------------------------------- who is the session


def test_session_key_from_ids_and_from_the_stable_prefix() -> None:
    assert session_key(turn(session="abc")) == session_key(turn(SMALL, session="abc"))  # the id decides
    assert session_key(turn(session="abc")) != session_key(turn(session="abd"))
    by_user = turn(session=None, user="alice")
    assert session_key(by_user) and session_key(by_user) == session_key(turn(SMALL, session=None, user="alice"))
    # No id: the stable prefix (system + tools + first user turn) is the session; later turns keep it.
    t1, t5 = turn(session=None), turn(session=None, history=4)
    assert session_key(t1) == session_key(t5) and session_key(t1).startswith("p:")
    assert session_key(turn(BIG + 1, session=None)) != session_key(t1)
    # A short prompt without an id is below every vendor's cacheable minimum: no session, no work.
    assert session_key(ChatRequest(model="auto", messages=[Message(role="user", content="hi")])) is None
    assert session_key(turn(100, session=None)) is None


def test_what_an_answer_leaves_warm_and_for_how_long(settings) -> None:  # noqa: ANN001
    now = 1_000_000.0
    anth = dep(settings, "anthropic/claude-sonnet-4-5")
    # Anthropic caches up to its markers: what it read and wrote is warm, for 5 minutes...
    e = warm_from_answer(turn(), anth, usage(40014, read=30000, write=10000), now=now)
    assert e is not None and (e.tokens, e.expires) == (40000, now + 300)
    # ... or an hour when the markers ask for it (in the request, or as the vendor's 1h write split).
    e = warm_from_answer(turn(marks=True), anth, usage(40014, read=30000), now=now)
    assert e is not None and e.expires == now + 300
    one_h = turn()
    one_h.messages[0].content = [TextPart(text="x", cache_control={"type": "ephemeral", "ttl": "1h"})]
    assert warm_from_answer(one_h, anth, usage(40014, write=40000), now=now).expires == now + 3600
    assert warm_from_answer(turn(), anth, usage(40014, write=40000, write_1h=40000), now=now).expires == now + 3600
    # Without markers Anthropic caches nothing: nothing is warm.
    assert warm_from_answer(turn(), anth, usage(40014), now=now) is None
    # OpenAI caches every prompt of 1024+ tokens by itself: the whole prompt is the next turn's prefix.
    oai = dep(settings, "openai/gpt-4.1")
    assert warm_from_answer(turn(), oai, usage(40014, read=20000), now=now).tokens == 40014
    assert warm_from_answer(turn(), oai, usage(900), now=now) is None
    # DeepSeek's disk cache lives for hours; routing.affinity.ttl_s overrides every vendor.
    ds = dep(settings, "deepseek/deepseek-v4-flash")
    assert warm_from_answer(turn(), ds, usage(40014), now=now).expires == now + 3600
    assert warm_from_answer(turn(), ds, usage(40014), ttl_s=60, now=now).expires == now + 60


# ---------------------------------------------------------------------------- kept across turns


async def test_a_session_keeps_its_deployment_across_turns(settings) -> None:  # noqa: ANN001
    r = router(settings)
    # Turn 1: the plain plan (openrouter first); the answer came from together (say, after a fallback).
    p1 = await r.plan_async(turn(SMALL, model="qwen-2.5-coder"), NO_HINTS)
    assert first(p1) == QWEN_OR and p1.route == "model:qwen-2.5-coder"
    await r.note_answer(turn(SMALL, model="qwen-2.5-coder"), dep(settings, QWEN_TOG), usage(2014))
    # Turns 2..4 of the session stay on together, where its prefix is cached; the sync plan sees it too.
    for n in range(1, 4):
        req = turn(SMALL, model="qwen-2.5-coder", history=n)
        p = await r.plan_async(req, NO_HINTS)
        assert first(p) == QWEN_TOG and p.route == "model:qwen-2.5-coder +affinity:warm"
        assert p.attempts[0].reason.startswith(f"session affinity: warm cache of {2014 + 10 * (n - 1):,} tokens")
        assert [a.deployment.id for a in p.attempts][:2] == [QWEN_TOG, QWEN_OR]
        assert first(r.plan(req, NO_HINTS)) == QWEN_TOG
        await r.note_answer(req, p.attempts[0].deployment, usage(2014 + 10 * n))
    # Another session is not affected; nor is a request without one.
    assert first(await r.plan_async(turn(SMALL, model="qwen-2.5-coder", session="other"), NO_HINTS)) == QWEN_OR
    assert first(await r.plan_async(turn(SMALL, model="qwen-2.5-coder", session=None), NO_HINTS)) == QWEN_OR


async def test_affinity_across_models_of_a_tier(settings) -> None:  # noqa: ANN001
    r = router(settings)
    plain = await r.plan_async(turn(SMALL, model="standard"), NO_HINTS)
    assert first(plain) != "anthropic/claude-haiku-4-5"
    await r.note_answer(turn(SMALL, model="standard"), dep(settings, "anthropic/claude-haiku-4-5"),
                        usage(2014, write=2000))
    p = await r.plan_async(turn(SMALL, model="standard", history=1), NO_HINTS)
    assert first(p) == "anthropic/claude-haiku-4-5" and p.route == "tier:standard +affinity:warm"


async def test_the_cache_expires_and_so_does_affinity(settings) -> None:  # noqa: ANN001
    r = router(settings, RoutingConfig(affinity=AffinityConfig(ttl_s=0.2)))
    await r.note_answer(turn(SMALL), dep(settings, QWEN_TOG), usage(2014))
    assert first(await r.plan_async(turn(SMALL, model="qwen-2.5-coder"), NO_HINTS)) == QWEN_TOG
    await asyncio.sleep(0.3)
    p = await r.plan_async(turn(SMALL, model="qwen-2.5-coder"), NO_HINTS)
    assert first(p) == QWEN_OR and p.route == "model:qwen-2.5-coder"


async def test_affinity_off(settings) -> None:  # noqa: ANN001
    r = router(settings, RoutingConfig(affinity=AffinityConfig(enabled=False)))
    assert r.affinity is None
    await r.note_answer(turn(SMALL), dep(settings, QWEN_TOG), usage(2014))
    assert first(await r.plan_async(turn(SMALL, model="qwen-2.5-coder"), NO_HINTS)) == QWEN_OR


# ---------------------------------------------------------------------------- giving way


def gated(settings):  # noqa: ANN001, ANN201
    cfg = LimitsConfig(state_path=None, consecutive_failures=3, cooldown_base_s=30)
    limits, health = build_limits(cfg, parse_rate_limits({}))
    return router(settings, health=health, limits=limits), limits, health


async def test_affinity_gives_way_to_a_cooldown(settings) -> None:  # noqa: ANN001
    r, _, health = gated(settings)
    await r.note_answer(turn(SMALL), dep(settings, QWEN_TOG), usage(2014))
    p = await r.plan_async(turn(SMALL, model="qwen-2.5-coder"), NO_HINTS)
    assert first(p) == QWEN_TOG and p.route.endswith("+affinity:warm")
    for _ in range(3):
        health.record(QWEN_TOG, False, Timeout("no answer"), 100.0)
    assert not health.available(QWEN_TOG)
    p = await r.plan_async(turn(SMALL, model="qwen-2.5-coder", history=1), NO_HINTS)
    assert first(p) == QWEN_OR and p.route == "model:qwen-2.5-coder +affinity:moved"
    assert f"session moved off warm {QWEN_TOG}: cooling down after failures" in p.attempts[0].reason


async def test_affinity_gives_way_when_out_of_quota(settings) -> None:  # noqa: ANN001
    r, limits, _ = gated(settings)
    await r.note_answer(turn(SMALL), dep(settings, QWEN_TOG), usage(2014))
    limits.observe_vendor(dep(settings, QWEN_TOG), None, 30.0)  # a 429 with Retry-After: 30
    p = await r.plan_async(turn(SMALL, model="qwen-2.5-coder", history=1), NO_HINTS)
    assert first(p) == QWEN_OR and p.route.endswith("+affinity:moved")
    assert "quota: vendor answered 429, retry after 30s" in p.attempts[0].reason
    assert QWEN_TOG not in [a.deployment.id for a in p.attempts]


async def test_affinity_gives_way_when_the_request_needs_what_the_deployment_lacks(settings) -> None:  # noqa: ANN001
    r = router(settings)
    await r.note_answer(turn(SMALL, model="standard"), dep(settings, "deepseek/deepseek-v4-flash"), usage(2014))
    p = await r.plan_async(turn(SMALL, model="standard", history=1), NO_HINTS)
    assert first(p) == "deepseek/deepseek-v4-flash"
    p = await r.plan_async(turn(SMALL, model="standard", history=1, image=True), NO_HINTS)  # no vision
    assert first(p) != "deepseek/deepseek-v4-flash" and p.route.endswith("+affinity:moved")
    assert "request has images; model has no vision" in p.attempts[0].reason

