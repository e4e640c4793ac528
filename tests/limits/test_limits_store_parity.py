"""The Redis Lua scripts and the in-process store implement one algorithm: the same random
sequence of acquires, releases and clock moves gets the same answers from both."""

from __future__ import annotations

import random

from limits_helpers import REDIS_URL, FakeClock, dep

from tierroute.errors import QuotaExhausted
from tierroute.limits import LimitsConfig, build_limits, parse_rate_limits

SPEC = {"deployments": {"p/m": {"rpm": 8, "tpm": 5000, "rpd": 50, "max_concurrent": 3}}}


async def test_same_answers_from_redis_and_in_process(redis_prefix: str) -> None:
    clock = FakeClock(1_800_000_003.0)
    local, _ = build_limits(LimitsConfig(state_path=None), parse_rate_limits(SPEC), clock=clock)
    shared, _ = build_limits(LimitsConfig(redis_url=REDIS_URL, redis_prefix=redis_prefix, state_path=None),
                             parse_rate_limits(SPEC), clock=clock)
    await shared.start()
    rng = random.Random(7)
    leases: list[tuple] = []
    outcomes = {"ok": 0, "refused": 0}
    reasons: set[str] = set()
    try:
        for step in range(400):
            op = rng.random()
            if op < 0.55:
                est = rng.choice([10, 200, 600, 1500])
                answers = []
                for lim in (local, shared):
                    try:
                        answers.append(("ok", await lim.acquire(dep("p/m"), est)))
                    except QuotaExhausted as e:
                        answers.append(("refused", e.message, round(e.retry_after, 3)))
                assert answers[0][0] == answers[1][0], (step, answers)
                if answers[0][0] == "ok":
                    leases.append((answers[0][1], answers[1][1]))
                    outcomes["ok"] += 1
                else:
                    assert answers[0][1:] == answers[1][1:], (step, answers)
                    reasons.add(answers[0][1].split(": ")[1].split(" ")[0])
                    outcomes["refused"] += 1
            elif op < 0.85 and leases:
                a, b = leases.pop(rng.randrange(len(leases)))
                total = rng.choice([None, 0, 50, 900, 2500])
                await local.release(a, total_tokens=total)
                await shared.release(b, total_tokens=total)
            else:
                clock.advance(rng.choice([0.5, 3, 7, 20]))
            if step % 25 == 0:
                assert await local.usage("p/m") == await shared.usage("p/m"), step
        # the sequence exercised both sides of every decision
        assert outcomes["ok"] > 30 and outcomes["refused"] > 30, outcomes
        assert reasons == {"rpm", "tpm", "rpd", "max_concurrent"}, reasons
    finally:
        await shared.close()
