"""Cache-aware ranking: a candidate's expected cost counts the tokens it holds warm at the cache-read
price. A rule of two models ranked by price, claude-haiku-4-5 (cheap) and claude-sonnet-4-5 (premium);
catalog prices, USD per 1M tokens:

    claude-sonnet-4-5  input 3.00  cache read 0.30  cache write 3.75  output 15.00
    claude-haiku-4-5   input 1.00  cache read 0.10  cache write 1.25  output  5.00

No max_tokens, so 500 output tokens are assumed (routing.expected_output_tokens)."""

from __future__ import annotations

import pytest
from affinity_helpers import BIG, SMALL, turn, usage

from tierroute.routing import Router, RoutingConfig
from tierroute.routing.rules import RoutingRules, Rule
from tierroute.routing.tokens import estimate_prompt_tokens
from tierroute.types import RouteHints

SONNET, HAIKU = "anthropic/claude-sonnet-4-5", "anthropic/claude-haiku-4-5"
HINTS = RouteHints(task="chat", complexity=0.5)


def pair_router(settings) -> Router:  # noqa: ANN001
    rules = RoutingRules(rules=[Rule(name="pair", models=["claude-haiku-4-5", "claude-sonnet-4-5"], order="price")])
    return Router(settings, rules, RoutingConfig())


def cand(plan, model: str):  # noqa: ANN001, ANN201
    return next(c for c in plan.candidates if c.model == model and c.kept)


async def warm_sonnet(r: Router, settings, tokens: int, **kw) -> None:  # noqa: ANN001, ANN003
    await r.note_answer(turn(**kw), settings.catalog.deployment(SONNET), usage(tokens, write=tokens))


def test_prompt_sizes() -> None:
    assert estimate_prompt_tokens(turn(BIG)) == 40014 and estimate_prompt_tokens(turn(SMALL)) == 2014


async def test_without_a_warm_cache_the_cheap_model_leads(settings) -> None:  # noqa: ANN001
    p = await pair_router(settings).plan_async(turn(BIG), HINTS)
    # haiku 40014 x 1.00 + 500 x 5 = 0.042514; sonnet 40014 x 3 + 500 x 15 = 0.127542
    assert p.attempts[0].deployment.id == HAIKU and p.route == "rule:pair"
    assert cand(p, "claude-haiku-4-5").est_cost_usd == pytest.approx(0.042514)
    assert cand(p, "claude-sonnet-4-5").est_cost_usd == pytest.approx(0.127542)


async def test_a_warm_premium_model_beats_a_cold_cheap_one(settings) -> None:  # noqa: ANN001
    r = pair_router(settings)
    await warm_sonnet(r, settings, 40000)
    p = await r.plan_async(turn(BIG), HINTS)
    # sonnet, warm: 40000 x 0.30 + 14 x 3.00 + 500 x 15 = 0.012 + 0.000042 + 0.0075 = 0.019542
    # haiku, cold:  40014 x 1.00 + 500 x 5 = 0.040014 + 0.0025 = 0.042514
    s, h = cand(p, "claude-sonnet-4-5"), cand(p, "claude-haiku-4-5")
    assert s.est_cost_usd == pytest.approx(0.019542) and h.est_cost_usd == pytest.approx(0.042514)
    assert p.attempts[0].deployment.id == SONNET and p.route == "rule:pair +affinity:warm"
    assert s.reason == (f"rule pair; warm cache on {SONNET}: 40,000 tokens at $0.30/M + 14 at $3.00/M input")
    assert h.reason == "rule pair; cold: 40,014 tokens at $1.00/M input"
    assert p.attempts[1].deployment.id == HAIKU


async def test_a_cold_cheap_model_wins_when_the_cache_saves_too_little(settings) -> None:  # noqa: ANN001
    r = pair_router(settings)
    await warm_sonnet(r, settings, 2000)
    p = await r.plan_async(turn(SMALL), HINTS)
    # sonnet, warm: 2000 x 0.30 + 14 x 3.00 + 500 x 15 = 0.0006 + 0.000042 + 0.0075 = 0.008142
    # haiku, cold:  2014 x 1.00 + 500 x 5 = 0.002014 + 0.0025 = 0.004514
    assert cand(p, "claude-sonnet-4-5").est_cost_usd == pytest.approx(0.008142)
    assert cand(p, "claude-haiku-4-5").est_cost_usd == pytest.approx(0.004514)
    assert p.attempts[0].deployment.id == HAIKU and p.route == "rule:pair +affinity:moved"
    assert (f"session moved off warm {SONNET}: claude-haiku-4-5 costs less even cold "
            "($0.00451 vs $0.00814 warm on claude-sonnet-4-5)") in p.attempts[0].reason


async def test_a_warm_prefix_too_short_of_a_grown_prompt_loses(settings) -> None:  # noqa: ANN001
    r = pair_router(settings)
    await warm_sonnet(r, settings, 2000)
    p = await r.plan_async(turn(BIG), HINTS)
    # sonnet: 2000 x 0.30 + 38014 x 3.00 + 500 x 15 = 0.0006 + 0.114042 + 0.0075 = 0.122142 > haiku 0.042514
    assert cand(p, "claude-sonnet-4-5").est_cost_usd == pytest.approx(0.122142)
    assert p.attempts[0].deployment.id == HAIKU


async def test_with_cache_markers_the_uncached_rest_is_a_cache_write(settings) -> None:  # noqa: ANN001
    r = pair_router(settings)
    await warm_sonnet(r, settings, 36000, marks=True)
    p = await r.plan_async(turn(BIG, marks=True), HINTS)
    # sonnet: 36000 x 0.30 + 4014 x 3.75 + 500 x 15 = 0.0108 + 0.0150525 + 0.0075 = 0.0333525
    # haiku (writes all of it): 40014 x 1.25 + 500 x 5 = 0.0500175 + 0.0025 = 0.0525175
    s, h = cand(p, "claude-sonnet-4-5"), cand(p, "claude-haiku-4-5")
    assert s.est_cost_usd == pytest.approx(0.0333525) and h.est_cost_usd == pytest.approx(0.0525175)
    assert s.reason.endswith("36,000 tokens at $0.30/M + 4,014 at $3.75/M cache write")
    assert h.reason.endswith("cold: 40,014 tokens at $1.25/M cache write")
    assert p.attempts[0].deployment.id == SONNET


async def test_a_warm_cache_on_a_cooling_deployment_counts_as_cold(settings) -> None:  # noqa: ANN001
    from tierroute.errors import Timeout
    from tierroute.limits import LimitsConfig, build_limits, parse_rate_limits

    limits, health = build_limits(LimitsConfig(state_path=None, consecutive_failures=2), parse_rate_limits({}))
    rules = RoutingRules(rules=[Rule(name="pair", models=["claude-haiku-4-5", "claude-sonnet-4-5"], order="price")])
    r = Router(settings, rules, RoutingConfig(), health=health, limits=limits)
    await warm_sonnet(r, settings, 40000)
    for _ in range(2):
        health.record(SONNET, False, Timeout("no answer"), 100.0)
    p = await r.plan_async(turn(BIG), HINTS)
    assert cand(p, "claude-sonnet-4-5").est_cost_usd == pytest.approx(0.127542)  # cold again
    assert p.attempts[0].deployment.id == HAIKU and p.route.endswith("+affinity:moved")
