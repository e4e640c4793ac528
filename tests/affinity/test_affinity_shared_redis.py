"""Affinity shared through the real Redis: two Routers, each with its own limits on one Redis (two
gateway instances), see one session's warm deployment; the key expires with the vendor's TTL; while
Redis is away each instance keeps its own."""

from __future__ import annotations

import redis.asyncio as aioredis
from affinity_helpers import REDIS_URL, SMALL, turn, usage

from tierroute.limits import LimitsConfig, build_limits, parse_rate_limits
from tierroute.routing import Router, RoutingConfig, load_rules
from tierroute.routing.affinity import session_key
from tierroute.routing.affinity_store import RedisAffinityStore
from tierroute.types import RouteHints

QWEN_OR, QWEN_TOG = "openrouter/qwen-2.5-coder", "together/qwen-2.5-coder"


async def instance(settings, prefix: str, url: str = REDIS_URL):  # noqa: ANN001, ANN201
    limits, health = build_limits(LimitsConfig(redis_url=url, redis_prefix=prefix, state_path=None,
                                               redis_retry_s=0.1), parse_rate_limits({}))
    await limits.state.start()
    r = Router(settings, load_rules(settings.routing_rules_path, settings.catalog), RoutingConfig(),
               health=health, limits=limits)
    return r, limits


async def test_two_instances_share_a_session(settings, redis_prefix: str) -> None:  # noqa: ANN001
    a, la = await instance(settings, redis_prefix)
    b, lb = await instance(settings, redis_prefix)
    try:
        assert isinstance(a.affinity, RedisAffinityStore) and a.affinity.shared
        req = turn(SMALL, model="qwen-2.5-coder")
        assert (await b.plan_async(req, RouteHints())).attempts[0].deployment.id == QWEN_OR
        await a.note_answer(req, settings.catalog.deployment(QWEN_TOG), usage(2014))
        # b never saw the answer, and keeps the session where a's answer left it warm.
        p = await b.plan_async(turn(SMALL, model="qwen-2.5-coder", history=1), RouteHints())
        assert p.attempts[0].deployment.id == QWEN_TOG and p.route.endswith("+affinity:warm")
        # In Redis: one hash per session, a field per deployment, expiring with the vendor's TTL.
        r = aioredis.Redis.from_url(REDIS_URL, decode_responses=True)
        key = f"{redis_prefix}aff:{session_key(req)}"
        assert list((await r.hgetall(key)).keys()) == [QWEN_TOG]
        assert 290_000 < await r.pttl(key) <= 300_000
        # A 1-hour write on another deployment extends the key; a later 5-minute one does not cut it.
        await b.note_answer(req, settings.catalog.deployment("anthropic/claude-sonnet-4-5"),
                            usage(2014, write=2000, write_1h=2000))
        assert await r.pttl(key) > 3_500_000
        await a.note_answer(req, settings.catalog.deployment(QWEN_TOG), usage(2100))
        assert await r.pttl(key) > 3_500_000 and len(await r.hgetall(key)) == 2
        await r.aclose()
        # The latest answer decides who is first, on either instance.
        p = await a.plan_async(turn(SMALL, model="qwen-2.5-coder", history=2), RouteHints())
        assert p.attempts[0].deployment.id == QWEN_TOG
    finally:
        await la.close()
        await lb.close()


async def test_without_redis_each_instance_keeps_its_own(settings, redis_prefix: str) -> None:  # noqa: ANN001
    a, la = await instance(settings, redis_prefix, url="redis://127.0.0.1:1/0")  # nothing listens there
    try:
        assert not a.affinity.shared
        await a.note_answer(turn(SMALL), settings.catalog.deployment(QWEN_TOG), usage(2014))
        p = await a.plan_async(turn(SMALL, model="qwen-2.5-coder", history=1), RouteHints())
        assert p.attempts[0].deployment.id == QWEN_TOG
    finally:
        await la.close()
