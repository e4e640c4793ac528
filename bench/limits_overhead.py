"""What quota checks and health bookkeeping add to one request, in-process and with Redis.

Per request it does what execution does around an upstream call: health.allow + limits.headroom,
limits.acquire (rpm + tpm + rpd + max_concurrent all configured: the worst case), then
health.record and limits.release with the real token count. The same loop with those calls
left out is the baseline; the difference is the overhead.

    PYTHONPATH=src .venv/bin/python bench/limits_overhead.py [--requests 5000] [--redis redis://127.0.0.1:6379/0]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
import uuid

from tierroute.limits import LimitsConfig, build_limits, parse_rate_limits
from tierroute.types import Deployment

DEP = Deployment(id="bench/model", model="model", provider="bench", dialect="openai",
                 base_url="http://127.0.0.1:9/v1", upstream_model="model")
QUOTA = {"deployments": {DEP.id: {"rpm": 10**9, "tpm": 10**12, "rpd": 10**9, "max_concurrent": 10**6}}}


async def _fake_upstream() -> None:
    await asyncio.sleep(0)  # the request's own await point, present in both runs


async def run(cfg: LimitsConfig, n: int, *, with_limits: bool) -> list[float]:
    limits, health = build_limits(cfg, parse_rate_limits(QUOTA))
    await limits.start()
    times: list[float] = []
    try:
        for i in range(n + 200):  # the first 200 warm up connections and caches
            t0 = time.perf_counter()
            if with_limits:
                if health.allow(DEP.id) and limits.headroom(DEP.id)[0]:
                    lease = await limits.acquire(DEP, 500)
                    await _fake_upstream()
                    health.record(DEP.id, True, None, 120.0)
                    await limits.release(lease, total_tokens=430)
            else:
                await _fake_upstream()
            if i >= 200:
                times.append(time.perf_counter() - t0)
    finally:
        if cfg.redis_url and limits.state.redis is not None:
            async for k in limits.state.redis.scan_iter(match=cfg.redis_prefix + "*"):
                await limits.state.redis.delete(k)
        await limits.close()
    return times


def summary(name: str, base: list[float], feat: list[float]) -> str:
    def ms(xs: list[float], q: float) -> float:
        return sorted(xs)[int(q * (len(xs) - 1))] * 1000

    over = (statistics.mean(feat) - statistics.mean(base)) * 1000
    return (f"{name:<11} overhead/request mean {over:.3f} ms | with: p50 {ms(feat, .5):.3f} p99 {ms(feat, .99):.3f} ms"
            f" | without: p50 {ms(base, .5):.3f} ms")


async def redis_ping(url: str, n: int) -> str:
    """The floor: one bare round trip to the same Redis, on the same loop, at the same moment."""
    import redis.asyncio as aioredis

    r = aioredis.Redis.from_url(url)
    await r.ping()
    ts = []
    for _ in range(n):
        t0 = time.perf_counter()
        await r.ping()
        ts.append(time.perf_counter() - t0)
    await r.aclose()
    ts.sort()
    return (f"{'redis PING':<11} one bare round trip: mean {statistics.mean(ts) * 1000:.3f} ms, "
            f"p50 {ts[len(ts) // 2] * 1000:.3f} ms (a request with quotas makes two: acquire, release)")


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--requests", type=int, default=5000)
    ap.add_argument("--redis", default="redis://127.0.0.1:6379/0")
    ap.add_argument("--no-uvloop", action="store_true", help="the stock asyncio loop instead of uvloop")
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        local = LimitsConfig(state_path=f"{tmp}/limits.db")
        shared = LimitsConfig(redis_url=a.redis, redis_prefix=f"bench:{uuid.uuid4().hex[:8]}:", state_path=None)
        loop = type(asyncio.get_running_loop()).__module__
        print(f"{a.requests} sequential requests each ({loop}); acquire + release + allow + headroom + record")
        for name, cfg in (("in-process", local), ("redis", shared)):
            base = await run(cfg, a.requests, with_limits=False)
            feat = await run(cfg, a.requests, with_limits=True)
            print(summary(name, base, feat))
        print(await redis_ping(a.redis, a.requests))


if __name__ == "__main__":
    import sys

    if "--no-uvloop" in sys.argv:
        asyncio.run(main())
    else:
        import uvloop  # the gateway's own loop

        uvloop.run(main())
